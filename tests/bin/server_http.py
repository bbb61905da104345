"""A tiny HTTP server for server-mode tests: server_http.py PORT [--noise BYTES] [--grandchild] [--once FILE]
[--idle-close SECONDS].

GET /-/healthy → 200; /echo → the request as JSON; /env → its environment as JSON; /sleep?s=N → answers after
N seconds; /exit?code=N → writes to stderr and exits N mid-request (a crash); /status?code=N → answers status N
with the body "status N". --noise writes BYTES to stdout and
stderr before listening (pipes must be drained); --grandchild leaves a sleeping child in its process group;
--once exits 4 if FILE exists, else creates it (a program that cannot come back after a restart); --idle-close
closes kept-alive connections idle that long.
"""

import json
import os
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like real servers

    def do_GET(self):
        self.answer()

    def do_POST(self):
        self.answer()

    def answer(self):
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path == "/sleep":
            time.sleep(float(query.get("s", "60")))
        if url.path == "/exit":
            sys.stderr.write("server_http: crashing on purpose\n")
            sys.stderr.flush()
            os._exit(int(query.get("code", "7")))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if url.path == "/status":
            self.send_bytes(int(query.get("code", "500")), f"status {query.get('code', '500')}".encode(), "text/plain")
            return
        if url.path == "/env":
            data = dict(os.environ)
        else:
            data = {"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                    "body": body.decode("utf-8", "replace")}
        self.send_bytes(200, json.dumps(data).encode(), "application/json")

    def send_bytes(self, status, payload, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("X-Multi", "a")
        self.send_header("X-Multi", "b")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format, *args):
        sys.stderr.write("request " + (format % args) + "\n")


def main():
    port = int(sys.argv[1])
    args = sys.argv[2:]
    if "--once" in args:
        marker = args[args.index("--once") + 1]
        if os.path.exists(marker):
            sys.stderr.write(f"server_http: {marker} exists, refusing to start again\n")
            sys.exit(4)
        open(marker, "w").close()
    if "--noise" in args:
        size = int(args[args.index("--noise") + 1])
        line = b"x" * 99 + b"\n"
        for _ in range(size // 100):
            sys.stdout.buffer.write(line)
            sys.stderr.buffer.write(line)
        sys.stdout.flush()
        sys.stderr.flush()
    if "--grandchild" in args:
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    if "--idle-close" in args:
        Handler.timeout = float(args[args.index("--idle-close") + 1])  # socket timeout: idle connections close
    sys.stderr.write(f"server_http: listening on 127.0.0.1:{port}\n")
    sys.stderr.flush()
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
