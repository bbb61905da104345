"""Streamed output for the streaming tests. argv: FIRST GATE THEN EXIT

FIRST is written (and flushed) at once, "{pid}" in it replaced by the program's pid. GATE is a file path waited
for (at most 60 s) before going on, or "-". THEN is "sleep" (sleep until killed), "kill" (die by SIGKILL),
"bytes:N" (N deterministic bytes: random.Random(7).randbytes(N)), or text to write. Then the program exits with
status EXIT.
"""

import os
import random
import sys
import time

first, gate, then, status = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


def write(data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(1, view) :]


write(first.replace("{pid}", str(os.getpid())).encode())
if gate != "-":
    give_up = time.monotonic() + 60
    while not os.path.exists(gate) and time.monotonic() < give_up:
        time.sleep(0.01)
if then == "kill":
    os.kill(os.getpid(), 9)
if then == "sleep":
    while True:
        time.sleep(60)
elif then.startswith("bytes:"):
    data = random.Random(7).randbytes(int(then.removeprefix("bytes:")))
    for start in range(0, len(data), 1 << 16):
        write(data[start : start + (1 << 16)])
else:
    write(then.encode())
sys.exit(status)
