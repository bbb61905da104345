"""Turn an InvocationError into the HTTP answer an HTTP caller gets (config `http.status_codes`)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from wrapper.errors import (
    InternalError,
    InvalidEventError,
    InvocationError,
    ProgramTimeoutError,
    UnauthorizedError,
)
from wrapper.types import HttpResponse


def error_kind(exc: InvocationError) -> str:
    """The http.status_codes key for an error: invalid_event, unauthorized, timeout, internal or failure."""
    if isinstance(exc, InvalidEventError):
        return "invalid_event"
    if isinstance(exc, UnauthorizedError):
        return "unauthorized"
    if isinstance(exc, ProgramTimeoutError):
        return "timeout"
    if isinstance(exc, InternalError):
        return "internal"
    return "failure"


def error_status(exc: InvocationError, status_codes: Mapping[str, int] | None = None) -> int:
    """The status for an error: one set on the error itself, else the config's by kind, else the class default."""
    # a status given when raising (exit_codes[n].status_code, an upstream status kept) is the most specific
    if "status_code" in vars(exc):
        return exc.status_code
    return (status_codes or {}).get(error_kind(exc), exc.status_code)


def error_http_response(exc: InvocationError, status_codes: Mapping[str, int] | None = None) -> HttpResponse:
    """A JSON error answer: {"errorType", "errorMessage"}, with WWW-Authenticate on 401."""
    status = error_status(exc, status_codes)
    headers = {"content-type": "application/json"}
    if status == 401:
        headers["www-authenticate"] = "Bearer"
    body = json.dumps({"errorType": exc.error_type, "errorMessage": str(exc)}).encode("utf-8")
    return HttpResponse(status_code=status, headers=headers, body=body)
