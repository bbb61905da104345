"""A minimal HTTP/1.1 client for the loopback Runtime API, on one kept-alive raw socket (stdlib `socket` only).

Why not http.client: its import costs ~35 ms of cold start (email.parser, ssl) and its header parsing runs
through the email package on every invocation. This module speaks only what the Runtime API needs:

    request:   METHOD SP path SP HTTP/1.1, Host, Content-Length (when there is a body), the caller's headers
    response:  status line, headers (names case-insensitive; repeated ones comma-joined), interim 1xx skipped;
               body by Content-Length, or Transfer-Encoding: chunked (trailers read and kept), or read to close
    keep-alive unless the server says `Connection: close`, answers HTTP/1.0, or ends the body by closing;
    an answer sent before the server read the whole body (413, then close) is read, though the send failed

Limits: the head (and separately the trailers) at most MAX_HEADER_BYTES; the body at most the connection's
max_body_bytes, checked against Content-Length or each chunk size before anything is allocated
(BodyTooLargeError, which carries the head already read). CR or NUL inside a header value is replaced with a
space (RFC 9110 §5.5), so no value read here can split a line it is copied into.

Every transport failure (refused, reset, closed early, malformed or oversized answer) raises OSError, WireError
for the ones found here, and leaves the connection closed; the next request reconnects. After a failure,
`request_sent` says whether the whole request had gone out (the server may have acted on it) or not (it
cannot have). Not thread-safe.
"""

from __future__ import annotations

import io
import select
import socket

MAX_HEADER_BYTES = 64 * 1024  # status line + headers (+ interim responses), and separately chunk trailers
SMALL_BODY_BYTES = 64 * 1024  # up to this, head and body go out in one send; above, the body is not copied
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024  # a caller expecting larger answers says so
_HEX_DIGITS = b"0123456789abcdefABCDEF"
_NO_BODY_STATUS = (204, 304)
# Control bytes, space or DEL in a request target, or CR/LF/NUL in a header, would split or smuggle a request
# (http.client refuses them too).
_FORBIDDEN_IN_TARGET = bytes(range(0x21)) + b"\x7f"
_FORBIDDEN_IN_NAME = frozenset("\r\n\x00\t :")
_FORBIDDEN_IN_VALUE = frozenset("\r\n\x00")
_CR_NUL_TO_SPACE = str.maketrans("\r\x00", "  ")


class WireError(OSError):
    """Raise when the server's answer is malformed, over a limit, or cut short."""


class BodyTooLargeError(WireError):
    """Raise when an answer's body is over max_body_bytes; its status and headers were read and are kept."""

    def __init__(self, message: str, *, status: int, headers: dict[str, str]) -> None:
        super().__init__(message)
        self.status, self.headers = status, headers


class Response:
    """One HTTP answer: status, headers by lower-cased name, body, and chunked trailers if any."""

    __slots__ = ("body", "headers", "reason", "status", "trailers")

    def __init__(
        self, status: int, reason: str, headers: dict[str, str], body: bytes, trailers: dict[str, str]
    ) -> None:
        self.status, self.reason, self.headers, self.body, self.trailers = status, reason, headers, body, trailers

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason!r}, {len(self.body)} bytes>"


