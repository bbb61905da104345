"""wire.Connection against real loopback servers: stdlib http.server, and raw sockets that answer scripted bytes."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from wrapper.runtime import http11 as wire

SAFETY_TIMEOUT_S = 30.0  # only so a broken test fails instead of hanging; nothing here is timed
SIX_MB = 6 * 1024 * 1024
BINARY = bytes(range(256)) * 64 + b"\r\n\r\nHTTP/1.1 200 OK\r\n\r\n0\r\n\r\n"  # every byte value, and HTTP look-alikes


# servers


def read_request(rfile) -> tuple[bytes, bytes] | None:
    """One request from the stream: its head and its Content-Length body; None when the client closed."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = rfile.readline()
        if not line:
            return None
        head += line
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    return head, rfile.read(length)


@contextmanager
def raw_server(handle: Callable[[socket.socket, object], None]) -> Iterator[tuple[int, list[socket.socket]]]:
    """Serve every loopback connection with handle(conn, rfile) in its own thread; yield the port and connections."""
    listener = socket.create_server(("127.0.0.1", 0))
    connections: list[socket.socket] = []

    def serve(conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as rfile:
            try:
                handle(conn, rfile)
            except OSError:
                pass

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            connections.append(conn)
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1], connections
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # wakes the accept()
        listener.close()


def answer_each(*replies: bytes, then_close: bool = True) -> Callable[[socket.socket, object], None]:
    """A handler that answers the n-th request on a connection with replies[n], then closes (or waits)."""

    def handle(conn: socket.socket, rfile) -> None:
        for reply in replies:
            if read_request(rfile) is None:
                return
            conn.sendall(reply)
        if not then_close:
            read_request(rfile)  # hold the connection open until the client goes

    return handle


def answer_always(reply: bytes) -> Callable[[socket.socket, object], None]:
    def handle(conn: socket.socket, rfile) -> None:
        while read_request(rfile) is not None:
            conn.sendall(reply)

    return handle


