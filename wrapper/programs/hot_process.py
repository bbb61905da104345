"""One started hot-mode program: its descriptors, one event line written, one answer line read, its logs.

All I/O happens on the caller's thread, multiplexed with poll(2) like exec mode's run_process: the event line
(non-blocking, so a program that stops reading cannot stall us), the answer descriptor, the log pipes (stderr,
and stdout with actionloop framing) and a pidfd for its exit. Log lines read during an event carry that event's
tag; what the program logs between events is read at the start of the next one, tagged with the one before. No
reader thread runs, so there is nothing to outlive the program and no log line tagged late. Knows nothing of
Lambda: wrapper.programs.hot decides when a program is replaced, wrapper.runtime.hot_mode what an outcome means.
"""

from __future__ import annotations

import fcntl
import functools
import os
import select
import signal
import subprocess
from collections.abc import Callable

from wrapper.errors import SpawnError
from wrapper.programs.groups import has_exited, open_pidfd, wait_exited
from wrapper.programs.lines import MAX_LINE_BYTES, keep_tail, split_lines
from wrapper.types import Frozen

__all__ = ["HotOutcome", "HotProcess"]

_READ_BYTES = 65536
_EXIT_WAIT_S = 1.0  # after EOF on the answer descriptor: how long to wait for the exit that usually follows


class HotOutcome(Frozen):
    """What one event's exchange came to; wrapper.runtime.hot_mode's policy decides answer or error.

    answer: the answer line without its newline, or None. truncated: it was cut at the cap (`truncate`).
    too_large: the line passed the cap. timed_out: no answer in time. exit_code / signal: how the program ended
    before answering. out_of_step: why it is out of step. partial: an unterminated line it left.
    log_tail: the end of its log output, for messages. duration_s: a failure's time from the line's first byte.
    """

    __slots__ = (  # noqa: RUF023
        "answer", "truncated", "too_large", "timed_out", "exit_code", "signal", "out_of_step", "partial",
        "log_tail", "duration_s",
    )
    answer: bytes | None
    truncated: bool
    too_large: bool
    timed_out: bool
    exit_code: int | None
    signal: int | None
    out_of_step: str | None
    partial: bytes
    log_tail: bytes
    duration_s: float

    def __init__(self, answer: bytes | None = None, truncated: bool = False, too_large: bool = False,
                 timed_out: bool = False, exit_code: int | None = None, signal: int | None = None,
                 out_of_step: str | None = None, partial: bytes = b"", log_tail: bytes = b"",
                 duration_s: float = 0.0) -> None:
        self._store(locals())

    def but(self, **changes: object) -> HotOutcome:
        """A copy with some fields replaced."""
        return HotOutcome(**{**{name: getattr(self, name) for name in self.__slots__}, **changes})


