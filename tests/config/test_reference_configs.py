"""Every shipped config loads and maps a sample event; the reference configs run their real programs end to end."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import CONFIGS, SAMPLE_EVENTS, sample_events
from wrapper.config.loader import load_config
from wrapper.errors import InvalidEventError, ProgramError
from wrapper.mapping.command import build_command, build_server_request
from wrapper.mapping.hotline import build_hot_line
from wrapper.mapping.inputs import extract_inputs
from wrapper.mapping.response import build_response
from wrapper.programs.executable import resolve_executable
from wrapper.types import Invocation, ProcessResult

ROOT = Path(__file__).resolve().parents[2]
BASE_ENV = {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C.UTF-8"}


def test_every_reference_config_has_a_sample_event():
    assert {p.name for p in ROOT.glob("configs/*.yaml")} == set(SAMPLE_EVENTS)


@pytest.mark.parametrize("path", CONFIGS, ids=[str(p.relative_to(ROOT)) for p in CONFIGS])
def test_config_loads_and_maps_its_sample_events(path, tmp_path):
    config = load_config(path)
    for event in sample_events(path):
        document = event
        http_request = None
        if path.name not in SAMPLE_EVENTS:
            from wrapper.events import parse_http_event  # only examples bring HTTP-shaped events

            http_request = parse_http_event(event)
            document = http_request.view(event) if http_request is not None else event
        values = extract_inputs(document, config.inputs)
        body = json.dumps(event).encode()
        if config.mode == "server":
            method, target, _, _ = build_server_request(config, values, event_body=body, http_request=http_request)
            assert method and target.startswith("/")
            continue
        if config.mode == "hot":
            line = build_hot_line(config, values, Invocation("id", 0, body))
            assert line.endswith(b"\n") and line.count(b"\n") == 1
            continue
        command = build_command(config, values, event_body=body, scratch_dir=str(tmp_path), context_env={},
                                base_env=BASE_ENV)
        assert command.argv[: len(config.command)] == list(config.command)


def run_config(name: str, event: dict, tmp_path: Path) -> bytes:
    """What the runtime does, minus Lambda: inputs → command → a real child process → response."""
    path = ROOT / "configs" / name
    config = load_config(path)
    values = extract_inputs(event, config.inputs)
    body = json.dumps(event).encode()
    command = build_command(config, values, event_body=body, scratch_dir=str(tmp_path), context_env={},
                            base_env=BASE_ENV)
    for file_path, content in command.files.items():
        Path(file_path).write_bytes(content)
    argv = [resolve_executable(config, path, BASE_ENV["PATH"]), *command.argv[1:]]
    done = subprocess.run(argv, input=command.stdin or b"", env=command.env, cwd=command.cwd, capture_output=True,
                          check=False)
    outcome = ProcessResult(exit_code=done.returncode if done.returncode >= 0 else None,
                            signal=-done.returncode if done.returncode < 0 else None, timed_out=False,
                            stdout=done.stdout, stdout_truncated=False, stderr_tail=done.stderr, duration_s=0.0)
    return build_response(outcome, config)


def test_echo_returns_the_event_byte_for_byte(tmp_path):
    config = load_config(ROOT / "configs" / "echo.yaml")
    event = b'{"hello": "world!"}'
    command = build_command(config, {}, event_body=event, scratch_dir=str(tmp_path), context_env={},
                            base_env=BASE_ENV)
    assert command.stdin == event
    assert run_config("echo.yaml", {"hello": "world!"}, tmp_path) == json.dumps({"hello": "world!"}).encode()


def test_jq_runs_the_filter(tmp_path):
    assert run_config("jq.yaml", SAMPLE_EVENTS["jq.yaml"], tmp_path) == b"3\n"


def test_jq_filter_cannot_become_an_option(tmp_path):
    with pytest.raises(InvalidEventError, match="could be read as an option"):
        run_config("jq.yaml", {"filter": "--arg", "document": {}}, tmp_path)


def test_jq_bad_filter_is_the_callers_fault(tmp_path):
    with pytest.raises(ProgramError) as caught:
        run_config("jq.yaml", {"filter": ".[", "document": {}}, tmp_path)
    assert (caught.value.error_type, caught.value.status_code) == ("Function.BadFilter", 400)


def test_qrencode_text_starting_with_dash_is_data(tmp_path):
    png = base64.b64decode(json.loads(run_config("qrencode.yaml", {"text": "-v"}, tmp_path)))
    assert png.startswith(b"\x89PNG")


def test_qrencode_returns_a_png(tmp_path):
    png = base64.b64decode(json.loads(run_config("qrencode.yaml", SAMPLE_EVENTS["qrencode.yaml"], tmp_path)))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (SAMPLE_EVENTS["grep.yaml"], ["world"]),
        ({"pattern": "nothing", "text": "hello\n"}, []),
        ({"pattern": "HELLO", "text": "hello\n", "ignore_case": True}, ["hello"]),
        ({"pattern": "-v", "text": "a\n-v\n"}, ["-v"]),
    ],
    ids=["match", "no-match-is-success", "ignore-case", "dash-pattern"],
)
def test_grep(tmp_path, event, expected):
    assert json.loads(run_config("grep.yaml", event, tmp_path)) == expected


def test_grep_bad_pattern_is_a_listed_error(tmp_path):
    with pytest.raises(ProgramError) as caught:
        run_config("grep.yaml", {"pattern": "(", "text": "x\n"}, tmp_path)
    assert (caught.value.error_type, caught.value.status_code) == ("Function.BadPattern", 400)


# jq.yaml: a caller's filter must not read files (import, include, modulemeta), whatever its spelling

SECRET = "S3CRET-FROM-DISK"


@pytest.fixture(scope="module")
def secrets_dir(tmp_path_factory) -> Path:
    """A directory of a .json file (data a filter could import) and a .jq module (code it could include)."""
    directory = tmp_path_factory.mktemp("secrets")
    (directory / "data.json").write_text(json.dumps({"secret": SECRET}))
    (directory / "mod.jq").write_text(f'def leak: "{SECRET}";')
    return directory


def module_reads(directory: Path) -> list[str]:
    """The ways a jq 1.6+ filter reads a file from disk, each one leaking SECRET when it works."""
    return [
        f'import "{directory}/data" as $d; $d',
        f'import "data" as $d {{search: "{directory}"}}; $d',
        f'include "mod" {{search: "{directory}"}}; leak',
        f'import "mod" as m {{search: "{directory}"}}; m::leak',
        f'import "{directory}/mod" as m; m::leak',
    ]


def test_the_module_reads_are_real_with_this_jq(secrets_dir, tmp_path):
    """Without the config's check, jq itself reads the files: the refusal below guards a real door."""
    leaked = [f for f in module_reads(secrets_dir)
              if SECRET in subprocess.run(["jq", "-c", f], input=b"{}", capture_output=True, cwd=tmp_path,
                                          check=False).stdout.decode()]
    assert len(leaked) >= 3, leaked


