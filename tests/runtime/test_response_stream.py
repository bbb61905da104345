"""ResponseStream on the wire: the exact bytes of a streamed /response post, read by a raw socket server."""

from __future__ import annotations

import base64
import json
import socket
import threading

import pytest

from wrapper.errors import RuntimeAPIError
from wrapper.runtime.response_stream import ResponseStream

WAIT_S = 10


class RawServer:
    """Accepts connections on 127.0.0.1, keeps every byte of each request, answers `status` at its end."""

    def __init__(self, status: int = 202) -> None:
        self.status = status
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.requests: list[bytes] = []
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn, conn.makefile("rb") as reader:
                data = b""
                while (line := reader.readline()) not in (b"\r\n", b""):  # the head
                    data += line
                data += line
                while line:  # chunks: size line, bytes, CRLF; then 0, the trailers and a blank line
                    line = reader.readline()
                    data += line
                    size = int(line.split(b";")[0], 16)
                    if size == 0:
                        while (line := reader.readline()) not in (b"\r\n", b""):
                            data += line
                        data += line
                        break
                    data += reader.read(size + 2)
                self.requests.append(data)
                body = b'{"status":"OK"}'
                conn.sendall(b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s" % (self.status, len(body), body))

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def server():
    server = RawServer()
    yield server
    server.close()


def test_nothing_is_sent_before_the_first_byte(server):
    stream = ResponseStream("127.0.0.1", server.port, "req-1", "text/plain", timeout_s=WAIT_S)
    stream.write(b"")
    assert not stream.started
    assert server.connections == 0


def test_a_successful_stream_on_the_wire(server):
    stream = ResponseStream("127.0.0.1", server.port, "req-1", "text/plain", timeout_s=WAIT_S)
    stream.write(b"hello ")
    stream.write(b"world")
    stream.finish()
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /2018-06-01/runtime/invocation/req-1/response HTTP/1.1"
    assert {"Content-Type: text/plain", "Lambda-Runtime-Function-Response-Mode: streaming",
            "Transfer-Encoding: chunked",
            "Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body"} <= set(lines)
    assert "Content-Length" not in head.decode()
    assert body == b"6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n"
    assert stream.bytes_sent == 11


def test_a_failed_stream_ends_with_the_error_trailers(server):
    stream = ResponseStream("127.0.0.1", server.port, "req-2", "application/octet-stream", timeout_s=WAIT_S)
    stream.write(b"partial")
    stream.finish("Function.NonZeroExit", "Program 'x' exited with status 3")
    body = server.requests[0].partition(b"\r\n\r\n")[2]
    chunks, _, trailers = body.partition(b"0\r\n")
    assert chunks == b"7\r\npartial\r\n"
    fields = dict(line.split(": ", 1) for line in trailers.decode().split("\r\n") if line)
    assert fields["Lambda-Runtime-Function-Error-Type"] == "Function.NonZeroExit"
    error = json.loads(base64.b64decode(fields["Lambda-Runtime-Function-Error-Body"], validate=True))
    assert error == {"errorMessage": "Program 'x' exited with status 3", "errorType": "Function.NonZeroExit",
                     "stackTrace": []}


def test_an_empty_successful_stream_still_posts(server):
    stream = ResponseStream("127.0.0.1", server.port, "req-3", "text/plain", timeout_s=WAIT_S)
    stream.finish()
    assert server.requests[0].endswith(b"\r\n\r\n0\r\n\r\n")


def test_500_from_the_runtime_api_is_fatal():
    server = RawServer(status=500)
    try:
        stream = ResponseStream("127.0.0.1", server.port, "req-4", "text/plain", timeout_s=WAIT_S)
        stream.write(b"x")
        with pytest.raises(RuntimeAPIError):
            stream.finish()
    finally:
        server.close()


@pytest.mark.parametrize("content_type", ["text/plain\r\nX-Evil: 1", "a\nb", "nul\x00"])
def test_a_header_value_that_would_split_the_request_is_refused(content_type):
    with pytest.raises(ValueError):
        ResponseStream("127.0.0.1", 9, "req", content_type)
