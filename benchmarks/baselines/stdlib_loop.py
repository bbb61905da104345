"""The Runtime API floor: the least a Python runtime can do per invocation, on stdlib http.client.

    stdlib_loop.py                       post the event back (API floor, no child)
    stdlib_loop.py --spawn cat [ARG...]  run the program with the event on stdin, post its stdout
                                         ("API floor + direct spawn")
    stdlib_loop.py --spawn-no-stdin cat FILE   the same without stdin (the program makes its own output)
    stdlib_loop.py --get URL             GET URL over a kept-alive loopback connection, post the body
                                         ("API floor + calling the server directly")
    stdlib_loop.py --requests            the echo loop on a requests.Session instead of http.client

No argparse, no logging, no error handling beyond what keeps the loop honest: imports are part of what the
cold start row measures.
"""

import http.client
import os
import sys

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
NEXT = "/2018-06-01/runtime/invocation/next"
RESPONSE = "/2018-06-01/runtime/invocation/{}/response"


def make_handler(args):
    """Return event bytes -> response bytes for the mode given on the command line."""
    if not args:
        return lambda event: event
    mode, rest = args[0], args[1:]
    if mode in ("--spawn", "--spawn-no-stdin"):
        import subprocess

        with_stdin = mode == "--spawn"
        return lambda event: (
            subprocess.run(rest, input=event if with_stdin else None, capture_output=True, check=True).stdout
        )
    if mode == "--get":
        from urllib.parse import urlsplit

        url = urlsplit(rest[0])
        target = url.path + ("?" + url.query if url.query else "")
        upstream = http.client.HTTPConnection(url.hostname, url.port)

        def get(event):
            upstream.request("GET", target)
            answer = upstream.getresponse()
            return answer.read()

        return get
    raise SystemExit(f"stdlib_loop.py: unknown mode {mode}")


def serve_http_client(handle):
    host, _, port = API.rpartition(":")
    conn = http.client.HTTPConnection(host, int(port))
    while True:
        conn.request("GET", NEXT)
        answer = conn.getresponse()
        event = answer.read()
        request_id = answer.getheader("Lambda-Runtime-Aws-Request-Id")
        conn.request("POST", RESPONSE.format(request_id), body=handle(event))
        conn.getresponse().read()


def serve_requests():
    import requests

    session = requests.Session()
    base = f"http://{API}"
    while True:
        answer = session.get(base + NEXT)
        request_id = answer.headers["Lambda-Runtime-Aws-Request-Id"]
        session.post(base + RESPONSE.format(request_id), data=answer.content)


if __name__ == "__main__":
    if sys.argv[1:] == ["--requests"]:
        serve_requests()
    else:
        serve_http_client(make_handler(sys.argv[1:]))
