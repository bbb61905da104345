"""Config loading: schema, defaults, cross-field checks, and errors that name file, line and field path."""

from __future__ import annotations

import os
import stat
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from wrapper.config import values
from wrapper.config.loader import from_schema, load_config, parse_config, value_class_name
from wrapper.config.reference import _models
from wrapper.config.schema import (
    WrapperConfig,
)
from wrapper.config.values import FlagArg, Stdin, ValueArg
from wrapper.errors import ConfigError, Problem
from wrapper.programs.executable import resolve_executable


def write(tmp_path: Path, text: str, name: str = "wrapper.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def problems_of(tmp_path: Path, text: str) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    return caught.value.problems


def test_minimal_config_gets_every_default(tmp_path):
    config = load_config(write(tmp_path, "command: [cat]\n"))
    assert config.mode == "exec"
    assert config.stdin == "none"
    assert config.output.format == "raw"
    assert config.output.max_bytes == 6_291_000
    assert config.timeout_s == 60
    assert config.scratch.dir == "/tmp"
    assert config.http.status_codes.timeout == 504


def test_full_exec_config_parses_every_form(tmp_path):
    config = load_config(write(tmp_path, """
        command: [probe, --quiet]
        inputs:
          target: {from: "query.target || target", destination: {deny_private: true}}
          verbose: {type: boolean, default: false}
          doc: {type: object, required: false}
        args:
          - --
          - {value: target}
          - {flag: --target, value: target, style: equals}
          - {switch: --verbose, value: verbose}
          - {template: "--x={target}", when: verbose}
          - {file: doc}
          - {flag: --in, file: doc}
        stdin: {value: doc, as: json}
        env: {MODE: fast, PORT: 8080, T: {value: target}, G: {template: "hi {target}"}}
        files: {doc: {value: doc, filename: doc.json}}
        exit_codes: {1: {success: true}, 2: {error_type: Function.BadPattern, status_code: 400}}
    """))
    assert isinstance(config.args[1], ValueArg)
    assert isinstance(config.args[2], FlagArg) and config.args[2].style == "equals"
    assert isinstance(config.stdin, Stdin) and config.stdin.as_ == "json"
    assert config.env["PORT"] == "8080"  # a YAML number stands for the literal word
    assert config.inputs["target"].from_ == "query.target || target"
    # required resolved at load: true without a default, false with one or when said so
    assert config.inputs["target"].required and not config.inputs["verbose"].required
    assert not config.inputs["doc"].required
    assert config.exit_codes[1].success


def test_server_config_parses(tmp_path):
    config = load_config(write(tmp_path, """
        mode: server
        command: [blackbox_exporter, --config.file=bb.yml]
        inputs: {target: {}, module: {default: http_2xx}}
        server:
          port: 9115
          ready: {path: /-/healthy}
          request: {path: /probe, query: {target: "{target}", module: "{module}"}}
        output: {format: prometheus_json}
    """))
    assert config.server is not None and config.server.request.query["module"] == "{module}"


def test_config_is_frozen(tmp_path):
    path = write(tmp_path, "command: [cat]\n")
    config = load_config(path)
    with pytest.raises(AttributeError, match="read-only"):
        config.timeout_s = 5  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        parse_config(path).timeout_s = 5  # type: ignore[misc]


def test_malformed_config_reports_file_line_and_path(tmp_path):
    [problem] = problems_of(tmp_path, """
        command: [cat]
        inputs:
          target:
            type: strng
    """)
    assert problem.file.endswith("wrapper.yaml")
    assert problem.line == 4
    assert problem.path == "inputs.target.type"
    assert "strng" in problem.reason
    assert str(problem).startswith(f"{problem.file}:4: inputs.target.type: ")


def test_several_problems_are_reported_at_once_in_line_order(tmp_path):
    problems = problems_of(tmp_path, """
        command: [cat]
        timeout_s: 0
        args:
          - {value: a, bogus: 1}
          - [nested]
        output: {format: xml}
        colour: blue
    """)
    assert [(p.line, p.path) for p in problems] == [
        (2, "timeout_s"),
        (4, "args[0].bogus"),
        (5, "args[1]"),
        (6, "output.format"),
        (7, "colour"),
    ]
    assert {p.reason for p in problems} >= {"unknown key"}


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("command: [cat]\nextra: 1\n", "extra"),
        ("command: [cat]\noutput: {colour: red}\n", "output.colour"),
        ("command: [cat]\ninputs: {a: {form: a}}\n", "inputs.a.form"),
        ("command: [cat]\nserver: {port: 1, extra: 2}\nmode: server\n", "server.extra"),
        ("command: [cat]\nstdin: {value: a, as: text, extra: 1}\ninputs: {a: {}}\n", "stdin.extra"),
    ],
    ids=["top", "output", "input", "server", "stdin"],
)
def test_unknown_keys_are_rejected(tmp_path, text, path):
    problems = problems_of(tmp_path, text)
    assert [(p.path, p.reason) for p in problems] == [(path, "unknown key")]


