"""Contract tests for the emulator's Runtime API and invoke API, over plain HTTP: the test is the runtime."""

from __future__ import annotations

import base64
import json
import re
import socket
import time
import uuid

import pytest
import requests

import wrapper.emulator
from emulator_helpers import (
    INIT_ERROR,
    NEXT,
    RawRuntime,
    background,
    error_path,
    invoke,
    invoke_path,
    response_path,
    serve,
    wait_until,
)
from wrapper.emulator import Emulator

SIX_MB = 6 * 1024 * 1024


def test_public_api_is_exported():
    assert sorted(wrapper.emulator.__all__) == ["Emulator", "EmulatorStats", "Endpoint", "InvokeResult"]


def test_round_trip_carries_lambda_headers(emulator, runtime):
    caller = background(invoke, emulator.url, b'{"hello": "world"}')
    event = runtime.next()
    assert event.status == 200
    assert event.json() == {"hello": "world"}
    request_id = event.headers["lambda-runtime-aws-request-id"]
    assert uuid.UUID(request_id).version == 4
    assert int(event.headers["lambda-runtime-deadline-ms"]) > time.time() * 1000
    arn = event.headers["lambda-runtime-invoked-function-arn"]
    assert arn == "arn:aws:lambda:us-east-1:000000000000:function:probe"
    assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0",
                        event.headers["lambda-runtime-trace-id"])
    assert event.headers["content-type"] == "application/json"
    assert "lambda-runtime-client-context" not in event.headers
    assert "lambda-runtime-cognito-identity" not in event.headers

    accepted = runtime.respond(request_id, b'{"answer": 42}')
    assert (accepted.status, accepted.json()) == (202, {"status": "OK"})
    answer = caller.result()
    assert answer.status_code == 200
    assert answer.json() == {"answer": 42}
    assert "X-Amz-Function-Error" not in answer.headers
    stats = emulator.stats
    assert (stats.invocations, stats.responses, stats.errors) == (1, 1, 0)
    assert stats.posts == {request_id: 1}


def test_every_answer_has_content_length_and_keeps_the_connection(emulator, runtime):
    caller = background(invoke, emulator.url, b"{}")
    event = runtime.next()
    accepted = runtime.respond(event.headers["lambda-runtime-aws-request-id"], b"{}")
    assert event.headers["content-length"] == "2" and accepted.headers["content-length"] == str(len(accepted.body))
    assert caller.result().headers["Content-Length"] == "2"
    assert runtime.call("POST", response_path("nope"), b"").status == 400  # same connection still usable


def test_invoke_accepts_any_function_name_in_the_path(emulator, runtime):
    caller = background(requests.post, emulator.url + invoke_path("some-other-name"), data=b"[1]", timeout=30)
    event = runtime.next()
    runtime.respond(event.headers["lambda-runtime-aws-request-id"], event.body)
    assert caller.result().json() == [1]


def test_error_post_reaches_the_caller_as_function_error(emulator, runtime):
    caller = background(invoke, emulator.url, b"{}")
    request_id = runtime.next().headers["lambda-runtime-aws-request-id"]
    body = json.dumps({"errorMessage": "boom", "errorType": "Function.NonZeroExit", "stackTrace": []}).encode()
    assert runtime.error(request_id, body, "Function.NonZeroExit").status == 202
    answer = caller.result()
    assert answer.status_code == 200
    assert answer.headers["X-Amz-Function-Error"] == "Unhandled"
    assert answer.json()["errorType"] == "Function.NonZeroExit"
    assert answer.json()["errorMessage"] == "boom"
    assert emulator.stats.errors == 1


@pytest.mark.parametrize(("body", "header", "error_type"), [
    (b"not json", "Function.Timeout", "Function.Timeout"),
    (b"", "Runtime.ConfigError", "Runtime.ConfigError"),
    (b'{"errorMessage": "x"}', "Function.Bad", "Function.Bad"),
    (b"", "lowercase.nonsense", "Runtime.Unknown"),
    (b"", None, "Runtime.Unknown"),
])
def test_error_type_comes_from_the_header_when_the_body_lacks_it(emulator, runtime, body, header, error_type):
    caller = background(invoke, emulator.url, b"{}")
    request_id = runtime.next().headers["lambda-runtime-aws-request-id"]
    runtime.error(request_id, body, header)
    assert caller.result().json()["errorType"] == error_type


def test_second_post_for_the_same_id_is_403(emulator, runtime):
    caller = background(invoke, emulator.url, b"{}")
    request_id = runtime.next().headers["lambda-runtime-aws-request-id"]
    assert runtime.respond(request_id, b'"first"').status == 202
    second = runtime.error(request_id, b"{}", "Function.Late")
    assert second.status == 403
    assert second.json()["errorType"] == "InvalidStateTransition"
    assert caller.result().json() == "first"
    assert emulator.stats.posts == {request_id: 2}


