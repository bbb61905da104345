"""Process groups: start a program as a group's leader, signal a group, stop one (SIGTERM, grace, SIGKILL), reap
its members, wait for a leader's exit.

The mechanisms only; the kill-sequence contract they serve is documented once, in wrapper/programs/process.py's
docstring. "No such process" (ESRCH) counts as success everywhere. Knows nothing of runs, servers or Lambda.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time

from wrapper.errors import SpawnError

__all__ = [
    "has_exited", "kill_process_group", "open_pidfd", "reap_group", "start_leader", "stop_process_group", "wait_exited",
]

_GONE_POLL_S = 0.005  # between checks that a killed group is gone
# poll(2), as in process: no extra fd to create and close per wait
_Selector = getattr(selectors, "PollSelector", selectors.SelectSelector)


def start_leader(argv: list[str], *, stdin_pipe: bool, env: dict[str, str], cwd: str | None) -> subprocess.Popen[bytes]:
    """Start argv in its own session (so it leads its own group) with pipes and the given env only; SpawnError."""
    if not argv:
        raise SpawnError("No program to start: the command is empty")
    try:
        return subprocess.Popen(
            argv,
            bufsize=0,  # raw pipes: the caller reads and writes the fds itself
            stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
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


def kill_process_group(pgid: int, sig: int = signal.SIGKILL) -> bool:
    """Send sig to every process in group pgid; return False when no such group exists (which is fine)."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):  # gone, or recycled by someone else: either way not ours
        return False
    return True


def stop_process_group(proc: subprocess.Popen, grace_s: float, *, gone_s: float = 0.0) -> None:
    """Stop a long-lived program and its whole group; best called before anything reaps proc.

    SIGTERM, then SIGCONT, to the group (a SIGSTOPped program acts on SIGTERM only once continued), up to grace_s
    for the leader to exit, then SIGKILL to the group, always: descendants may outlive the leader and hold its port
    (sent while the leader is an unreaped zombie, unless the caller reaped it already). The leader and the members
    that are our children are reaped, then up to gone_s passes for the rest of the group to be gone, so a restart
    finds the port free.
    """
    pgid = proc.pid
    if proc.returncode is None:
        kill_process_group(pgid, signal.SIGTERM)
        # a stopped (SIGSTOP) program cannot act on SIGTERM until continued; then the pending SIGTERM arrives
        kill_process_group(pgid, signal.SIGCONT)
        wait_exited(pgid, grace_s)
    # Always, even after the leader exited: grandchildren may still hold a port or the pipes.
    kill_process_group(pgid, signal.SIGKILL)  # while proc is a zombie, so the pgid is still ours
    proc.wait()
    reap_group(pgid)
    # SIGKILL is asynchronous: the rest of the group may take a moment to die (and free what it held). Bounded,
    # because an orphan's zombie counts as a member until its new parent reaps it.
    deadline = time.monotonic() + gone_s
    while time.monotonic() < deadline and kill_process_group(pgid, 0):
        time.sleep(_GONE_POLL_S)


def reap_group(pgid: int) -> None:
    """Reap killed group members that are our children (we are PID 1 or a subreaper); ECHILD is the usual answer."""
    try:
        while os.waitpid(-pgid, 0):
            pass
    except ChildProcessError:
        pass


def open_pidfd(pid: int) -> int | None:
    """Return a pidfd that turns readable when pid exits, or None where the kernel has none (Linux < 5.3)."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def has_exited(pid: int) -> bool:
    """Say whether our child pid has exited, without reaping it (so its pgid stays reserved)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def wait_exited(pid: int, timeout_s: float | None) -> None:
    """Wait up to timeout_s (None: for as long as it takes) for our child pid to exit, without reaping it."""
    if timeout_s is None:
        try:
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            pass
        return
    pidfd = open_pidfd(pid)
    if pidfd is not None:
        with _Selector() as sel:
            sel.register(pidfd, selectors.EVENT_READ)
            sel.select(timeout_s)
        os.close(pidfd)
        return
    deadline = time.monotonic() + timeout_s
    while not has_exited(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
