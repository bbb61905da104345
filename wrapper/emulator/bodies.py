"""Reading HTTP/1.1 request bodies (Content-Length or chunked) with a cap, so an oversize body is still consumed
and the connection stays usable for the 413 that answers it."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import Message
from io import BufferedIOBase
from typing import BinaryIO

READ_CHUNK_BYTES = 1 << 20
MAX_LINE_BYTES = 65537


class BadRequest(Exception):
    """The request's body framing is malformed; answered 400 and the connection closed."""


def read_body(rfile: BufferedIOBase, headers: Message, limit: int) -> tuple[bytes, bool]:
    """The body, at most `limit` bytes kept and the rest read and dropped: (body, too_large)."""
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        return _read_chunked(rfile, limit)
    try:
        length = int(headers.get("Content-Length") or 0)
    except ValueError:
        raise BadRequest("Content-Length is not a number") from None
    if length < 0:
        raise BadRequest("Content-Length is negative")
    kept = bytearray()
    _copy(rfile, length, kept, limit)
    return bytes(kept[:limit]), len(kept) > limit


def _read_chunked(rfile: BufferedIOBase, limit: int) -> tuple[bytes, bool]:
    kept = bytearray()
    while True:
        line = rfile.readline(MAX_LINE_BYTES)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise BadRequest("malformed chunk size") from None
        if size == 0:
            while rfile.readline(MAX_LINE_BYTES) not in (b"\r\n", b"\n", b""):
                pass  # trailers: streaming responses' error trailers are not interpreted
            return bytes(kept[:limit]), len(kept) > limit
        _copy(rfile, size, kept, limit)
        rfile.readline(MAX_LINE_BYTES)  # the CRLF closing each chunk


def _copy(rfile: BufferedIOBase, length: int, kept: bytearray, limit: int) -> None:
    """Read exactly `length` bytes, appending them to `kept` while it is within limit (+1, to detect overflow)."""
    while length > 0:
        chunk = rfile.read(min(length, READ_CHUNK_BYTES))
        if not chunk:
            raise ConnectionResetError("request body cut short")
        length -= len(chunk)
        if len(kept) <= limit:
            kept += chunk[: limit + 1 - len(kept)]


def iter_chunked(rfile: BinaryIO, trailers: dict[str, str]) -> Iterator[bytes]:
    """A chunked body's bytes as they arrive (pieces of at most READ_CHUNK_BYTES); its trailers go in `trailers`.

    Raises BadRequest on malformed framing and ConnectionResetError when the body is cut short.
    """
    while True:
        line = rfile.readline(MAX_LINE_BYTES)
        if not line:
            raise ConnectionResetError("chunked body cut short")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise BadRequest("malformed chunk size") from None
        if size == 0:
            break
        while size > 0:
            piece = rfile.read1(min(size, READ_CHUNK_BYTES)) if hasattr(rfile, "read1") else rfile.read(
                min(size, READ_CHUNK_BYTES))
            if not piece:
                raise ConnectionResetError("chunked body cut short")
            size -= len(piece)
            yield piece
        if rfile.readline(MAX_LINE_BYTES) not in (b"\r\n", b"\n"):
            raise BadRequest("chunk not followed by CRLF")
    while (line := rfile.readline(MAX_LINE_BYTES)) not in (b"\r\n", b"\n", b""):
        name, colon, value = line.decode("latin-1").partition(":")
        if colon:
            trailers[name.strip().lower()] = value.strip()