@pytest.mark.parametrize(
    ("text", "path", "reason"),
    [
        ("command: []\n", "command", "at least 1"),
        ("inputs: {}\n", "command", "required"),
        ("command: [cat]\ninputs: {A-b: {}}\n", "inputs.A-b", "not a valid name"),
        ("command: [cat]\ninputs: {a: {from: 'x[['}}\n", "inputs.a.from", "invalid JMESPath"),
        ("command: [cat]\ninputs: {a: {pattern: '(('}}\n", "inputs.a.pattern", "invalid regular expression"),
        ("command: [cat]\nexit_codes: {3: {error_type: Oops}}\n", "exit_codes.3.error_type", "must match"),
        ("command: [cat]\nexit_codes: {256: {success: true}}\n", "exit_codes.256", "less than or equal to 255"),
        ("command: [cat]\ntimeout_s: 901\n", "timeout_s", "less than or equal to 900"),
        ("command: [cat]\nenv: {bad-name: x}\n", "env.bad-name", "should match pattern"),
        ("command: [cat]\nargs: [{flag: --x}]\n", "args[0]", "exactly one of 'value' or 'file'"),
        ("command: [cat]\nargs: [{template: 'a{b'}]\n", "args[0].template", "unbalanced"),
        ("command: [cat]\nstdin: {as: text}\n", "stdin", "exactly one of 'value' or 'template'"),
        ("command: [cat]\nfiles: {f: {value: a, filename: ../x}}\ninputs: {a: {}}\n", "files.f.filename", "plain"),
        ("command: [cat]\nmode: server\n", "mode", "needs a 'server:' section"),
        ("command: [cat]\nserver: {port: 80}\n", "server", "only allowed with mode: server"),
        ("command: [cat]\nargs: [{value: nope}]\n", "args[0].value", "'nope' is not a declared input"),
        ("command: [cat]\nargs: [{file: nope}]\n", "args[0].file", "not a declared file"),
        ("command: [cat]\nargs: [{template: '{nope}'}]\n", "args[0].template", "not a declared input"),
        ("command: [cat]\nargs: [{value: a, when: nope}]\ninputs: {a: {}}\n", "args[0].when", "not a declared"),
        ("command: [cat]\nargs: [{switch: -v, value: a}]\ninputs: {a: {}}\n", "args[0].value", "boolean"),
        ("command: [cat]\nstdin: {template: '{nope}'}\n", "stdin.template", "not a declared input"),
        ("command: [cat]\nenv: {X: {value: nope}}\n", "env.X.value", "not a declared input"),
        ("command: [cat]\nfiles: {f: {value: nope}}\n", "files.f.value", "not a declared input"),
        ("command: [cat]\ninputs: {a: {type: integer, default: x}}\n", "inputs.a.default", "not of type integer"),
        ("command: [cat]\ninputs: {a: {type: integer, min: 5, max: 1}}\n", "inputs.a.min", "greater than max"),
        ("command: [cat]\ninputs: {a: {type: integer, pattern: x}}\n", "inputs.a.pattern", "only to strings"),
        ("command: [cat]\nstdin: bytes\n", "stdin", "'none' or 'event'"),
        ("command: [cat]\nexit_codes: {1: {success: true, status_code: 400}}\n", "exit_codes.1", "success status"),
        ("command: [cat]\ninputs: {a: {destination: {allow: ['a b']}}}\n", "inputs.a.destination.allow", "host name"),
        ("command: [cat]\ninputs: {a: {destination: {deny: [example.com]}}}\n", "inputs.a.destination.deny", "CIDR"),
        ("command: [cat]\ninputs: {a: {destination: {allow: ['127.0.0.1:0']}}}\n", "inputs.a.destination.allow",
         "port"),
        ("command: [cat]\ninputs: {a: {destination: {kind: uri}}}\n", "inputs.a.destination.kind", "'url'"),
        ("command: [cat]\ninputs: {a: {destination: {kind_input: m}}}\n", "inputs.a.destination.kind_input",
         "not a declared input"),
        ("command: [cat]\ninputs: {a: {destination: {kinds: {x: host}}}}\n", "inputs.a.destination.kinds",
         "needs kind_input"),
        ("command: [cat]\ninputs: {a: {destination: {kind: host_port, default_scheme: http}}}\n",
         "inputs.a.destination.default_scheme", "only to the url kind"),
        ("command: [cat]\negress: {guard: true, allow: ['a b']}\n", "egress.allow", "host name"),
        ("command: [cat]\negress: {port: 70000}\n", "egress.port", "65535"),
        ("command: [cat]\nargs: [true]\n", "args[0]", "an args item is a word or a mapping"),
        ('command: ["a\\0b"]\n', "command[0]", "NUL"),
    ],
    ids=lambda v: v if isinstance(v, str) and "\n" not in v and len(v) < 40 else None,
)
def test_invalid_field_is_reported_with_its_path(tmp_path, text, path, reason):
    problems = problems_of(tmp_path, text)
    assert len(problems) == 1, problems
    assert problems[0].path == path
    assert reason in problems[0].reason


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ("[{value: a}]", "args may only be literal words"),
        ("[]\nstdin: event", "stdin is not allowed"),
        ("[]\nfiles: {f: {value: a}}", "files are not allowed"),
        ("[]\nenv: {X: {value: a}}", "env values must be literal"),
        ("[]\nserver: {port: 1, request: {path: '/{nope}'}}", "'nope' is not a declared input"),
        ("[]\nserver: {port: 1, request: {path: '/{file:f}'}}", "cannot be used here"),
    ],
    ids=["args", "stdin", "files", "env", "path-input", "path-file"],
)
def test_server_mode_restrictions(tmp_path, args, reason):
    text = f"mode: server\ncommand: [srv]\ninputs: {{a: {{}}}}\nargs: {args}\n"
    if "server:" not in args:
        text += "server: {port: 8080}\n"
    problems = problems_of(tmp_path, text)
    assert any(reason in p.reason for p in problems), problems


