"""Ignore SIGTERM, print own pid, then sleep until SIGKILLed. argv: none."""

import os
import signal
import time

signal.signal(signal.SIGTERM, signal.SIG_IGN)
print(os.getpid(), flush=True)
while True:
    time.sleep(3600)
