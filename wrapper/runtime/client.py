"""Runtime API client: runtime.http11's raw-socket HTTP/1.1 over one kept-alive loopback connection.

The address is AWS_LAMBDA_RUNTIME_API: `host:port`, optionally followed by a path prefix (`127.0.0.1:9009/.rt`)
that every endpoint path is put under, as runtimes that build URLs by concatenation do.

Status handling follows the contract (protocol.py): 500 anywhere is fatal (RuntimeAPIError, the runtime exits
so Lambda replaces the environment); 413 on a response means Lambda already turned the invocation into an
error, so it is finished; 400 and 403 are logged and the loop goes on. Not thread-safe: one client per loop.

Exactly once. A request is sent again, on a fresh connection, only when it cannot have reached the server (the
connection could not be opened, or broke before the whole request went out), or when it is a post: the Runtime
API takes one result per invocation and refuses a repeat (400 or 403), so a repeated post is never applied
twice. A /next that went out whole and lost its answer is never asked again: the server may have handed us an
invocation on it, and a second /next would drop that one silently (its caller would wait for the timeout).
That loss is fatal instead: the runtime exits and Lambda answers the invocation it handed out with an error.
(A server that closes a kept-alive connection must say `Connection: close`: a silent close can race the next
/next into that rule. Lambda's does not close them.)

Malformed answers are RuntimeAPIErrors, never tracebacks. One invocation the client cannot take (its event
over Lambda's limit) is answered with Function.InvalidEvent, and the long-poll goes on; a request id that
cannot be used in a path as it is (a space, a control character, `/`) is fatal, as nothing can answer it.
"""

from __future__ import annotations

import re
import time

from wrapper import protocol
from wrapper.errors import RuntimeAPIError
from wrapper.logs import get_logger
from wrapper.runtime import http11 as wire
from wrapper.types import Invocation

TYPE_CHECKING = False  # typing stays off the cold-start path; annotations are strings
if TYPE_CHECKING:
    from wrapper.runtime.response_stream import ResponseStream

logger = get_logger(__name__)

CONNECT_ATTEMPTS = 6  # first contact: about 1.5 s of retries before giving up
CONNECT_BACKOFF_S = 0.05
# A deadline further out than Lambda's 900 s maximum (plus clock slack) is not a real deadline.
MAX_PLAUSIBLE_AHEAD_MS = 960_000
# An event over Lambda's request limit (with the 100 bytes of slack Lambda's own emulator allows) is refused unread.
MAX_EVENT_BYTES = protocol.MAX_PAYLOAD_BYTES + 100
# One path segment as it is (RFC 3986 pchar, no percent-encoding): what a request id must be to be answered.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@-]+")
_PREFIX = re.compile(r"(/[A-Za-z0-9._~!$&'()*+,;=:@%-]*)*")
STREAM_SLACK_S = 5.0