@pytest.mark.parametrize(
    ("text", "path", "reason"),
    [
        ("mode: hot\nargs: [{value: a}]", "args[0]", "hot mode: args may only be literal words"),
        ("mode: hot\nfiles: {f: {value: a}}", "files", "hot mode: files are not allowed"),
        ("mode: hot\nenv: {X: {value: a}}", "env.X", "hot mode: env values must be literal"),
        ("mode: hot\nhot: {result_fd: 4}", "hot.result_fd", "applies only to framing: actionloop"),
        ("mode: hot\nhot: {ack: true}", "hot.ack", "applies only to framing: actionloop"),
        ("mode: hot\nhot: {framing: actionloop, ready_timeout_s: 2}", "hot.ready_timeout_s", "only with ack"),
        ("mode: hot\nhot: {framing: actionloop, result_fd: 2}", "hot.result_fd", "greater than or equal to 3"),
        ("mode: hot\nhot: {max_events: 0}", "hot.max_events", "greater than or equal to 1"),
        ("mode: hot\nhot: {framing: http}", "hot.framing", "'lines' or 'actionloop'"),
        ("hot: {max_events: 5}", "hot", "only allowed with mode: hot"),
    ],
    ids=["args", "files", "env", "result_fd-lines", "ack-lines", "ready-no-ack", "fd-2", "max-events-0", "framing",
         "exec-mode"],
)
def test_hot_mode_restrictions(tmp_path, text, path, reason):
    problems = problems_of(tmp_path, f"command: [prog]\ninputs: {{a: {{}}}}\n{text}\n")
    assert [(p.path, reason in p.reason) for p in problems] == [(path, True)], problems


def test_hot_mode_takes_stdin_and_defaults(tmp_path):
    config = load_config(write(tmp_path, "mode: hot\ncommand: [cat]\nstdin: event\n"))
    assert (config.hot.framing, config.hot.max_events, config.hot.max_rss_mib) == ("lines", None, None)