class EchoHandler(BaseHTTPRequestHandler):
    """GET: a small answer; POST: the request body back. Counts the connections it served."""

    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: with Nagle on, the body waits for the client's delayed ACK (~40 ms)
    disable_nagle_algorithm = True
    connections = 0

    def setup(self) -> None:
        super().setup()
        type(self).connections += 1

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(b"ok")

    def do_POST(self) -> None:  # noqa: N802
        self._answer(self.rfile.read(int(self.headers["Content-Length"])))

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_server() -> Iterator[tuple[int, type[EchoHandler]]]:
    handler = type("Echo", (EchoHandler,), {"connections": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield server.server_address[1], handler
    finally:
        server.shutdown()
        server.server_close()


def connect(port: int) -> wire.Connection:
    return wire.Connection("127.0.0.1", port, timeout_s=SAFETY_TIMEOUT_S)


# framing


def test_content_length_body_and_headers_by_any_case():
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Thing: a\r\nLambda-Runtime-Aws-Request-Id: r-1\r\n\r\nhello"
    with raw_server(answer_each(reply)) as (port, _):
        response = connect(port).request("GET", "/next")
    assert (response.status, response.reason, response.body) == (200, "OK", b"hello")
    assert response.headers["x-thing"] == "a"
    assert response.headers["lambda-runtime-aws-request-id"] == "r-1"


def test_repeated_headers_are_comma_joined_in_order():
    reply = b"HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 0\r\nx-a: 2\r\nX-A: 3\r\n\r\n"
    with raw_server(answer_each(reply)) as (port, _):
        assert connect(port).request("GET", "/").headers["x-a"] == "1, 2, 3"


def test_folded_header_lines_are_joined_with_a_space():
    reply = b"HTTP/1.1 200 OK\r\nX-A: one\r\n  two\r\n\tthree\r\nContent-Length: 0\r\n\r\n"
    with raw_server(answer_each(reply)) as (port, _):
        assert connect(port).request("GET", "/").headers["x-a"] == "one two three"


def test_status_line_without_a_reason_is_accepted():
    with raw_server(answer_each(b"HTTP/1.1 202\r\nContent-Length: 0\r\n\r\n")) as (port, _):
        response = connect(port).request("POST", "/", b"")
    assert (response.status, response.reason, response.body) == (202, "", b"")


CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n"


@pytest.mark.parametrize(
    ("ending", "trailers"),
    [
        (b"0\r\n\r\n", {}),
        (b"0\r\nX-Checksum: abc\r\nx-more: 1\r\n\r\n", {"x-checksum": "abc", "x-more": "1"}),
        (b"000;last\r\n\r\n", {}),
    ],
    ids=["no-trailers", "trailers", "zero-with-extension"],
)
def test_chunked_body_then_the_connection_is_reused(ending, trailers):
    plain = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext"
    with raw_server(answer_each(CHUNKED + ending, plain)) as (port, connections):
        conn = connect(port)
        response = conn.request("GET", "/")
        assert (response.body, response.trailers) == (b"hello, world", trailers)
        assert conn.request("GET", "/").body == b"next"  # the trailers were consumed: the stream is in step
    assert len(connections) == 1


def test_chunked_wins_over_content_length_and_the_connection_is_not_reused():
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
    with raw_server(answer_always(reply)) as (port, connections):
        conn = connect(port)
        assert conn.request("GET", "/").body == b"ok"
        assert conn.request("GET", "/").body == b"ok"
    assert len(connections) == 2


@pytest.mark.parametrize(
    "head",
    [b"HTTP/1.1 200 OK\r\n\r\n", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n"],
    ids=["no-framing", "not-chunked"],
)
def test_body_without_length_is_read_to_close_and_the_next_request_reconnects(head):
    def handle(conn: socket.socket, rfile) -> None:
        read_request(rfile)
        conn.sendall(head + BINARY)  # then the handler returns: close ends the body

    with raw_server(handle) as (port, connections):
        conn = connect(port)
        assert conn.request("GET", "/").body == BINARY
        assert conn.request("GET", "/").body == BINARY
    assert len(connections) == 2


def test_interim_100_continue_is_skipped():
    reply = (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX-A: 1\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    )
    with raw_server(answer_each(reply)) as (port, _):
        response = connect(port).request("POST", "/", b"{}")
    assert (response.status, response.body, "x-a" in response.headers) == (200, b"ok", False)


def test_no_body_for_204_even_with_a_content_length():
    replies = (
        b"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    )
    with raw_server(answer_each(*replies)) as (port, connections):
        conn = connect(port)
        assert conn.request("POST", "/", b"x").body == b""
        assert conn.request("GET", "/").body == b"ok"
    assert len(connections) == 1


# keep-alive


def test_many_requests_share_one_kept_alive_connection(echo_server):
    port, handler = echo_server
    conn = connect(port)
    for n in range(200):
        body = f"request {n}".encode()
        assert conn.request("POST", "/echo", body).body == body
        assert conn.request("GET", "/next").body == b"ok"
    conn.close()
    assert handler.connections == 1


def test_connection_close_from_the_server_is_honoured():
    reply = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    with raw_server(answer_each(reply, then_close=False)) as (port, connections):
        conn = connect(port)  # the server keeps its end open: only the header says not to reuse it
        assert conn.request("GET", "/").body == b"ok"
        assert conn.request("GET", "/").body == b"ok"
    assert len(connections) == 2


def test_http_1_0_answer_without_keep_alive_is_not_reused():
    with raw_server(answer_each(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", then_close=False)) as (port, conns):
        conn = connect(port)
        assert conn.request("GET", "/").body == b"ok"
        assert conn.request("GET", "/").body == b"ok"
    assert len(conns) == 2


def test_idle_connection_closed_by_the_server_is_replaced_before_sending():
    closed = threading.Event()

    def handle(conn: socket.socket, rfile) -> None:
        read_request(rfile)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")  # says keep-alive, then closes anyway
        conn.shutdown(socket.SHUT_RDWR)
        closed.set()

    with raw_server(handle) as (port, connections):
        conn = connect(port)
        assert conn.request("GET", "/").body == b"ok"
        assert closed.wait(SAFETY_TIMEOUT_S)
        assert conn.request("POST", "/", b"once").body == b"ok"  # not an error: nothing was sent on the dead one
    assert len(connections) == 2


def test_connection_dropped_mid_request_raises_and_the_next_request_reconnects():
    def handle(conn: socket.socket, rfile) -> None:
        if len(connections) == 1:
            read_request(rfile)  # read it, answer nothing, close
            return
        answer_each(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")(conn, rfile)

    with raw_server(handle) as (port, connections):
        conn = connect(port)
        with pytest.raises(wire.WireError, match="closed"):
            conn.request("POST", "/", b"x")
        assert conn.request("POST", "/", b"x").body == b"ok"


def test_refused_connection_is_an_os_error():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        connect(port).request("GET", "/")


# malformed answers: every one an OSError, so the client's retry-then-fail logic applies


@pytest.mark.parametrize(
    "reply",
    [
        b"",
        b"\r\n",
        b"garbage\r\n\r\n",
        b"HTTP/1.1 OK\r\n\r\n",
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 -20 OK\r\n\r\n",
        b"HTTP/1.1 2\xb2\xb3 OK\r\n\r\n",
        b"HTTP/1.1 099 Early\r\n\r\n",
        b"HTTP/2 200 OK\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n: no name\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-A : space before colon\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2",
        b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nokk",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x2\r\nok\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nok",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Trailer: cut",
    ],
)
def test_malformed_answer_raises_wire_error_and_closes(reply):
    with raw_server(answer_each(reply)) as (port, _):
        conn = connect(port)
        with pytest.raises(wire.WireError) as caught:
            conn.request("GET", "/")
    assert isinstance(caught.value, OSError)


def test_repeated_equal_content_length_is_accepted():
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"
    with raw_server(answer_each(reply)) as (port, _):
        assert connect(port).request("GET", "/").body == b"ok"


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * wire.MAX_HEADER_BYTES + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X-Many: 0123456789abcdef\r\n" * (wire.MAX_HEADER_BYTES // 26 + 1) + b"\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
        + b"X-T: aaaaaaaaaaaaaaaaaaaa\r\n" * 3000
        + b"\r\n",
    ],
    ids=["one-long-header", "many-headers", "long-trailers"],
)
def test_oversized_headers_are_refused(head):
    with raw_server(answer_each(head)) as (port, _), pytest.raises(wire.WireError, match="over"):
        connect(port).request("GET", "/")


def test_headers_just_under_the_limit_are_accepted():
    filler = b"X-Big: " + b"a" * (wire.MAX_HEADER_BYTES - 200) + b"\r\n"
    with raw_server(answer_each(b"HTTP/1.1 200 OK\r\n" + filler + b"Content-Length: 2\r\n\r\nok")) as (port, _):
        assert connect(port).request("GET", "/").body == b"ok"


# requests and large or binary bodies


def test_request_head_carries_host_and_content_length_only_with_a_body():
    seen: list[bytes] = []

    def handle(conn: socket.socket, rfile) -> None:
        while (request := read_request(rfile)) is not None:
            seen.append(request[0])
            conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")

    with raw_server(handle) as (port, _):
        conn = connect(port)
        conn.request("GET", "/2018-06-01/runtime/invocation/next")
        conn.request("POST", "/r/response", b"{}", {"Content-Type": "application/json"})
        conn.request("POST", "/r/empty", b"")
    assert seen[0] == f"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    assert (
        seen[1]
        == (
            f"POST /r/response HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 2\r\n"
            "Content-Type: application/json\r\n\r\n"
        ).encode()
    )
    assert b"Content-Length: 0\r\n" in seen[2]


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/a b", None),
        ("/a\r\nX-Injected: 1", None),
        ("", None),
        ("/é", None),
        ("/", {"X-A": "1\r\nX-Injected: 2"}),
        ("/", {"X-A\r\n": "1"}),
        ("/", {"X A": "1"}),
        ("/", {"": "1"}),
    ],
)
def test_request_that_would_split_or_smuggle_is_refused_before_sending(path, headers):
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    with raw_server(answer_always(reply)) as (port, connections), pytest.raises(ValueError):
        connect(port).request("POST", path, b"", headers)
    assert connections == []


def test_six_megabyte_request_and_response_round_trip(echo_server):
    port, handler = echo_server
    payload = os.urandom(SIX_MB)
    conn = connect(port)
    assert conn.request("POST", "/echo", payload).body == payload
    assert conn.request("POST", "/echo", b"small").body == b"small"  # still in step after the big one
    conn.close()
    assert handler.connections == 1


def test_six_megabyte_chunked_response_with_binary_content():
    payload = (BINARY * (SIX_MB // len(BINARY) + 1))[:SIX_MB]
    pieces = [payload[i : i + 100_003] for i in range(0, len(payload), 100_003)]
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces)
    reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    with raw_server(answer_each(reply)) as (port, _):
        assert connect(port).request("GET", "/").body == payload


def refuse_early(conn: socket.socket, rfile) -> None:
    """Answer 413 after the head, as a server with a body limit does, and close without reading the body."""
    while rfile.readline() not in (b"\r\n", b""):
        pass
    conn.sendall(b"HTTP/1.1 413 Request Entity Too Large\r\nConnection: close\r\nContent-Length: 9\r\n\r\ntoo large")


def test_early_answer_to_a_large_body_is_read_though_the_send_failed():
    with raw_server(refuse_early) as (port, _):
        response = connect(port).request("POST", "/r/response", b"x" * (SIX_MB + 1024 * 1024))
    assert (response.status, response.body) == (413, b"too large")


def test_binary_bodies_both_ways(echo_server):
    port, _ = echo_server
    assert connect(port).request("POST", "/echo", BINARY).body == BINARY


def test_default_connection_has_no_timeout_for_the_long_poll():
    assert wire.Connection("127.0.0.1", 9001).timeout_s is None
