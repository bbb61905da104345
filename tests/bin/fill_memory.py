"""Hold 1 MiB blocks up to LIMIT_MB, print how many; exit 0, or 3 on MemoryError. argv: LIMIT_MB."""

import sys

limit_mb = int(sys.argv[1])
blocks = []
try:
    while len(blocks) < limit_mb:
        blocks.append(b"\x01" * (1 << 20))  # bytes filled with data, so the pages are really used
except MemoryError:
    print(len(blocks), flush=True)
    sys.exit(3)
print(len(blocks), flush=True)
