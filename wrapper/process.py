"""The process supervisor: run one program to its end under a deadline, with bounded output.

The kill sequence (the contract callers rely on):

1. The program starts in its own session, so its pid is also its process-group id (pgid) and every descendant
   that does not call setsid() itself is in that group.
2. When timeout_s runs out: SIGTERM to the whole group, up to grace_s for the program to exit, then SIGKILL to
   the group. The result says timed_out=True; exit_code/signal tell how it died.
3. When the program (the direct child) exits, for any reason: SIGKILL to the group while the child is still an
   unreaped zombie (its pid, hence the pgid, cannot be recycled yet), so a lingering descendant holding stdout
   cannot keep the caller waiting. Then the child is reaped, group members that are our own children (we are
   PID 1 or a subreaper) are reaped too, and the pipes are drained to EOF for at most DRAIN_S.
4. "No such process" (ESRCH) counts as success at every step.
5. After enable_subreaper() (the runtime calls it at init; Linux only), orphaned descendants are reparented to
   this process instead of init, so a grandchild that called setsid() (left the group) is still ours to find.
   Right after the child is reaped (before the drain, so an escapee holding the pipes cannot hold the caller)
   the orphan sweep SIGKILLs, with its group when it leads one, and reaps every child of this process that
   (a) is not the leader of, nor in, a group still running in `_running` or protect()ed as long-lived, and
   (b) started before the oldest group still running: a younger one may belong to a program still running in
   another thread, and is left for a later sweep (the last run to end sweeps everything). Zombie children that
   lead no such group are reaped. Spawn-and-register and the sweep's look-and-kill hold one lock, so a sweep
   never sees a program started but not yet registered. A long-lived program (server mode) started with
   subprocess instead must be protect()ed right after it starts, and unprotect()ed once killed and reaped.

On return, even when a callback raised, every fd opened for the run is closed, the child is reaped and every
other group member has been sent SIGKILL; those that held the pipes have exited. Without the subreaper, an
orphan reparented to init may still be finishing its exit, or wait as a zombie until init reaps it, and a
process that left the group with setsid() is not reached at all.

Only failure to start raises (SpawnError); every outcome, a timeout included, is a ProcessResult. One thread
(the caller's) does all I/O: stdin, stdout and stderr are non-blocking pipes multiplexed with `selectors`, and
the child's exit is one more readable fd (a pidfd), so no thread is started and nothing polls.
"""

from __future__ import annotations

import ctypes
import math
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from wrapper.errors import SpawnError
from wrapper.types import ProcessResult

__all__ = [
    "DRAIN_S", "STDERR_LINE_BYTES", "disable_subreaper", "enable_subreaper", "kill_process_group",
    "kill_running_groups", "protect", "run_process", "stop_process_group", "unprotect",
]

