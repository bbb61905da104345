"""build_command and the server-mode helpers: every mapping form as a table, and the no-injection properties."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from wrapper.config.loader import from_schema
from wrapper.config.schema import WrapperConfig
from wrapper.config.values import Config
from wrapper.errors import InvalidEventError
from wrapper.mapping.command import build_command, build_server_argv_env, build_server_request
from wrapper.mapping.inputs import extract_inputs
from wrapper.types import HttpRequest

SCRATCH = "/tmp/wrapper-test"
BASE_ENV = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "AWS_REGION": "eu-west-1",
    "AWS_LAMBDA_FUNCTION_NAME": "fn",
    "AWS_ACCESS_KEY_ID": "AKIA",
    "AWS_SECRET_ACCESS_KEY": "secret",
    "AWS_SESSION_TOKEN": "token",
    "HOME_REGION": "mars",
    "UNRELATED": "never passed",
}
CONTEXT_ENV = {"AWS_LAMBDA_REQUEST_ID": "req-1", "AWS_LAMBDA_DEADLINE_MS": "123"}


def config_of(text: str) -> Config:
    return from_schema(WrapperConfig.model_validate(yaml.safe_load(text)))


def run(text: str, event: Any, *, body: bytes = b"{}"):
    config = config_of(text)
    values = extract_inputs(event, config.inputs)
    return build_command(config, values, event_body=body, scratch_dir=SCRATCH, context_env=CONTEXT_ENV,
                         base_env=BASE_ENV)


INPUTS = """
inputs:
  t: {required: false}
  n: {type: integer, required: false}
  v: {type: boolean, default: false}
  many: {type: list, required: false}
  obj: {type: object, required: false}
  dash: {required: false, allow_dash: true}
  neg: {type: integer, required: false, allow_dash: true}
  b64: {required: false}
files:
  doc: {value: obj, filename: doc.json}
  blob: {value: b64, as: base64}
