"""Who owns each child: the registry of running program groups, and the orphan sweep that kills the rest.

A `Reaper` belongs to whoever starts programs (the function handler owns one); it keeps no state at module level.
After `adopt_orphans()` (the runtime's exec mode; Linux only) this process is a child subreaper, so
orphaned descendants are reparented to it instead of init, and a grandchild that left its program's group with
setsid() is still ours to find. Then, right after each run's program is reaped, `sweep()` SIGKILLs (with its
group when it leads one) and reaps every child of this process that

  (a) is not the leader of, nor in, a group still running or protect()ed as long-lived, and
  (b) started before the oldest group still running: a younger one may belong to a program still running in
      another thread, and is left for a later sweep (the last run to end sweeps everything). A group's start
      time is the clock read just before its spawn (`boot_ticks`), a lower bound that errs towards sparing:
      reading the new child's /proc/PID/stat instead waited for its exec, a third of a millisecond per run.

Zombie children that lead no such group are reaped. Spawn-and-register and the sweep's look-and-kill hold one
lock, so a sweep never sees a program started but not yet registered. A long-lived program (server mode) started
outside `start_run` must be protect()ed right after it starts, and unprotect()ed once killed and reaped.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading

from wrapper import TYPE_CHECKING
from wrapper.errors import SpawnError
from wrapper.programs.groups import kill_process_group, reap_group
from wrapper.programs.procfs import boot_ticks, child_pids, read_stat

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable

__all__ = ["Reaper"]

_PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


class Reaper:
    """The program groups one owner has running, and (when adopting orphans) the sweep of everything else."""

    def __init__(self) -> None:
        # running group → a lower bound of its start time (clock ticks since boot, as /proc/PID/stat has it), for
        # shutdown (loops in other threads cannot be unwound, their programs can be killed) and for the sweep.
        self._running: dict[int, int] = {}
        self._long_lived: set[int] = set()  # protect()ed groups: server mode's program
        self._lock = threading.Lock()  # held to spawn and register, to reap and forget, and by the sweep
        self.adopting = False  # orphans come to us, and runs sweep them
        self._closed = False  # kill_running() ran: the owner is shutting down and starts nothing more

    def adopt_orphans(self) -> bool:
        """Make this process adopt orphaned descendants (Linux), so sweep() can kill the ones that left their group;
        say if it worked. Only the runtime does this, at init: every unregistered child is then fair game."""
        self.adopting = self.adopting or _set_subreaper(1)
        return self.adopting

    def close(self) -> None:
        """Stop adopting orphans (they go to init again); the running groups are left to kill_running()."""
        if self.adopting:
            self.adopting = False
            _set_subreaper(0)

    def protect(self, pgid: int) -> None:
        """Keep the sweep away from group pgid (a long-lived program started in its own group, pid == pgid)."""
        self._long_lived.add(pgid)

    def unprotect(self, pgid: int) -> None:
        """Forget a protect()ed group; call after the group got SIGKILL and its leader was reaped (reaps the rest)."""
        self._long_lived.discard(pgid)
        reap_group(pgid)

    def start_run(self, spawn: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
        """Start a program in its own group with spawn() and register it, in one step a sweep cannot see between.

        Refused (SpawnError) once kill_running() has run: a program started after shutdown would outlive it.
        """
        with self._lock:
            if self._closed:
                raise SpawnError("The runtime is shutting down: the program was not started")
            started = boot_ticks() if self.adopting else 0  # at most the program's start time: see sweep()
            proc = spawn()
            self._running[proc.pid] = started
        return proc

    def finish_run(self, proc: subprocess.Popen[bytes]) -> None:
        """Reap our exited child and forget its run in one step: no new run can register its pid in between."""
        with self._lock:
            proc.wait()
            self._running.pop(proc.pid, None)

    def kill_running(self) -> int:
        """Shutdown: SIGKILL every registered group not yet finished; return how many were signalled.

        Takes the spawn lock, so a program being started in another thread is registered, and killed, first; and
        refuses every later start_run, so no program starts after it.
        """
        with self._lock:
            self._closed = True
            return sum(kill_process_group(pgid) for pgid in list(self._running))

    def sweep(self) -> None:
        """Kill and reap the children nobody owns (see the module docstring); a no-op unless adopting orphans."""
        while self.adopting:
            killed: list[tuple[int, bool]] = []  # (pid, whether its group was killed with it)
            zombies: list[tuple[int, bool]] = []  # never its group: members still alive are judged on their own
            with self._lock:
                owners = self._long_lived | self._running.keys()
                oldest = min(self._running.values(), default=math.inf)  # a long-lived group would stop it for good
                for pid in child_pids():
                    stat = read_stat(pid)
                    if stat is None or pid in owners:
                        continue  # gone meanwhile, or a leader its owner will reap
                    if stat.state in ("Z", "X"):
                        zombies.append((pid, False))
                    elif stat.pgid not in owners and stat.start_ticks < oldest:
                        # ours and unreaped, so neither the pid nor the group it leads can be recycled yet
                        if stat.pgid == pid:
                            kill_process_group(pid)
                        else:
                            _kill_pid(pid)
                        killed.append((pid, stat.pgid == pid))
            for pid, leader in zombies + killed:
                try:
                    os.waitpid(pid, 0)  # outside the lock: a dying process may take a moment
                except ChildProcessError:
                    pass  # another sweep got it first
                if leader:
                    reap_group(pid)  # the members it had, killed with it, that are now ours
            if not killed:
                return  # else their own orphans have come to us meanwhile: look again


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
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, value, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False