DRAIN_S = 0.5  # after the child exits: how long an escaped holder of its pipes may keep them open
STDERR_LINE_BYTES = 8192  # longest stderr line passed on whole; a longer one arrives in pieces of this size
_READ_BYTES = 65536  # one default pipe buffer
# Groups of programs now running → their start time (clock ticks since boot, as /proc/PID/stat has it; 0 when
# not read), for shutdown (loops in other threads cannot be unwound, their programs can be killed) and for the
# orphan sweep. Single dict operations are atomic under the GIL.
_running: dict[int, int] = {}
_long_lived: set[int] = set()  # protect()ed groups: server mode's program
_lock = threading.Lock()  # held to spawn and register a run, to wait and forget it, and by the sweep to look and kill
_adopting = False  # enable_subreaper() worked: orphans come to us, and run_process sweeps them
_PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h
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
) -> ProcessResult:
    """Run argv to its end under the kill sequence above and return what it did; raise SpawnError only.

    on_stderr_line gets each stderr line without its newline (at most STDERR_LINE_BYTES per call); an exception
    it raises propagates after the group is killed and every fd closed.
    """
    started = time.monotonic()
    with _lock:  # a sweep must never see the program between its start and its registration
        proc = _spawn(argv, stdin=stdin, env=env, cwd=cwd)
        pgid = proc.pid
        _running[pgid] = _start_ticks(pgid) if _adopting else 0
    stdout_chunks: list[bytes] = []
    stdout_room = max_output_bytes
    stdout_truncated = False
    stderr_tail = bytearray()
    stderr_line = bytearray()
    timed_out = False
    reaped = False
    sel = _Selector()
    pidfd = _open_pidfd(pgid)
    try:
        out_fd = proc.stdout.fileno()
        err_fd = proc.stderr.fileno()
        # non-blocking, so a partial write or a spurious wake-up can never stall the one thread doing all I/O
        os.set_blocking(out_fd, False)
        os.set_blocking(err_fd, False)
        sel.register(out_fd, selectors.EVENT_READ)
        sel.register(err_fd, selectors.EVENT_READ)
        if pidfd is not None:
            sel.register(pidfd, selectors.EVENT_READ)
        pending = memoryview(stdin) if stdin is not None else None
        if pending is not None:
            in_fd = proc.stdin.fileno()
            os.set_blocking(in_fd, False)
            pending = _write_some(in_fd, pending)  # small inputs fit the pipe: no wait needed
            if pending is None:
                proc.stdin.close()
            else:
                sel.register(in_fd, selectors.EVENT_WRITE)

        next_signal_at = started + timeout_s
        next_signal = signal.SIGTERM
        drain_until = 0.0
        poll_s = 0.001
        while True:
            now = time.monotonic()
            if reaped:
                if not sel.get_map() or now >= drain_until:
                    break
                wait_s = drain_until - now
            else:
                if now >= next_signal_at:
                    timed_out = True
                    kill_process_group(pgid, next_signal)
                    if next_signal == signal.SIGTERM:
                        next_signal, next_signal_at = signal.SIGKILL, now + grace_s
                    else:
                        next_signal_at = math.inf  # SIGKILL cannot be ignored; only the exit is left to wait for
                    continue
                wait_s = next_signal_at - now
                if pidfd is None:  # no exit fd to wait on: check, then sleep a little longer each time
                    wait_s, poll_s = min(wait_s, poll_s), min(poll_s * 2, _POLL_MAX_S)
            exited = pidfd is None and not reaped and _has_exited(pgid)
            for key, _ in () if exited else sel.select(None if wait_s == math.inf else wait_s):
                fd = key.fd
                if fd == pidfd:
                    exited = True
                elif fd == out_fd or fd == err_fd:
                    try:
                        data = os.read(fd, _READ_BYTES)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""  # a read error ends the stream like EOF
                    if not data:
                        sel.unregister(fd)
                    if fd == out_fd:
                        if len(data) > stdout_room:
                            stdout_truncated = True  # keep reading and discarding, so the program never blocks
                            data = data[:stdout_room]
                        if data:
                            stdout_chunks.append(data)
                            stdout_room -= len(data)
                    else:
                        _keep_tail(stderr_tail, data, stderr_tail_bytes)
                        if on_stderr_line is not None:
                            _split_lines(stderr_line, data, on_stderr_line)
                else:
                    pending = _write_some(fd, pending)
                    if pending is None:
                        sel.unregister(fd)
                        proc.stdin.close()
            if exited and not reaped:
                # the zombie still holds the pgid, so this cannot reach a recycled group
                kill_process_group(pgid, signal.SIGKILL)
                _release(proc)
                duration_s = time.monotonic() - started
                reaped = True
                _reap_group(pgid)
                _sweep_orphans()  # before the drain: an escapee holding the pipes must not hold the caller
                drain_until = time.monotonic() + DRAIN_S
                if pidfd is not None:
                    sel.unregister(pidfd)
                if pending is not None:
                    sel.unregister(proc.stdin.fileno())  # nobody is left to read it
                    pending = None
        if on_stderr_line is not None and stderr_line:
            on_stderr_line(bytes(stderr_line))
    finally:
        if not reaped:  # a callback raised (or KeyboardInterrupt): leave nothing behind
            kill_process_group(pgid, signal.SIGKILL)
            _wait_exited(pgid, None)
            _release(proc)
            _reap_group(pgid)
            _sweep_orphans()
        sel.close()
        if pidfd is not None:
            os.close(pidfd)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()

    code = proc.returncode
    return ProcessResult(
        exit_code=code if code >= 0 else None,
        signal=-code if code < 0 else None,
        timed_out=timed_out,
        stdout=b"".join(stdout_chunks),
        stdout_truncated=stdout_truncated,
        stderr_tail=bytes(stderr_tail),
        duration_s=duration_s,
    )


