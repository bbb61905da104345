"""Never gets ready: says why on stderr, then answers every request with 503. Usage: server_never_ready.py PORT."""

import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Unready(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


sys.stderr.write("server_never_ready: waiting for a database that never comes\n")
sys.stderr.flush()  # before listening: a 503 proves this line was written
HTTPServer(("127.0.0.1", int(sys.argv[1])), Unready).serve_forever()
