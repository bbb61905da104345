"""The process supervisor: run one program to its end under a deadline, with bounded output.

The kill sequence (the contract callers rely on; documented here only, though its group mechanics live in
wrapper/programs/groups.py and the orphan sweep in wrapper/programs/reaper.py):

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
6. A long-lived program (server mode, started with subprocess and protect()ed) is stopped with
   stop_process_group(proc, grace_s, gone_s=...): SIGTERM, then SIGCONT, to the group (a SIGSTOPped program
   acts on SIGTERM only once continued), up to grace_s for the leader to exit, then SIGKILL to the group, always:
   descendants may outlive the leader and hold its port (sent while the leader is an unreaped zombie, unless the
   caller reaped it already). The leader and the members that are our children are reaped, then up to gone_s
   passes for the rest of the group to be gone, so a restart finds the port free. Then unprotect() it.

When run_process returns, even after a callback raised, every fd opened for the run is closed, the child is reaped
and every other group member has been sent SIGKILL; those that held the pipes have exited. Without the subreaper, an
orphan reparented to init may still be finishing its exit, or wait as a zombie until init reaps it, and a
process that left the group with setsid() is not reached at all.

Only failure to start raises (SpawnError); every outcome, a timeout included, is a ProcessResult. One thread
(the caller's) does all I/O: stdin, stdout and stderr are non-blocking pipes multiplexed with `selectors`, and
the child's exit is one more readable fd (a pidfd), so no thread is started and nothing polls.
"""

from __future__ import annotations

import math
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable

from wrapper.errors import SpawnError
from wrapper.programs.groups import has_exited, kill_process_group, reap_group, stop_process_group, wait_exited
from wrapper.programs.groups import open_pidfd as _open_pidfd  # a name of this module, so tests can take pidfds away
from wrapper.programs.reaper import (
    _long_lived,  # noqa: F401 - the same set, for tests
    disable_subreaper,
    enable_subreaper,
    finish_run,
    kill_running_groups,
    protect,
    start_run,
    sweep_orphans,
    unprotect,
)
from wrapper.types import ProcessResult

__all__ = [
    "DRAIN_S", "STDERR_LINE_BYTES", "disable_subreaper", "enable_subreaper", "kill_process_group",
    "kill_running_groups", "protect", "run_process", "stop_process_group", "unprotect",
]

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
) -> ProcessResult:
    """Run argv to its end under the kill sequence above and return what it did; raise SpawnError only.

    on_stderr_line gets each stderr line without its newline (at most STDERR_LINE_BYTES per call); an exception
    it raises propagates after the group is killed and every fd closed.
    """
    started = time.monotonic()
    proc = start_run(lambda: _spawn(argv, stdin=stdin, env=env, cwd=cwd))  # spawned and registered in one step
    pgid = proc.pid
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
        assert proc.stdout is not None and proc.stderr is not None  # both are pipes
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
            assert proc.stdin is not None  # a pipe whenever there is stdin to write
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
            exited = pidfd is None and not reaped and has_exited(pgid)
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
                elif pending is not None and proc.stdin is not None:  # stdin's fd: only registered while pending
                    pending = _write_some(fd, pending)
                    if pending is None:
                        sel.unregister(fd)
                        proc.stdin.close()
            if exited and not reaped:
                # the zombie still holds the pgid, so this cannot reach a recycled group
                kill_process_group(pgid, signal.SIGKILL)
                finish_run(proc)
                duration_s = time.monotonic() - started
                reaped = True
                reap_group(pgid)
                sweep_orphans()  # before the drain: an escapee holding the pipes must not hold the caller
                drain_until = time.monotonic() + DRAIN_S
                if pidfd is not None:
                    sel.unregister(pidfd)
                if pending is not None and proc.stdin is not None:
                    sel.unregister(proc.stdin.fileno())  # nobody is left to read it
                    pending = None
        if on_stderr_line is not None and stderr_line:
            on_stderr_line(bytes(stderr_line))
    finally:
        if not reaped:  # a callback raised (or KeyboardInterrupt): leave nothing behind
            kill_process_group(pgid, signal.SIGKILL)
            wait_exited(pgid, None)
            finish_run(proc)
            reap_group(pgid)
            sweep_orphans()
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