def test_unknown_request_id_is_400(runtime):
    answer = runtime.respond(str(uuid.uuid4()), b"{}")
    assert answer.status == 400
    assert answer.json()["errorType"] == "InvalidRequestID"


def test_oversize_response_is_413_and_the_caller_gets_response_size_too_large(emulator, runtime):
    caller = background(invoke, emulator.url, b"{}")
    request_id = runtime.next().headers["lambda-runtime-aws-request-id"]
    answer = runtime.respond(request_id, b"x" * (SIX_MB + 1))
    assert answer.status == 413
    result = caller.result()
    assert result.headers["X-Amz-Function-Error"] == "Unhandled"
    assert result.json()["errorType"] == "Function.ResponseSizeTooLarge"
    assert runtime.respond(request_id, b"{}").status == 403  # the invocation is over


def test_response_of_exactly_the_limit_is_accepted(emulator, runtime):
    caller = background(invoke, emulator.url, b"{}")
    request_id = runtime.next().headers["lambda-runtime-aws-request-id"]
    assert runtime.respond(request_id, b"x" * SIX_MB).status == 202
    assert len(caller.result().content) == SIX_MB


def test_oversize_invoke_is_413_request_entity_too_large(emulator):
    answer = invoke(emulator.url, b"x" * (SIX_MB + 1))
    assert answer.status_code == 413
    assert answer.headers["x-amzn-ErrorType"] == "RequestEntityTooLargeException"
    assert emulator.stats.invocations == 0


def test_chunked_response_body_is_read(emulator, runtime):
    caller = background(invoke, emulator.url, b"{}")
    request_id = runtime.next().headers["lambda-runtime-aws-request-id"]
    runtime.conn.request("POST", response_path(request_id), body=iter([b'{"a":', b' 1}']),
                         encode_chunked=True, headers={"Transfer-Encoding": "chunked"})
    assert runtime.conn.getresponse().read() == b'{"status":"OK"}'
    assert caller.result().json() == {"a": 1}


def test_init_error_is_served_to_the_first_invoke_only(emulator, runtime):
    body = json.dumps({"errorMessage": "config.yaml: bad", "errorType": "Runtime.ConfigError"}).encode()
    assert runtime.init_error(body, "Runtime.ConfigError").status == 202
    first = invoke(emulator.url, b"{}")
    assert first.headers["X-Amz-Function-Error"] == "Unhandled"
    assert first.json() == {"errorMessage": "config.yaml: bad", "errorType": "Runtime.ConfigError"}
    server = serve(emulator.address, lambda event: ("response", b'"ok"'), 1)
    assert invoke(emulator.url, b"{}").json() == "ok"
    server.result()
    assert emulator.stats.init_errors == 1


def test_init_error_answers_an_invoke_already_waiting(emulator, runtime):
    caller = background(invoke, emulator.url, b"{}")
    wait_until(lambda: emulator.stats.invocations == 1, "the invocation to be queued")
    runtime.init_error(b"", "Runtime.InitError")
    assert caller.result().json()["errorType"] == "Runtime.InitError"


def test_concurrent_pollers_get_distinct_invocations(emulator):
    def poll_and_echo():
        runtime = RawRuntime(emulator.address)
        event = runtime.next()
        runtime.respond(event.headers["lambda-runtime-aws-request-id"], event.body)
        runtime.close()
        return event.headers["lambda-runtime-aws-request-id"]

    pollers = [background(poll_and_echo) for _ in range(4)]
    callers = [background(invoke, emulator.url, json.dumps({"n": n}).encode()) for n in range(4)]
    assert sorted(c.result().json()["n"] for c in callers) == [0, 1, 2, 3]
    assert len({p.result() for p in pollers}) == 4


def test_queued_invocations_are_served_in_order(emulator, runtime):
    for n in range(5):
        answer = invoke(emulator.url, str(n).encode(), {"X-Amz-Invocation-Type": "Event"})
        assert answer.status_code == 202
    seen = []
    for _ in range(5):
        event = runtime.next()
        seen.append(event.json())
        runtime.respond(event.headers["lambda-runtime-aws-request-id"], b"null")
    assert seen == [0, 1, 2, 3, 4]


def test_dry_run_is_204_and_queues_nothing(emulator):
    answer = invoke(emulator.url, b"{}", {"X-Amz-Invocation-Type": "DryRun"})
    assert (answer.status_code, answer.content) == (204, b"")
    assert emulator.stats.invocations == 0