def test_streaming_output_gets_lambdas_streamed_cap_unless_one_is_given(tmp_path):
    streamed = load_config(write(tmp_path, "command: [cat]\noutput: {streaming: true}\n"))
    capped = load_config(write(tmp_path, "command: [cat]\noutput: {streaming: true, max_bytes: 1000}\n", "b.yaml"))
    assert (streamed.output.streaming, streamed.output.max_bytes) == (True, 200 * 1024 * 1024)
    assert capped.output.max_bytes == 1000


@pytest.mark.parametrize(
    ("text", "path", "reason"),
    [
        ("output: {streaming: true, format: text}", "output.format", "needs format 'raw'"),
        ("output: {streaming: true}\nmode: server\nserver: {port: 8080}", "output.streaming", "only supported in exec"),
        ("output: {streaming: true}\nmode: hot", "output.streaming", "only supported in exec"),
    ],
    ids=["format", "server-mode", "hot-mode"],
)
def test_streaming_restrictions(tmp_path, text, path, reason):
    problems = problems_of(tmp_path, f"command: [prog]\n{text}\n")
    assert [(p.path, reason in p.reason) for p in problems] == [(path, True)], problems


def test_yaml_syntax_error_reports_line(tmp_path):
    [problem] = problems_of(tmp_path, "command: [cat\nargs: x\n")
    assert problem.path == "" and problem.line is not None
    assert "invalid YAML" in problem.reason


def test_duplicate_keys_are_reported(tmp_path):
    problems = problems_of(tmp_path, "command: [cat]\ntimeout_s: 1\ntimeout_s: 2\n")
    assert [(p.line, p.path, p.reason) for p in problems] == [(3, "timeout_s", "duplicate key")]


def test_non_mapping_document_is_an_error(tmp_path):
    [problem] = problems_of(tmp_path, "- just\n- a list\n")
    assert "mapping" in problem.reason


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "absent.yaml")


def test_yaml_tags_cannot_build_objects(tmp_path):
    """Regression: a config must never be able to run code through YAML tags."""
    problems = problems_of(tmp_path, "command: !!python/object/apply:os.system ['true']\n")
    assert "invalid YAML" in problems[0].reason


def test_model_validate_accepts_python_names_too():
    config = WrapperConfig.model_validate({"command": ["x"], "inputs": {"a": {"from_": "b"}}})
    assert config.inputs["a"].from_ == "b"


# resolve_executable


def make_program(path: Path, mode: int = 0o755) -> Path:
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(mode)
    return path


def test_resolve_absolute_path(tmp_path):
    program = make_program(tmp_path / "prog")
    config = WrapperConfig(command=[str(program)])
    assert resolve_executable(config, tmp_path / "wrapper.yaml", "") == str(program)


def test_resolve_relative_to_config_dir(tmp_path):
    (tmp_path / "bin").mkdir()
    program = make_program(tmp_path / "bin" / "prog")
    config = WrapperConfig(command=["./bin/prog"])
    assert resolve_executable(config, tmp_path / "wrapper.yaml", "/nonexistent") == str(program)


def test_resolve_bare_name_via_path(tmp_path):
    program = make_program(tmp_path / "prog")
    config = WrapperConfig(command=["prog"])
    assert resolve_executable(config, "/elsewhere/wrapper.yaml", f"/nonexistent{os.pathsep}{tmp_path}") == str(program)


@pytest.mark.parametrize(
    ("command", "reason"),
    [(["nosuchprogram"], "not found in PATH"), (["./missing"], "does not exist"), (["./data"], "not executable")],
    ids=["bare-missing", "relative-missing", "not-executable"],
)
def test_resolve_failures_name_file_and_command0(tmp_path, command, reason):
    make_program(tmp_path / "data", mode=stat.S_IRUSR | stat.S_IWUSR)
    config = WrapperConfig(command=command)
    with pytest.raises(ConfigError) as caught:
        resolve_executable(config, tmp_path / "wrapper.yaml", str(tmp_path / "empty"))
    [problem] = caught.value.problems
    assert problem.file == str(tmp_path / "wrapper.yaml")
    assert problem.path == "command[0]"
    assert reason in problem.reason


# Event values and the environment: names that change how programs load or start, AWS_* names, credentials

