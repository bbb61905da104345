"""Kill itself with signal SIG (a number or a name like SIGSEGV), with core dumps off. argv: SIG."""

import os
import resource
import signal
import sys

name = sys.argv[1]
sig = int(name) if name.isdigit() else getattr(signal, name)
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash test should not write a core file
if sig not in (signal.SIGKILL, signal.SIGSTOP):  # those two cannot be caught, so need no reset
    signal.signal(sig, signal.SIG_DFL)  # Python ignores SIGPIPE and handles SIGINT itself
os.kill(os.getpid(), sig)
signal.pause()  # a stop or ignored signal: wait to be killed