def test_client_context_is_decoded_and_forwarded(emulator, runtime):
    context = '{"custom": {"k": "v"}}'
    header = {"X-Amz-Client-Context": base64.b64encode(context.encode()).decode()}
    caller = background(invoke, emulator.url, b"{}", header)
    event = runtime.next()
    assert event.headers["lambda-runtime-client-context"] == context
    runtime.respond(event.headers["lambda-runtime-aws-request-id"], b"{}")
    caller.result()


def test_invalid_client_context_is_400(emulator):
    answer = invoke(emulator.url, b"{}", {"X-Amz-Client-Context": "not base64!"})
    assert answer.status_code == 400
    assert answer.headers["x-amzn-ErrorType"] == "InvalidRequestContentException"


@pytest.mark.parametrize("payload", [b"not json", b'{"a": 1', b"\xff\xfe{}", b"{} {}"],
                         ids=["word", "truncated", "not-utf8", "two-documents"])
def test_payload_that_is_not_json_is_400_and_never_queued(emulator, payload):
    answer = invoke(emulator.url, payload, {})
    assert answer.status_code == 400
    assert answer.headers["x-amzn-ErrorType"] == "InvalidRequestContentException"
    assert answer.json()["message"].startswith("Could not parse request body into json")
    assert emulator.stats.invocations == 0


@pytest.mark.parametrize("payload", [b"", b"[1, 2]", b'"text"', b"null", b"3"])
def test_empty_and_any_json_payload_is_accepted(emulator, runtime, payload):
    caller = background(invoke, emulator.url, payload, {})
    event = runtime.next()
    assert event.body == payload
    runtime.respond(event.headers["lambda-runtime-aws-request-id"], b"{}")
    assert caller.result().status_code == 200


def test_in_process_invoke_shares_the_queue(emulator, runtime):
    caller = background(emulator.invoke, b'{"x": 1}', cognito_identity='{"id": "c"}')
    event = runtime.next()
    assert event.headers["lambda-runtime-cognito-identity"] == '{"id": "c"}'
    runtime.respond(event.headers["lambda-runtime-aws-request-id"], b'"done"')
    result = caller.result()
    assert (result.status, result.json(), result.function_error) == (200, "done", None)
    assert result.request_id == event.headers["lambda-runtime-aws-request-id"]


def test_in_process_invoke_needs_a_started_emulator():
    with pytest.raises(RuntimeError):
        Emulator().invoke(b"{}")


def test_in_process_invoke_gives_up_after_its_timeout(emulator, runtime):
    with pytest.raises(TimeoutError):
        emulator.invoke(b"{}", timeout_s=0.05)
    invoke(emulator.url, b'"later"', {"X-Amz-Invocation-Type": "Event"})
    assert runtime.next().json() == "later"  # the abandoned invocation left the queue


def test_runtime_that_hangs_up_while_polling_does_not_swallow_an_invocation(emulator, runtime):
    host, port = emulator.address.split(":")
    dead = socket.create_connection((host, int(port)))
    dead.sendall(f"GET {NEXT} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    dead.close()  # whether or not its poll was registered, it must not take the invocation
    caller = background(invoke, emulator.url, b'"alive"')
    event = runtime.next()
    runtime.respond(event.headers["lambda-runtime-aws-request-id"], event.body)
    assert caller.result().json() == "alive"


def test_deadline_passes_sandbox_timedout():
    with Emulator(runtime_argv=None, function_timeout_s=0.5) as emulator:
        runtime = RawRuntime(emulator.address)
        caller = background(invoke, emulator.url, b"{}")
        request_id = runtime.next().headers["lambda-runtime-aws-request-id"]
        answer = caller.result()
        assert answer.headers["X-Amz-Function-Error"] == "Unhandled"
        assert answer.json() == {"errorType": "Sandbox.Timedout",
                                 "errorMessage": f"{request_id} Task timed out after 0.50 seconds"}
        assert runtime.respond(request_id, b"{}").status == 403
        assert emulator.stats.timeouts == 1
        runtime.close()


def test_stop_answers_waiting_callers(emulator):
    caller = background(invoke, emulator.url, b"{}")
    wait_until(lambda: emulator.stats.invocations == 1, "the invocation to be queued")
    emulator.stop()
    assert caller.result().status_code == 500


def test_unknown_runtime_api_path_is_404(runtime):
    assert runtime.call("GET", "/2018-06-01/runtime/invocation/xyz").status == 404


def test_error_post_path_is_the_documented_one(emulator, runtime):
    caller = background(invoke, emulator.url, b"{}")
    request_id = runtime.next().headers["lambda-runtime-aws-request-id"]
    headers = {"Lambda-Runtime-Function-Error-Type": "Function.Xyz"}
    assert runtime.call("POST", error_path(request_id), b"", headers).status == 202
    assert caller.result().json()["errorType"] == "Function.Xyz"
    assert INIT_ERROR == "/2018-06-01/runtime/init/error"
