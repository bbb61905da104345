"""A program's outcome + config → the response bytes, or the matching InvocationError. Pure.

Policy, in order: timed out → Function.Timeout; killed by a signal → Function.Signaled; exit status per
`exit_codes` (0 is success unless listed) → Function.NonZeroExit or the listed error; stdout over the cap with
on_overflow error → Function.OutputTooLarge; then stdout is shaped by `output.format`.

Two audiences: a direct caller gets a JSON-safe payload (`text` and `base64` as JSON strings); an HTTP caller
(Function URL, API Gateway, ALB) gets the body itself: `text` as the text, `raw` and `base64` as the program's
exact bytes, which the event source's answer then carries base64-encoded (isBase64Encoded) when they are binary.
"""

from __future__ import annotations

import binascii
import json
import signal

from wrapper import TYPE_CHECKING
from wrapper.errors import ProgramError, ProgramTimeoutError, UpstreamError
from wrapper.types import HttpResponse, ProcessResult

if TYPE_CHECKING:
    from typing import Any

    from wrapper.config.values import Config


_CONTENT_TYPES = {
    "raw": "application/octet-stream",
    "text": "text/plain; charset=utf-8",
    "lines": "application/json",  # a JSON array of the lines
    "json": "application/json",
    "base64": "application/octet-stream",
    "prometheus_json": "application/json",
}


def build_response(result: ProcessResult, config: Config, *, for_http: bool = False) -> bytes:
    """The response payload (for_http: the HTTP body) for a finished program; raise when it failed."""
    check_result(result, config)
    return format_output(result.stdout, config.output.format, config.command[0], for_http=for_http)


def check_result(result: ProcessResult, config: Config) -> None:
    """Raise ProgramError/ProgramTimeoutError when the program's outcome is a failure under the config."""
    name = config.command[0]
    tail = _stderr_tail(result.stderr_tail, config.stderr_tail_bytes)
    if result.timed_out:
        raise ProgramTimeoutError(_with_tail(f"Program {name!r} timed out after {result.duration_s:.1f} s", tail))
    if result.signal is not None:
        raise ProgramError(
            _with_tail(f"Program {name!r} was killed by signal {_signal_name(result.signal)}", tail),
            error_type="Function.Signaled",
        )
    _check_exit_code(result.exit_code, config, name, tail)
    if result.stdout_truncated and config.output.on_overflow == "error":
        raise ProgramError(
            f"Program {name!r} wrote more than {config.output.max_bytes} bytes to stdout (output.max_bytes)",
            error_type="Function.OutputTooLarge",
        )


def _check_exit_code(exit_code: int | None, config: Config, name: str, tail: str) -> None:
    code = 0 if exit_code is None else exit_code  # no status and no signal: nothing went wrong that we can tell
    entry = config.exit_codes.get(code)
    if entry is None:
        if code == 0:
            return
        raise ProgramError(_with_tail(f"Program {name!r} exited with status {code}", tail))
    if entry.success:
        return
    message = entry.message or _with_tail(f"Program {name!r} exited with status {code}", tail)
    raise ProgramError(message, error_type=entry.error_type or "Function.NonZeroExit", status_code=entry.status_code)


def format_output(stdout: bytes, output_format: str, name: str = "program", *, for_http: bool = False) -> bytes:
    """Shape stdout per output.format; raise ProgramError (Function.InvalidOutput) when it cannot be.

    for_http: the body for an HTTP caller, who gets text as text and binary as the bytes themselves.
    """
    if output_format == "raw":
        return stdout
    if output_format == "text":
        text = stdout.decode("utf-8", "replace")
        return text.encode("utf-8") if for_http else _json(text)
    if output_format == "base64":
        # the HTTP answer base64-encodes binary bodies itself: encoding here too would send base64 text.
        # binascii: base64.b64encode without importing base64 (and struct) at every cold start
        return stdout if for_http else _json(binascii.b2a_base64(stdout, newline=False).decode("ascii"))
    if output_format == "lines":
        lines = stdout.decode("utf-8", "replace").split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the newline ending the last line does not start another
        return _json([line.removesuffix("\r") for line in lines])
    if output_format == "json":
        try:
            json.loads(stdout, parse_constant=_reject_constant)
        except ValueError as error:
            raise ProgramError(
                f"Program {name!r} did not write valid JSON: {error}", error_type="Function.InvalidOutput"
            ) from None
        except RecursionError:
            raise ProgramError(
                f"Program {name!r} wrote JSON nested too deeply to check", error_type="Function.InvalidOutput"
            ) from None
        return stdout
    if output_format == "prometheus_json":
        from wrapper.mapping.exposition import parse_exposition  # only configs that ask for it pay for the import

        try:
            parsed = parse_exposition(stdout.decode("utf-8", "replace"))
        except ValueError as error:
            raise ProgramError(
                f"Program {name!r} did not write valid Prometheus exposition: {error}",
                error_type="Function.InvalidOutput",
            ) from None
        return _json(parsed)
    raise ValueError(f"unknown output format {output_format!r}")  # the schema admits no other


def status_in(status: int, ranges: str) -> bool:
    """Whether an HTTP status is in ranges like "200-299,304" (server.success_status)."""
    for part in ranges.split(","):
        low, _, high = part.strip().partition("-")
        if int(low) <= status <= int(high or low):
            return True
    return False


def build_upstream_response(
    upstream: HttpResponse, config: Config, content_type: str, *, http: bool, duration_s: float
) -> HttpResponse:
    """Server mode: the program's HTTP answer → the response, or UpstreamError when its status is not a success
    (`server.success_status`); HTTP callers get it as-is with `server.pass_status`."""
    assert config.server is not None  # server mode
    if not status_in(upstream.status_code, config.server.success_status):
        if http and config.server.pass_status:
            return HttpResponse(upstream.status_code, {"content-type": content_type}, upstream.body)
        tail = upstream.body[-config.stderr_tail_bytes :].decode("utf-8", "replace").strip()
        status = upstream.status_code if 400 <= upstream.status_code < 500 else None
        raise UpstreamError(f"Program answered HTTP {upstream.status_code}: {tail}", status_code=status)
    max_bytes = config.output.max_bytes
    result = ProcessResult(
        exit_code=0,
        signal=None,
        timed_out=False,
        stdout=upstream.body[:max_bytes],
        stdout_truncated=len(upstream.body) > max_bytes,
        stderr_tail=b"",
        duration_s=duration_s,
    )
    return HttpResponse(200, {"content-type": content_type}, build_response(result, config, for_http=http))


def content_type_for(config: Config) -> str | None:
    """The Content-Type for HTTP callers: output.content_type, else the format's default."""
    return config.output.content_type or _CONTENT_TYPES.get(config.output.format)


def is_binary_output(config: Config) -> bool:
    """True when HTTP callers must get the body base64-encoded whatever its bytes: format base64."""
    return config.output.format == "base64"


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def _reject_constant(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _stderr_tail(stderr: bytes, max_bytes: int) -> str:
    if max_bytes <= 0:
        return ""
    return stderr[-max_bytes:].decode("utf-8", "replace").strip()


def _with_tail(message: str, tail: str) -> str:
    return f"{message}: {tail}" if tail else message


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)
