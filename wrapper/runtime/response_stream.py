"""A streamed /response post: Lambda's response streaming for custom runtimes, on a connection of its own.

The wire (Lambda developer guide, runtimes-custom, "Implementing response streaming in a custom runtime"):

    POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1
    Content-Type: <propagated to the caller>
    Lambda-Runtime-Function-Response-Mode: streaming
    Transfer-Encoding: chunked
    Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body

    <size in hex> CRLF <bytes> CRLF           one chunk per write(), sent at once
    ...
    0 CRLF
    Lambda-Runtime-Function-Error-Type: Function.X CRLF         the trailers, only when the stream ends in
    Lambda-Runtime-Function-Error-Body: <base64 of the error JSON> CRLF     failure
    CRLF

then the answer is read and the connection closed. Nothing is sent before the first write() (or finish()), so
a failure before any output can still go to /error instead: /error is only allowed before a response began.
Answers are handled as for buffered posts: 500 is fatal (RuntimeAPIError); 400, 403 and 413 are logged.
"""

from __future__ import annotations

import base64
import socket

from wrapper import protocol
from wrapper.errors import RuntimeAPIError
from wrapper.logs import get_logger
from wrapper.runtime import http11

logger = get_logger(__name__)

HEADER_RESPONSE_MODE = "Lambda-Runtime-Function-Response-Mode"
HEADER_ERROR_BODY = "Lambda-Runtime-Function-Error-Body"
_FORBIDDEN_IN_VALUE = frozenset("\r\n\x00")


class ResponseStream:
    """One invocation's streamed response. Not thread-safe."""

    def __init__(self, host: str, port: int, request_id: str, content_type: str, *,
                 timeout_s: float | None = None) -> None:
        if _FORBIDDEN_IN_VALUE.intersection(content_type) or _FORBIDDEN_IN_VALUE.intersection(request_id):
            raise ValueError(f"Invalid streamed response header: {content_type!r}")
        self.host, self.port = host, port
        self.path = protocol.PATH_RESPONSE.format(request_id=request_id)
        self.content_type = content_type
        self.timeout_s = timeout_s  # each send, and the answer, must make progress within it
        self.bytes_sent = 0
        self._sock: socket.socket | None = None
        self._finished = False

    @property
    def started(self) -> bool:
        """True once the post has begun: from then on a failure goes in the trailers, not to /error."""
        return self._sock is not None

    def write(self, data: bytes) -> None:
        """Send data as one chunk at once (nothing for empty data); OSError when the connection fails."""
        if not data:
            return
        sock = self._sock or self._open()
        sock.sendall(b"%x\r\n" % len(data) + data + b"\r\n")
        self.bytes_sent += len(data)

    def finish(self, error_type: str | None = None, error_message: str = "") -> None:
        """End the stream (with the error trailers when error_type is given) and read the answer."""
        sock = self._sock or self._open()
        tail = b"0\r\n"
        if error_type is not None:
            kept = protocol.valid_error_type(error_type)
            body = base64.b64encode(protocol.error_body(kept, error_message)).decode("ascii")
            tail += f"{protocol.HEADER_ERROR_TYPE}: {kept}\r\n{HEADER_ERROR_BODY}: {body}\r\n".encode("ascii")
        try:
            sock.sendall(tail + b"\r\n")
            with sock.makefile("rb") as reader:
                answer = http11.read_response(reader)
        except OSError as exc:
            raise RuntimeAPIError(f"Runtime API streamed response failed: {exc}", endpoint=self.path) from exc
        finally:
            self._finished = True
            self.abort()
        if answer.status >= 500:
            raise RuntimeAPIError("Runtime API failed", endpoint=self.path, status=answer.status, body=answer.body)
        if answer.status not in (200, 202):
            logger.warning("Runtime API refused the streamed response %s (%d): %s", self.path, answer.status,
                           answer.body[:200].decode("utf-8", "replace"))

    def abort(self) -> None:
        """Close the connection; mid-stream, Lambda then sees the response cut short."""
        if self._sock is not None:
            self._sock.close()

    def _open(self) -> socket.socket:
        if self._finished:
            raise RuntimeError("the streamed response is already finished")
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each chunk goes out as it is written
            host = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
            head = (f"POST {self.path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {self.content_type}\r\n"
                    f"{HEADER_RESPONSE_MODE}: streaming\r\nTransfer-Encoding: chunked\r\n"
                    f"Trailer: {protocol.HEADER_ERROR_TYPE}, {HEADER_ERROR_BODY}\r\n\r\n")
            sock.sendall(head.encode("latin-1"))
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        return sock