def kill_running_groups() -> int:
    """SIGKILL every program group run_process has started and not yet finished (shutdown); return how many."""
    groups = list(_running)  # a copy: other threads' runs add and discard while we iterate
    return sum(kill_process_group(pgid) for pgid in groups)


def enable_subreaper() -> bool:
    """Adopt orphaned descendants (Linux), so run_process can kill the ones that left their group; say if it worked.

    Call once at runtime init, not from a library: every child of this process that nobody registered (a run in
    flight, or protect()) is then fair game for the sweep.
    """
    global _adopting
    _adopting = _adopting or _set_subreaper(1)
    return _adopting


def disable_subreaper() -> None:
    """Undo enable_subreaper(): orphans go to init again and run_process sweeps nothing (for tests)."""
    global _adopting
    _adopting = False
    _set_subreaper(0)


def protect(pgid: int) -> None:
    """Keep the orphan sweep away from group pgid (a long-lived program started in its own group, pid == pgid)."""
    _long_lived.add(pgid)


def unprotect(pgid: int) -> None:
    """Forget a protect()ed group; call after the group got SIGKILL and its leader was reaped (reaps the rest)."""
    _long_lived.discard(pgid)
    _reap_group(pgid)


def stop_process_group(proc: subprocess.Popen, grace_s: float) -> None:
    """Stop proc and its whole group: SIGTERM, up to grace_s to exit, SIGKILL, then reap (call before reaping it)."""
    pgid = proc.pid
    if proc.returncode is None:
        kill_process_group(pgid, signal.SIGTERM)
        _wait_exited(pgid, grace_s)
    kill_process_group(pgid, signal.SIGKILL)  # while proc is a zombie, so the pgid is still ours
    proc.wait()
    _reap_group(pgid)


