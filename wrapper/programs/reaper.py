"""Who owns each child: the registry of running program groups, and the orphan sweep that kills the rest.

This is item 5 of the kill-sequence contract in wrapper/programs/process.py's docstring (documented there only): after
enable_subreaper(), orphaned descendants come to this process, and sweep_orphans() kills and reaps every child
that no registered run and no protect()ed long-lived group owns, sparing what may belong to a run still going.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable

from wrapper.errors import SpawnError
from wrapper.programs.groups import kill_process_group, reap_group

__all__ = [
    "disable_subreaper", "enable_subreaper", "finish_run", "kill_running_groups", "protect", "start_run",
    "sweep_orphans", "unprotect",
]

# Groups of programs now running → their start time (clock ticks since boot, as /proc/PID/stat has it; 0 when
# not read), for shutdown (loops in other threads cannot be unwound, their programs can be killed) and for the
# orphan sweep. Single dict operations are atomic under the GIL.
_running: dict[int, int] = {}
_long_lived: set[int] = set()  # protect()ed groups: server mode's program
_lock = threading.Lock()  # held to spawn and register a run, to wait and forget it, and by the sweep to look and kill
_adopting = False  # enable_subreaper() worked: orphans come to us, and run_process sweeps them
_closed = False  # kill_running_groups() ran: the runtime is shutting down and starts nothing more
_PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


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
    reap_group(pgid)


def start_run(spawn: Callable[[], subprocess.Popen]) -> subprocess.Popen:
    """Start a program in its own group with spawn() and register it, in one step a sweep cannot see between.

    Refused (SpawnError) once kill_running_groups() has run: a program started after shutdown would outlive it.
    """
    with _lock:
        if _closed:
            raise SpawnError("The runtime is shutting down: the program was not started")
        proc = spawn()
        _running[proc.pid] = _start_ticks(proc.pid) if _adopting else 0
    return proc


def finish_run(proc: subprocess.Popen) -> None:
    """Reap our exited child and forget its run in one step: no new run can register its pid in between."""
    with _lock:
        proc.wait()
        _running.pop(proc.pid, None)


def kill_running_groups() -> int:
    """Shutdown: SIGKILL every program group run_process has started and not finished; return how many.

    Takes the spawn lock, so a program being started in another thread is registered, and killed, first; and
    refuses every later start_run, so no program starts after it.
    """
    global _closed
    with _lock:
        _closed = True
        return sum(kill_process_group(pgid) for pgid in list(_running))


def sweep_orphans() -> None:
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
                reap_group(pid)  # the members it had, killed with it, that are now ours
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
        import ctypes  # only exec mode needs it, once at init

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False
