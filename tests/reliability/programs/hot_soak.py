"""The soak's hot-mode program: one JSON line in, one line out, for as long as it is fed.

{"kind": "ok", "data": D}  → {"data": D, "pid": PID, "n": EVENTS SO FAR}
{"kind": "fail", ...}      → a line that is not JSON (Function.InvalidOutput; the program stays)
{"kind": "slow", ...}      → no answer (Function.Timeout; the program is replaced)
{"kind": "crash", ...}     → exit 3 without answering (Function.NonZeroExit; the program is replaced)
"""

import json
import os
import sys
import time


def main():
    count = 0
    for line in sys.stdin.buffer:
        count += 1
        event = json.loads(line)
        kind = event["kind"]
        if kind == "slow":
            time.sleep(30)
        elif kind == "crash":
            print("crashing on purpose", file=sys.stderr, flush=True)
            os._exit(3)
        elif kind == "fail":
            sys.stdout.write("failing on purpose, not JSON\n")
        else:
            sys.stdout.write(json.dumps({"data": event["data"], "pid": os.getpid(), "n": count}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
