"""Response streaming in the emulator: a runtime's streamed /response post, and the callers that stream.

    runtime ──POST /response (Lambda-Runtime-Function-Response-Mode: streaming, chunked, error trailers)──┐
                                                                                                          ▼
      a caller that streams (record.channel): each chunk as it arrives   ┌── Function URL, --invoke-mode
      a caller that does not: the bytes gathered, up to 6 MB             │   RESPONSE_STREAM: chunked HTTP
                                                                         └── POST /2021-11-15/.../response-
                                                                             streaming-invocations: event stream

A streamed response that ends with the error trailers is a function error: buffered callers get it as one
(X-Amz-Function-Error), the streaming invoke API in its InvokeComplete event (ErrorCode: the error type,
ErrorDetails: the error JSON), and a Function URL caller, who already has a 200 and part of the body, sees the
transfer cut short (no final chunk), so no HTTP client can take the partial body for a whole one. What AWS's
Function URLs send in that case is not documented; the emulator chooses the answer no caller can misread.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from http.server import BaseHTTPRequestHandler
from typing import Any

from wrapper import protocol
from wrapper.emulator import eventstream, function_url
from wrapper.emulator.bodies import BadRequest, iter_chunked
from wrapper.emulator.channel import End, Start
from wrapper.emulator.results import EXECUTED_VERSION, invoke_result, posted_error, response_too_large
from wrapper.emulator.state import Outcome, Record, function_error

logger = logging.getLogger("wrapper.emulator")

HEADER_RESPONSE_MODE = "Lambda-Runtime-Function-Response-Mode"
HEADER_ERROR_BODY = "Lambda-Runtime-Function-Error-Body"
STREAM_MAX_BYTES = 200 * 1024 * 1024  # Lambda's limit for a streamed response
ACCEPTED = b'{"status":"OK"}'


def is_streamed_post(headers: Any) -> bool:
    """A /response post in streaming mode (the header's value is matched without regard to case)."""
    return (headers.get(HEADER_RESPONSE_MODE) or "").strip().lower() == "streaming"


def receive(handler: Any, request_id: str) -> None:
    """Take a streamed /response post: pass each chunk on as it arrives, then finish the invocation."""
    shared = handler.server.shared
    verdict, record = shared.invocations.lookup(request_id)
    content_type = handler.headers.get("Content-Type") or "application/octet-stream"
    channel = record.channel if record is not None else None
    if channel is not None:
        channel.start(content_type)
    limit = STREAM_MAX_BYTES if channel is not None else protocol.MAX_PAYLOAD_BYTES
    kept = bytearray()
    total = 0
    trailers: dict[str, str] = {}
    cut: Exception | None = None
    try:
        for piece in iter_chunked(handler.rfile, trailers):
            total += len(piece)
            if total > limit or record is None:
                continue  # read and dropped, so the runtime is never left blocked
            if channel is not None:
                channel.put(piece)
            else:
                kept += piece
    except (BadRequest, OSError) as exc:
        cut = exc
    if record is not None:
        outcome = _outcome(request_id, content_type, bytes(kept), total > limit, channel is not None, trailers, cut)
        verdict = shared.invocations.finish(request_id, outcome)
    if isinstance(cut, BadRequest):
        raise cut
    if cut is not None:
        handler.close_connection = True  # the runtime hung up mid-body: nobody to answer
        return
    if verdict == "unknown":
        handler._send_json(400, json.dumps({"errorMessage": f"Invalid request ID: {request_id}",
                                            "errorType": "InvalidRequestID"}).encode())
    elif verdict == "done":
        message = f"State transition from invocation done to response failed for runtime: {request_id}"
        handler._send_json(403, json.dumps({"errorMessage": message, "errorType": "InvalidStateTransition"}).encode())
    elif channel is None and total > limit:
        message = f"Exceeded maximum allowed payload size ({protocol.MAX_PAYLOAD_BYTES} bytes)."
        handler._send_json(413, json.dumps({"errorMessage": message, "errorType": "RequestEntityTooLarge"}).encode())
    else:
        shared.stats.count("responses")
        handler._send_json(202, ACCEPTED)


def _outcome(request_id: str, content_type: str, body: bytes, too_large: bool, streamed_on: bool,
             trailers: dict[str, str], cut: Exception | None) -> Outcome:
    if cut is not None:
        return function_error("Runtime.TruncatedResponse",
                              f"RequestId: {request_id} Error: the streamed response was cut short ({cut})")
    if too_large and streamed_on:
        message = f"Response payload size exceeded maximum allowed payload size ({STREAM_MAX_BYTES} bytes)."
        return function_error("Function.ResponseSizeTooLarge", message)
    if too_large:
        return response_too_large()
    error_type = trailers.get(protocol.HEADER_ERROR_TYPE.lower())
    if error_type:
        try:
            error_body = base64.b64decode(trailers.get(HEADER_ERROR_BODY.lower(), ""), validate=True)
        except (binascii.Error, ValueError):
            error_body = b""
        return posted_error(error_body, error_type)
    return Outcome("response", body, content_type=content_type, streamed=True)


def answer_function_url(handler: BaseHTTPRequestHandler, record: Record) -> None:
    """A Function URL in RESPONSE_STREAM mode: the runtime's bytes to the caller, chunked, as they arrive."""
    channel = record.channel
    assert channel is not None
    first = channel.get()
    if isinstance(first, End) or not isinstance(first, Start):
        outcome = record.outcome
        status, headers, body = function_url.build_unstreamed_answer(
            invoke_result(record), outcome.content_type if outcome else None)
        return handler._send(status, body, headers + [("x-amzn-RequestId", record.request_id)])  # type: ignore[attr-defined]
    status, headers, pending = 200, [("Content-Type", first.content_type)], b""
    if first.content_type == function_url.HTTP_INTEGRATION:
        head = _read_prelude(channel)
        if isinstance(head, End) or head is None:
            channel.abandon()
            outcome = record.outcome if isinstance(head, End) else None
            if outcome is not None and outcome.kind != "response":
                answer = (502, [("Content-Type", "application/json")], outcome.body)
            else:
                answer = function_url.INTERNAL_ERROR
            return handler._send(answer[0], answer[2], answer[1] + [("x-amzn-RequestId", record.request_id)])  # type: ignore[attr-defined]
        status, headers, pending = head
    handler.send_response(status)
    for name, value in headers:
        if name.lower() != "content-length":
            handler.send_header(name, value)
    handler.send_header("Transfer-Encoding", "chunked")
    handler.send_header("x-amzn-RequestId", record.request_id)
    handler.end_headers()
    if handler.command == "HEAD":
        channel.abandon()
        return
    _relay(handler, channel, pending, lambda data: data, last=lambda outcome: None)


def answer_invoke_stream(handler: BaseHTTPRequestHandler, record: Record) -> None:
    """InvokeWithResponseStream: 200, the function's Content-Type, then event-stream frames, chunked."""
    channel = record.channel
    assert channel is not None
    first = channel.get()
    outcome = record.outcome if isinstance(first, End) else None
    if outcome is not None and outcome.kind == "service_error":
        result = invoke_result(record)
        return handler._send(result.status, result.body, list(result.headers.items()))  # type: ignore[attr-defined]
    content_type = first.content_type if isinstance(first, Start) else (outcome.content_type if outcome else None)
    handler.send_response(200)
    handler.send_header("Content-Type", content_type or "application/json")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.send_header("X-Amzn-RequestId", record.request_id)
    handler.send_header("X-Amz-Executed-Version", EXECUTED_VERSION)
    handler.end_headers()
    if outcome is not None:  # the runtime answered without streaming: its payload as one chunk
        body = outcome.body if outcome.kind == "response" else b""
        frames = b"".join(eventstream.payload_chunks(body)) + _complete(outcome)
        handler.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(frames), frames))
        return
    _relay(handler, channel, b"", lambda data: b"".join(eventstream.payload_chunks(data)), last=_complete)


