"""Shared machinery of the reliability suite: a real `wrapper run` under the emulator, and /proc accounting.

The runtime and its programs run as Lambda runs them (tests/lambda_sandbox.py): as uid 65534, with the task
root read-only, only the test's tmp dir writable, Lambda's limits and fake credentials. PYTHON, program() and
RUNTIME name the sandbox's interpreter and copies, never the checkout.

Every program a test starts carries RELIABILITY_TAG=<unique value> in its environment (the config's `env:`), and
so does every process it forks; `tagged_processes(tag)` finds them all through /proc, whatever their parent or
session, so a survivor cannot hide by being reparented to init or by calling setsid().
"""

from __future__ import annotations

import base64
import json
import os
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/, also when soak.py runs as a script
from harness import free_port, is_live, local_lambda  # noqa: E402, F401 - part of this module's helpers
from lambda_sandbox import Box, shared_sandbox  # noqa: E402
from wrapper.emulator import Emulator, InvokeResult  # noqa: E402

LAMBDA = shared_sandbox()  # paths only; built by the first test that needs it
PYTHON = LAMBDA.python
ROOT = Path(__file__).resolve().parents[2]
PROGRAMS = ROOT / "tests" / "bin"
OWN_PROGRAMS = Path(__file__).resolve().parent / "programs"
RUNTIME = LAMBDA.runtime_argv()
WAIT_S = 10.0  # generous bound for anything that should happen "soon"; never a timing assertion
TAG_NAME = "RELIABILITY_TAG"


def program(name: str) -> str:
    """Absolute path of a test program (ours first, then the shared tests/bin)."""
    own = OWN_PROGRAMS / f"{name}.py"
    return LAMBDA.program(own if own.exists() else PROGRAMS / f"{name}.py")


def new_tag() -> str:
    return f"rel-{uuid.uuid4().hex}"


def write_config(directory: Path, text: str, name: str = "wrapper.yaml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def start_emulator(config: Path, *, log: Path, env: dict[str, str] | None = None, timeout_s: float = 30.0,
                   **kwargs: Any) -> Emulator:
    """An emulator (not started: use `with`) running `wrapper run` with this config as Lambda would: the config's
    directory is the task root, its name the handler; runtime output goes to `log`."""
    LAMBDA.prepare()
    return Emulator(runtime_argv=RUNTIME, port=0, function_timeout_s=timeout_s, task_root=str(config.parent),
                    handler=config.name, env=runtime_env(config.parent, **(env or {})), runtime_stdout=log,
                    runtime_stderr=log, **kwargs)


def runtime_env(task: Path, **extra: str) -> dict[str, str]:
    """The runtime's environment as Lambda gives it (fake credentials included), then `extra`."""
    return {**LAMBDA.environment(task), **extra}


def error_type(result: InvokeResult) -> str | None:
    """errorType of a function error, None for a success."""
    if result.function_error is None:
        return None
    return json.loads(result.body).get("errorType")


def http_body(result: InvokeResult) -> tuple[int, Any]:
    """(statusCode, body parsed as JSON when it is) of an HTTP-event answer."""
    document = result.json()
    body = document.get("body", "")
    if document.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    try:
        return document["statusCode"], json.loads(body)
    except (TypeError, ValueError):
        return document["statusCode"], body


# /proc accounting


def _stat_fields(pid: int | str) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()  # state, ppid, pgrp, ...


def tagged_processes(tag: str) -> list[int]:
    """Live processes whose environment holds RELIABILITY_TAG=tag."""
    needle = f"{TAG_NAME}={tag}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0") and is_live(int(entry)):
            found.append(int(entry))
    return found


def wait_for(predicate: Callable[[], Any], timeout_s: float = WAIT_S) -> Any:
    """Poll predicate until truthy or timeout_s passes; return its last value (the caller asserts on it)."""
    deadline = time.monotonic() + timeout_s
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(0.02)
        value = predicate()
    return value


def survivors(tag: str) -> list[int]:
    """Tagged processes still alive after giving killed ones WAIT_S to finish dying (init reaps orphans)."""
    wait_for(lambda: not tagged_processes(tag))
    return tagged_processes(tag)


def children_of(pid: int) -> list[int]:
    """Direct children of pid (live or zombie)."""
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(p) for p in (task / "children").read_text().split()]
    except OSError:
        pass
    return found


def descendants(pid: int) -> list[int]:
    """Every process below pid in the tree."""
    found, todo = [], [pid]
    while todo:
        for child in children_of(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def runtime_pid(emulator: Emulator) -> int:
    """The pid of the emulator's one runtime child, waiting for it to be running."""
    pid = wait_for(lambda: emulator.runtime_pids[0])
    assert pid, "the runtime is not running"
    return pid


def function_url_event(*, path: str = "/", method: str = "GET", query: str = "", body: str | None = None,
                       headers: dict[str, str] | None = None, base64_body: bool = False) -> dict[str, Any]:
    """A minimal Function URL (payload 2.0) event, as Lambda sends it."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"host": "abc.lambda-url.us-east-1.on.aws", **(headers or {})},
        "requestContext": {
            "domainName": "abc.lambda-url.us-east-1.on.aws",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9",
                     "userAgent": "test"},
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
        },
        "body": body,
        "isBase64Encoded": base64_body,
    }


# the per-test fixture (here, not in a conftest.py: a second module named `conftest` would shadow tests/conftest.py
# for the tests that import from it)


@dataclass
class Sandbox:
    """What one test owns: a task dir for its config (read-only to the runtime), a tmp dir (the only one the
    runtime's user may write) holding a scratch parent only this test uses, a log, a process tag."""

    dir: Path
    tmp: Path
    scratch: Path
    log: Path
    tag: str

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def scratch_entries(self) -> list[str]:
        return sorted(os.listdir(self.scratch))


def new_sandbox(name: str) -> tuple[Sandbox, Box]:
    """Fresh dirs in the Lambda sandbox, for a test or a soak run."""
    box = LAMBDA.new_box(name)
    return Sandbox(dir=box.task, tmp=box.tmp, scratch=box.scratch, log=box.task / "runtime.log", tag=new_tag()), box
