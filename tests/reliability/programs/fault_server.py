"""A tiny HTTP server for server-mode fault tests: fault_server.py PORT [--log FILE] [--as-limit BYTES].

GET /health → 200. Every request to /fault?kind=K&arg=A misbehaves as K says:
  ok                 answer {"ok": true, "pid": PID}
  exit               exit with status A mid-request (a crash)
  signal             kill itself with signal A (a name like SIGSEGV) mid-request
  hang               never answer
  close_hang         close stdout and stderr, then never answer
  grandchild         leave a grandchild holding stdout and sleeping, then answer
  grandchild_exit    leave a grandchild holding stdout and sleeping, then exit 9 mid-request
  flood_stdout       write A bytes to stdout, then answer
  flood_stderr       write A bytes to stderr (no newline), then answer
  big_body           answer with a body of A bytes
  non_utf8           write invalid UTF-8 to stdout and stderr, answer with it as the body
  no_read            answer at once without reading the request body, and close the connection
  memory             hold A MiB (under --as-limit, a MemoryError kills the request), then answer
  disk               write A bytes to $HOME/fill-<pid>.bin, delete it, then answer
Every request's line and Host header are appended to --log (one JSON object per line), so a test can check
which requests reached the program. Anything on another path answers 404.
"""

import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LOG = None
LOG_LOCK = threading.Lock()
BAD = b"\xff\xfe\x00\x80 not utf-8 \xc3\x28 \xed\xa0\x80\n"


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def flood(fd, size, chunk):
    block = chunk * (65536 // len(chunk))
    while size > 0:
        piece = block[: min(size, len(block))]
        write_all(fd, piece)
        size -= len(piece)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.answer()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def send(self, status, body, content_type="application/json", close=False):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def answer(self):
        if LOG:
            with LOG_LOCK, open(LOG, "a") as log:
                log.write(json.dumps({"requestline": self.requestline, "host": self.headers.get("Host"),
                                      "headers": dict(self.headers.items())}) + "\n")
        url = urlsplit(self.path)
        if url.path == "/health":
            return self.send(200, b"ok", "text/plain")
        if url.path != "/fault":
            return self.send(404, b"no such path", "text/plain")
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        kind, arg = query.get("kind", "ok"), query.get("arg", "")
        if kind == "no_read":
            return self.send(200, b'{"unread": true}', close=True)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if kind == "exit":
            os._exit(int(arg or 7))
        if kind == "signal":
            sig = getattr(signal, arg)
            os.kill(os.getpid(), sig)
            time.sleep(3600)  # a stop signal: wait to be killed
        if kind == "hang":
            time.sleep(3600)
        if kind == "close_hang":
            os.close(1)
            os.close(2)
            time.sleep(3600)
        if kind in ("grandchild", "grandchild_exit"):
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])  # inherits stdout
            if kind == "grandchild_exit":
                os._exit(9)
            return self.send(200, json.dumps({"grandchild": child.pid, "pid": os.getpid()}).encode())
        if kind == "flood_stdout":
            flood(1, int(arg), b"o" * 63 + b"\n")
        if kind == "flood_stderr":
            flood(2, int(arg), b"e")
        if kind == "big_body":
            return self.send(200, b"x" * int(arg), "application/octet-stream")
        if kind == "non_utf8":
            write_all(1, BAD)
            write_all(2, BAD)
            return self.send(200, BAD, "application/octet-stream")
        if kind == "memory":
            held = [b"\x01" * (1 << 20) for _ in range(int(arg))]
            return self.send(200, json.dumps({"held_mib": len(held)}).encode())
        if kind == "disk":
            path = os.path.join(os.environ["HOME"], f"fill-{os.getpid()}.bin")
            try:
                with open(path, "wb") as f:
                    flood(f.fileno(), int(arg), b"\0")
            finally:
                if os.path.exists(path):
                    os.unlink(path)
            return self.send(200, json.dumps({"written": int(arg)}).encode())
        self.send(200, json.dumps({"ok": True, "pid": os.getpid(), "received": len(body)}).encode())

    def log_message(self, format, *args):
        pass


def main():
    global LOG
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # crash tests should not write core files
    for sig in (signal.SIGPIPE, signal.SIGINT):  # Python ignores or handles these; the tests want them deadly
        signal.signal(sig, signal.SIG_DFL)
    port = int(sys.argv[1])
    args = sys.argv[2:]
    if "--log" in args:
        LOG = args[args.index("--log") + 1]
    if "--as-limit" in args:
        limit = int(args[args.index("--as-limit") + 1])
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
