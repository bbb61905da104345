"""A hot-mode program that misbehaves on request: hot_program.py [--actionloop [--no-ack]].

Reads one JSON line per event from stdin: {"kind": K, "arg": A} or "K" (with --actionloop, the actionloop envelope
whose "value" is that object; answers go to fd 3, and it sends the ack when __OW_WAIT_FOR_ACK is set).
  ok            answer {"ok": true, "pid": PID, "n": EVENTS SO FAR, "arg": A}
  exit          log "exiting A" to stderr, exit with status A without answering
  signal        kill itself with signal A (a name like SIGSEGV)
  hang          never answer
  slow          sleep A seconds, then answer
  extra         answer with two lines in one write
  between       answer, then A seconds later write another line (between events)
  partial       write an unterminated line, then exit 0
  close_stdin   close stdin, then answer
  big           answer with a line of A bytes
  flood_stderr  write A bytes to stderr in lines, then answer
  log           write "log A" to stderr (and, with --actionloop, to stdout), then answer
  grandchild    leave a grandchild holding the answer pipe and sleeping, answer with its pid
  hold          keep A MiB allocated from now on, then answer
  answer_exit   answer, then exit 0
  env           answer with {"env": the value of environment variable A, or null}
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

ACTIONLOOP = "--actionloop" in sys.argv
OUT = 3 if ACTIONLOOP else 1
held = []


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def answer(document):
    write_all(OUT, json.dumps(document).encode() + b"\n")


def main():
    if ACTIONLOOP and os.environ.get("__OW_WAIT_FOR_ACK") and "--no-ack" not in sys.argv:
        write_all(3, b'{"ok": true}\n')
    count = 0
    stdin = sys.stdin.buffer
    while True:
        line = stdin.readline()
        if not line:
            return
        count += 1
        event = json.loads(line)
        if ACTIONLOOP:
            event = event["value"]
        if isinstance(event, str):  # a bare JSON string names the kind
            event = {"kind": event}
        kind, arg = event.get("kind", "ok"), event.get("arg", "")
        ok = {"ok": True, "pid": os.getpid(), "n": count, "arg": arg}
        if kind == "exit":
            write_all(2, f"exiting {arg}\n".encode())
            os._exit(int(arg))
        elif kind == "signal":
            os.kill(os.getpid(), getattr(signal, arg))
            time.sleep(60)
        elif kind == "hang":
            time.sleep(3600)
        elif kind == "slow":
            time.sleep(float(arg))
            answer(ok)
        elif kind == "extra":
            write_all(OUT, json.dumps(ok).encode() + b"\n" + json.dumps(ok).encode() + b"\n")
        elif kind == "between":
            answer(ok)
            threading.Timer(float(arg), lambda: write_all(OUT, b'{"late": true}\n')).start()
        elif kind == "partial":
            write_all(OUT, b'{"unterminated": ')
            os._exit(0)
        elif kind == "close_stdin":
            os.close(0)
            answer(ok)
            time.sleep(3600)
        elif kind == "big":
            write_all(OUT, b'"' + b"x" * (int(arg) - 2) + b'"\n')
        elif kind == "flood_stderr":
            size = int(arg)
            chunk = b"e" * 1023 + b"\n"
            while size > 0:
                write_all(2, chunk[: min(size, len(chunk))])
                size -= len(chunk)
            answer(ok)
        elif kind == "log":
            if ACTIONLOOP:  # stdout is a log there, not the answer
                write_all(1, f"log {arg}\n".encode())
            write_all(2, f"log {arg}\n".encode())
            answer(ok)
        elif kind == "grandchild":
            child = subprocess.Popen(["sleep", "3600"], stdout=OUT, stdin=subprocess.DEVNULL)
            answer({**ok, "grandchild": child.pid})
        elif kind == "hold":
            held.append(bytearray(int(arg) << 20))
            answer(ok)
        elif kind == "answer_exit":
            answer(ok)
            os._exit(0)
        elif kind == "env":
            answer({**ok, "env": os.environ.get(arg)})
        else:
            answer(ok)


if __name__ == "__main__":
    main()
