"""Invocations and their state machine: the one queue every caller and every runtime meets in.

    QUEUED ──GET /next──▶ RUNNING ──POST /response or /error──▶ DONE  (a streamed /response: DONE at its end)
      │                     ├── deadline passed ──▶ DONE  Sandbox.Timedout (the runtime holding it is replaced)
      │                     ├── holder exited ────▶ DONE  Runtime.ExitError
      │                     └── /next answer lost ▶ QUEUED again (the runtime never saw it)
      └── init error pending, a runtime died in init, caller gave up, emulator stopped ──▶ DONE

A post naming an id that never reached RUNNING is `unknown` (400 InvalidRequestID); a post for a DONE id is
`done` (403 InvalidStateTransition). Only the first finish of an id counts, so a caller is answered exactly once.
"""

from __future__ import annotations

import collections
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Literal

from wrapper.emulator.channel import Channel

DONE_IDS_KEPT = 100_000  # finished ids remembered for 403s; older ones fall back to 400 (bounded memory)

Verdict = Literal["ok", "unknown", "done"]
OutcomeKind = Literal["response", "function_error", "service_error"]


@dataclass(frozen=True)
class Outcome:
    """How an invocation ended: the function's response, a function error, or an error of the service itself."""

    kind: OutcomeKind
    body: bytes
    status: int = 200  # service errors only: the invoke API's HTTP status
    error_type: str | None = None  # function errors: errorType; service errors: x-amzn-ErrorType
    content_type: str | None = None  # responses: the Content-Type the runtime posted
    streamed: bool = False  # the runtime streamed it (its body then reached a streaming caller, not here)


@dataclass(eq=False)
class Record:
    """One invocation from submit to its outcome."""

    request_id: str
    payload: bytes
    client_context: str | None = None
    cognito_identity: str | None = None
    state: Literal["queued", "running", "done"] = "queued"
    holder: Hashable | None = None  # which runtime took it; None for runtimes the emulator did not start
    deadline_ms: int = 0
    trace_id: str = ""
    outcome: Outcome | None = None
    finished: threading.Event = field(default_factory=threading.Event)
    channel: Channel | None = None  # a caller that streams: the runtime's streamed bytes go there as they come


@dataclass(frozen=True)
class EmulatorStats:
    """Counters for tests, a snapshot.

    invocations: invokes submitted (HTTP, Function URL or Emulator.invoke), answered or not.
    responses / errors: /response and /error posts accepted (202).
    init_errors: /init/error posts accepted.
    runtime_starts / runtime_exits: runtime children spawned / ended (any cause).
    timeouts: invocations answered Sandbox.Timedout.
    posts: every /response or /error post per request id, accepted, rejected or dropped alike.
    """

    invocations: int
    responses: int
    errors: int
    init_errors: int
    runtime_starts: int
    runtime_exits: int
    timeouts: int
    posts: dict[str, int]


class Stats:
    """Thread-safe counters behind `Emulator.stats`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: collections.Counter[str] = collections.Counter()
        self._posts: collections.Counter[str] = collections.Counter()

    def count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def post(self, request_id: str) -> None:
        with self._lock:
            self._posts[request_id] += 1

    def snapshot(self) -> EmulatorStats:
        with self._lock:
            names = ("invocations", "responses", "errors", "init_errors", "runtime_starts", "runtime_exits", "timeouts")
            return EmulatorStats(**{n: self._counts[n] for n in names}, posts=dict(self._posts))


def trace_id() -> str:
    """An X-Ray trace header like Lambda's: Root=1-<epoch hex>-<24 hex>;Parent=<16 hex>;Sampled=0."""
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};Parent={secrets.token_hex(8)};Sampled=0"


