"""Print own pid (= pgid when started in a new session), then sleep until killed. argv: none."""

import os
import time

print(os.getpid(), flush=True)
while True:
    time.sleep(3600)
