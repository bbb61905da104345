"""Reading processes from Linux's /proc: one parser for /proc/PID/stat, children of a process. Reads only."""

from __future__ import annotations

import os
import threading
import time

from wrapper.types import Frozen

__all__ = ["ProcessStat", "boot_ticks", "child_pids", "children_of", "read_stat"]


class ProcessStat(Frozen):
    """The fields of /proc/PID/stat that wrapper uses."""

    __slots__ = ("state", "ppid", "pgid", "start_ticks")  # noqa: RUF023
    state: str  # R, S, D, T, Z (zombie), X (dead), ...
    ppid: int
    pgid: int
    start_ticks: int  # start time in clock ticks since boot: with the pid, names one process for good

    def __init__(self, state: str, ppid: int, pgid: int, start_ticks: int) -> None:
        self._store(locals())


def read_stat(pid: int) -> ProcessStat | None:
    """What /proc/PID/stat says of pid, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # fields 3 onwards (state, ppid, pgrp, ...) follow the comm, which may hold spaces and parentheses
    fields = stat[stat.rindex(b")") + 2 :].split()
    return ProcessStat(fields[0].decode(), int(fields[1]), int(fields[2]), int(fields[19]))


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def boot_ticks() -> int:
    """Now, in the clock of /proc/PID/stat's start time (ticks since boot): a process started after this call has
    a start time of at least this. Cheaper than reading a new child's stat, which waits while the child execs."""
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * _CLOCK_TICKS)


def children_of(pid: int) -> list[int]:
    """Pids of pid's children, live or zombie, through /proc/PID/task/TID/children (any thread may be a parent)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                found += map(int, f.read().split())
        except OSError:
            continue  # that thread ended meanwhile
    return found


def child_pids() -> list[int]:
    """Pids of this process's children, live or zombie (an orphan may be adopted by any of our threads)."""
    found: list[int] = []
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/children", "rb") as f:
                found += map(int, f.read().split())
        except FileNotFoundError:
            if int(tid) == threading.get_native_id():  # our own thread has none: no CONFIG_PROC_CHILDREN
                me = os.getpid()
                return [pid for pid in _all_pids() if (stat := read_stat(pid)) is not None and stat.ppid == me]
            # else that thread ended meanwhile
    return found


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]
