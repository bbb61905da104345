"""RuntimeClient against the real emulator on a loopback port, and against raw HTTP servers for odd headers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

import wrapper
from wrapper.emulator import Emulator
from wrapper.errors import RuntimeAPIError
from wrapper.runtime.client import MAX_EVENT_BYTES, RuntimeClient, parse_address


@pytest.fixture
def emulator():
    with Emulator(runtime_argv=None, port=0, function_timeout_s=5.0) as emu:
        yield emu


@pytest.fixture
def pool():
    with ThreadPoolExecutor(max_workers=4) as executor:
        yield executor


def invoke_async(pool: ThreadPoolExecutor, emulator: Emulator, payload: bytes) -> Future:
    return pool.submit(emulator.invoke, payload)


def test_next_parses_every_header(emulator, pool):
    client = RuntimeClient(emulator.address)
    pending = invoke_async(pool, emulator, b'{"hello": "world!"}')
    invocation = client.next_invocation()
    assert invocation.body == b'{"hello": "world!"}'
    assert len(invocation.request_id) >= 32
    assert invocation.deadline_ms > time.time() * 1000
    assert invocation.function_arn.startswith("arn:aws:lambda:")
    assert invocation.trace_id and invocation.trace_id.startswith("Root=")
    client.post_response(invocation.request_id, b'{"ok": true}')
    result = pending.result(timeout=5)
    assert result.body == b'{"ok": true}'
    assert result.function_error is None


def test_post_error_reaches_the_caller_as_a_function_error(emulator, pool):
    client = RuntimeClient(emulator.address)
    pending = invoke_async(pool, emulator, b"{}")
    invocation = client.next_invocation()
    client.post_error(invocation.request_id, "Function.NonZeroExit", "Program 'x' exited with status 3")
    result = pending.result(timeout=5)
    assert result.function_error
    assert json.loads(result.body) == {
        "errorMessage": "Program 'x' exited with status 3",
        "errorType": "Function.NonZeroExit",
        "stackTrace": [],
    }


def test_invalid_error_type_is_sent_as_unknown(emulator, pool):
    client = RuntimeClient(emulator.address)
    pending = invoke_async(pool, emulator, b"{}")
    invocation = client.next_invocation()
    client.post_error(invocation.request_id, "Function.bad type!", "boom")
    assert json.loads(pending.result(timeout=5).body)["errorType"] == "Function.Unknown"


@pytest.mark.parametrize("status", [413, 403, 400])
def test_refused_response_finishes_the_invocation_and_the_loop_goes_on(emulator, pool, status):
    client = RuntimeClient(emulator.address)
    emulator.inject_fault("response", status=status)
    first = invoke_async(pool, emulator, b'{"n": 1}')
    invocation = client.next_invocation()
    client.post_response(invocation.request_id, b"{}")  # must not raise
    second = invoke_async(pool, emulator, b'{"n": 2}')
    invocation = client.next_invocation()
    assert invocation.body == b'{"n": 2}'
    client.post_response(invocation.request_id, b'"second"')
    assert second.result(timeout=5).body == b'"second"'
    # the refused post does not deliver: the caller gets an error (413: too large; else: the timeout), never a hang
    assert first.result(timeout=15).function_error


def test_second_post_for_the_same_invocation_is_refused_without_raising(emulator, pool):
    client = RuntimeClient(emulator.address)
    pending = invoke_async(pool, emulator, b"{}")
    invocation = client.next_invocation()
    client.post_response(invocation.request_id, b'"one"')
    client.post_response(invocation.request_id, b'"two"')  # 403 from the API: logged, not raised
    assert pending.result(timeout=5).body == b'"one"'
    assert emulator.stats.posts[invocation.request_id] == 2


def test_status_500_on_next_is_fatal(emulator):
    emulator.inject_fault("next", status=500)
    with pytest.raises(RuntimeAPIError, match="500"):
        RuntimeClient(emulator.address).next_invocation()


def test_status_500_on_response_is_fatal(emulator, pool):
    client = RuntimeClient(emulator.address)
    invoke_async(pool, emulator, b"{}")
    invocation = client.next_invocation()
    emulator.inject_fault("response", status=500)
    with pytest.raises(RuntimeAPIError, match="500"):
        client.post_response(invocation.request_id, b"{}")


def test_dropped_connection_on_response_is_retried_once_and_answered_once(emulator, pool):
    client = RuntimeClient(emulator.address)
    pending = invoke_async(pool, emulator, b"{}")
    invocation = client.next_invocation()
    emulator.inject_fault("response", drop=True)
    client.post_response(invocation.request_id, b'"kept"')
    assert pending.result(timeout=5).body == b'"kept"'


def test_unreachable_api_at_start_fails_clearly_after_retries():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(RuntimeAPIError, match="unreachable"):
        RuntimeClient(f"127.0.0.1:{port}").next_invocation()


def test_malformed_address_is_refused():
    with pytest.raises(RuntimeAPIError, match="host:port"):
        RuntimeClient("no-port-here")


class _OddDeadlineAPI(BaseHTTPRequestHandler):
    """A Runtime API stand-in that serves events with whatever deadline header the test sets."""

    protocol_version = "HTTP/1.1"
    deadline: str | None = None

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", "req-1")
        if self.deadline is not None:
            self.send_header("Lambda-Runtime-Deadline-Ms", self.deadline)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("deadline", [None, "not-a-number", "0", "1000", str(10**15)])
def test_missing_or_implausible_deadline_falls_back_to_the_configured_timeout(deadline, capsys):
    handler = type("Handler", (_OddDeadlineAPI,), {"deadline": deadline})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = RuntimeClient(f"127.0.0.1:{server.server_address[1]}", fallback_timeout_s=42)
        before_ms = time.time() * 1000
        first = client.next_invocation()
        second = client.next_invocation()
    finally:
        server.shutdown()
        server.server_close()
    for invocation in (first, second):
        assert before_ms + 41_000 <= invocation.deadline_ms <= time.time() * 1000 + 42_000
    warnings = [line for line in capsys.readouterr().err.splitlines() if "implausible" in line]
    assert len(warnings) == 1  # warned once, not per invocation


# The client speaks HTTP itself (wrapper.runtime.http11): framing the emulator never uses, and the cost it exists
# to avoid.


class _ChunkedAPI(BaseHTTPRequestHandler):
    """A Runtime API stand-in that frames /next with chunked encoding and a trailer, then closes when told to."""

    protocol_version = "HTTP/1.1"
    close_after_answer = False
    posted: ClassVar[list[bytes]] = []  # each fixture's subclass gets its own list

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", "req-1")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60_000))
        self.send_header("Transfer-Encoding", "chunked")
        self._say_close()
        self.end_headers()
        self.wfile.write(b'3\r\n{"a\r\n6\r\n": 1}\n\r\n0\r\nX-Trailer: t\r\n\r\n')
        self.close_connection = self.close_after_answer

    def do_POST(self):  # noqa: N802
        self.posted.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self._say_close()
        self.end_headers()
        self.close_connection = self.close_after_answer

    def _say_close(self):
        # A server that closes says so: the client cannot tell a silent close from a lost answer, and a /next
        # whose answer was lost is never asked again (see test_next_whose_answer_is_lost_is_not_asked_again).
        if self.close_after_answer:
            self.send_header("Connection", "close")

    def log_message(self, *args):
        pass


@pytest.fixture(params=[False, True], ids=["kept-alive", "closed-after-each"])
def chunked_api(request):
    handler = type("Handler", (_ChunkedAPI,), {"close_after_answer": request.param, "posted": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_chunked_events_and_connections_the_api_closes_between_calls(chunked_api):
    address, handler = chunked_api
    client = RuntimeClient(address)
    for n in range(20):
        invocation = client.next_invocation()
        assert (invocation.request_id, invocation.body) == ("req-1", b'{"a": 1}\n')
        client.post_response(invocation.request_id, str(n).encode())
    assert handler.posted == [str(n).encode() for n in range(20)]


def test_malformed_answers_fail_clearly_after_retries():
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def answer_garbage():
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                with conn:
                    conn.recv(65536)
                    conn.sendall(b"SPDY/3 200 OK\r\n\r\n")

        threading.Thread(target=answer_garbage, daemon=True).start()
        with pytest.raises(RuntimeAPIError, match="Malformed status line"):
            RuntimeClient(f"127.0.0.1:{listener.getsockname()[1]}").next_invocation()
        listener.shutdown(socket.SHUT_RDWR)


def test_six_megabyte_response_reaches_the_caller_whole(emulator, pool):
    client = RuntimeClient(emulator.address)
    big = b'"' + b"x" * (6 * 1024 * 1024 - 2) + b'"'
    pending = invoke_async(pool, emulator, b"{}")
    invocation = client.next_invocation()
    client.post_response(invocation.request_id, big)
    assert pending.result(timeout=30).body == big


def test_413_answered_before_an_oversized_body_is_read_finishes_the_invocation(capsys):
    def refuse_early():  # every connection: 413 after the head, closed with the body unread (as Go servers do)
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn, conn.makefile("rb") as rfile:
                while rfile.readline() not in (b"\r\n", b""):
                    pass
                conn.sendall(b"HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")

    with socket.create_server(("127.0.0.1", 0)) as listener:
        threading.Thread(target=refuse_early, daemon=True).start()
        client = RuntimeClient(f"127.0.0.1:{listener.getsockname()[1]}")
        client.post_response("req-1", b"x" * (7 * 1024 * 1024))  # must not raise: Lambda already failed it
        listener.shutdown(socket.SHUT_RDWR)
    assert "413" in capsys.readouterr().err


def test_the_client_imports_no_http_client_email_or_ssl():
    code = "import sys, wrapper.runtime.client; print(sorted({'http.client', 'email', 'ssl'} & set(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": str(Path(wrapper.__file__).parent.parent)}
    done = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True, env=env)
    assert done.stdout.strip() == "[]"  # -S: no site, so only wrapper's imports count


# The address: host:port, optionally a path prefix


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:9001", ("127.0.0.1", 9001, "")),
        ("127.0.0.1:9009/.rt", ("127.0.0.1", 9009, "/.rt")),
        ("127.0.0.1:9009/.rt/", ("127.0.0.1", 9009, "/.rt")),
        ("localhost:9009/a/b", ("localhost", 9009, "/a/b")),
        ("[::1]:9001/x", ("::1", 9001, "/x")),
    ],
)
def test_address_may_carry_a_path_prefix(address, expected):
    assert parse_address(address) == expected


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:x/.rt",
                                     "127.0.0.1:9001/a b", "127.0.0.1:9001/a?b", "127.0.0.1:9001/\x01", ":9001",
                                     "127.0.0.1:" + "9" * 5000])
def test_malformed_addresses_are_refused(address):
    with pytest.raises(RuntimeAPIError, match="host:port"):
        RuntimeClient(address)


def test_every_call_goes_under_the_prefix(pool):
    with Emulator(runtime_argv=None, port=0, function_timeout_s=5.0, api_prefix="/.rt") as emulator:
        assert emulator.address.endswith("/.rt")
        client = RuntimeClient(emulator.address)
        pending = invoke_async(pool, emulator, b'{"n": 1}')
        invocation = client.next_invocation()
        client.post_response(invocation.request_id, b'"under a prefix"')
        assert pending.result(timeout=5).body == b'"under a prefix"'
        # and the emulator really serves it only there: without the prefix, no Runtime API
        bare = RuntimeClient(emulator.address.removesuffix("/.rt"))
        with pytest.raises(RuntimeAPIError, match="404"):
            bare.next_invocation()


# Malformed answers: a raw Runtime API that answers /next with scripted bytes and records what is posted


@contextmanager
def scripted_api(*next_answers: bytes):
    """A raw loopback Runtime API: the n-th /next gets next_answers[n] (then it holds); posts are recorded, 202."""
    answers = list(next_answers)
    posts: list[tuple[str, bytes]] = []
    listener = socket.create_server(("127.0.0.1", 0))

    def serve(conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as rfile:
            try:
                answer_requests(conn, rfile)
            except OSError:
                pass  # the client closed on an answer it would not read whole

    def answer_requests(conn: socket.socket, rfile) -> None:
        while True:
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                line = rfile.readline()
                if not line:
                    return
                head += line
            target = head.split(b" ")[1].decode()
            length = next((int(v) for n, _, v in (h.partition(b":") for h in head.split(b"\r\n"))
                           if n.lower() == b"content-length"), 0)
            body = rfile.read(length)
            if not target.endswith("/next"):
                posts.append((target, body))
                conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
            elif answers:
                conn.sendall(answers.pop(0))  # may leave a body unsent: the client must not wait for it
            else:
                rfile.readline()  # nothing more to hand out: hold the long-poll until the client goes
                return

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}", posts
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()


def event_head(request_id: str, framing: str) -> bytes:
    deadline = int(time.time() * 1000) + 60_000
    return (f"HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: {request_id}\r\n"
            f"Lambda-Runtime-Deadline-Ms: {deadline}\r\n{framing}\r\n\r\n").encode("latin-1")


GOOD_EVENT = event_head("req-2", "Content-Length: 2") + b"{}"


@pytest.mark.parametrize(
    "answer",
    [
        event_head("req-1", "Content-Length: " + "9" * 30),  # OverflowError, before the cap existed
        event_head("req-1", "Content-Length: " + "9" * 5000),  # more digits than int() takes
        event_head("req-1", f"Content-Length: {MAX_EVENT_BYTES + 1}"),  # just over Lambda's limit
        event_head("req-1", "Transfer-Encoding: chunked") + b"F" * 40 + b"\r\n",
        event_head("req-1", "Transfer-Encoding: chunked") + b"%x\r\n" % (MAX_EVENT_BYTES + 1),
        event_head("req-1", "Transfer-Encoding: chunked") + (b"400000\r\n" + b"x" * 0x400000 + b"\r\n") * 2,
    ],
    ids=["content-length-30-digits", "content-length-5000-digits", "content-length-over-limit",
         "chunk-size-40-digits", "chunk-over-limit", "chunks-adding-up-over-limit"],
)
def test_event_over_lambdas_limit_is_answered_as_invalid_and_the_long_poll_goes_on(answer):
    with scripted_api(answer, GOOD_EVENT) as (address, posts):
        invocation = RuntimeClient(address).next_invocation()
    assert invocation.request_id == "req-2" and invocation.body == b"{}"
    assert len(posts) == 1 and posts[0][0].endswith("/invocation/req-1/error")
    error = json.loads(posts[0][1])
    assert error["errorType"] == "Function.InvalidEvent" and "too large" in error["errorMessage"]


@pytest.mark.parametrize("request_id", ["a b", "a\x01b", "a\x7fb", "a/b", "a%2Fb", "a?b", "a\x00b", "réq"])
def test_request_id_that_cannot_be_a_path_segment_is_a_clear_runtime_api_error(request_id):
    with scripted_api(event_head(request_id, "Content-Length: 2") + b"{}") as (address, posts):
        with pytest.raises(RuntimeAPIError, match="cannot be used in a URL path"):
            RuntimeClient(address).next_invocation()
    assert posts == []


def test_cr_or_nul_in_a_header_value_becomes_a_space():
    answer = (b"HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: req-1\r\n"
              b"Lambda-Runtime-Trace-Id: Root=1\rX-Injected: 1\x00\r\nContent-Length: 2\r\n\r\n{}")
    with scripted_api(answer) as (address, _):
        invocation = RuntimeClient(address).next_invocation()
    assert invocation.trace_id == "Root=1 X-Injected: 1"


# Exactly once: the emulator's lost answers


def test_next_whose_answer_is_lost_is_not_asked_again(emulator, pool):
    client = RuntimeClient(emulator.address)
    first = invoke_async(pool, emulator, b'{"n": 1}')
    second = invoke_async(pool, emulator, b'{"n": 2}')
    emulator.inject_fault("next", lose_answer=True)  # the emulator hands out an invocation, then drops the line
    with pytest.raises(RuntimeAPIError, match="not asking again"):
        client.next_invocation()
    # The one handed out is still held (Lambda answers it when the runtime exits); the other was not taken.
    fresh = RuntimeClient(emulator.address).next_invocation()
    fresh_client = RuntimeClient(emulator.address)
    fresh_client.post_response(fresh.request_id, b'"answered"')
    wait([first, second], timeout=10, return_when=FIRST_COMPLETED)  # the caller wakes after the 202, not before
    answered = [f for f in (first, second) if f.done()]
    assert len(answered) == 1 and answered[0].result().body == b'"answered"'


def test_post_whose_answer_is_lost_is_posted_again_and_refused_without_harm(emulator, pool, capsys):
    client = RuntimeClient(emulator.address)
    pending = invoke_async(pool, emulator, b"{}")
    invocation = client.next_invocation()
    emulator.inject_fault("response", lose_answer=True)  # recorded, then the answer is lost
    client.post_response(invocation.request_id, b'"once"')  # sent again: the API refuses it (403), no raise
    assert pending.result(timeout=5).body == b'"once"'
    assert emulator.stats.posts[invocation.request_id] == 2
    assert "403" in capsys.readouterr().err