def kill_process_group(pgid: int, sig: int = signal.SIGKILL) -> bool:
    """Send sig to every process in group pgid; return False when no such group exists (which is fine)."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):  # gone, or recycled by someone else: either way not ours
        return False
    return True


def _spawn(argv: list[str], *, stdin: bytes | None, env: dict[str, str], cwd: str | None) -> subprocess.Popen:
    """Start argv in its own session with the given env only; turn any failure into SpawnError."""
    if not argv:
        raise SpawnError("No program to start: the command is empty")
    try:
        return subprocess.Popen(
            argv,
            bufsize=0,  # raw pipes: we read and write the fds ourselves
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            close_fds=True,
            start_new_session=True,  # own session, so killpg reaches grandchildren
        )
    except (OSError, ValueError) as exc:
        raise SpawnError(f"Program {argv[0]!r} could not be started: {_reason(exc, cwd)}") from exc


def _reason(exc: OSError | ValueError, cwd: str | None) -> str:
    """Say in a few words why Popen failed."""
    if not isinstance(exc, OSError):
        return str(exc)  # e.g. "embedded null byte"
    if cwd and exc.filename == cwd:
        return f"working directory {cwd!r}: {(exc.strerror or str(exc)).lower()}"
    if isinstance(exc, FileNotFoundError):
        return "not found"
    if isinstance(exc, PermissionError):
        return "permission denied (not executable?)"
    return (exc.strerror or str(exc)).lower()


def _open_pidfd(pid: int) -> int | None:
    """Return a pidfd that turns readable when pid exits, or None where the kernel has none (Linux < 5.3)."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _has_exited(pid: int) -> bool:
    """Say whether our child pid has exited, without reaping it (so its pgid stays reserved)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _wait_exited(pid: int, timeout_s: float | None) -> None:
    """Wait up to timeout_s (None: for as long as it takes) for our child pid to exit, without reaping it."""
    if timeout_s is None:
        try:
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            pass
        return
    pidfd = _open_pidfd(pid)
    if pidfd is not None:
        with _Selector() as sel:
            sel.register(pidfd, selectors.EVENT_READ)
            sel.select(timeout_s)
        os.close(pidfd)
        return
    deadline = time.monotonic() + timeout_s
    while not _has_exited(pid) and time.monotonic() < deadline:
        time.sleep(0.01)


def _release(proc: subprocess.Popen) -> None:
    """Reap our exited child and forget its run in one step: no new run can register its pid in between."""
    with _lock:
        proc.wait()
        _running.pop(proc.pid, None)


def _sweep_orphans() -> None:
    """Kill and reap the children nobody owns, as item 5 of the contract says; a no-op without the subreaper."""
    while _adopting:
        killed: list[tuple[int, bool]] = []  # (pid, whether its group was killed with it)
        zombies: list[tuple[int, bool]] = []  # never its group: members still alive are judged on their own
        with _lock:
            owners = _long_lived | _running.keys()
            oldest = min(_running.values(), default=math.inf)  # a long-lived group would stop the sweep for good
            for pid in _children():
                stat = _read_stat(pid)
                if stat is None or pid in owners:
                    continue  # gone meanwhile, or a leader its owner will reap
                state, pgrp, start = stat
                if state in ("Z", "X"):
                    zombies.append((pid, False))
                elif pgrp not in owners and start < oldest:
                    # ours and unreaped, so neither the pid nor the group it leads can be recycled yet
                    if pgrp == pid:
                        kill_process_group(pid)
                    else:
                        _kill_pid(pid)
                    killed.append((pid, pgrp == pid))
        for pid, leader in zombies + killed:
            try:
                os.waitpid(pid, 0)  # outside the lock: a dying process may take a moment
            except ChildProcessError:
                pass  # another sweep got it first
            if leader:
                _reap_group(pid)  # the members it had, killed with it, that are now ours
        if not killed:
            return  # else their own orphans have come to us meanwhile: look again


def _children() -> list[int]:
    """Pids of this process's children, live or zombie (an orphan may be adopted by any of our threads)."""
    found: list[int] = []
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/children", "rb") as f:
                found += map(int, f.read().split())
        except FileNotFoundError:
            if int(tid) == threading.get_native_id():  # our own thread has none: no CONFIG_PROC_CHILDREN
                me = os.getpid()
                return [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc"))) if _parent(pid) == me]
            # else that thread ended meanwhile
    return found


def _stat_fields(pid: int) -> list[bytes] | None:
    """Fields 3 onwards (state, ppid, pgrp, ...) of /proc/PID/stat, or None when pid is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(b")") + 2 :].split()  # after the comm, which may hold spaces and parentheses


def _read_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, pgid, start time in clock ticks since boot) of pid, or None when it is gone."""
    fields = _stat_fields(pid)
    return None if fields is None else (fields[0].decode(), int(fields[2]), int(fields[19]))


def _parent(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[1])


def _start_ticks(pid: int) -> int:
    """When pid started (clock ticks since boot); 0, which makes the sweep spare everything, when unreadable."""
    stat = _read_stat(pid)
    return stat[2] if stat is not None else 0


def _kill_pid(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _set_subreaper(value: int) -> bool:
    """prctl(PR_SET_CHILD_SUBREAPER, value) through libc; False where there is no such thing."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _reap_group(pgid: int) -> None:
    """Reap killed group members that are our children (we are PID 1 or a subreaper); ECHILD is the usual answer."""
    try:
        while os.waitpid(-pgid, 0):
            pass
    except ChildProcessError:
        pass


def _write_some(fd: int, pending: memoryview) -> memoryview | None:
    """Write what the pipe takes now; return the rest, or None when done or the reader is gone."""
    try:
        written = os.write(fd, pending)
    except BlockingIOError:
        return pending
    except BrokenPipeError:
        return None  # the program exited or closed stdin without reading it all: fine
    return pending[written:] if written < len(pending) else None


def _keep_tail(tail: bytearray, data: bytes, limit: int) -> None:
    """Append data to tail, keeping only its last limit bytes."""
    tail += data
    if len(tail) > limit:
        del tail[: len(tail) - limit]


def _split_lines(partial: bytearray, data: bytes, on_line: Callable[[bytes], None]) -> None:
    """Pass each complete line (or STDERR_LINE_BYTES piece of a longer one) to on_line; keep the rest in partial."""
    partial += data
    start = 0
    while True:
        newline = partial.find(b"\n", start, start + STDERR_LINE_BYTES + 1)
        if newline >= 0:
            on_line(bytes(partial[start:newline]))
            start = newline + 1
        elif len(partial) - start > STDERR_LINE_BYTES:
            on_line(bytes(partial[start : start + STDERR_LINE_BYTES]))
            start += STDERR_LINE_BYTES
        else:
            break
    del partial[:start]
