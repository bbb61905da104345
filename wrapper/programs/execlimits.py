"""The kernel's budget for what one execve() takes: checked before spawning, so an oversized command is the event's.

Linux (fs/exec.c) refuses with E2BIG a total over its stack budget: the executable's path, every argument and
"NAME=value" string with their NULs, plus one pointer for each argument and variable, together at most a
quarter of the stack limit (RLIMIT_STACK), capped at 6 MiB and never below 128 KiB. The program inherits our
stack limit, so ours is the one that counts. (The other limit, MAX_ARG_STRLEN for any one string, is checked
where the command is built: wrapper/mapping/command.py.)
"""

from __future__ import annotations

import os

_POINTER_BYTES = 8
_MIN_BUDGET = 32 * 4096  # ARG_MAX (32 pages of 4 KiB): what the kernel always allows, even with a small stack
_MAX_BUDGET = 6 * 1024 * 1024  # _STK_LIM / 4 * 3


def exec_budget_bytes() -> int:
    """The kernel's budget for the path, argv and envp of an exec from this process."""
    try:
        quarter_stack = os.sysconf("SC_ARG_MAX")  # glibc: a quarter of RLIMIT_STACK, at least ARG_MAX
    except (OSError, ValueError):
        quarter_stack = -1
    if quarter_stack <= 0:  # an unlimited stack
        return _MAX_BUDGET
    return max(_MIN_BUDGET, min(_MAX_BUDGET, quarter_stack))


def exec_size_problem(executable: str, argv: list[str], env: dict[str, str], budget_bytes: int) -> str | None:
    """Why execve(executable, argv, env) would fail with E2BIG, or None when it fits."""
    strings = [arg.encode("utf-8", "surrogateescape") for arg in argv]
    strings += [f"{name}={value}".encode("utf-8", "surrogateescape") for name, value in env.items()]
    total = len(os.fsencode(executable)) + 1 + sum(len(data) + 1 for data in strings)
    total += (max(len(argv), 1) + len(env)) * _POINTER_BYTES
    if total > budget_bytes:
        return f"arguments and environment are {total} bytes, over the kernel's {budget_bytes} for one exec"
    return None
