"""Fork a grandchild that calls setsid() (leaving the program's process group), keeps stdout open and sleeps.

Prints "PID GRANDCHILD_PID" and exits 0 at once. argv: [SECONDS] (default 3600). A daemonizing program does this.
"""

import os
import sys
import time

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3600.0
child = os.fork()
if child == 0:
    os.setsid()  # own session and group: a kill of the program's group no longer reaches it
    time.sleep(seconds)
    os._exit(0)
print(os.getpid(), child, flush=True)