class Invocations:
    """The queue, the RUNNING table and every state transition, under one lock."""

    def __init__(self, *, timeout_s: float, stats: Stats) -> None:
        self._timeout_s = timeout_s
        self._stats = stats
        self._cond = threading.Condition()
        self._queue: collections.deque[Record] = collections.deque()
        self._running: dict[str, Record] = {}
        self._done_ids: collections.OrderedDict[str, None] = collections.OrderedDict()  # ids once running, now done
        self._init_error: Outcome | None = None
        self._closed = False

    def submit(self, payload: bytes, *, client_context: str | None = None,
               cognito_identity: str | None = None, request_id: str | None = None, stream: bool = False) -> Record:
        """Queue an invocation; a pending init error answers it at once, as Lambda answers the first invoke.

        stream: the caller takes a streamed response as it comes, from the record's channel.
        """
        record = Record(request_id or str(uuid.uuid4()), payload, client_context, cognito_identity,
                        channel=Channel() if stream else None)
        self._stats.count("invocations")
        with self._cond:
            if self._closed:
                self._finish(record, stopped_outcome())
            elif self._init_error is not None:
                self._finish(record, self._init_error)
                self._init_error = None
            else:
                self._queue.append(record)
                self._cond.notify_all()
        return record

    def take(self, holder: Hashable | None, *, still_wanted: Callable[[], bool],
             poll_s: float = 0.2) -> Record | None:
        """Block until an invocation is queued and hand it out; None once closed or the poller has gone."""
        with self._cond:
            while not self._closed and still_wanted():  # checked before every pop: never hand work to the dead
                if self._queue:
                    record = self._queue.popleft()
                    record.state, record.holder = "running", holder
                    record.deadline_ms = int((time.time() + self._timeout_s) * 1000)
                    record.trace_id = record.trace_id or trace_id()
                    self._running[record.request_id] = record
                    return record
                self._cond.wait(poll_s)
            return None

    def requeue(self, record: Record) -> None:
        """Put back, first in line, an invocation whose /next answer never reached the runtime."""
        with self._cond:
            if record.state == "running":
                record.state, record.holder = "queued", None
                del self._running[record.request_id]
                self._queue.appendleft(record)
                self._cond.notify_all()

    def finish(self, request_id: str, outcome: Outcome) -> Verdict:
        """Apply a runtime's post: `ok` the first time, `done` after, `unknown` for ids never handed out."""
        with self._cond:
            record = self._running.get(request_id)
            if record is not None:
                self._finish(record, outcome)
                return "ok"
            return "done" if request_id in self._done_ids else "unknown"

    def lookup(self, request_id: str) -> tuple[Verdict, Record | None]:
        """The RUNNING invocation a streamed post is for (`ok`), or why there is none (`done`, `unknown`)."""
        with self._cond:
            record = self._running.get(request_id)
            if record is not None:
                return "ok", record
            return ("done" if request_id in self._done_ids else "unknown"), None

    def expire(self, now_ms: int) -> list[Record]:
        """Time out every RUNNING invocation past its deadline; return them (their holders must be replaced)."""
        with self._cond:
            late = [r for r in self._running.values() if r.deadline_ms <= now_ms]
            for record in late:
                self._finish(record, timeout_outcome(record.request_id, self._timeout_s))
                self._stats.count("timeouts")
            return late

    def fail_held_by(self, holder: Hashable, make_outcome: Callable[[str], Outcome]) -> int:
        """Finish every RUNNING invocation a (now dead) runtime held; return how many."""
        with self._cond:
            held = [r for r in self._running.values() if r.holder == holder]
            for record in held:
                self._finish(record, make_outcome(record.request_id))
            return len(held)

    def fail_oldest_queued(self, make_outcome: Callable[[str], Outcome]) -> bool:
        """Answer the oldest queued invocation with an error (a runtime died before asking for work)."""
        with self._cond:
            if not self._queue:
                return False
            record = self._queue.popleft()
            self._finish(record, make_outcome(record.request_id))
            return True

    def set_init_error(self, outcome: Outcome) -> None:
        """Serve an init error to the oldest queued invocation, or keep it for the next one (latest wins)."""
        with self._cond:
            if self._queue:
                self._finish(self._queue.popleft(), outcome)
            else:
                self._init_error = outcome

    def abandon(self, record: Record) -> bool:
        """The caller stopped waiting: drop the invocation if no runtime has taken it yet (then True)."""
        with self._cond:
            if record.state != "queued" or record not in self._queue:
                return False
            self._queue.remove(record)
            self._finish(record, service_outcome(500, "ServiceException", "Caller stopped waiting"))
            return True

    def close(self) -> None:
        """Wake every poller and answer every caller still waiting; later submits are answered at once."""
        with self._cond:
            self._closed = True
            pending = list(self._queue) + list(self._running.values())
            self._queue.clear()
            for record in pending:
                self._finish(record, stopped_outcome())
            self._cond.notify_all()

    def _finish(self, record: Record, outcome: Outcome) -> None:
        if self._running.pop(record.request_id, None) is not None:
            self._done_ids[record.request_id] = None
            if len(self._done_ids) > DONE_IDS_KEPT:
                self._done_ids.popitem(last=False)
        record.state, record.outcome = "done", outcome
        record.finished.set()
        if record.channel is not None:
            record.channel.end(outcome)


def error_json(error_type: str, message: str) -> bytes:
    """A Lambda function-error document as the invoke API returns it."""
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


def function_error(error_type: str, message: str) -> Outcome:
    return Outcome("function_error", error_json(error_type, message), error_type=error_type)


def timeout_outcome(request_id: str, timeout_s: float) -> Outcome:
    return function_error("Sandbox.Timedout", f"{request_id} Task timed out after {timeout_s:.2f} seconds")


def service_outcome(status: int, error_type: str, message: str) -> Outcome:
    body = json.dumps({"Type": "Service" if status >= 500 else "User", "message": message}).encode()
    return Outcome("service_error", body, status=status, error_type=error_type)


def stopped_outcome() -> Outcome:
    return service_outcome(500, "ServiceException", "The emulator stopped before the invocation finished")
