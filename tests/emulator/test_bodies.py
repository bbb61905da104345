"""Request bodies: Content-Length or chunked, capped, an oversize body consumed to its end."""

from __future__ import annotations

import io
from email.message import Message

import pytest

from wrapper.emulator.bodies import BadRequest, read_body


def headers(**values: str) -> Message:
    message = Message()
    for name, value in values.items():
        message[name.replace("_", "-")] = value
    return message


@pytest.mark.parametrize(("raw", "head", "limit", "expected"), [
    (b"hello", {"Content_Length": "5"}, 10, (b"hello", False)),
    (b"hello", {"Content_Length": "5"}, 5, (b"hello", False)),
    (b"hello", {"Content_Length": "5"}, 4, (b"hell", True)),
    (b"", {}, 4, (b"", False)),
    (b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n", {"Transfer_Encoding": "chunked"}, 100, (b"hello world", False)),
    (b"5\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n", {"Transfer_Encoding": "chunked"}, 7,
     (b"hello w", True)),
])
def test_read_body(raw, head, limit, expected):
    stream = io.BytesIO(raw + b"NEXT")
    assert read_body(stream, headers(**head), limit) == expected
    assert stream.read() == b"NEXT"  # consumed exactly the body, so the connection stays usable


@pytest.mark.parametrize(("raw", "head"), [
    (b"", {"Content_Length": "abc"}),
    (b"", {"Content_Length": "-1"}),
    (b"zz\r\n", {"Transfer_Encoding": "chunked"}),
])
def test_malformed_framing_is_bad_request(raw, head):
    with pytest.raises(BadRequest):
        read_body(io.BytesIO(raw), headers(**head), 10)


def test_body_cut_short_is_a_connection_error():
    with pytest.raises(ConnectionResetError):
        read_body(io.BytesIO(b"abc"), headers(Content_Length="10"), 100)
