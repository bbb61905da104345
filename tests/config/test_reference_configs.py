"""Every shipped config loads and maps a sample event; the reference configs run their real programs end to end."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest

from harness import CONFIGS, SAMPLE_EVENTS, sample_events
from wrapper.config.loader import load_config
from wrapper.errors import InvalidEventError, ProgramError
from wrapper.mapping.command import build_command, build_server_request
from wrapper.mapping.inputs import extract_inputs
from wrapper.mapping.response import build_response
from wrapper.programs.executable import resolve_executable
from wrapper.types import ProcessResult

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
