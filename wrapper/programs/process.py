"""The process supervisor: run one program to its end under a deadline, with bounded output.

The kill sequence, the contract callers rely on (its group mechanics live in wrapper/programs/groups.py, the
orphan sweep in wrapper/programs/reaper.py):

- Own group. The program starts in its own session, so its pid is also its process-group id (pgid) and every
  descendant that does not call setsid() itself is in that group.
- Timeout. When timeout_s runs out: SIGTERM to the whole group, up to grace_s for the program to exit, then
  SIGKILL to the group. The result says timed_out=True; exit_code/signal tell how it died.
- Exit. When the program (the direct child) exits, for any reason: SIGKILL to the group while the child is still
  an unreaped zombie (its pid, hence the pgid, cannot be recycled yet), so a lingering descendant holding stdout
  cannot keep the caller waiting. Then the child is reaped, group members that are our own children (we are
  PID 1 or a subreaper) are reaped too, the reaper sweeps orphans (`Reaper.sweep`: before the drain, so an
  escapee holding the pipes cannot hold the caller), and the pipes are drained to EOF for at most DRAIN_S.
- "No such process" (ESRCH) counts as success at every step.

A long-lived program (server mode) is not run here: it is stopped with `groups.stop_process_group`, and kept
from the sweep with `Reaper.protect`.

When run_process returns, even after a callback raised, every fd opened for the run is closed, the child is reaped
and every other group member has been sent SIGKILL; those that held the pipes have exited. Without a reaper that
adopts orphans, an orphan reparented to init may still be finishing its exit, or wait as a zombie until init
reaps it, and a process that left the group with setsid() is not reached at all.

Only failure to start raises (SpawnError); every outcome, a timeout included, is a ProcessResult. One thread
(the caller's) does all I/O: stdin, stdout and stderr are non-blocking pipes multiplexed with `selectors`, and
the child's exit is one more readable fd (a pidfd), so no thread is started and nothing polls.
"""

from __future__ import annotations

import io
import math
import os
import selectors
import signal
import time

from wrapper import TYPE_CHECKING
from wrapper.programs.groups import has_exited, kill_process_group, open_pidfd, reap_group, start_leader, wait_exited
from wrapper.programs.lines import keep_tail, split_lines
from wrapper.programs.reaper import Reaper
from wrapper.types import ProcessResult

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable

__all__ = ["DRAIN_S", "STDERR_LINE_BYTES", "ProcessRun", "run_process"]

DRAIN_S = 0.5  # after the child exits: how long an escaped holder of its pipes may keep them open
STDERR_LINE_BYTES = 8192  # longest stderr line passed on whole; a longer one arrives in pieces of this size
_READ_BYTES = 65536  # one default pipe buffer
_POLL_MAX_S = 0.05  # without a pidfd: longest sleep between exit checks
# poll(2): no extra fd to create and close per run, one syscall per wait (subprocess makes the same choice)
_Selector = getattr(selectors, "PollSelector", selectors.SelectSelector)


def run_process(
    argv: list[str],
    *,
    stdin: bytes | None,
    env: dict[str, str],
    cwd: str | None,
    timeout_s: float,
    grace_s: float,
    max_output_bytes: int,
    stderr_tail_bytes: int = 2048,
    on_stderr_line: Callable[[bytes], None] | None = None,
    on_stdout: Callable[[bytes], None] | None = None,
    reaper: Reaper | None = None,
) -> ProcessResult:
    """Run argv to its end under the kill sequence above and return what it did; raise SpawnError only.

    on_stderr_line gets each stderr line without its newline (at most STDERR_LINE_BYTES per call). on_stdout, when
    given, gets stdout as it is read (streaming) instead of it being collected: the result's stdout is then empty
    and max_output_bytes is the callback's to enforce. An exception either callback raises propagates after the
    group is killed and every fd closed (a callback that stops the program early raises). `reaper` registers the
    run (the handler passes its own, so shutdown can kill runs in flight and orphans are swept); without one the
    run is on its own.
    """
    return ProcessRun(
        argv, stdin=stdin, env=env, cwd=cwd, timeout_s=timeout_s, grace_s=grace_s, max_output_bytes=max_output_bytes,
        stderr_tail_bytes=stderr_tail_bytes, on_stderr_line=on_stderr_line, on_stdout=on_stdout,
        reaper=reaper,
    ).wait()


