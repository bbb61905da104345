"""Keep a process's environment and memory from the programs it starts, which run as the same user.

Lambda runs the runtime and its programs as one unprivileged user, and the runtime's environment holds the
function's credentials (AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) and the Runtime API's address. Any process of
the same user may read another's /proc/PID/environ and /proc/PID/mem, or ptrace it, unless that process is
non-dumpable: then only root may. `execve` makes each program dumpable again (it can dump core and be debugged as
usual); the flag stays on this process alone.
"""

from __future__ import annotations

import sys

_PR_SET_DUMPABLE = 4  # linux/prctl.h


def make_undumpable() -> bool:
    """prctl(PR_SET_DUMPABLE, 0) on this process (Linux); say whether it worked."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes  # exec mode loads it anyway (the subreaper); about 3 ms of cold start otherwise

        return ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False
