"""Injected Runtime API faults: statuses and dropped connections, and the emulator's bookkeeping after them."""

from __future__ import annotations

import http.client

import pytest

from emulator_helpers import background, invoke


def test_fault_on_next_answers_500_then_serves_the_invocation(emulator, runtime):
    emulator.inject_fault("next", status=500)
    caller = background(invoke, emulator.url, b'"x"')
    failed = runtime.next()
    assert failed.status == 500
    assert failed.json()["errorType"] == "InternalServerError"
    event = runtime.next()
    runtime.respond(event.headers["lambda-runtime-aws-request-id"], event.body)
    assert caller.result().json() == "x"


def test_dropped_next_loses_no_invocation(emulator, runtime):
    emulator.inject_fault("next", drop=True, count=2)
    caller = background(invoke, emulator.url, b'"kept"')
    for _ in range(2):
        with pytest.raises(http.client.RemoteDisconnected):
            runtime.next()
        runtime.conn.close()
    event = runtime.next()
    runtime.respond(event.headers["lambda-runtime-aws-request-id"], event.body)
    assert caller.result().json() == "kept"


@pytest.mark.parametrize(("status", "error_type"), [
    (413, "Function.ResponseSizeTooLarge"),
    (403, "Runtime.InvalidStateTransition"),
])
def test_response_fault_that_ends_the_invocation_answers_the_caller(emulator, runtime, status, error_type):
    emulator.inject_fault("response", status=status)
    caller = background(invoke, emulator.url, b"{}")
    request_id = runtime.next().headers["lambda-runtime-aws-request-id"]
    assert runtime.respond(request_id, b"{}").status == status
    answer = caller.result()
    assert answer.headers["X-Amz-Function-Error"] == "Unhandled"
    assert answer.json()["errorType"] == error_type
    assert runtime.error(request_id, b"{}", "Function.Late").status == 403


def test_dropped_response_leaves_the_error_path_open(emulator, runtime):
    emulator.inject_fault("response", drop=True)
    caller = background(invoke, emulator.url, b"{}")
    request_id = runtime.next().headers["lambda-runtime-aws-request-id"]
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        runtime.respond(request_id, b'"lost"')
    runtime.conn.close()
    assert runtime.error(request_id, b"", "Runtime.PostFailed").status == 202
    assert caller.result().json()["errorType"] == "Runtime.PostFailed"
    assert emulator.stats.posts == {request_id: 2}


def test_fault_on_init_error_is_not_recorded(emulator, runtime):
    emulator.inject_fault("init_error", status=500)
    assert runtime.init_error(b"", "Runtime.InitError").status == 500
    assert emulator.stats.init_errors == 0


@pytest.mark.parametrize("kwargs", [
    {"endpoint": "nope", "status": 500},
    {"endpoint": "next"},
    {"endpoint": "next", "status": 500, "drop": True},
    {"endpoint": "next", "status": 200},
    {"endpoint": "next", "status": 500, "count": 0},
])
def test_inject_fault_rejects_bad_arguments(emulator, kwargs):
    with pytest.raises(ValueError):
        emulator.inject_fault(**kwargs)
