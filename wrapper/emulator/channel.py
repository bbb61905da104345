"""A streamed response on its way from the runtime's chunked /response post to a caller that streams too.

    producer (the /response handler)      consumer (Function URL in RESPONSE_STREAM mode, or
      start(content_type)                  the response-streaming-invocations API)
      put(chunk)  ... blocks while full     get() → Start | bytes | End
      (the record's finish) → end(outcome)  abandon() when the caller has gone

Backpressure: put() waits while more than MAX_BUFFERED_BYTES are queued, so a slow caller slows the runtime
(and its program) down instead of filling memory. Once the caller has gone, or the invocation has ended
(deadline, runtime exit), put() drops what it is given at once, so the runtime is never left blocked.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass
from typing import Any

MAX_BUFFERED_BYTES = 1 << 20


@dataclass(frozen=True)
class Start:
    """The runtime began a streamed response with this Content-Type."""

    content_type: str


@dataclass(frozen=True)
class End:
    """The invocation is over; `outcome` says how (a state.Outcome)."""

    outcome: Any  # a state.Outcome (state imports this module, not the other way round)


class Channel:
    """One invocation's stream of items, first in first out, bounded by bytes."""

    def __init__(self, max_buffered_bytes: int = MAX_BUFFERED_BYTES) -> None:
        self._cond = threading.Condition()
        self._items: collections.deque[Start | bytes | End] = collections.deque()
        self._buffered = 0
        self._max = max_buffered_bytes
        self._ended = False
        self._abandoned = False

    def start(self, content_type: str) -> None:
        with self._cond:
            if not self._ended:
                self._items.append(Start(content_type))
                self._cond.notify_all()

    def put(self, chunk: bytes) -> bool:
        """Queue a chunk, waiting for room; False when nobody will read it (caller gone or invocation over)."""
        with self._cond:
            while self._buffered > self._max and not (self._ended or self._abandoned):
                self._cond.wait()
            if self._ended or self._abandoned:
                return False
            self._items.append(chunk)
            self._buffered += len(chunk)
            self._cond.notify_all()
            return True

    def end(self, outcome: object) -> None:
        """The last item; later puts are dropped. Only the first end counts."""
        with self._cond:
            if not self._ended:
                self._ended = True
                self._items.append(End(outcome))
                self._cond.notify_all()

    def get(self, timeout_s: float | None = None) -> Start | bytes | End | None:
        """The next item, waiting for one; None after timeout_s."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items, timeout=timeout_s):
                return None
            item = self._items.popleft()
            if isinstance(item, bytes):
                self._buffered -= len(item)
                self._cond.notify_all()
            return item

    def abandon(self) -> None:
        """The caller has gone: drop everything queued and everything to come."""
        with self._cond:
            self._abandoned = True
            self._items.clear()
            self._buffered = 0
            self._cond.notify_all()
