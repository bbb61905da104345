"""A tiny Lambda runtime for emulator tests: GET /next, then POST the payload back as the response.

Payload keys change what it does:
  {"crash": true}        exit 3 without answering
  {"sleep": N}           sleep N seconds, then answer {"slept": N, "pid": PID}
  {"error": "Type"}      POST /error with that errorType
  {"env": true}          answer {"env": <its environment>, "pid": PID}
  {"hold": DIR}          write DIR/<pid>, wait until DIR/release exists, then answer {"pid": PID}
Environment: ECHO_RUNTIME_INIT_ERROR=1 posts /init/error and exits 1 instead of serving;
ECHO_RUNTIME_LOOPS=N runs N /next loops in threads (as on Lambda Managed Instances).
"""

import http.client
import json
import os
import sys
import threading
import time

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
BASE = "/2018-06-01/runtime"


def call(conn, method, path, body=None, headers=None):
    conn.request(method, BASE + path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response, response.read()


def handle(conn, request_id, event):
    pid = os.getpid()
    if isinstance(event, dict) and event.get("crash"):
        sys.stdout.flush()
        os._exit(3)
    if isinstance(event, dict) and "error" in event:
        body = json.dumps({"errorType": event["error"], "errorMessage": "asked to fail", "stackTrace": []})
        headers = {"Lambda-Runtime-Function-Error-Type": event["error"]}
        call(conn, "POST", f"/invocation/{request_id}/error", body, headers)
        return
    answer = event
    if isinstance(event, dict) and "sleep" in event:
        time.sleep(event["sleep"])
        answer = {"slept": event["sleep"], "pid": pid}
    elif isinstance(event, dict) and event.get("env"):
        answer = {"env": dict(os.environ), "pid": pid}
    elif isinstance(event, dict) and "hold" in event:
        open(os.path.join(event["hold"], f"{pid}-{threading.get_ident()}"), "w").close()
        while not os.path.exists(os.path.join(event["hold"], "release")):
            time.sleep(0.01)
        answer = {"pid": pid}
    call(conn, "POST", f"/invocation/{request_id}/response", json.dumps(answer))


def loop():
    conn = http.client.HTTPConnection(API)
    while True:
        response, body = call(conn, "GET", "/invocation/next")
        if response.status != 200:
            sys.exit(1)
        handle(conn, response.getheader("Lambda-Runtime-Aws-Request-Id"), json.loads(body))


def main():
    if os.environ.get("ECHO_RUNTIME_INIT_ERROR"):
        conn = http.client.HTTPConnection(API)
        body = json.dumps({"errorType": "Runtime.ConfigError", "errorMessage": "bad config", "stackTrace": []})
        call(conn, "POST", "/init/error", body, {"Lambda-Runtime-Function-Error-Type": "Runtime.ConfigError"})
        sys.exit(1)
    loops = int(os.environ.get("ECHO_RUNTIME_LOOPS", "1"))
    threads = [threading.Thread(target=loop, daemon=True) for _ in range(loops - 1)]
    for thread in threads:
        thread.start()
    loop()


if __name__ == "__main__":
    main()
