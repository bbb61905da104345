"""Write N bytes to file NAME (default fill.bin) in the cwd, print its path; exit 1 on OSError. argv: N [NAME]."""

import os
import sys

remaining = int(sys.argv[1])
name = sys.argv[2] if len(sys.argv) > 2 else "fill.bin"
block = b"\0" * (1 << 20)
try:
    with open(name, "wb") as f:
        while remaining > 0:
            remaining -= f.write(block[: min(remaining, len(block))])
except OSError as exc:
    print(f"fill_disk: {exc}", file=sys.stderr)
    sys.exit(1)
print(os.path.abspath(name))
