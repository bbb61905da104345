"""Hot mode's supervisor: one long-lived program fed one event line after another, kept in step or replaced.

The contract: for each event, wrapper writes exactly one line to the program's stdin, and the answer is exactly
the one line the program then writes on its answer descriptor (stdout, or `result_fd` with actionloop framing).
Anything else means the program is out of step, and it is replaced rather than trusted: output on the answer
descriptor between events, a second line for one event, an answer that ends before the whole event was written,
a closed stdin. A program that gives no answer in time is killed with its whole group at once, so its late
answer can never be read for the next event; a crash gives that event a clear error. The I/O of one started
program is wrapper.programs.hot_process; the group kill is wrapper.programs.groups (SIGTERM, grace, SIGKILL).

States, as plain data (`HotProgram.state`):
    idle    no program running (never started, or stopped to be replaced): `prepare` starts one
    ready   running and in step, between events
    broken  to be replaced before the next event; `reason` says why: it crashed, timed out or fell out of step,
            or it is recycled (`max_events` answered, or its RSS over the ceiling), as gunicorn's max_requests
    closed  stopped for good (SIGTERM); no event is accepted
A replacement after a failure waits a doubling backoff (reset by an answer); a recycled program is first sent
EOF on stdin, to finish on its own, and its replacement starts at once.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable

from wrapper.errors import ProgramError
from wrapper.logs import get_logger
from wrapper.programs.groups import kill_process_group, stop_process_group, wait_exited
from wrapper.programs.hot_process import HotOutcome, HotProcess, describe_exit

__all__ = ["HotOutcome", "HotProgram"]

logger = get_logger(__name__)

_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
_BROKEN_GRACE_S = 0.2  # SIGTERM → SIGKILL when replacing a program that crashed or is out of step
_RECYCLED = "recycled"


class HotProgram:
    """One long-lived program, replaced as the states above say (one per runtime loop; not thread-safe)."""

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        *,
        cwd: str | None,
        result_fd: int | None = None,
        ack: bool = False,
        grace_s: float = 1.0,
        restart_backoff_s: float = 0.1,
        max_restart_backoff_s: float = 5.0,
        max_events: int | None = None,
        max_rss_bytes: int | None = None,
        max_answer_bytes: int = 6_291_000,
        log_tail_bytes: int = 2048,
        on_log_line: Callable[[bytes, str | None], None] = lambda line, tag: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.argv, self.env, self.cwd = list(argv), dict(env), cwd
        self.result_fd, self.ack, self.grace_s = result_fd, ack, grace_s
        self.restart_backoff_s, self.max_restart_backoff_s = restart_backoff_s, max_restart_backoff_s
        self.max_events, self.max_rss_bytes = max_events, max_rss_bytes
        self.max_answer_bytes, self.log_tail_bytes = max_answer_bytes, log_tail_bytes
        self.on_log_line, self.clock = on_log_line, clock
        self.name = repr(self.argv[0])
        self.state = "idle"
        self.reason: str | None = None  # why it is broken
        self.replaced_because: str | None = None  # why the last replacement happened
        self.starts = 0
        self._process: HotProcess | None = None
        self._delay_s = restart_backoff_s
        self._next_start_at = 0.0

    @property
    def pid(self) -> int | None:
        """The running program's pid, or None."""
        return self._process.pid if self._process is not None else None

    def spawn(self) -> None:
        """Start a program now; raise SpawnError when it cannot start."""
        self.state = "idle"
        self._process = HotProcess(self.argv, self.env, cwd=self.cwd, result_fd=self.result_fd,
                                   tail_bytes=self.log_tail_bytes, on_log_line=self.on_log_line)
        self.state, self.reason = "ready", None
        self.starts += 1

    def await_ack(self, timeout_s: float) -> None:
        """With `ack`: wait for the program's {"ok": true} line; raise ProgramError (after stopping it) if none."""
        process = self._process
        if not self.ack or process is None:
            return
        outcome = process.read_answer(self.clock() + timeout_s, self.clock, memoryview(b""), cap=4096, truncate=False)
        problem = None
        if outcome.timed_out:
            problem = (f"Program {self.name} did not acknowledge its start ({{\"ok\": true}} on fd {self.result_fd}) "
                       f"within {timeout_s:g} s")
        elif outcome.answer is None:
            problem = f"Program {self.name} {_failure(outcome)} before acknowledging its start"
        elif not _is_ack(outcome.answer):
            problem = f"Program {self.name} acknowledged its start with {outcome.answer[:200]!r}, not {{\"ok\": true}}"
        if problem is not None:
            self._retire(process, problem, _BROKEN_GRACE_S)
            tail = process.log_tail().decode("utf-8", "replace").strip()
            raise ProgramError(f"{problem}: {tail}" if tail else problem, error_type="Function.ProgramExited")

    def prepare(self, timeout_s: float) -> None:
        """Before an event: make sure a program in step is running, replacing a broken or recycled one."""
        if self.state == "closed":
            raise ProgramError(f"Program {self.name} was stopped", error_type="Function.ProgramExited")
        process = self._process
        if self.state == "ready" and process is not None:
            stale = process.stale()
            if stale is None:
                return
            self.state, self.reason = "broken", f"out of step: {stale}"
        planned = (self.reason or "").startswith(_RECYCLED)
        if self.reason is not None:
            self.replaced_because = self.reason
            log = logger.info if planned else logger.warning
            log("Program %s (pid %s) is replaced: %s", self.name, self.pid, self.reason)
        if process is not None:
            self._process, self.state = None, "idle"
            self._stop(process, polite=planned)
        if planned:
            self._delay_s = self.restart_backoff_s
        else:  # starts after failures are spaced by a doubling delay, so a crash loop costs sleep, not CPU
            time.sleep(max(0.0, min(self._next_start_at - self.clock(), timeout_s)))
            self._delay_s = min(self._delay_s * 2, self.max_restart_backoff_s)
        self._next_start_at = self.clock() + self._delay_s
        self.spawn()
        self.await_ack(timeout_s)

    def exchange(self, line: bytes, *, timeout_s: float, tag: str | None = None, truncate: bool = False) -> HotOutcome:
        """Write one event line and read its answer line within timeout_s (`prepare` first)."""
        process = self._process
        assert process is not None and self.state == "ready", "prepare() comes first"
        started = self.clock()
        process.tag = tag  # kept after the answer: what it logs until the next event belongs to this one
        pending = process.write(memoryview(line))
        if pending is None:
            outcome = HotOutcome(out_of_step="it closed its stdin before the event was written")
        else:
            outcome = process.read_answer(started + timeout_s, self.clock, pending, cap=self.max_answer_bytes,
                                          truncate=truncate)
        if outcome.answer is not None and outcome.out_of_step is None:
            process.events += 1
            self._delay_s = self.restart_backoff_s  # it answered: healthy, so restarts start fast again
            self._check_recycle(process)
            return outcome  # its duration_s stays 0: only a failure's message needs one
        reason = outcome.out_of_step or _failure(outcome)
        self._retire(process, reason, self.grace_s if outcome.timed_out else _BROKEN_GRACE_S)
        return outcome.but(log_tail=process.log_tail(), duration_s=self.clock() - started)

    def terminate(self) -> None:
        """SIGTERM the program's group and refuse further events (the first half of `close`)."""
        process, self.state = self._process, "closed"
        if process is not None:
            kill_process_group(process.pid, signal.SIGTERM)
            kill_process_group(process.pid, signal.SIGCONT)  # a stopped program acts on SIGTERM once continued

    def close(self, grace_s: float) -> None:
        """Stop the program and its whole group for good (SIGTERM, grace_s, SIGKILL); safe to call again."""
        self.terminate()
        process = self._process
        if process is not None:
            stop_process_group(process.proc, grace_s)

    def _check_recycle(self, process: HotProcess) -> None:
        if process.exited():
            self.state, self.reason = "broken", f"it {describe_exit(process.status())} after answering"
        elif self.max_events is not None and process.events >= self.max_events:
            self.state, self.reason = "broken", f"{_RECYCLED} after {process.events} events (max_events)"
        elif self.max_rss_bytes is not None:
            rss = _rss_bytes(process.pid)
            if rss > self.max_rss_bytes:
                self.state = "broken"
                self.reason = f"{_RECYCLED}: RSS {rss >> 20} MiB is over the ceiling of {self.max_rss_bytes >> 20} MiB"

    def _retire(self, process: HotProcess, reason: str, grace_s: float) -> None:
        """Stop a program that failed an event now (so nothing it writes later is read); replace it later."""
        self.state, self.reason = "broken", reason
        if process.proc.returncode is None:  # else `close` stopped and reaped it already
            stop_process_group(process.proc, grace_s)

    def _stop(self, process: HotProcess, *, polite: bool) -> None:
        """Stop a program for good; a recycled one gets EOF on stdin first, to finish on its own."""
        if polite and not process.exited():
            process.pipes[0].close()
            wait_exited(process.pid, self.grace_s)
        if process.proc.returncode is None:  # not stopped and reaped yet (a reaped leader's pgid may be reused)
            stop_process_group(process.proc, _BROKEN_GRACE_S)
        process.close()


def _failure(outcome: HotOutcome) -> str:
    """What went wrong, in a few words, for logs and reasons."""
    if outcome.timed_out:
        return "gave no answer in time"
    if outcome.too_large:
        return "wrote an answer line over the cap"
    if outcome.out_of_step:
        return f"is out of step: {outcome.out_of_step}"
    return describe_exit(outcome.exit_code if outcome.signal is None else -outcome.signal)


def _is_ack(line: bytes) -> bool:
    try:
        document = json.loads(line)
    except (ValueError, RecursionError):  # the program's line, whatever it wrote
        return False
    return isinstance(document, dict) and document.get("ok") is True


def _rss_bytes(pid: int) -> int:
    """Resident set size of pid from /proc/PID/statm (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as file:
            return int(file.read().split()[1]) * _PAGE_BYTES
    except (OSError, IndexError, ValueError):
        return 0
