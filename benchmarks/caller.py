"""The HTTP caller: invokes through the emulator's invoke endpoint on a kept-alive connection, and times it.

stdlib http.client on purpose: the caller's own cost is inside every measured latency, so it must be small
and the same for every row.
"""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
from collections.abc import Callable

INVOKE_PATH = "/2015-03-31/functions/function/invocations"

Check = Callable[[bytes], bool]


class InvokeError(Exception):
    """An invocation did not return what the row expects."""


class Caller:
    """One kept-alive connection to an emulator's invoke endpoint at host:port."""

    def __init__(self, address: str, timeout_s: float = 60.0) -> None:
        host, _, port = address.rpartition(":")
        self._conn = http.client.HTTPConnection(host, int(port), timeout=timeout_s)

    def invoke(self, payload: bytes) -> tuple[int, bytes, str | None]:
        """POST one event; return (HTTP status, body, X-Amz-Function-Error)."""
        self._conn.request("POST", INVOKE_PATH, body=payload, headers={"Content-Type": "application/json"})
        answer = self._conn.getresponse()
        body = answer.read()
        return answer.status, body, answer.getheader("X-Amz-Function-Error")

    def checked(self, payload: bytes, check: Check) -> None:
        """Invoke and raise InvokeError unless the response passes check."""
        status, body, function_error = self.invoke(payload)
        if status != 200 or function_error or not check(body):
            raise InvokeError(f"status {status}, function error {function_error!r}, body {body[:300]!r}")

    def close(self) -> None:
        self._conn.close()


def time_invocations(caller: Caller, payload: bytes, check: Check, count: int) -> list[float]:
    """Latencies in seconds of count sequential invocations (each response checked, outside the timing)."""
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        status, body, function_error = caller.invoke(payload)
        samples.append(time.perf_counter() - start)
        if status != 200 or function_error or not check(body):
            raise InvokeError(f"status {status}, function error {function_error!r}, body {body[:300]!r}")
    return samples


def throughput(address: str, payload: bytes, check: Check, *, callers: int, duration_s: float) -> float:
    """Completed invocations per second with `callers` threads invoking back to back for duration_s."""
    stop_at = time.perf_counter() + duration_s
    counts = [0] * callers
    errors: list[BaseException] = []

    def work(index: int) -> None:
        caller = Caller(address)
        try:
            while time.perf_counter() < stop_at:
                caller.checked(payload, check)
                counts[index] += 1
        except BaseException as exc:  # noqa: BLE001 - re-raised by the main thread
            errors.append(exc)
        finally:
            caller.close()

    start = time.perf_counter()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise InvokeError(f"{type(errors[0]).__name__}: {errors[0]}")
    return sum(counts) / elapsed


def same_json(payload: bytes) -> Check:
    """The response is the event, compared as JSON (runtimes may re-encode it)."""
    expected = json.loads(payload)
    return lambda body: json.loads(body) == expected


def same_length(size: int) -> Check:
    """The response has exactly size bytes (large payloads: comparing lengths is enough and cheap)."""
    return lambda body: len(body) == size


def contains(needle: bytes) -> Check:
    return lambda body: needle in body


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