"""

ARGV_CASES = [
    ("literal", "[--compact-output]", {}, ["--compact-output"]),
    ("value", "[{value: t}]", {"t": "a b*c"}, ["a b*c"]),
    ("value-int", "[{value: n}]", {"n": "7"}, ["7"]),
    ("value-missing-dropped", "[x, {value: t}, y]", {}, ["x", "y"]),
    ("value-list", "[{value: many}]", {"many": ["a", "b c"]}, ["a", "b c"]),
    ("value-empty-list", "[{value: many}]", {"many": []}, []),
    ("value-object-json", "[{value: obj}]", {"obj": {"k": [1, "é"]}}, ['{"k":[1,"é"]}']),
    ("flag", "[{flag: --target, value: t}]", {"t": "x"}, ["--target", "x"]),
    ("flag-missing", "[{flag: --target, value: t}]", {}, []),
    ("flag-list", "[{flag: --target, value: many}]", {"many": ["a", "b"]}, ["--target", "a", "--target", "b"]),
    ("flag-equals", "[{flag: --target, value: t, style: equals}]", {"t": "x"}, ["--target=x"]),
    ("flag-equals-dash-safe", "[{flag: --target, value: t, style: equals}]", {"t": "-x"}, ["--target=-x"]),
    ("flag-equals-list", "[{flag: -t, value: many, style: equals}]", {"many": ["a", "b"]}, ["-t=a", "-t=b"]),
    ("switch-true", "[{switch: --verbose, value: v}]", {"v": True}, ["--verbose"]),
    ("switch-false", "[{switch: --verbose, value: v}]", {"v": False}, []),
    ("switch-default", "[{switch: --verbose, value: v}]", {}, []),
    ("template", "[{template: '--target={t}'}]", {"t": "x y"}, ["--target=x y"]),
    ("template-dash-safe", "[{template: 'pre{t}'}]", {"t": "-x"}, ["pre-x"]),
    ("template-braces", "[{template: '{{{t}}}'}]", {"t": "x"}, ["{x}"]),
    ("template-missing", "[{template: '--t={t}'}]", {}, []),
    ("template-bool", "[{template: 'v={v}'}]", {"v": True}, ["v=true"]),
    ("template-file", "[{template: '@{file:doc}'}]", {"obj": {}}, ["@/tmp/wrapper-test/doc.json"]),
    ("file", "[{file: doc}]", {"obj": {"a": 1}}, ["/tmp/wrapper-test/doc.json"]),
    ("file-missing", "[{file: doc}]", {}, []),
    ("flag-file", "[{flag: --in, file: blob}]", {"b64": "aGk="}, ["--in", "/tmp/wrapper-test/blob"]),
    ("when-true", "[{value: t, when: v}]", {"t": "x", "v": True}, ["x"]),
    ("when-false", "[{value: t, when: v}]", {"t": "x", "v": False}, []),
    ("when-missing", "[{flag: -n, value: t, when: n}]", {"t": "x"}, []),
    ("after-double-dash", "['--', {value: t}]", {"t": "-rf"}, ["--", "-rf"]),
    ("allow-dash", "[{value: dash}]", {"dash": "-x"}, ["-x"]),
    ("negative-number-allowed", "[{value: neg}]", {"neg": -3}, ["-3"]),
    ("empty-string", "[{value: t}]", {"t": ""}, [""]),
    ("shell-chars-stay", "[{value: t}]", {"t": "$(rm -rf /); `x` | y > z"}, ["$(rm -rf /); `x` | y > z"]),
    ("glob-stays", "[{value: t}]", {"t": "*"}, ["*"]),
]


@pytest.mark.parametrize(("args", "event", "expected"), [c[1:] for c in ARGV_CASES], ids=[c[0] for c in ARGV_CASES])
def test_argv(args, event, expected):
    command = run(f"command: [prog]\nargs: {args}\n{INPUTS}", event)
    assert command.argv == ["prog", *expected]
    assert command.cwd == SCRATCH


DASH_CASES = [
    ("value", "[{value: t}]", {"t": "-rf"}),
    ("value-list-item", "[{value: many}]", {"many": ["ok", "--help"]}),
    ("flag-separate", "[{flag: --target, value: t}]", {"t": "--other"}),
    ("template-leading-placeholder", "[{template: '{t}.txt'}]", {"t": "-x"}),
    ("double-dash-after", "[{value: t}, '--']", {"t": "-x"}),
    ("negative-number", "[{value: n}]", {"n": -1}),
]


@pytest.mark.parametrize(("args", "event"), [c[1:] for c in DASH_CASES], ids=[c[0] for c in DASH_CASES])
def test_option_looking_value_is_rejected(args, event):
    with pytest.raises(InvalidEventError, match="starts with '-' and could be read as an option"):
        run(f"command: [prog]\nargs: {args}\n{INPUTS}", event)


def test_double_dash_in_command_ends_options():
    command = run(f"command: [prog, --]\nargs: [{{value: t}}]\n{INPUTS}", {"t": "-x"})
    assert command.argv == ["prog", "--", "-x"]


STDIN_CASES = [
    ("none", "none", {}, None),
    ("null-is-none", "null", {}, None),
    ("event", "event", {}, b'{"raw": true}'),
    ("value-text", "{value: t}", {"t": "héllo"}, "héllo".encode()),
    ("value-text-int", "{value: n, as: text}", {"n": 5}, b"5"),
    ("value-json", "{value: obj, as: json}", {"obj": {"a": "é"}}, '{"a": "é"}'.encode()),
    ("value-json-string", "{value: t, as: json}", {"t": "x"}, b'"x"'),
    ("value-base64", "{value: b64, as: base64}", {"b64": base64.b64encode(b"\x00\xff").decode()}, b"\x00\xff"),
    ("value-missing", "{value: t}", {}, None),
    ("template", '{template: "hello {t}\\n"}', {"t": "w"}, b"hello w\n"),
]


@pytest.mark.parametrize(("stdin", "event", "expected"), [c[1:] for c in STDIN_CASES], ids=[c[0] for c in STDIN_CASES])
def test_stdin(stdin, event, expected):
    command = run(f"command: [prog]\nstdin: {stdin}\n{INPUTS}", event, body=b'{"raw": true}')
    assert command.stdin == expected


def test_stdin_invalid_base64_is_invalid_event():
    with pytest.raises(InvalidEventError, match="not valid base64"):
        run(f"command: [prog]\nstdin: {{value: b64, as: base64}}\n{INPUTS}", {"b64": "not base64!"})


FILES_CASES = [
    ("text-object", {"obj": {"a": 1}}, {f"{SCRATCH}/doc.json": b'{"a":1}'}),
    ("base64", {"b64": "aGk="}, {f"{SCRATCH}/blob": b"hi"}),
    ("both", {"obj": {}, "b64": ""}, {f"{SCRATCH}/doc.json": b"{}", f"{SCRATCH}/blob": b""}),
    ("none", {}, {}),
]


@pytest.mark.parametrize(("event", "expected"), [c[1:] for c in FILES_CASES], ids=[c[0] for c in FILES_CASES])
def test_files(event, expected):
    assert run(f"command: [prog]\n{INPUTS}", event).files == expected


def test_file_text_string_is_utf8():
    command = run("command: [prog]\ninputs: {s: {}}\nfiles: {s: {value: s}}\n", {"s": "é\n"})
    assert command.files == {f"{SCRATCH}/s": "é\n".encode()}


ENV_CASES = [
    ("literal", "{MODE: fast}", {}, {"MODE": "fast"}),
    ("value", "{T: {value: t}}", {"t": "x y"}, {"T": "x y"}),
    ("value-int", "{N: {value: n}}", {"n": 3}, {"N": "3"}),
    ("value-missing-dropped", "{T: {value: t}}", {}, {}),
    ("template", "{G: {template: 'hi {t}'}}", {"t": "w"}, {"G": "hi w"}),
    ("template-file", "{F: {template: '{file:doc}'}}", {"obj": {}}, {"F": f"{SCRATCH}/doc.json"}),
    ("env-wins", "{PATH: /opt/bin, HOME: /h}", {}, {"PATH": "/opt/bin", "HOME": "/h"}),
]


@pytest.mark.parametrize(("env", "event", "expected"), [c[1:] for c in ENV_CASES], ids=[c[0] for c in ENV_CASES])
def test_env(env, event, expected):
    command = run(f"command: [prog]\nenv: {env}\n{INPUTS}", event)
    base = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "AWS_REGION": "eu-west-1", "AWS_LAMBDA_FUNCTION_NAME": "fn",
            "HOME": SCRATCH, **CONTEXT_ENV}
    assert command.env == base | expected


def test_env_passthrough_and_credentials():
    command = run("command: [prog]\nenv_passthrough: [HOME_REGION, ABSENT]\naws_credentials: true\n", {})
    assert command.env["HOME_REGION"] == "mars"
    assert "ABSENT" not in command.env
    assert (command.env["AWS_ACCESS_KEY_ID"], command.env["AWS_SESSION_TOKEN"]) == ("AKIA", "token")
    assert "UNRELATED" not in command.env


def test_no_credentials_unless_asked():
    env = run("command: [prog]\n", {}).env
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "UNRELATED"} & set(env)


def test_oversize_argv_word_is_invalid_event():
    text = "command: [prog]\ninputs: {t: {max_length: 200000}}\nargs: [{value: t}]\n"
    with pytest.raises(InvalidEventError, match="longer than 131071 bytes"):
        run(text, {"t": "x" * 140_000})


# server mode

SERVER = """
mode: server
command: [exporter, --web.listen-address=127.0.0.1:9115]
args: [--log.level=warn]
env: {MODE: fast}
inputs:
  target: {}
  module: {required: false}
  id: {type: integer, required: false}
