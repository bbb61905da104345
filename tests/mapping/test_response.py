"""build_response: output formats, overflow, exit-code policy, signals and timeouts, as tables."""

from __future__ import annotations

import json
import signal
from typing import Any

import pytest

from wrapper.config.loader import from_schema
from wrapper.config.schema import WrapperConfig
from wrapper.config.values import Config
from wrapper.errors import ProgramError, ProgramTimeoutError
from wrapper.mapping.response import build_response, content_type_for, is_binary_output
from wrapper.types import ProcessResult


def result(stdout: bytes = b"", *, exit_code: int | None = 0, signal_number: int | None = None,
           timed_out: bool = False, truncated: bool = False, stderr: bytes = b"") -> ProcessResult:
    return ProcessResult(exit_code=exit_code, signal=signal_number, timed_out=timed_out, stdout=stdout,
                         stdout_truncated=truncated, stderr_tail=stderr, duration_s=1.25)


def config(**fields: Any) -> Config:
    return from_schema(WrapperConfig.model_validate({"command": ["prog"], **fields}))


FORMAT_CASES = [
    ("raw", "raw", b"\x00\xffbytes\n", b"\x00\xffbytes\n"),
    ("text", "text", "héllo\n".encode(), json.dumps("héllo\n", ensure_ascii=False).encode()),
    ("text-invalid-utf8", "text", b"a\xffb", json.dumps("a\ufffdb", ensure_ascii=False).encode()),
    ("json", "json", b'{"a": 1}\n', b'{"a": 1}\n'),
    ("lines", "lines", b"a\nb\r\n\nc\n", b'["a", "b", "", "c"]'),
    ("lines-no-trailing-newline", "lines", b"a\nb", b'["a", "b"]'),
    ("lines-empty", "lines", b"", b"[]"),
    ("base64", "base64", b"\x89PNG", b'"iVBORw=="'),
]


@pytest.mark.parametrize(("fmt", "stdout", "expected"), [c[1:] for c in FORMAT_CASES], ids=[c[0] for c in FORMAT_CASES])
def test_output_formats(fmt, stdout, expected):
    assert build_response(result(stdout), config(output={"format": fmt})) == expected


# What an HTTP caller's body holds: text as text, binary as the program's exact bytes (never base64 text, never
# a JSON string), JSON as JSON. The event source's answer base64-encodes binary bodies on its own.
HTTP_FORMAT_CASES = [
    ("raw", "raw", b"\x00\xffbytes\n", b"\x00\xffbytes\n"),
    ("text", "text", "héllo\n".encode(), "héllo\n".encode()),
    ("text-invalid-utf8", "text", b"a\xffb", "a\ufffdb".encode()),
    ("json", "json", b'{"a": 1}\n', b'{"a": 1}\n'),
    ("lines", "lines", b"a\nb\n", b'["a", "b"]'),
    ("base64", "base64", b"\x89PNG\r\n\x1a\n\x00", b"\x89PNG\r\n\x1a\n\x00"),
]


@pytest.mark.parametrize(
    ("fmt", "stdout", "expected"), [c[1:] for c in HTTP_FORMAT_CASES], ids=[c[0] for c in HTTP_FORMAT_CASES]
)
def test_http_callers_get_the_body_itself(fmt, stdout, expected):
    assert build_response(result(stdout), config(output={"format": fmt}), for_http=True) == expected


def test_regression_base64_output_reached_http_callers_as_a_quoted_json_string():
    # configs/qrencode.yaml: the PNG went out base64-encoded, JSON-quoted, then base64-encoded again
    body = build_response(result(b"\x89PNG"), config(output={"format": "base64", "content_type": "image/png"}),
                          for_http=True)
    assert not body.startswith(b'"')
    assert body == b"\x89PNG"


@pytest.mark.parametrize(("fmt", "binary"), [("base64", True), ("raw", False), ("text", False), ("json", False)])
def test_only_base64_is_binary_whatever_its_bytes(fmt, binary):
    assert is_binary_output(config(output={"format": fmt})) is binary


@pytest.mark.parametrize(
    "stdout", [b"not json", b'{"a": 1} {"b": 2}', b"NaN", b""], ids=["text", "two", "nan", "empty"]
)
def test_json_format_rejects_invalid_output(stdout):
    with pytest.raises(ProgramError) as caught:
        build_response(result(stdout), config(output={"format": "json"}))
    assert caught.value.error_type == "Function.InvalidOutput"
    assert "did not write valid JSON" in str(caught.value)



