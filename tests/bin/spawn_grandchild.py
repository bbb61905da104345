"""Fork a grandchild that keeps stdout/stderr open and sleeps; print "PID GRANDCHILD_PID" and exit. argv: [SECONDS]."""

import os
import sys
import time

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3600.0
child = os.fork()
if child == 0:
    time.sleep(seconds)
    os._exit(0)
print(os.getpid(), child, flush=True)
