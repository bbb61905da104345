"""Write N bytes (default 1 MiB) of "e" to stderr with no newline, then "END" to stdout. argv: [N]."""

import os
import sys

remaining = int(sys.argv[1]) if len(sys.argv) > 1 else 1 << 20
block = b"e" * 65536
while remaining > 0:
    view = memoryview(block)[: min(remaining, len(block))]
    remaining -= len(view)
    while view:
        view = view[os.write(2, view) :]
os.write(1, b"END")
