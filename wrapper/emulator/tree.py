"""Killing a runtime's whole process tree, as a Lambda sandbox reset does, found through /proc.

Every process below a runtime dies with it, grandchildren included, even those in sessions of their own
(wrapper starts each program in one). So before the runtime's group is killed its whole tree is (`kill_tree`):
frozen first, so it starts nothing new, then every descendant found through /proc loses its process group,
then the runtime's group goes. Killed first, the runtime would hand its descendants to init (or to a subreaper
above it), where nothing could find them any more. A runtime that exits by itself has already handed them
over: for that case its watcher keeps track of every process it has seen in the tree, at the runtime's first
GET /next and then at each poll (`track_tree`), and kills what is left of them (`kill_leftovers`); only a
process started and escaped within one poll interval can get away. Every kill counts "no such process" as success.
"""

from __future__ import annotations

import os
import signal

from wrapper.programs.procfs import children_of, read_stat


def signal_group(pid: int, signum: int) -> None:
    """Signal a child's whole process group; a group already gone counts as success."""
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def kill_tree(pid: int) -> None:
    """SIGKILL every process below our unreaped child pid, each with its group, then pid's own group.

    SIGSTOP first, so the runtime can start nothing while we look. A killed descendant's own children go to the
    runtime when it adopts orphans (wrapper's does), else to init: so each pass collects the whole tree before
    killing any of it, and passes repeat while they find live processes.
    """
    signal_group(pid, signal.SIGSTOP)
    while live := [(child, pgid) for child in descendants(pid) if (pgid := _live_pgid(child)) is not None]:
        for child, pgid in live:
            if pgid != pid:  # the runtime's own group goes last, in one kill
                signal_group(pgid, signal.SIGKILL)
            try:
                os.kill(child, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    signal_group(pid, signal.SIGKILL)


def descendants(pid: int) -> list[int]:
    """Every process below pid, through /proc/PID/task/TID/children (zombies too)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        children = children_of(todo.pop())
        found += children
        todo += children
    return found


def track_tree(pid: int, known: dict[int, int]) -> dict[int, int]:
    """Every process now below pid, and every one in known still running, → its start time (to find them again
    once pid is gone, or once they left its tree)."""
    alive = {
        child: start for child, start in known.items() if (stat := read_stat(child)) and stat.start_ticks == start
    }
    alive.update((child, stat.start_ticks) for child in descendants(pid) if (stat := read_stat(child)) is not None)
    return alive


def kill_leftovers(tree: dict[int, int]) -> None:
    """SIGKILL, each with its process group, the processes of a track_tree() still running."""
    for pid, start in tree.items():
        stat = read_stat(pid)
        if stat is None or stat.start_ticks != start or stat.state in ("Z", "X"):
            continue  # gone, or the pid now names another process
        signal_group(stat.pgid, signal.SIGKILL)
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _live_pgid(pid: int) -> int | None:
    """pid's process group, or None when it is gone, a zombie, or already dying of SIGKILL."""
    stat = read_stat(pid)
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            status = dict(line.split(b":", 1) for line in f.read().splitlines() if b":" in line)
    except OSError:
        return None
    pending = int(status.get(b"SigPnd", b"0"), 16) | int(status.get(b"ShdPnd", b"0"), 16)
    if stat is None or stat.state in ("Z", "X") or pending & (1 << (signal.SIGKILL - 1)):
        return None
    return stat.pgid
