"""Try to read the environment of every ancestor process, as a hostile program would. argv: [--serve PORT]

Prints JSON {"dumpable": this process's PR_GET_DUMPABLE, "ancestors": [{"pid", "uid", "environ" (the text, or
null), "error"}, ...]}, nearest first, up to init. With --serve PORT it answers that JSON to every GET on
127.0.0.1:PORT instead (server mode).
"""

import ctypes
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

PR_GET_DUMPABLE = 3


def status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            fields[name] = value.split()
    return int(fields["PPid"][0]), int(fields["Uid"][0])


def look():
    ancestors, pid = [], os.getppid()
    while pid > 0:
        parent, uid = status(pid)
        seen = {"pid": pid, "uid": uid, "environ": None, "error": None}
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                seen["environ"] = f.read().decode("utf-8", "replace")
        except OSError as exc:
            seen["error"] = str(exc)
        ancestors.append(seen)
        pid = parent
    dumpable = ctypes.CDLL(None).prctl(PR_GET_DUMPABLE, 0, 0, 0, 0)
    return json.dumps({"dumpable": dumpable, "ancestors": ancestors}).encode()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = look()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if sys.argv[1:2] == ["--serve"]:
    HTTPServer(("127.0.0.1", int(sys.argv[2])), Handler).serve_forever()
else:
    sys.stdout.buffer.write(look())
