"""Pure shaping: a runtime's error post → an outcome, and an outcome → what Lambda's invoke API answers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from wrapper import protocol
from wrapper.emulator.state import Outcome, Record, error_json, function_error

EXECUTED_VERSION = "$LATEST"
FUNCTION_ERROR_UNHANDLED = "Unhandled"


@dataclass(frozen=True)
class InvokeResult:
    """What Lambda's invoke API answered: status, body, X-Amz-Function-Error (None on success), all headers."""

    status: int
    body: bytes
    function_error: str | None
    headers: dict[str, str] = field(default_factory=dict)
    request_id: str = ""

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def invoke_result(record: Record) -> InvokeResult:
    """The invoke API's answer for a finished invocation (200 for responses and function errors alike)."""
    outcome = record.outcome
    assert outcome is not None, "invoke_result() needs a finished record"
    headers = {"Content-Type": "application/json", "X-Amzn-RequestId": record.request_id}
    if outcome.kind == "service_error":
        headers["x-amzn-ErrorType"] = outcome.error_type or "ServiceException"
        return InvokeResult(outcome.status, outcome.body, None, headers, record.request_id)
    headers["X-Amz-Executed-Version"] = EXECUTED_VERSION
    error = None
    if outcome.kind == "function_error":
        error = FUNCTION_ERROR_UNHANDLED
        headers[protocol.HEADER_FUNCTION_ERROR] = error
    return InvokeResult(200, outcome.body, error, headers, record.request_id)


def payload_problem(payload: bytes) -> str | None:
    """Why Lambda's invoke API would refuse this payload (400 InvalidRequestContentException), or None.

    The payload must be JSON; an empty one is accepted, as the AWS CLI sends none by default.
    """
    if not payload:
        return None
    try:
        json.loads(payload)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError included
        return f"Could not parse request body into json: Could not parse payload into json: {exc}"
    return None


def posted_error(body: bytes, header_type: str | None) -> Outcome:
    """A runtime's /error or /init/error post as the caller sees it.

    The body goes through as posted when it is a JSON object; a missing errorType is taken from the
    Lambda-Runtime-Function-Error-Type header. A body that is not a JSON object is replaced by one built from
    the header, which is what Lambda does when "error payload is not provided or can not be read".
    """
    header_type = protocol.valid_error_type(header_type) if header_type else None
    try:
        document = json.loads(body) if body else None
    except ValueError:
        document = None
    if isinstance(document, dict):
        error_type = document.get("errorType")
        if not isinstance(error_type, str) or not error_type:
            error_type = header_type or "Runtime.Unknown"
            document = {**document, "errorType": error_type}
            body = json.dumps(document).encode()
        return Outcome("function_error", body, error_type=error_type)
    error_type = header_type or "Runtime.Unknown"
    message = body.decode("utf-8", "replace") if body else ""
    return Outcome("function_error", error_json(error_type, message), error_type=error_type)


def response_too_large() -> Outcome:
    """What the caller gets when the runtime posted a response over the sync payload limit."""
    limit = protocol.MAX_PAYLOAD_BYTES
    return function_error("Function.ResponseSizeTooLarge",
                          f"Response payload size exceeded maximum allowed payload size ({limit} bytes).")


def rejected_post(request_id: str) -> Outcome:
    """What the caller gets when the emulator answered the runtime's post 403 (an injected fault)."""
    return function_error("Runtime.InvalidStateTransition",
                          f"RequestId: {request_id} Error: the runtime's post was rejected (403)")


def exit_outcome(request_id: str, how: str) -> Outcome:
    """Runtime.ExitError for an invocation whose runtime exited; `how` is Go-style ("exit status 3")."""
    if how == "exit status 0":
        message = f"RequestId: {request_id} Error: Runtime exited without providing a reason"
        return function_error("Runtime.ExitError", message)
    return function_error("Runtime.ExitError", f"RequestId: {request_id} Error: Runtime exited with error: {how}")


def entrypoint_outcome(request_id: str, reason: str) -> Outcome:
    """Runtime.InvalidEntrypoint for an invocation whose runtime could not be started at all."""
    return function_error("Runtime.InvalidEntrypoint", f"RequestId: {request_id} Error: {reason}")