SEPARATORS = st.sampled_from([" ", "\t", "\n", "\r\n", "  ", "\n# a comment\n", " # import\n"])


@st.composite
def module_spellings(draw, directory: Path) -> str:
    """A filter that reads a file: a directive or modulemeta, with odd whitespace, comments and a module header."""
    sep = draw(SEPARATORS)
    name = draw(st.sampled_from([
        f"{directory}/data", f"{directory}/mod", "data", "mod", "../" * 8 + f"{directory}/mod",
    ]))
    meta = draw(st.sampled_from(["", f'{{search: "{directory}"}}', f'{{"search": ["{directory}"]}}']))
    body = draw(st.sampled_from([
        f'import{sep}"{name}"{sep}as{sep}$d{sep}{meta};{sep}$d',
        f'import{sep}"{name}"{sep}as{sep}m{sep}{meta};{sep}m::leak',
        f'include{sep}"{name}"{sep}{meta};{sep}leak',
        f'"{name}"{sep}|{sep}modulemeta',
    ]))
    header = draw(st.sampled_from(["", "module {a: 1};", "# header\n", "module{};" + sep]))
    return header + sep + body


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_jq_filter_cannot_read_files_from_disk(secrets_dir, tmp_path, data):
    spelling = data.draw(module_spellings(secrets_dir))
    try:
        output = run_config("jq.yaml", {"filter": spelling, "document": {}}, tmp_path)
    except InvalidEventError:
        return  # refused before jq ran: the expected outcome for every spelling
    except ProgramError as exc:  # jq ran and failed: it must not have printed the secret either
        output = str(exc).encode()
    assert SECRET.encode() not in output, spelling
    raise AssertionError(f"not refused: {spelling!r}")


@pytest.mark.parametrize("filter_", [".important", "map(.included_at)", '"importer"', ".x // \"A\" | ascii_downcase",
                                     "[.[] | select(.imports > 1)]", "reduce .[] as $i (0; . + $i)"])
def test_jq_filters_with_look_alike_words_still_run(filter_, tmp_path):
    run_config("jq.yaml", {"filter": filter_, "document": {}}, tmp_path)  # raises InvalidEventError if refused
