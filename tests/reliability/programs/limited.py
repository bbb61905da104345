"""Run a program under a resource limit it cannot raise: limited.py as|fsize BYTES PROGRAM [ARGS...].

`as` caps the address space (allocations fail with ENOMEM, Python raises MemoryError); `fsize` caps the size of
any file written (SIGXFSZ is ignored, so the write fails with EFBIG, as on a full disk). Keeps the machine safe.
"""

import os
import resource
import signal
import sys

kind, limit, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
if kind == "as":
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
elif kind == "fsize":
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # inherited across exec: writes fail instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
else:
    sys.exit(f"limited.py: unknown limit {kind!r}")
os.execv(argv[0], argv)