class HotProcess:
    """A started program: stdin for event lines, an answer descriptor, log pipes, a pidfd."""

    def __init__(self, argv: list[str], env: dict[str, str], *, cwd: str | None, result_fd: int | None,
                 tail_bytes: int, on_log_line: Callable[[bytes, str | None], None]) -> None:
        """Start argv in its own session (so killpg reaches all it starts); SpawnError when it cannot start."""
        answer_r = result_w = None
        extra: dict = {"close_fds": True}
        if result_fd is not None:
            answer_r, pipe_w = os.pipe()
            # a number above result_fd, so dup2 gives the child a distinct, inheritable copy at exactly result_fd
            result_w = fcntl.fcntl(pipe_w, fcntl.F_DUPFD_CLOEXEC, max(10, result_fd + 1))
            os.close(pipe_w)
            # subprocess can put a pipe at no number but 0-2, so the child's copy is made in preexec_fn: a C call
            # (dup2 is async-signal-safe), no Python code between fork and exec, which is what makes preexec_fn
            # unsafe with threads. close_fds would close result_fd after it; Python's own fds are non-inheritable.
            extra = {"close_fds": False, "preexec_fn": functools.partial(os.dup2, result_w, result_fd)}
        try:
            self.proc = subprocess.Popen(
                argv, bufsize=0, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=env, cwd=cwd, start_new_session=True, **extra,
            )
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            if answer_r is not None:
                os.close(answer_r)
            raise SpawnError(f"Program {argv[0]!r} could not be started: {exc}") from None
        finally:
            if result_w is not None:
                os.close(result_w)
        stdin, stdout, stderr = self.proc.stdin, self.proc.stdout, self.proc.stderr
        assert stdin is not None and stdout is not None and stderr is not None, "all three are pipes"
        self.pipes = (stdin, stdout, stderr)
        self.pid = self.proc.pid
        self.in_fd = stdin.fileno()
        self.answer_fd = stdout.fileno() if answer_r is None else answer_r
        self.log_fds = [stderr.fileno()] if answer_r is None else [stdout.fileno(), stderr.fileno()]
        self.pidfd = open_pidfd(self.pid)
        self.events = 0  # answered so far
        self.stdin_closed = False
        self.tag: str | None = None  # the event its log lines belong to
        self._on_log_line = on_log_line
        self._partial = {fd: bytearray() for fd in self.log_fds}
        self._tail, self._tail_bytes = bytearray(), tail_bytes
        self._poll = select.poll()
        for fd in (self.in_fd, self.answer_fd, *self.log_fds):
            os.set_blocking(fd, False)
        self._poll.register(self.answer_fd, select.POLLIN)
        self._poll.register(self.in_fd, 0)  # nothing asked: poll still says POLLERR once stdin's reader is gone
        for watched in [self.pidfd, *self.log_fds]:
            if watched is not None:
                self._poll.register(watched, select.POLLIN)

    def exited(self) -> bool:
        """Whether it has exited, without reaping it (so its pgid stays reserved for the group kill)."""
        return has_exited(self.pid)

    def status(self) -> int | None:
        """Its exit status as Popen has it (negative: the signal), without reaping it; None while running."""
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return self.proc.returncode
        if info is None:
            return None
        return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status

    def log_tail(self) -> bytes:
        """The last log bytes, once what is in the pipes now has been read."""
        self.read_logs()
        return bytes(self._tail)

    def close(self) -> None:
        """Close our descriptors (after the group was stopped and reaped); unwritten log lines are passed on."""
        self.read_logs()
        for partial in self._partial.values():
            if partial:
                self._on_log_line(bytes(partial), self.tag)
        if self.pidfd is not None:
            os.close(self.pidfd)
        if self.answer_fd != self.pipes[1].fileno():
            os.close(self.answer_fd)
        for pipe in self.pipes:
            pipe.close()

    # between events

    def stale(self) -> str | None:
        """Why the program is out of step before an event starts (reading its logs meanwhile), or None."""
        if self.stdin_closed:
            return "it closed its stdin"
        for fd, _ in self._poll.poll(0):
            if fd in self._partial:
                self._read_log(fd)
            elif fd == self.in_fd:
                self.stdin_closed = True
                return "it closed its stdin"
            elif fd == self.pidfd:
                return f"it {describe_exit(self.status())} between events"
            else:
                data = self._read(self.answer_fd, 200)
                if data:
                    return f"it wrote output between events (a late or extra answer): {data!r}"
                if data is not None:
                    return "it closed its answer descriptor between events"
        if self.pidfd is None and self.exited():
            return f"it {describe_exit(self.status())} between events"
        return None

    def read_logs(self) -> None:
        """Read whatever the log pipes hold now (no wait)."""
        for fd in self.log_fds:
            while self._read_log(fd):
                pass

    # one event

    def write(self, data: memoryview) -> memoryview | None:
        """Write what stdin takes now; the rest (maybe empty), or None when the program closed its stdin."""
        try:
            written = os.write(self.in_fd, data)
        except BlockingIOError:
            return data
        except BrokenPipeError:
            self.stdin_closed = True
            return None
        return data[written:]

    def read_answer(self, deadline_s: float, clock: Callable[[], float], pending: memoryview | None, *,
                    cap: int, truncate: bool) -> HotOutcome:
        """Wait until `deadline_s` for one whole line on the answer descriptor, writing `pending` as stdin takes it."""
        buf, truncated = bytearray(), False
        closed = "it closed its stdin before the whole event was written"
        if pending:
            self._poll.modify(self.in_fd, select.POLLOUT)
        try:
            while True:
                wait_ms = (deadline_s - clock()) * 1000
                if wait_ms <= 0:
                    return HotOutcome(timed_out=True, partial=bytes(buf))
                for fd, events in self._poll.poll(wait_ms + 1):
                    if fd in self._partial:
                        self._read_log(fd)
                    elif fd == self.in_fd:
                        if events & select.POLLOUT and pending:
                            pending = self.write(pending)
                        else:  # its reader is gone: stop watching (poll would report it every time)
                            self.stdin_closed = True
                        if self.stdin_closed:
                            self._poll.unregister(self.in_fd)
                            if pending or pending is None:
                                return HotOutcome(out_of_step=closed)
                        elif not pending:
                            self._poll.modify(self.in_fd, 0)
                    elif fd == self.pidfd:
                        return self._ended(buf, cap, 0)
                    else:
                        data = self._read(self.answer_fd, _READ_BYTES)
                        if not data:
                            if data is None:
                                continue
                            return self._ended(buf, cap, min(_EXIT_WAIT_S, max(0.0, deadline_s - clock())))
                        newline = data.find(b"\n")
                        part = data if newline < 0 else data[:newline]
                        if len(buf) + len(part) > cap:
                            if not truncate:
                                return HotOutcome(too_large=True)
                            truncated, part = True, part[: max(0, cap - len(buf))]
                        buf += part
                        if newline < 0:
                            continue
                        self.read_logs()  # what it logged before answering belongs to this event
                        if data[newline + 1 :]:
                            return HotOutcome(out_of_step="it wrote more than one line for one event")
                        if pending:
                            return HotOutcome(out_of_step="it answered before reading the whole event")
                        return HotOutcome(answer=bytes(buf), truncated=truncated)
        finally:
            if pending and not self.stdin_closed:
                self._poll.modify(self.in_fd, 0)

    def _ended(self, buf: bytearray, cap: int, wait_s: float) -> HotOutcome:
        """It exited, or closed its answer descriptor, before a whole line: what it left and how it ended."""
        room = cap + 1 - len(buf)  # bounded: a grandchild may go on writing into the pipe
        while room > 0 and (data := self._read(self.answer_fd, min(room, _READ_BYTES))):
            buf += data  # what it wrote before it exited: in the pipe already, so no wait for EOF
            room -= len(data)
        if buf.count(b"\n") == 1 and buf.endswith(b"\n") and len(buf) <= cap + 1:
            return HotOutcome(answer=bytes(buf[:-1]))  # a whole line, then it exited: the answer stands
        if wait_s and not self.exited():
            wait_exited(self.pid, wait_s)  # a dying program's pipes close a moment before it can be waited for
        code = self.status()
        if code is None:
            return HotOutcome(out_of_step="it closed its answer descriptor", partial=bytes(buf))
        return HotOutcome(exit_code=code if code >= 0 else None, signal=-code if code < 0 else None,
                          partial=bytes(buf))

    def _read(self, fd: int, size: int) -> bytes | None:
        """Up to size bytes; b"" at EOF (or a read error), None when there is nothing yet."""
        try:
            return os.read(fd, size)
        except BlockingIOError:
            return None
        except OSError:
            return b""

    def _read_log(self, fd: int) -> bool:
        """Read one chunk of a log pipe and pass on its whole lines; False when there was nothing (or EOF)."""
        data = self._read(fd, _READ_BYTES)
        if not data:
            if data is not None and fd in self._partial:
                self._poll.unregister(fd)
                self.log_fds = [f for f in self.log_fds if f != fd]
            return False
        keep_tail(self._tail, data, self._tail_bytes)
        split_lines(self._partial[fd], data, lambda line: self._on_log_line(line, self.tag), MAX_LINE_BYTES)
        return True


def describe_exit(returncode: int | None) -> str:
    """'exited with status N', 'was killed by signal SIGX' (or 'is still running')."""
    if returncode is None:
        return "is still running"
    if returncode >= 0:
        return f"exited with status {returncode}"
    try:
        return f"was killed by signal {signal.Signals(-returncode).name}"
    except ValueError:
        return f"was killed by signal {-returncode}"
