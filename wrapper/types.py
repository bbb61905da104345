"""Runtime values shared across modules: small immutable classes. A leaf module.

Hand-written rather than dataclasses: `dataclasses` imports `inspect`, ~10 ms of every cold start. `Frozen` gives
each class what `@dataclass(frozen=True)` gave it: equality, hash and repr from the fields (its `__slots__`), and
assignment refused.
"""

from __future__ import annotations

from wrapper import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, Literal

    EventSource = Literal["function_url", "apigw_v2", "apigw_v1", "alb", "raw"]
else:
    EventSource = str  # one of the names above


class Frozen:
    """Base of immutable values: `__slots__` names the fields; __init__ stores them with `_store(locals())`."""

    # A subclass's __slots__ is its field order for repr and pickle, so it stays unsorted (noqa: RUF023).
    __slots__: tuple[str, ...] = ()

    def _store(self, values: dict[str, Any]) -> None:
        for name in self.__slots__:
            object.__setattr__(self, name, values[name])

    def _fields(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())  # TypeError for values holding a list or dict, as with a frozen dataclass

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{self.__class__.__qualname__}({fields})"

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    # copy and pickle rebuild the object through these, not through the refused __setattr__
    def __getstate__(self) -> tuple[Any, ...]:
        return self._fields()

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self._store(dict(zip(self.__slots__, state, strict=True)))


class Invocation(Frozen):
    """One event from GET /runtime/invocation/next, every header parsed."""

    __slots__ = (  # noqa: RUF023
        "request_id",
        "deadline_ms",
        "body",
        "function_arn",
        "trace_id",
        "client_context",
        "cognito_identity",
        "tenant_id",
        "content_type",
    )
    request_id: str
    deadline_ms: int  # epoch ms; already sanitised by the client (never in the past at receipt)
    body: bytes
    function_arn: str
    trace_id: str | None
    client_context: str | None
    cognito_identity: str | None
    tenant_id: str | None
    content_type: str | None

    def __init__(
        self,
        request_id: str,
        deadline_ms: int,
        body: bytes,
        function_arn: str = "",
        trace_id: str | None = None,
        client_context: str | None = None,
        cognito_identity: str | None = None,
        tenant_id: str | None = None,
        content_type: str | None = None,
    ) -> None:
        self._store(locals())


class Command(Frozen):
    """Exactly what would run for one invocation: argv, stdin, environment and files, with no I/O done yet."""

    __slots__ = ("argv", "stdin", "env", "files", "cwd")  # noqa: RUF023
    argv: list[str]
    stdin: bytes | None
    env: dict[str, str]
    files: dict[str, bytes]  # absolute path (inside the scratch dir) -> content
    cwd: str | None

    def __init__(
        self,
        argv: list[str],
        stdin: bytes | None = None,
        env: dict[str, str] | None = None,  # None: a fresh empty dict
        files: dict[str, bytes] | None = None,  # None: a fresh empty dict
        cwd: str | None = None,
    ) -> None:
        env = {} if env is None else env
        files = {} if files is None else files
        self._store(locals())


class ProcessResult(Frozen):
    """What a finished (or stopped) program did. Outcomes are data; policy decides what is an error.

    exit_code: the status it exited with, or None when a signal ended it.
    signal: the signal number that ended it, or None.
    timed_out: True when the supervisor stopped it at its time limit (exit_code/signal then tell how it died).
    stdout: captured stdout, at most the cap.
    stdout_truncated: True when the program wrote more than the cap (the rest was read and discarded).
    stderr_tail: the last bytes of stderr (bounded), for error messages.
    duration_s: wall time from spawn to reaping.
    """

    __slots__ = (  # noqa: RUF023
        "exit_code",
        "signal",
        "timed_out",
        "stdout",
        "stdout_truncated",
        "stderr_tail",
        "duration_s",
    )
    exit_code: int | None
    signal: int | None
    timed_out: bool
    stdout: bytes
    stdout_truncated: bool
    stderr_tail: bytes
    duration_s: float

    def __init__(
        self,
        exit_code: int | None,
        signal: int | None,
        timed_out: bool,
        stdout: bytes,
        stdout_truncated: bool,
        stderr_tail: bytes,
        duration_s: float,
    ) -> None:
        self._store(locals())


class HttpRequest(Frozen):
    """The normalized view of an HTTP event (Function URL, API Gateway v1/v2, ALB)."""

    __slots__ = (  # noqa: RUF023
        "source",
        "method",
        "path",
        "query",
        "query_multi",
        "headers",
        "body",
        "source_ip",
        "cookies",
        "multi_value_headers",
    )
    source: EventSource
    method: str
    path: str
    query: dict[str, str]  # last value wins; all values in query_multi
    query_multi: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names, duplicates comma-joined
    body: bytes
    source_ip: str
    cookies: list[str]
    multi_value_headers: bool  # ALB/v1: the caller used multiValueHeaders, answer in kind

    def __init__(
        self,
        source: EventSource,
        method: str,
        path: str,
        query: dict[str, str],
        query_multi: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
        source_ip: str = "",
        cookies: list[str] | None = None,  # None: a fresh empty list
        multi_value_headers: bool = False,
    ) -> None:
        cookies = [] if cookies is None else cookies
        self._store(locals())

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


class HttpResponse(Frozen):
    """An HTTP answer before it is shaped for the caller's event source."""

    __slots__ = ("status_code", "headers", "body")  # noqa: RUF023
    status_code: int
    headers: dict[str, str]
    body: bytes

    def __init__(self, status_code: int, headers: dict[str, str], body: bytes) -> None:
        self._store(locals())
