"""Raw-HTTP helpers for the emulator tests: a runtime and a caller that know only the wire (no wrapper.runtime.client).

Paths are spelled out literally, not imported from wrapper.protocol, so these tests pin the documented contract.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import requests

NEXT = "/2018-06-01/runtime/invocation/next"
INIT_ERROR = "/2018-06-01/runtime/init/error"
WAIT_S = 10.0  # generous upper bound for anything that should happen "soon"; never a timing assertion


def response_path(request_id: str) -> str:
    return f"/2018-06-01/runtime/invocation/{request_id}/response"


def error_path(request_id: str) -> str:
    return f"/2018-06-01/runtime/invocation/{request_id}/error"


def invoke_path(function: str = "function") -> str:
    return f"/2015-03-31/functions/{function}/invocations"


class Answer:
    """One HTTP answer: status, headers (lower-cased names), body."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)


class RawRuntime:
    """A runtime driven by hand over one keep-alive http.client connection."""

    def __init__(self, address: str) -> None:
        self.conn = http.client.HTTPConnection(address, timeout=WAIT_S * 3)

    def call(self, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> Answer:
        self.conn.request(method, path, body=body, headers=headers or {})
        response = self.conn.getresponse()
        data = response.read()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)

    def next(self) -> Answer:
        return self.call("GET", NEXT)

    def respond(self, request_id: str, body: bytes) -> Answer:
        return self.call("POST", response_path(request_id), body)

    def error(self, request_id: str, body: bytes, error_type: str | None = None) -> Answer:
        headers = {"Lambda-Runtime-Function-Error-Type": error_type} if error_type else {}
        return self.call("POST", error_path(request_id), body, headers)

    def init_error(self, body: bytes, error_type: str | None = None) -> Answer:
        headers = {"Lambda-Runtime-Function-Error-Type": error_type} if error_type else {}
        return self.call("POST", INIT_ERROR, body, headers)

    def close(self) -> None:
        self.conn.close()


def background(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
    """Run fn in a daemon thread; its result (or exception) in a Future."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the test through the future
            future.set_exception(exc)

    threading.Thread(target=run, daemon=True).start()
    return future


def invoke(url: str, payload: bytes, headers: dict[str, str] | None = None) -> requests.Response:
    """A caller of Lambda's invoke API."""
    return requests.post(url + invoke_path(), data=payload, headers=headers or {}, timeout=WAIT_S * 3)


def wait_until(predicate: Callable[[], Any], what: str) -> Any:
    """Poll until predicate() is truthy; fail the test after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def serve(address: str, answer: Callable[[Answer], tuple[str, bytes]], count: int) -> Future:
    """A runtime in a thread that serves `count` invocations; answer(next) → ("response"|"error", body)."""

    def run() -> list[Answer]:
        runtime = RawRuntime(address)
        seen = []
        try:
            for _ in range(count):
                event = runtime.next()
                seen.append(event)
                kind, body = answer(event)
                request_id = event.headers["lambda-runtime-aws-request-id"]
                if kind == "response":
                    runtime.respond(request_id, body)
                else:
                    runtime.error(request_id, body)
        finally:
            runtime.close()
        return seen

    return background(run)
