"""The exception tree. A leaf module: imports nothing from wrapper but the `Frozen` value base of `types`.

    WrapperError                  base; never raised directly
    ├── InitError                 start-up failed; posted to /runtime/init/error, then the runtime exits
    │   ├── ConfigError           the config file is missing, malformed or invalid (Runtime.ConfigError)
    │   ├── ServerStartError      server mode: the program exited or never became ready (Runtime.ServerStartError)
    │   └── HotStartError         hot mode: the program could not start or never acknowledged (Runtime.HotStartError)
    ├── InvocationError           one invocation failed; posted to /invocation/{id}/error; the loop goes on
    │   ├── InvalidEventError     an event value failed the config's checks (Function.InvalidEvent, HTTP 400)
    │   ├── UnauthorizedError     bearer token missing or wrong (Function.Unauthorized, HTTP 401)
    │   ├── SpawnError            the program could not be started (Runtime.SpawnError, HTTP 502)
    │   ├── ProgramError          the program failed: exit status, signal, output (Function.*, HTTP 502)
    │   ├── ProgramTimeoutError   the program ran out of time (Function.Timeout, HTTP 504)
    │   ├── UpstreamError         server mode: the program's HTTP answer failed (Function.UpstreamError, HTTP 502)
    │   └── InternalError         a bug in wrapper, caught at the loop boundary (Runtime.InternalError, HTTP 500)
    └── RuntimeAPIError           the Runtime API failed or is unreachable; fatal, Lambda restarts the environment

Every error type sent to Lambda matches `(Runtime|Function)\\.[A-Z][a-zA-Z]+`, the pattern Lambda keeps.
"""

from __future__ import annotations

from wrapper.types import Frozen


class WrapperError(Exception):
    """Base of every error wrapper raises."""


class InitError(WrapperError):
    """Raise when the runtime cannot start; reported once to /runtime/init/error."""

    error_type = "Runtime.InitError"


class Problem(Frozen):
    """One thing wrong with a config: where (file, line, field path) and why."""

    __slots__ = ("file", "path", "reason", "line")  # noqa: RUF023
    file: str
    path: str
    reason: str
    line: int | None

    def __init__(self, file: str, path: str, reason: str, line: int | None = None) -> None:
        self._store(locals())

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.path}: {self.reason}" if self.path else f"{where}: {self.reason}"


class ConfigError(InitError):
    """Raise when a config cannot be loaded; lists every problem at once."""

    error_type = "Runtime.ConfigError"

    def __init__(self, problems: list[Problem] | str, *, file: str = "") -> None:
        if isinstance(problems, str):
            problems = [Problem(file=file, path="", reason=problems)]
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ServerStartError(InitError):
    """Raise when server mode's program exits or never gets ready at init."""

    error_type = "Runtime.ServerStartError"


class HotStartError(InitError):
    """Raise when hot mode's program cannot start, or exits or never acknowledges its start, at init."""

    error_type = "Runtime.HotStartError"


class InvocationError(WrapperError):
    """Raise when one invocation fails; carries the Lambda error type and the HTTP status for HTTP callers."""

    error_type = "Function.Error"
    status_code = 502

    def __init__(self, message: str, *, error_type: str | None = None, status_code: int | None = None) -> None:
        super().__init__(message)
        if error_type is not None:
            self.error_type = error_type
        if status_code is not None:
            self.status_code = status_code


class InvalidEventError(InvocationError):
    """Raise when an event value is missing, of the wrong type or fails a check."""

    error_type = "Function.InvalidEvent"
    status_code = 400


class UnauthorizedError(InvocationError):
    """Raise when an HTTP caller's bearer token is missing or wrong."""

    error_type = "Function.Unauthorized"
    status_code = 401


class SpawnError(InvocationError):
    """Raise when the program cannot be started (not found, not executable, exec failed)."""

    error_type = "Runtime.SpawnError"
    status_code = 502


class ProgramError(InvocationError):
    """Raise when the program's outcome is a failure under the config's policy."""

    error_type = "Function.NonZeroExit"
    status_code = 502


class ProgramTimeoutError(InvocationError):
    """Raise when the program is stopped for running past its time limit."""

    error_type = "Function.Timeout"
    status_code = 504


class UpstreamError(InvocationError):
    """Raise when server mode's program answers with a failure or not at all."""

    error_type = "Function.UpstreamError"
    status_code = 502


class InternalError(InvocationError):
    """Raise (only at the loop boundary) when wrapper itself failed on an invocation."""

    error_type = "Runtime.InternalError"
    status_code = 500


class RuntimeAPIError(WrapperError):
    """Raise when a Runtime API call fails in a way the runtime cannot go on from."""

    def __init__(self, message: str, *, endpoint: str = "", status: int | None = None, body: bytes = b"") -> None:
        detail = f"{message} ({endpoint}" + (f" -> {status}" if status is not None else "") + ")"
        if body:
            detail += f": {body[:200].decode('utf-8', 'replace')}"
        super().__init__(detail)
        self.endpoint = endpoint
        self.status = status
        self.body = body