class ProcessRun:
    """One program from spawn to reaped, as a small state machine driven by one thread.

    running --timeout--> terminating (SIGTERM sent) --grace_s--> killing (SIGKILL sent)
    any of those --the child exits--> draining (reaped, group killed, orphans swept) --EOF or DRAIN_S--> done
    """

    RUNNING, TERMINATING, KILLING, DRAINING, DONE = "running", "terminating", "killing", "draining", "done"

    def __init__(
        self, argv: list[str], *, stdin: bytes | None, env: dict[str, str], cwd: str | None, timeout_s: float,
        grace_s: float, max_output_bytes: int, stderr_tail_bytes: int = 2048,
        on_stderr_line: Callable[[bytes], None] | None = None, on_stdout: Callable[[bytes], None] | None = None,
        reaper: Reaper | None = None,
        open_exit_fd: Callable[[int], int | None] = open_pidfd,  # a test passes one that finds no pidfd support
    ) -> None:
        """The arguments of run_process; `open_exit_fd` gives the fd that turns readable when a pid exits."""
        self.argv, self.stdin, self.env, self.cwd = argv, stdin, env, cwd
        self.timeout_s, self.grace_s = timeout_s, grace_s
        self.stderr_tail_bytes = stderr_tail_bytes
        self.on_stderr_line = on_stderr_line
        self.on_stdout = on_stdout
        self.reaper = reaper if reaper is not None else Reaper()
        self.open_exit_fd = open_exit_fd
        self.state = self.RUNNING
        self.timed_out = False
        self.duration_s = 0.0
        # one growing buffer, and getvalue() hands it over uncopied: chunks + join held the output twice at the end
        self._stdout = io.BytesIO()
        self._stdout_room = max_output_bytes
        self._stdout_truncated = False
        self._stderr_tail = bytearray()
        self._stderr_line = bytearray()
        self._pending: memoryview | None = None  # stdin not yet written
        self._signal_at = math.inf  # when the next escalation (SIGTERM, then SIGKILL) is due
        self._drain_until = 0.0
        self._poll_s = 0.001  # without an exit fd: the next sleep between exit checks, doubling

    def wait(self) -> ProcessResult:
        """Spawn the program, supervise it to the end, and return what it did."""
        self._started = time.monotonic()
        self._proc = proc = self.reaper.start_run(self._spawn)  # spawned and registered in one step
        self._selector = _Selector()
        self._exit_fd = self.open_exit_fd(proc.pid)
        try:
            self._register()
            while self.state != self.DONE:
                self._step()
            if self.on_stderr_line is not None and self._stderr_line:
                self.on_stderr_line(bytes(self._stderr_line))
        finally:
            self._close()
        code = proc.returncode
        return ProcessResult(
            exit_code=code if code >= 0 else None,
            signal=-code if code < 0 else None,
            timed_out=self.timed_out,
            stdout=self._stdout.getvalue(),
            stdout_truncated=self._stdout_truncated,
            stderr_tail=bytes(self._stderr_tail),
            duration_s=self.duration_s,
        )

    def _spawn(self) -> subprocess.Popen[bytes]:
        return start_leader(self.argv, stdin_pipe=self.stdin is not None, env=self.env, cwd=self.cwd)

    def _register(self) -> None:
        proc, selector = self._proc, self._selector
        assert proc.stdout is not None and proc.stderr is not None  # both are pipes
        self._out_fd, self._err_fd = proc.stdout.fileno(), proc.stderr.fileno()
        # non-blocking, so a partial write or a spurious wake-up can never stall the one thread doing all I/O
        for fd in (self._out_fd, self._err_fd):
            os.set_blocking(fd, False)
            selector.register(fd, selectors.EVENT_READ)
        if self._exit_fd is not None:
            selector.register(self._exit_fd, selectors.EVENT_READ)
        if self.stdin is not None and proc.stdin is not None:
            in_fd = proc.stdin.fileno()
            os.set_blocking(in_fd, False)
            self._pending = _write_some(in_fd, memoryview(self.stdin))  # small inputs fit the pipe: no wait
            if self._pending is None:
                proc.stdin.close()
            else:
                selector.register(in_fd, selectors.EVENT_WRITE)
        self._signal_at = self._started + self.timeout_s

    def _step(self) -> None:
        """Wait for the next thing that can happen (a deadline, output, the exit) and act on it."""
        now = time.monotonic()
        if self.state == self.DRAINING:
            if not self._selector.get_map() or now >= self._drain_until:
                self.state = self.DONE
                return
            wait_s = self._drain_until - now
        else:
            if now >= self._signal_at:
                self._escalate(now)
                return
            wait_s = self._signal_at - now
            if self._exit_fd is None:  # no exit fd to wait on: check, then sleep a little longer each time
                wait_s, self._poll_s = min(wait_s, self._poll_s), min(self._poll_s * 2, _POLL_MAX_S)
        exited = self._exit_fd is None and self.state != self.DRAINING and has_exited(self._proc.pid)
        if not exited:
            exited = self._serve(None if wait_s == math.inf else wait_s)
        if exited and self.state != self.DRAINING:
            self._on_exit()

    def _escalate(self, now: float) -> None:
        """The deadline passed: SIGTERM the group, or after grace_s, SIGKILL it."""
        self.timed_out = True
        if self.state == self.RUNNING:
            kill_process_group(self._proc.pid, signal.SIGTERM)
            self.state, self._signal_at = self.TERMINATING, now + self.grace_s
        else:
            kill_process_group(self._proc.pid, signal.SIGKILL)
            self.state, self._signal_at = self.KILLING, math.inf  # SIGKILL cannot be ignored: only the exit is left

    def _serve(self, wait_s: float | None) -> bool:
        """Move the bytes that are ready; say whether the exit fd turned readable."""
        exited = False
        for key, _ in self._selector.select(wait_s):
            fd = key.fd
            if fd == self._exit_fd:
                exited = True
            elif fd in (self._out_fd, self._err_fd):
                self._read(fd)
            elif self._pending is not None:
                self._pending = _write_some(fd, self._pending)
                if self._pending is None:
                    self._selector.unregister(fd)
                    assert self._proc.stdin is not None
                    self._proc.stdin.close()
        return exited

    def _read(self, fd: int) -> None:
        try:
            data = os.read(fd, _READ_BYTES)
        except BlockingIOError:
            return
        except OSError:
            data = b""  # a read error ends the stream like EOF
        if not data:
            self._selector.unregister(fd)
        if fd == self._out_fd and self.on_stdout is not None:
            if data:
                self.on_stdout(data)  # may block: a streamed answer's backpressure reaches the program
        elif fd == self._out_fd:
            if len(data) > self._stdout_room:
                self._stdout_truncated = True  # keep reading and discarding, so the program never blocks
                data = data[: self._stdout_room]
            if data:
                self._stdout.write(data)
                self._stdout_room -= len(data)
        else:
            keep_tail(self._stderr_tail, data, self.stderr_tail_bytes)
            if self.on_stderr_line is not None:
                split_lines(self._stderr_line, data, self.on_stderr_line, STDERR_LINE_BYTES)

    def _on_exit(self) -> None:
        """The child exited: kill what is left of its group, reap, sweep, then drain the pipes for a while."""
        pgid = self._proc.pid
        kill_process_group(pgid, signal.SIGKILL)  # the zombie still holds the pgid: no recycled group is reached
        self.reaper.finish_run(self._proc)
        self.duration_s = time.monotonic() - self._started
        self.state = self.DRAINING
        reap_group(pgid)
        self.reaper.sweep()  # before the drain: an escapee holding the pipes must not hold the caller
        self._drain_until = time.monotonic() + DRAIN_S
        if self._exit_fd is not None:
            self._selector.unregister(self._exit_fd)
        if self._pending is not None:
            assert self._proc.stdin is not None
            self._selector.unregister(self._proc.stdin.fileno())  # nobody is left to read it
            self._pending = None

    def _close(self) -> None:
        """Leave nothing behind, even when a callback raised (or KeyboardInterrupt) before the child was reaped."""
        proc = self._proc
        if self.state not in (self.DRAINING, self.DONE):
            kill_process_group(proc.pid, signal.SIGKILL)
            wait_exited(proc.pid, None)
            self.reaper.finish_run(proc)
            reap_group(proc.pid)
            self.reaper.sweep()
        self._selector.close()
        if self._exit_fd is not None:
            os.close(self._exit_fd)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def _write_some(fd: int, pending: memoryview) -> memoryview | None:
    """Write what the pipe takes now; return the rest, or None when done or the reader is gone."""
    try:
        written = os.write(fd, pending)
    except BlockingIOError:
        return pending
    except BrokenPipeError:
        return None  # the program exited or closed stdin without reading it all: fine
    return pending[written:] if written < len(pending) else None
