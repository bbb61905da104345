"""/proc readers, checked against real processes."""

from __future__ import annotations

import subprocess

from wrapper.programs.procfs import boot_ticks, read_stat


def test_boot_ticks_bound_the_start_time_proc_gives_a_child():
    # The sweep compares a group's registered start (boot_ticks() before its spawn) with /proc's start times of
    # other children: the two must be one clock, with the bound never above the real start.
    for _ in range(20):
        before = boot_ticks()
        child = subprocess.Popen(["sleep", "5"])
        try:
            stat = read_stat(child.pid)
            after = boot_ticks()
        finally:
            child.kill()
            child.wait()
        assert stat is not None
        assert before <= stat.start_ticks <= after