class RuntimeClient:
    """One loop's connection to the Lambda Runtime API at `address` (host:port, optionally /path-prefix)."""

    def __init__(self, address: str, *, fallback_timeout_s: float = 60.0) -> None:
        self.host, self.port, self.prefix = parse_address(address)
        self.fallback_timeout_s = fallback_timeout_s
        self._conn: wire.Connection | None = None
        self._contacted = False
        self._warned_deadline = False

    def close(self) -> None:
        """Close the connection (a later call reconnects)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def next_invocation(self) -> Invocation:
        """Long-poll for the next event; no timeout, since the environment may be frozen in between.

        An invocation whose event is over MAX_EVENT_BYTES is answered here (Function.InvalidEvent), unread.
        """
        while True:
            try:
                status, headers, body = self._call("GET", protocol.PATH_NEXT)
            except wire.BodyTooLargeError as exc:
                self._refuse_oversized(exc)
                continue
            return self._invocation(status, headers, body)

    def _invocation(self, status: int, headers: dict[str, str], body: bytes) -> Invocation:
        if status != 200:
            raise RuntimeAPIError("Unexpected status from /next", endpoint=protocol.PATH_NEXT, status=status, body=body)
        request_id = _request_id(headers, status)
        return Invocation(
            request_id=request_id,
            deadline_ms=self._deadline_ms(headers.get(protocol.HEADER_DEADLINE_MS.lower())),
            body=body,
            function_arn=headers.get(protocol.HEADER_FUNCTION_ARN.lower(), ""),
            trace_id=headers.get(protocol.HEADER_TRACE_ID.lower()),
            client_context=headers.get(protocol.HEADER_CLIENT_CONTEXT.lower()),
            cognito_identity=headers.get(protocol.HEADER_COGNITO_IDENTITY.lower()),
            tenant_id=headers.get(protocol.HEADER_TENANT_ID.lower()),
            content_type=headers.get("content-type"),
        )

    def _refuse_oversized(self, exc: wire.BodyTooLargeError) -> None:
        if exc.status != 200:
            raise RuntimeAPIError(f"Unexpected status from /next ({exc})", endpoint=protocol.PATH_NEXT,
                                  status=exc.status)
        request_id = _request_id(exc.headers, exc.status)
        size = exc.headers.get("content-length", "more than that")
        message = f"Event too large: {size} bytes, over Lambda's limit of {MAX_EVENT_BYTES}; not read"
        logger.warning("%s: %s", request_id, message)
        self.post_error(request_id, "Function.InvalidEvent", message)

    def post_response(self, request_id: str, body: bytes, content_type: str = "application/json") -> None:
        """Report an invocation's result."""
        path = protocol.PATH_RESPONSE.format(request_id=request_id)
        self._post(path, body, {"Content-Type": content_type})

    def response_stream(self, request_id: str, content_type: str, *, deadline_ms: int) -> ResponseStream:
        """A streamed response for this invocation, on its own connection, opened at its first byte."""
        from wrapper.runtime.response_stream import ResponseStream  # only streaming configs pay for it

        # a send blocked by a slow caller must not outlast the invocation (plus slack for the last trailers)
        timeout_s = max(1.0, deadline_ms / 1000 - time.time() + STREAM_SLACK_S)
        return ResponseStream(self.host, self.port, request_id, content_type, timeout_s=timeout_s)

    def post_error(self, request_id: str, error_type: str, message: str, stack_trace: list[str] | None = None) -> None:
        """Report an invocation's failure as {errorMessage, errorType, stackTrace}."""
        path = protocol.PATH_ERROR.format(request_id=request_id)
        self._post(path, protocol.error_body(error_type, message, stack_trace), _error_headers(error_type))

    def post_init_error(self, error_type: str, message: str) -> None:
        """Report that start-up failed; the caller exits afterwards."""
        body = protocol.error_body(error_type, message)
        self._post(protocol.PATH_INIT_ERROR, body, _error_headers(error_type))

    def _post(self, path: str, body: bytes, headers: dict[str, str]) -> None:
        try:
            status, _, answer = self._call("POST", path, body, headers)
        except wire.BodyTooLargeError as exc:
            raise RuntimeAPIError(f"Runtime API answered with a body too large: {exc}", endpoint=path) from exc
        if status == 202 or status == 200:
            return
        if status == 413:
            logger.warning("Response too large for Lambda (413); the invocation is finished as an error")
        elif status in (400, 403):
            logger.warning("Runtime API refused %s (%d): %s", path, status, answer[:200].decode("utf-8", "replace"))
        elif status >= 500:
            raise RuntimeAPIError("Runtime API failed", endpoint=path, status=status, body=answer)
        else:
            logger.warning("Unexpected status %d from %s", status, path)

    def _call(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        # Retried on a fresh connection only as the module docstring's exactly-once rule allows. On first contact,
        # retry a little longer (with backoff): the API may still be starting.
        attempts = 2 if self._contacted else CONNECT_ATTEMPTS
        target = self.prefix + path
        for attempt in range(attempts):
            if self._conn is None:
                # no timeout: /next blocks until an event
                self._conn = wire.Connection(self.host, self.port, max_body_bytes=MAX_EVENT_BYTES)
            try:
                response = self._conn.request(method, target, body, headers)
            except wire.BodyTooLargeError:
                self.close()  # the body was left unread
                self._contacted = True
                raise
            except OSError as exc:  # wire.WireError included
                sent = self._conn.request_sent
                self.close()
                where = f"{self.host}:{self.port}{target}"
                if sent and method == "GET":
                    raise RuntimeAPIError(
                        f"Runtime API connection failed after the request went out ({exc}); not asking again, "
                        "as an invocation may have been handed out on it",
                        endpoint=where,
                    ) from exc
                if attempt + 1 == attempts:
                    reason = f"unreachable: {exc}" if not self._contacted else f"connection failed: {exc}"
                    raise RuntimeAPIError(f"Runtime API {reason}", endpoint=where) from exc
                if not self._contacted:
                    time.sleep(CONNECT_BACKOFF_S * 2**attempt)
                continue
            self._contacted = True
            return response.status, response.headers, response.body
        raise AssertionError("unreachable")  # pragma: no cover - the loop always returns or raises

    def _deadline_ms(self, raw: str | None) -> int:
        now_ms = int(time.time() * 1000)
        try:
            deadline_ms = int(raw) if raw is not None else 0
        except ValueError:
            deadline_ms = 0
        if now_ms < deadline_ms <= now_ms + MAX_PLAUSIBLE_AHEAD_MS:
            return deadline_ms
        if not self._warned_deadline:
            self._warned_deadline = True
            logger.warning(
                "Deadline header %r is missing or implausible; using the configured timeout of %gs",
                raw,
                self.fallback_timeout_s,
            )
        return now_ms + int(self.fallback_timeout_s * 1000)


def parse_address(address: str) -> tuple[str, int, str]:
    """(host, port, path prefix) of AWS_LAMBDA_RUNTIME_API, `host:port` or `host:port/prefix`; else RuntimeAPIError."""
    authority, slash, rest = address.partition("/")
    host, _, port = authority.rpartition(":")
    prefix = (slash + rest).rstrip("/")
    valid_port = port.isascii() and port.isdigit() and len(port) <= 5 and 0 < int(port) < 65536
    if not host or not valid_port or not _PREFIX.fullmatch(prefix):
        raise RuntimeAPIError("AWS_LAMBDA_RUNTIME_API must be host:port or host:port/path-prefix", endpoint=address)
    return host.strip("[]"), int(port), prefix


def _request_id(headers: dict[str, str], status: int) -> str:
    request_id = headers.get(protocol.HEADER_REQUEST_ID.lower(), "")
    if not request_id:
        raise RuntimeAPIError("Invocation without a request id", endpoint=protocol.PATH_NEXT, status=status)
    if not _REQUEST_ID.fullmatch(request_id):
        raise RuntimeAPIError(
            f"Invocation request id {request_id[:100]!r} cannot be used in a URL path; nothing can answer it",
            endpoint=protocol.PATH_NEXT,
            status=status,
        )
    return request_id


def _error_headers(error_type: str) -> dict[str, str]:
    return {
        "Content-Type": protocol.ERROR_CONTENT_TYPE,
        protocol.HEADER_ERROR_TYPE: protocol.valid_error_type(error_type),
    }