server:
  port: 9115
  request:
    method: POST
    path: "/probe/{target}"
    query: {target: "{target}", module: "{module}", fixed: "yes"}
    headers: {X-Target: "{target}", X-Module: "{module}"}
    forward_headers: [accept]
    body: {value: target, as: json}
"""


def test_server_argv_env():
    argv, env = build_server_argv_env(config_of(SERVER), base_env=BASE_ENV)
    assert argv == ["exporter", "--web.listen-address=127.0.0.1:9115", "--log.level=warn"]
    assert env == {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "AWS_REGION": "eu-west-1",
                   "AWS_LAMBDA_FUNCTION_NAME": "fn", "HOME": "/tmp", "MODE": "fast"}


def test_server_request_encodes_values():
    config = config_of(SERVER)
    values = extract_inputs({"target": "a b/c?d&e=f", "module": "http_2xx"}, config.inputs)
    http = HttpRequest(source="function_url", method="GET", path="/", query={}, query_multi={},
                       headers={"accept": "text/plain", "cookie": "secret"}, body=b"")
    method, target, headers, body = build_server_request(config, values, event_body=b"{}", http_request=http)
    assert method == "POST"
    assert target == "/probe/a%20b%2Fc%3Fd%26e%3Df?target=a%20b%2Fc%3Fd%26e%3Df&module=http_2xx&fixed=yes"
    assert headers == {"accept": "text/plain", "X-Target": "a b/c?d&e=f", "X-Module": "http_2xx"}
    assert body == b'"a b/c?d&e=f"'


def test_server_request_drops_null_optional_query_keys():
    config = config_of(SERVER)
    values = extract_inputs({"target": "example.com"}, config.inputs)
    method, target, headers, body = build_server_request(config, values, event_body=b"", http_request=None)
    assert target == "/probe/example.com?target=example.com&fixed=yes"
    assert headers == {"X-Target": "example.com"}


def test_server_request_rejects_header_injection():
    config = config_of(SERVER)
    values = extract_inputs({"target": "x\r\nEvil: 1"}, config.inputs)
    with pytest.raises(InvalidEventError, match="line break"):
        build_server_request(config, values, event_body=b"", http_request=None)


# properties: no event can inject an option or a shell word

PROPERTY_CONFIG = config_of("""
command: [prog]
inputs:
  a: {max_length: 200}
  b: {type: list, max_items: 5, max_length: 200}