def test_json_nested_too_deeply_to_check_is_invalid_output_not_an_internal_error():
    deep = b"[" * 100_000 + b"]" * 100_000  # valid JSON that Python's parser cannot follow (RecursionError)
    with pytest.raises(ProgramError) as caught:
        build_response(result(deep), config(output={"format": "json"}))
    assert caught.value.error_type == "Function.InvalidOutput"
    assert "nested too deeply" in str(caught.value)

def test_prometheus_json_format():
    text = b"# TYPE probe_success gauge\nprobe_success 1\n"
    body = json.loads(build_response(result(text), config(output={"format": "prometheus_json"})))
    assert "probe_success" in json.dumps(body)


def test_prometheus_json_invalid_is_invalid_output():
    with pytest.raises(ProgramError) as caught:
        build_response(result(b"{{{ not exposition"), config(output={"format": "prometheus_json"}))
    assert caught.value.error_type == "Function.InvalidOutput"


def test_overflow_error():
    with pytest.raises(ProgramError) as caught:
        build_response(result(b"x" * 10, truncated=True), config(output={"max_bytes": 10}))
    assert caught.value.error_type == "Function.OutputTooLarge"
    assert "more than 10 bytes" in str(caught.value)


def test_overflow_truncate_answers_with_the_prefix():
    cfg = config(output={"max_bytes": 10, "on_overflow": "truncate"})
    assert build_response(result(b"x" * 10, truncated=True), cfg) == b"x" * 10


EXIT_CASES = [
    ("zero", {}, 0, None, None),
    ("no-status", {}, None, None, None),
    ("nonzero", {}, 3, "Function.NonZeroExit", "Program 'prog' exited with status 3: noise\nboom"),
    ("listed-success", {1: {"success": True}}, 1, None, None),
    ("listed-error", {2: {"error_type": "Function.BadPattern", "status_code": 400}}, 2, "Function.BadPattern",
     "Program 'prog' exited with status 2: noise\nboom"),
    ("listed-message", {2: {"error_type": "Function.BadPattern", "message": "bad pattern"}}, 2,
     "Function.BadPattern", "bad pattern"),
    ("listed-zero-error", {0: {"error_type": "Function.Nothing"}}, 0, "Function.Nothing", None),
    ("unlisted-other", {1: {"success": True}}, 2, "Function.NonZeroExit", None),
]


@pytest.mark.parametrize(("table", "code", "error_type", "message"), [c[1:] for c in EXIT_CASES],
                         ids=[c[0] for c in EXIT_CASES])
def test_exit_code_policy(table, code, error_type, message):
    cfg = config(exit_codes=table)
    outcome = result(b"out", exit_code=code, stderr=b"  noise\nboom\n")
    if error_type is None:
        assert build_response(outcome, cfg) == b"out"
        return
    with pytest.raises(ProgramError) as caught:
        build_response(outcome, cfg)
    assert caught.value.error_type == error_type
    if message is not None:
        assert str(caught.value) == message


def test_listed_status_code_is_kept():
    with pytest.raises(ProgramError) as caught:
        build_response(result(exit_code=2), config(exit_codes={2: {"status_code": 400}}))
    assert caught.value.status_code == 400
    assert str(caught.value) == "Program 'prog' exited with status 2"


def test_stderr_tail_is_bounded():
    with pytest.raises(ProgramError) as caught:
        build_response(result(exit_code=1, stderr=b"a" * 100 + b"END"), config(stderr_tail_bytes=5))
    assert str(caught.value).endswith(": aaEND")


def test_signal_is_signaled_error_with_name():
    with pytest.raises(ProgramError) as caught:
        build_response(result(exit_code=None, signal_number=signal.SIGKILL), config())
    assert caught.value.error_type == "Function.Signaled"
    assert "SIGKILL" in str(caught.value)


def test_timeout_beats_everything():
    with pytest.raises(ProgramTimeoutError) as caught:
        build_response(result(exit_code=None, signal_number=signal.SIGTERM, timed_out=True, truncated=True), config())
    assert caught.value.error_type == "Function.Timeout"
    assert caught.value.status_code == 504


def test_failure_beats_overflow():
    with pytest.raises(ProgramError) as caught:
        build_response(result(b"x", exit_code=1, truncated=True), config())
    assert caught.value.error_type == "Function.NonZeroExit"


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ({}, "application/octet-stream"),
        ({"format": "json"}, "application/json"),
        ({"format": "text"}, "text/plain; charset=utf-8"),
        ({"format": "lines"}, "application/json"),
        ({"format": "prometheus_json"}, "application/json"),
        ({"format": "base64", "content_type": "image/png"}, "image/png"),
    ],
    ids=["raw", "json", "text", "lines", "prometheus", "explicit"],
)
def test_content_type(output, expected):
    assert content_type_for(config(output=output)) == expected
