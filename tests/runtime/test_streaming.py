"""output.streaming end to end: `wrapper run` behind the emulator, real programs, real HTTP callers.

Ordering, not timing: a program that waits for a file the test creates only after it has read the first
bytes can only pass if those bytes arrived while the program was still running.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from emf_rules import emf_lines
from eventstream import STREAM_PATH, events
from harness import BIN, RUNTIME, local_lambda
from wrapper.emulator import Emulator

PROGRAM = BIN / "stream_gate.py"
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
WAIT_S = 30


def write_config(directory: Path, *, then: str = "-", exit_code: int = 0, first: str = "first\\n",
                 gate: str = "-", output: str = "", timeout_s: int = 20, extra: str = "") -> Path:
    """A streaming config running stream_gate.py: FIRST, then wait for GATE, then THEN, then exit."""
    path = directory / "stream.yaml"
    path.write_text(f"""\
version: 1
command: [{sys.executable}, {PROGRAM}, "{first}", "{gate}", "{then}", "{exit_code}"]
output: {{streaming: true, content_type: text/plain{output}}}
timeout_s: {timeout_s}
{extra}""")
    return path


def open_url(emulator, path: str = "/", method: str = "GET", body: bytes | None = None) -> http.client.HTTPResponse:
    host, port = emulator.address.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=WAIT_S)
    conn.request(method, path, body=body)
    return conn.getresponse()


def read_until(response: http.client.HTTPResponse, expected: bytes) -> bytes:
    """Read what has arrived until `expected` has; never more than the stream holds."""
    seen = b""
    while expected not in seen:
        piece = response.read1(65536)
        assert piece, f"stream ended with {seen!r}, before {expected!r}"
        seen += piece
    return seen


def invoke_stream(emulator, payload: bytes = b"{}") -> tuple[requests.Response, bytes, dict]:
    """POST the streaming invoke API; (answer, the payload chunks joined, the InvokeComplete document)."""
    answer = requests.post(emulator.url + STREAM_PATH, data=payload, timeout=WAIT_S)
    decoded = events(answer.content)
    assert [kind for kind, _ in decoded][-1] == "InvokeComplete"
    assert {kind for kind, _ in decoded[:-1]} <= {"PayloadChunk"}
    return answer, b"".join(p for _, p in decoded[:-1]), json.loads(decoded[-1][1])


def test_the_first_bytes_reach_the_function_url_caller_before_the_program_ends(tmp_path):
    gate = tmp_path / "gate"
    config = write_config(tmp_path, gate=str(gate), then="second\\n")
    with local_lambda(config, timeout_s=WAIT_S, invoke_mode="RESPONSE_STREAM") as emulator:
        response = open_url(emulator, "/?x=1")
        assert response.status == 200
        assert response.getheader("Content-Type") == "text/plain"
        assert response.getheader("Transfer-Encoding") == "chunked"
        first = read_until(response, b"first\n")  # the program is still waiting for the gate now
        gate.touch()
        rest = response.read()
    assert first + rest == b"first\nsecond\n"


def test_the_first_bytes_reach_a_streaming_invoke_before_the_program_ends(tmp_path):
    gate = tmp_path / "gate"
    config = write_config(tmp_path, gate=str(gate), then="second\\n")
    with local_lambda(config, timeout_s=WAIT_S) as emulator:
        host, port = emulator.address.split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=WAIT_S)
        conn.request("POST", STREAM_PATH, body=b"{}")
        response = conn.getresponse()
        assert response.getheader("Content-Type") == "text/plain"  # the function's, as ResponseStreamContentType
        head = read_until(response, b"first\n")
        gate.touch()
        decoded = events(head + response.read())
    assert [kind for kind, _ in decoded][-1] == "InvokeComplete"
    assert b"".join(payload for kind, payload in decoded if kind == "PayloadChunk") == b"first\nsecond\n"
    assert json.loads(decoded[-1][1]) == {}


def test_20_mb_arrive_intact_through_the_function_url(tmp_path):
    size = 20 * 1024 * 1024
    config = write_config(tmp_path, first="", then=f"bytes:{size}")
    with local_lambda(config, timeout_s=WAIT_S, invoke_mode="RESPONSE_STREAM") as emulator:
        answer = requests.get(emulator.url + "/", timeout=WAIT_S)
    assert answer.status_code == 200
    assert len(answer.content) == size
    expected = random.Random(7).randbytes(size)
    assert hashlib.sha256(answer.content).digest() == hashlib.sha256(expected).digest()


def test_a_failure_mid_stream_ends_the_stream_with_the_error_trailers(tmp_path):
    config = write_config(tmp_path, first="partial\\n", then="more\\n", exit_code=3)
    with local_lambda(config, timeout_s=WAIT_S) as emulator:
        answer, payload, complete = invoke_stream(emulator)
        buffered = emulator.invoke(b"{}", timeout_s=WAIT_S)
    assert answer.status_code == 200
    assert payload == b"partial\nmore\n"
    assert complete["ErrorCode"] == "Function.NonZeroExit"
    error = json.loads(complete["ErrorDetails"])
    assert error["errorType"] == "Function.NonZeroExit"
    assert "exited with status 3" in error["errorMessage"]
    # a buffered invoke of a streaming function: the trailers make it a function error, as on Lambda
    assert buffered.function_error == "Unhandled"
    assert buffered.json()["errorType"] == "Function.NonZeroExit"


def test_a_failure_mid_stream_cuts_the_function_url_transfer_short(tmp_path):
    config = write_config(tmp_path, first="partial\\n", then="more\\n", exit_code=3)
    with local_lambda(config, timeout_s=WAIT_S, invoke_mode="RESPONSE_STREAM") as emulator:
        response = open_url(emulator)
        assert response.status == 200  # sent with the first byte, before the exit status was known
        with pytest.raises(http.client.IncompleteRead) as cut:
            response.read()
    assert cut.value.partial == b"partial\nmore\n"


def test_a_timeout_mid_stream_ends_with_function_timeout(tmp_path):
    config = write_config(tmp_path, first="started\\n", then="sleep", timeout_s=2)
    with local_lambda(config, timeout_s=WAIT_S) as emulator:
        _, payload, complete = invoke_stream(emulator)
    assert payload == b"started\n"
    assert complete["ErrorCode"] == "Function.Timeout"
    assert "timed out" in json.loads(complete["ErrorDetails"])["errorMessage"]


def test_a_crash_mid_stream_ends_with_function_signaled(tmp_path):
    config = write_config(tmp_path, first="started\\n", then="kill")
    with local_lambda(config, timeout_s=WAIT_S) as emulator:
        _, payload, complete = invoke_stream(emulator)
    assert payload == b"started\n"
    assert complete["ErrorCode"] == "Function.Signaled"
    assert "SIGKILL" in json.loads(complete["ErrorDetails"])["errorMessage"]


@pytest.mark.parametrize(("on_overflow", "error_code"), [("error", "Function.OutputTooLarge"), ("truncate", None)])
def test_the_size_cap_stops_the_stream_at_exactly_max_bytes(tmp_path, on_overflow, error_code):
    cap, written = 100_000, 1_000_000
    config = write_config(tmp_path, first="", then=f"bytes:{written}",
                          output=f", max_bytes: {cap}, on_overflow: {on_overflow}")
    with local_lambda(config, timeout_s=WAIT_S) as emulator:
        _, payload, complete = invoke_stream(emulator)
    assert payload == random.Random(7).randbytes(written)[:cap]
    assert complete.get("ErrorCode") == error_code


def test_a_failure_before_any_output_is_an_ordinary_error(tmp_path):
    config = write_config(tmp_path, first="", then="", exit_code=4)
    with local_lambda(config, timeout_s=WAIT_S, invoke_mode="RESPONSE_STREAM") as emulator:
        direct = emulator.invoke(b"{}", timeout_s=WAIT_S)
        http_answer = requests.get(emulator.url + "/", timeout=WAIT_S)
        posts = emulator.stats
    # direct: posted to /error, as in buffered mode; HTTP: the usual error status and JSON, in the prelude
    assert direct.function_error == "Unhandled"
    assert direct.json()["errorType"] == "Function.NonZeroExit"
    assert posts.errors == 1
    assert http_answer.status_code == 502
    assert http_answer.json()["errorType"] == "Function.NonZeroExit"


def test_a_request_refused_before_the_program_runs_gets_its_status_through_the_stream(tmp_path):
    config = write_config(tmp_path, then="done\\n", extra="auth: {bearer_token_env: WRAPPER_TEST_TOKEN}\n")
    with local_lambda(config, timeout_s=WAIT_S, invoke_mode="RESPONSE_STREAM",
                      env={"WRAPPER_TEST_TOKEN": "a-long-enough-token"}) as emulator:
        refused = requests.get(emulator.url + "/", timeout=WAIT_S)
        allowed = requests.get(emulator.url + "/", headers={"Authorization": "Bearer a-long-enough-token"},
                               timeout=WAIT_S)
    assert (refused.status_code, refused.headers["WWW-Authenticate"]) == (401, "Bearer")
    assert refused.json()["errorType"] == "Function.Unauthorized"
    assert (allowed.status_code, allowed.content) == (200, b"first\ndone\n")


def test_http_prelude_carries_configured_headers_and_cookies(tmp_path):
    extra = "http:\n  headers: {Cache-Control: no-store, Set-Cookie: a=1}\n"
    config = write_config(tmp_path, then="done\\n", extra=extra)
    with local_lambda(config, timeout_s=WAIT_S, invoke_mode="RESPONSE_STREAM") as emulator:
        answer = requests.get(emulator.url + "/", timeout=WAIT_S)
        direct = emulator.invoke(json.dumps(function_url_event()).encode(), timeout_s=WAIT_S)
    assert answer.status_code == 200
    assert (answer.headers["Cache-Control"], answer.headers["Set-Cookie"]) == ("no-store", "a=1")
    assert answer.content == b"first\ndone\n"
    # the same event through the buffered invoke API: the prelude travels in the payload, as Lambda's does
    prelude, _, body = direct.body.partition(b"\0" * 8)
    assert json.loads(prelude)["statusCode"] == 200 and body == b"first\ndone\n"


def test_buffered_function_url_cannot_read_a_streamed_answer(tmp_path):
    # on AWS too, the Function URL's invoke mode must match the function (RESPONSE_STREAM for streaming)
    config = write_config(tmp_path, then="done\\n")
    with local_lambda(config, timeout_s=WAIT_S) as emulator:
        answer = requests.get(emulator.url + "/", timeout=WAIT_S)
    assert answer.status_code == 502


def test_callers_that_cannot_stream_get_a_buffered_answer(tmp_path):
    config = write_config(tmp_path, then="done\\n")
    event = {"requestContext": {"elb": {"targetGroupArn": "arn"}}, "httpMethod": "GET", "path": "/",
             "headers": {}, "body": "", "isBase64Encoded": False}
    with local_lambda(config, timeout_s=WAIT_S) as emulator:
        result = emulator.invoke(json.dumps(event).encode(), timeout_s=WAIT_S)
    answer = result.json()  # ALB never streams: its usual response document
    assert (answer["statusCode"], answer["body"], answer["headers"]["content-type"]) == (200, "first\ndone\n",
                                                                                         "text/plain")


def test_buffered_invoke_over_6_mb_is_response_size_too_large(tmp_path):
    config = write_config(tmp_path, first="", then=f"bytes:{7 * 1024 * 1024}")
    with local_lambda(config, timeout_s=WAIT_S) as emulator:
        result = emulator.invoke(b"{}", timeout_s=WAIT_S)
    assert result.function_error == "Unhandled"
    assert result.json()["errorType"] == "Function.ResponseSizeTooLarge"


def test_sigterm_mid_stream_stops_the_program_and_cuts_the_stream(tmp_path):
    config = write_config(tmp_path, first="{pid}\\n", then="sleep")
    with Emulator(runtime_argv=None, function_timeout_s=WAIT_S, invoke_mode="RESPONSE_STREAM") as emulator:
        env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
               "AWS_LAMBDA_RUNTIME_API": emulator.address}
        runtime = subprocess.Popen([*RUNTIME, str(config)], env=env, stderr=subprocess.PIPE)
        try:
            response = open_url(emulator)
            program = int(read_until(response, b"\n"))
            runtime.send_signal(signal.SIGTERM)
            assert runtime.wait(timeout=WAIT_S) == 0, runtime.stderr.read()
            with pytest.raises(http.client.IncompleteRead):  # the stream was cut, never ended as if complete
                response.read()
        finally:
            runtime.kill()
            runtime.wait()
    with pytest.raises(ProcessLookupError):
        for _ in range(100):  # killed by the runtime on its way out; give init a moment to reap it
            os.kill(program, 0)
            time.sleep(0.05)


def function_url_event() -> dict:
    return {"version": "2.0", "rawPath": "/", "rawQueryString": "", "headers": {},
            "requestContext": {"domainName": "abc.lambda-url.us-east-1.on.aws",
                               "http": {"method": "GET", "path": "/", "sourceIp": "127.0.0.1"}},
            "isBase64Encoded": False}


def test_a_streamed_invocation_is_recorded_in_metrics_once_the_stream_ends(tmp_path):
    config = write_config(tmp_path, then="more\\n", exit_code=3,
                          extra="metrics:\n  namespace: WrapperTest\n  dimensions: {service: stream}\n")
    log = tmp_path / "runtime.log"
    with local_lambda(config, timeout_s=WAIT_S, log=str(log)) as emulator:
        _, payload, complete = invoke_stream(emulator)
    records = [r for r in emf_lines(log.read_text()) if r.get("service") == "stream"]
    assert payload == b"first\nmore\n" and complete["ErrorCode"] == "Function.NonZeroExit"
    assert len(records) == 1, log.read_text()[-2000:]
    assert (records[0]["Error"], records[0]["ExitStatus"]) == (1, 3)
    assert records[0]["OutputBytes"] == len(b"first\nmore\n")  # what was streamed: the output itself is not kept
