"""Print own pid, close stdout and stderr, then sleep until killed. argv: none."""

import os
import time

print(os.getpid(), flush=True)
os.close(1)
os.close(2)
while True:
    time.sleep(3600)