args:
  - {value: a}
  - {flag: --b, value: b}
  - {template: "x{a}"}
""")
texts = st.text(st.characters(codec="utf-8") | st.sampled_from(["\x00", "\ud800", "-", " ", "\n", "*"]),
                max_size=300)
binaryish = st.binary(max_size=300).map(lambda b: b.decode("latin-1"))
values_strategy = texts | binaryish


@given(a=values_strategy, b=st.lists(values_strategy, max_size=7))
def test_each_value_lands_in_one_word_unchanged_or_is_rejected(a, b):
    try:
        values = extract_inputs({"a": a, "b": b}, PROPERTY_CONFIG.inputs)
        command = build_command(PROPERTY_CONFIG, values, event_body=b"", scratch_dir=SCRATCH, context_env={},
                                base_env={})
    except InvalidEventError as error:
        assert error.error_type == "Function.InvalidEvent"
        rejected = ("\x00" in a or len(a) > 200 or a.startswith("-") or len(b) > 5
                    or any("\x00" in x or len(x) > 200 or x.startswith("-") for x in b)
                    or any(0xD800 <= ord(c) <= 0xDFFF for c in a + "".join(b)))
        assert rejected, str(error)
        return
    assert command.argv == ["prog", a, *[w for x in b for w in ("--b", x)], "x" + a]
    assert not any(word.startswith("-") and word != "--b" for word in command.argv[1:])


@given(value=values_strategy)
def test_value_reaches_argv_as_option_only_when_allowed(value):
    config = config_of("command: [prog]\ninputs: {a: {max_length: 1000}}\nargs: [{value: a}]\n")
    allowed = config_of("command: [prog]\ninputs: {a: {max_length: 1000, allow_dash: true}}\nargs: [{value: a}]\n")
    try:
        values = extract_inputs({"a": value}, config.inputs)
    except InvalidEventError:
        return
    if value.startswith("-"):
        with pytest.raises(InvalidEventError):
            build_command(config, values, event_body=b"", scratch_dir=SCRATCH, context_env={}, base_env={})
    assert build_command(allowed, values, event_body=b"", scratch_dir=SCRATCH, context_env={},
                         base_env={}).argv == ["prog", value]


@given(size=st.integers(min_value=0, max_value=10_000))
def test_oversize_values_are_invalid_event(size):
    config = config_of("command: [prog]\ninputs: {a: {max_length: 5000}}\nargs: [{value: a}]\n")
    try:
        values = extract_inputs({"a": "x" * size}, config.inputs)
    except InvalidEventError as error:
        assert size > 5000 and error.error_type == "Function.InvalidEvent"
        return
    assert size <= 5000
    assert build_command(config, values, event_body=b"", scratch_dir=SCRATCH, context_env={},
                         base_env={}).argv[1] == "x" * size