def _complete(outcome: Any) -> bytes:
    if outcome.kind == "response":
        return eventstream.invoke_complete()
    details = outcome.body.decode("utf-8", "replace")
    return eventstream.invoke_complete(outcome.error_type or "Unhandled", details)


def _read_prelude(channel: Any) -> tuple[int, list[tuple[str, str]], bytes] | End | None:
    """Gather bytes until the prelude is complete: (status, headers, the body bytes after it), End, or None."""
    data = b""
    while True:
        item = channel.get()
        if isinstance(item, End):
            return item
        data += item
        try:
            head = function_url.split_prelude(data)
        except ValueError as exc:
            logger.warning("streamed Function URL answer without a valid prelude: %s", exc)
            return None
        if head is not None:
            return head


def _relay(handler: BaseHTTPRequestHandler, channel: Any, pending: bytes, frame: Any, last: Any) -> None:
    """Write each chunk as it comes; at the end, the last frame and the final chunk, or a cut on failure."""
    try:
        if pending:
            _write_chunk(handler, frame(pending))
        while True:
            item = channel.get()
            if isinstance(item, bytes):
                _write_chunk(handler, frame(item))
                continue
            if isinstance(item, End):
                tail = last(item.outcome)
                if tail is None and item.outcome.kind != "response":
                    handler.close_connection = True  # cut short: the caller must not take it for complete
                    return
                if tail:
                    _write_chunk(handler, tail)
                handler.wfile.write(b"0\r\n\r\n")
                return
    except OSError:
        channel.abandon()  # the caller went away; the function runs on, as Lambda's streams do
        raise


def _write_chunk(handler: BaseHTTPRequestHandler, data: bytes) -> None:
    if data:
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
