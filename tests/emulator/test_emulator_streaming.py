"""The emulator's side of response streaming, driven by a runtime written against the wire alone.

The runtime here speaks raw HTTP/1.1 on a socket: headers, chunks and trailers exactly as the Lambda developer
guide describes them, so the emulator is checked against the documented contract, not against wrapper's client.
"""

from __future__ import annotations

import base64
import json
import socket

import pytest
import requests

from emulator_helpers import RawRuntime, background
from eventstream import STREAM_PATH, events
from wrapper.emulator import Emulator
from wrapper.emulator.function_url import split_prelude

WAIT_S = 30
PRELUDE_TYPE = "application/vnd.awslambda.http-integration-response"


class StreamingPost:
    """POST /response in streaming mode over a raw socket: chunks when told, then the end (with trailers)."""

    def __init__(self, address: str, request_id: str, content_type: str) -> None:
        host, port = address.split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=WAIT_S)
        self.sock.sendall(
            f"POST /2018-06-01/runtime/invocation/{request_id}/response HTTP/1.1\r\nHost: {address}\r\n"
            f"Content-Type: {content_type}\r\nLambda-Runtime-Function-Response-Mode: streaming\r\n"
            "Transfer-Encoding: chunked\r\n"
            "Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n\r\n".encode())

    def chunk(self, data: bytes) -> None:
        self.sock.sendall(b"%x\r\n%s\r\n" % (len(data), data))

    def end(self, error_type: str | None = None, error: dict | None = None) -> bytes:
        trailers = b""
        if error_type:
            body = base64.b64encode(json.dumps(error).encode())
            trailers = b"Lambda-Runtime-Function-Error-Type: %s\r\nLambda-Runtime-Function-Error-Body: %s\r\n" % (
                error_type.encode(), body)
        self.sock.sendall(b"0\r\n" + trailers + b"\r\n")
        answer = self.sock.recv(65536)
        self.sock.close()
        return answer


@pytest.fixture
def emulator():
    with Emulator(runtime_argv=None, function_timeout_s=WAIT_S, invoke_mode="RESPONSE_STREAM") as emulator:
        yield emulator


def next_id(runtime: RawRuntime) -> str:
    return runtime.next().headers["lambda-runtime-aws-request-id"]


def test_prelude_sets_status_headers_and_cookies_and_the_body_streams(emulator):
    runtime = RawRuntime(emulator.address)
    caller = background(requests.get, emulator.url + "/x", timeout=WAIT_S)
    post = StreamingPost(emulator.address, next_id(runtime), PRELUDE_TYPE)
    prelude = {"statusCode": 201, "headers": {"Content-Type": "text/csv", "X-Kind": "report"}, "cookies": ["s=1"]}
    post.chunk(json.dumps(prelude).encode() + b"\0" * 4)  # the delimiter split across chunks
    post.chunk(b"\0" * 4 + b"a,b\n")
    post.chunk(b"1,2\n")
    assert b" 202 " in post.end()
    answer = caller.result(WAIT_S)
    assert answer.status_code == 201
    assert (answer.headers["Content-Type"], answer.headers["X-Kind"], answer.headers["Set-Cookie"]) == (
        "text/csv", "report", "s=1")
    assert answer.content == b"a,b\n1,2\n"
    assert emulator.stats.responses == 1


def test_error_trailers_reach_the_streaming_invoke_api(emulator):
    runtime = RawRuntime(emulator.address)
    caller = background(requests.post, emulator.url + STREAM_PATH, timeout=WAIT_S)
    post = StreamingPost(emulator.address, next_id(runtime), "application/octet-stream")
    post.chunk(b"part")
    post.end("Function.Broken", {"errorType": "Function.Broken", "errorMessage": "it broke"})
    decoded = events(caller.result(WAIT_S).content)
    assert decoded[0] == ("PayloadChunk", b"part")
    complete = json.loads(decoded[-1][1])
    assert complete["ErrorCode"] == "Function.Broken"
    assert json.loads(complete["ErrorDetails"])["errorMessage"] == "it broke"


def test_the_emulators_deadline_mid_stream_ends_with_sandbox_timedout():
    with Emulator(runtime_argv=None, function_timeout_s=1.0) as emulator:
        runtime = RawRuntime(emulator.address)
        caller = background(requests.post, emulator.url + STREAM_PATH, timeout=WAIT_S)
        post = StreamingPost(emulator.address, next_id(runtime), "text/plain")
        post.chunk(b"tick\n")  # and then nothing more, past the deadline
        answer = caller.result(WAIT_S)
        post.sock.close()
    decoded = events(answer.content)
    assert decoded[0] == ("PayloadChunk", b"tick\n")
    assert json.loads(decoded[-1][1])["ErrorCode"] == "Sandbox.Timedout"


def test_a_runtime_that_answers_without_streaming_is_passed_through_as_it_is(emulator):
    # RESPONSE_STREAM takes no statusCode document apart: the caller gets the payload with its Content-Type
    runtime = RawRuntime(emulator.address)
    caller = background(requests.get, emulator.url + "/", timeout=WAIT_S)
    runtime.respond(next_id(runtime), b'{"statusCode": 404, "body": "x"}')
    answer = caller.result(WAIT_S)
    assert (answer.status_code, answer.content) == (200, b'{"statusCode": 404, "body": "x"}')


def test_streaming_invoke_rejects_what_the_invoke_api_rejects(emulator):
    bad = requests.post(emulator.url + STREAM_PATH, data=b"not json", timeout=WAIT_S)
    event = requests.post(emulator.url + STREAM_PATH, data=b"{}", headers={"X-Amz-Invocation-Type": "Event"},
                          timeout=WAIT_S)
    assert (bad.status_code, bad.headers["x-amzn-ErrorType"]) == (400, "InvalidRequestContentException")
    assert (event.status_code, event.headers["x-amzn-ErrorType"]) == (400, "InvalidParameterValueException")
    assert emulator.stats.invocations == 0


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"statusCode": 200}', None),
        (b'{"statusCode": 200}\0\0\0\0\0\0\0\0body', (200, [], b"body")),
        (b'{"headers": {"a": "b"}}' + b"\0" * 8, (200, [("a", "b")], b"")),
        (b'{"statusCode": 302, "cookies": ["c=1"]}' + b"\0" * 8, (302, [("Set-Cookie", "c=1")], b"")),
    ],
    ids=["incomplete", "body-follows", "status-defaults-to-200", "cookies"],
)
def test_split_prelude(data, expected):
    assert split_prelude(data) == expected


@pytest.mark.parametrize(
    "data", [b"not json" + b"\0" * 8, b"[1]" + b"\0" * 8, b'{"statusCode": "200"}' + b"\0" * 8, b"x" * 17000],
    ids=["not-json", "not-object", "status-not-int", "no-delimiter-in-16-kb"],
)
def test_split_prelude_rejects_malformed(data):
    with pytest.raises(ValueError):
        split_prelude(data)