class Connection:
    """One kept-alive connection to host:port, opened on first use and reopened after a failure or close."""

    def __init__(
        self, host: str, port: int, *, timeout_s: float | None = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    ) -> None:
        self.host, self.port = host, port
        self.timeout_s = timeout_s  # None: block forever, as the long-poll for the next event must
        self.max_body_bytes = max_body_bytes
        self.request_sent = False  # the last request went out whole: after a failure, the server may have acted
        self._host_header = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._sock: socket.socket | None = None
        self._reader: io.BufferedReader | None = None  # over the socket: readline() for heads, read(n) for bodies

    def close(self) -> None:
        """Close the socket; a later request reconnects."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Response:
        """Send one request and read its whole answer; Content-Length is sent whenever body is not None."""
        self.request_sent = False
        head = _request_head(method, path, self._host_header, body, headers)
        if self._sock is not None and _dropped(self._sock):
            self.close()  # the server closed it while we were idle (or frozen): nothing was sent yet
        if self._sock is None:
            self._connect()
        assert self._reader is not None  # _connect() made it
        try:
            self._send_or_early_answer(head, body)
            self.request_sent = True
            response, keep_alive = _read_response(
                self._reader, has_body=method != "HEAD", max_body_bytes=self.max_body_bytes
            )
        except BaseException:
            self.close()  # the stream's state is unknown: never reuse it
            raise
        if not keep_alive:
            self.close()
        return response

    def _connect(self) -> None:
        # bytes: getaddrinfo would otherwise load the idna codec (and unicodedata) for a str host at every cold start
        host = self.host.encode("ascii") if self.host.isascii() else self.host
        sock = socket.create_connection((host, self.port), timeout=self.timeout_s)  # type: ignore[arg-type]
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # a request's last segment must not wait
        self._sock, self._reader = sock, sock.makefile("rb")

    def _send_or_early_answer(self, head: bytes, body: bytes | None) -> None:
        assert self._sock is not None
        try:
            if not body or len(body) <= SMALL_BODY_BYTES:
                self._sock.sendall(head + body if body else head)  # one segment for the usual small post
            else:
                self._sock.sendall(head)
                self._sock.sendall(memoryview(body))  # a 6 MB body goes out of the caller's buffer, uncopied
        except (BrokenPipeError, ConnectionResetError):
            # A server may answer before reading the whole body (413 for one over its limit) and close; that
            # answer is still queued on our side. Without one, the send error stands.
            assert self._reader is not None
            try:
                early = self._reader.peek(1)
            except OSError:
                early = b""
            if not early:
                raise


def _request_head(
    method: str, path: str, host_header: str, body: bytes | None, headers: dict[str, str] | None
) -> bytes:
    target = path.encode("ascii")  # UnicodeEncodeError (a ValueError), as http.client: percent-encode first
    if not target or len(target.translate(None, _FORBIDDEN_IN_TARGET)) != len(target) or not method.isalpha():
        raise ValueError(f"Invalid request line {method!r} {path!r}")
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host_header}"]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    for name, value in (headers or {}).items():
        if not name or _FORBIDDEN_IN_NAME.intersection(name) or _FORBIDDEN_IN_VALUE.intersection(value):
            raise ValueError(f"Invalid request header {name!r}: {value!r}")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _dropped(sock: socket.socket) -> bool:
    """True when an idle kept-alive socket is readable: closed by the server, reset, or holding unasked bytes."""
    poller = select.poll()  # not select.select: it fails on descriptors above 1023
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def _read_response(
    reader: io.BufferedReader, *, has_body: bool = True, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> tuple[Response, bool]:
    """Read one answer; return it and whether the connection may carry another request."""
    budget = [MAX_HEADER_BYTES]
    while True:
        version, status, reason = _status_line(_line(reader, budget, "status line"))
        fields = _fields(reader, budget, "headers")
        if not 100 <= status < 200:
            break
        if status == 101:
            raise WireError("Unexpected 101 Switching Protocols")
    headers = _join(fields)
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    keep_alive = "close" not in tokens and (version == "HTTP/1.1" or "keep-alive" in tokens)
    trailers: dict[str, str] = {}
    encodings = [t.strip().lower() for t in headers.get("transfer-encoding", "").split(",") if t.strip()]
    limit = _BodyLimit(max_body_bytes, status, headers)
    if status in _NO_BODY_STATUS or not has_body:
        body = b""
    elif encodings and encodings[-1] == "chunked":
        body, trailers = _chunked(reader, limit)
        keep_alive = keep_alive and "content-length" not in headers  # both framings: a confused server
    elif "content-length" in headers and not encodings:
        body = _exactly(reader, limit.take(_content_length(headers["content-length"])))
    else:  # no framing, or a coding other than chunked last: the close ends the body (RFC 9112 §6.3)
        body, keep_alive = reader.read(max_body_bytes + 1), False
        limit.take(len(body))
    return Response(status, reason, headers, body, trailers), keep_alive


class _BodyLimit:
    """What is left of max_body_bytes for one answer; take() raises BodyTooLargeError before a read goes over."""

    def __init__(self, max_body_bytes: int, status: int, headers: dict[str, str]) -> None:
        self.left, self.max_body_bytes, self.status, self.headers = max_body_bytes, max_body_bytes, status, headers

    def take(self, size: int) -> int:
        if size > self.left:
            raise BodyTooLargeError(
                f"Response body over {self.max_body_bytes} bytes", status=self.status, headers=self.headers
            )
        self.left -= size
        return size


def _line(reader: io.BufferedReader, budget: list[int], what: str) -> bytes:
    line = reader.readline(budget[0] + 1)
    budget[0] -= len(line)
    if budget[0] < 0:
        raise WireError(f"Response {what} over {MAX_HEADER_BYTES} bytes")
    if not line.endswith(b"\n"):
        raise WireError(f"Connection closed in the response {what}" if not line else f"Truncated response {what}")
    return line


def _status_line(line: bytes) -> tuple[str, int, str]:
    version, _, rest = line.rstrip(b"\r\n").decode("latin-1").partition(" ")
    code, _, reason = rest.partition(" ")
    valid_code = len(code) == 3 and code.isascii() and code.isdigit() and code[0] != "0"  # isascii: not "2²³"
    if version not in ("HTTP/1.1", "HTTP/1.0") or not valid_code:
        raise WireError(f"Malformed status line {line[:100]!r}")
    return version, int(code), reason.strip()


def _fields(reader: io.BufferedReader, budget: list[int], what: str) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    while True:
        line = _line(reader, budget, what)
        if line in (b"\r\n", b"\n"):
            return fields
        text = line.rstrip(b"\r\n").decode("latin-1")
        if text.startswith((" ", "\t")) and fields:  # obsolete line folding (RFC 9112 §5.2): join with a space
            fields[-1] = (fields[-1][0], f"{fields[-1][1]} {text.translate(_CR_NUL_TO_SPACE).strip()}")
            continue
        name, colon, value = text.partition(":")
        if not colon or not name or name != name.strip():
            raise WireError(f"Malformed header line {line[:100]!r}")
        fields.append((name.lower(), value.translate(_CR_NUL_TO_SPACE).strip()))


def _join(fields: list[tuple[str, str]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in fields:
        headers[name] = f"{headers[name]}, {value}" if name in headers else value  # RFC 9110 §5.3
    return headers


def _content_length(raw: str) -> int:
    values = {v.strip() for v in raw.split(",")}  # a repeated header is fine only if every copy agrees
    value = values.pop()
    if values or not value.isdigit() or not value.isascii():
        raise WireError(f"Malformed Content-Length {raw[:100]!r}")
    # more digits than any real length: over every limit (and int() refuses over 4300 digits)
    return int(value) if len(value) <= 18 else 10**18


def _exactly(reader: io.BufferedReader, size: int) -> bytes:
    body = reader.read(size)  # one allocation of `size`, filled straight from the socket
    if len(body) != size:
        raise WireError(f"Connection closed after {len(body)} of {size} body bytes")
    return body


def _chunked(reader: io.BufferedReader, limit: _BodyLimit) -> tuple[bytes, dict[str, str]]:
    chunks: list[bytes] = []
    while True:
        line = _line(reader, [MAX_HEADER_BYTES], "chunk size")
        digits = line.split(b";", 1)[0].strip()  # chunk extensions are ignored
        if not digits or digits.strip(_HEX_DIGITS):
            raise WireError(f"Malformed chunk size {line[:100]!r}")
        size = int(digits, 16)
        if size == 0:
            return b"".join(chunks), _join(_fields(reader, [MAX_HEADER_BYTES], "trailers"))
        chunks.append(_exactly(reader, limit.take(size)))
        if _exactly(reader, 2) != b"\r\n":
            raise WireError("Chunk not followed by CRLF")


def read_response(reader: io.BufferedReader) -> Response:
    """Read one answer from a connection this module did not open (a streamed post's own socket)."""
    return _read_response(reader)[0]
