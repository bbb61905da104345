"""Injected Runtime API faults: the next N calls to an endpoint answer an error status or lose their connection.

A drop loses the connection before the call does anything; a lost answer loses it after the call was carried out
(/next handed an invocation out, a post was recorded), which is what a client cannot tell apart from a drop.
"""

from __future__ import annotations

import collections
import json
import threading
from dataclasses import dataclass
from typing import Literal, get_args

Endpoint = Literal["next", "response", "error", "init_error"]
ENDPOINTS: tuple[str, ...] = get_args(Endpoint)

# Error types the Runtime Interface Emulator renders for these statuses (rapi/rendering).
ERROR_TYPES = {400: "InvalidRequestID", 403: "InvalidStateTransition", 413: "RequestEntityTooLarge",
               500: "InternalServerError"}


@dataclass(frozen=True)
class Fault:
    """One injected fault: answer `status` with an error body, or drop the connection unanswered (before or after)."""

    status: int | None = None
    drop: bool = False
    lose_answer: bool = False


def fault_body(status: int) -> bytes:
    """The error JSON an injected status is answered with, shaped like RIE's."""
    error_type = ERROR_TYPES.get(status, "InjectedFault")
    return json.dumps({"errorMessage": f"Injected fault (HTTP {status})", "errorType": error_type}).encode()


class Faults:
    """Pending faults per endpoint, consumed one per call, first injected first served."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, collections.deque[Fault]] = {name: collections.deque() for name in ENDPOINTS}

    def add(self, endpoint: Endpoint, *, status: int | None = None, drop: bool = False, lose_answer: bool = False,
            count: int = 1) -> None:
        """Queue `count` faults for `endpoint`; exactly one of status, drop and lose_answer must be given."""
        if endpoint not in ENDPOINTS:
            raise ValueError(f"inject_fault: endpoint {endpoint!r} is not one of {', '.join(ENDPOINTS)}")
        if (status is not None) + drop + lose_answer != 1:
            raise ValueError("inject_fault: give exactly one of status=..., drop=True or lose_answer=True")
        if status is not None and not 400 <= status <= 599:
            raise ValueError(f"inject_fault: status {status} is not an HTTP error status (400-599)")
        if count < 1:
            raise ValueError(f"inject_fault: count {count} must be at least 1")
        with self._lock:
            self._pending[endpoint].extend([Fault(status, drop, lose_answer)] * count)

    def take(self, endpoint: Endpoint) -> Fault | None:
        """The fault this call to `endpoint` must suffer, if any."""
        with self._lock:
            queue = self._pending[endpoint]
            return queue.popleft() if queue else None