UNSAFE_NAMES = ["LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "BASH_ENV", "ENV", "PATH", "PYTHONPATH",
                "PYTHONSTARTUP", "PYTHONWARNINGS", "PERL5OPT", "PERL5LIB", "NODE_OPTIONS", "GCONV_PATH",
                "GLIBC_TUNABLES", "RUBYOPT", "JAVA_TOOL_OPTIONS", "BASH_FUNC_x%%", "SHELLOPTS", "PS4", "HOME",
                "OPENSSL_CONF", "GIT_SSH_COMMAND", "ld_preload", "path", "AWS_ACCESS_KEY_ID", "AWS_ENDPOINT_URL",
                "AWS_CONFIG_FILE", "AWS_LAMBDA_RUNTIME_API"]


@pytest.mark.parametrize("name", [n for n in UNSAFE_NAMES if "%" not in n])
@pytest.mark.parametrize("source", ["{value: x}", '{template: "{x}"}', '{template: "{file:f}"}'])
def test_event_value_into_a_name_that_changes_how_programs_start_is_refused(tmp_path, name, source):
    problems = problems_of(tmp_path, f"""
        command: [cat]
        inputs: {{x: {{}}}}
        files: {{f: {{value: x}}}}
        env:
          {name}: {source}
        """)
    assert [(p.path, p.line) for p in problems] == [(f"env.{name}", 5)]
    assert "allow_unsafe_env" in problems[0].reason and name in problems[0].reason


def test_allow_unsafe_env_is_a_named_opt_in(tmp_path):
    config = load_config(write(tmp_path, """
        command: [python3, -c, "import sys; print(sys.path)"]
        inputs: {x: {}}
        env:
          PYTHONPATH: {value: x}
          LD_PRELOAD: /opt/lib/literal-is-the-authors-choice.so
        allow_unsafe_env: [PYTHONPATH]
        """))
    assert config.allow_unsafe_env == ["PYTHONPATH"]


@pytest.mark.parametrize("name", ["MODE", "TARGET_HOST", "LDAP_URI", "PATHNAME", "ENVIRONMENT", "XAWS_KEY"])
def test_event_values_into_ordinary_names_are_fine(tmp_path, name):
    assert load_config(write(tmp_path, f"command: [cat]\ninputs: {{x: {{}}}}\nenv: {{{name}: {{value: x}}}}\n"))


def test_allow_unsafe_env_naming_no_event_mapped_entry_is_refused(tmp_path):
    problems = problems_of(tmp_path, """
        command: [cat]
        env: {LD_PRELOAD: /literal.so}
        allow_unsafe_env: [LD_PRELOAD, PYTHONPATH]
        """)
    assert [p.path for p in problems] == ["allow_unsafe_env[0]", "allow_unsafe_env[1]"]


@pytest.mark.parametrize("name", ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                                  "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_CREDENTIALS_FULL_URI"])
def test_passing_a_credential_through_needs_aws_credentials(tmp_path, name):
    problems = problems_of(tmp_path, f"command: [cat]\nenv_passthrough: [HOME_REGION, {name}]\n")
    assert [p.path for p in problems] == ["env_passthrough[1]"]
    assert "aws_credentials: true" in problems[0].reason
    assert load_config(write(tmp_path, f"command: [cat]\nenv_passthrough: [{name}]\naws_credentials: true\n"))



@pytest.mark.parametrize("credentials", [False, True])
def test_the_runtime_api_address_is_never_passed_through(tmp_path, credentials):
    problems = problems_of(tmp_path, "command: [cat]\nenv_passthrough: [TZ, AWS_LAMBDA_RUNTIME_API]\n"
                                     f"aws_credentials: {str(credentials).lower()}\n")
    assert [p.path for p in problems] == ["env_passthrough[1]"]
    assert "take or answer other invocations" in problems[0].reason


# one config type: every schema class has its value class, with the same fields


def test_every_schema_class_has_a_value_class_with_the_same_fields():
    for model in _models(WrapperConfig):
        value_class = values.KINDS[value_class_name(model.__name__)]
        assert set(value_class.FIELDS) == set(model.model_fields), (
            f"{model.__name__} and values.{value_class.__name__} must have the same fields"
        )


def test_a_value_class_missing_a_field_refuses_to_convert():
    class Partial(values.Value):  # what forgetting the value half of a new key looks like
        dir: str

    model = WrapperConfig.model_validate({"command": ["cat"]}).scratch
    try:
        values.KINDS["Scratch"] = Partial
        with pytest.raises(TypeError, match="different fields"):
            from_schema(model)
    finally:
        values.KINDS["Scratch"] = values.Scratch
        values.KINDS.pop("Partial", None)
