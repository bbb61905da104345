"""Runtime values shared across modules: plain frozen dataclasses. A leaf module."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

EventSource = Literal["function_url", "apigw_v2", "apigw_v1", "alb", "raw"]


@dataclass(frozen=True)
class Invocation:
    """One event from GET /runtime/invocation/next, every header parsed."""

    request_id: str
    deadline_ms: int  # epoch ms; already sanitised by the client (never in the past at receipt)
    body: bytes
    function_arn: str = ""
    trace_id: str | None = None
    client_context: str | None = None
    cognito_identity: str | None = None
    tenant_id: str | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class Command:
    """Exactly what would run for one invocation: argv, stdin, environment and files, with no I/O done yet."""

    argv: list[str]
    stdin: bytes | None = None
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # absolute path (inside the scratch dir) -> content
    cwd: str | None = None


@dataclass(frozen=True)
class ProcessResult:
    """What a finished (or stopped) program did. Outcomes are data; policy decides what is an error.

    exit_code: the status it exited with, or None when a signal ended it.
    signal: the signal number that ended it, or None.
    timed_out: True when the supervisor stopped it at its time limit (exit_code/signal then tell how it died).
    stdout: captured stdout, at most the cap.
    stdout_truncated: True when the program wrote more than the cap (the rest was read and discarded).
    stderr_tail: the last bytes of stderr (bounded), for error messages.
    duration_s: wall time from spawn to reaping.
    """

    exit_code: int | None
    signal: int | None
    timed_out: bool
    stdout: bytes
    stdout_truncated: bool
    stderr_tail: bytes
    duration_s: float


@dataclass(frozen=True)
class HttpRequest:
    """The normalized view of an HTTP event (Function URL, API Gateway v1/v2, ALB)."""

    source: EventSource
    method: str
    path: str
    query: dict[str, str]  # last value wins; all values in query_multi
    query_multi: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names, duplicates comma-joined
    body: bytes
    source_ip: str = ""
    cookies: list[str] = field(default_factory=list)
    multi_value_headers: bool = False  # ALB/v1: the caller used multiValueHeaders, answer in kind

    def view(self, event: Any) -> dict[str, Any]:
        """The document JMESPath expressions see for an HTTP event."""
        import json

        text = self.body.decode("utf-8", "replace")
        try:
            parsed = json.loads(self.body) if self.body else None
        except ValueError:
            parsed = None
        return {
            "http": True,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "query_multi": self.query_multi,
            "headers": self.headers,
            "cookies": self.cookies,
            "source_ip": self.source_ip,
            "body": text,
            "json": parsed,
            "event": event,
        }


@dataclass(frozen=True)
class HttpResponse:
    """An HTTP answer before it is shaped for the caller's event source."""

    status_code: int
    headers: dict[str, str]
    body: bytes
