"""Write N bytes of 64-byte lines ("x" * 63 + newline) to stdout or stderr. argv: N [stdout|stderr]."""

import os
import sys

remaining = int(sys.argv[1])
fd = 2 if len(sys.argv) > 2 and sys.argv[2] == "stderr" else 1
block = (b"x" * 63 + b"\n") * 1024
while remaining > 0:
    view = memoryview(block)[: min(remaining, len(block))]
    while view:
        view = view[os.write(fd, view) :]
    remaining -= len(block)
