"""What many test modules share: a local Lambda running `wrapper run` for a config, the reference configs and their
sample events, `wrapper serve` as a subprocess, free ports, and waiting for processes and ports.

Fixtures live in conftest.py; this module holds plain helpers, imported as `from harness import ...`.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from wrapper.cli.check import write_compiled
from wrapper.config.compiled import compiled_path
from wrapper.emulator import Emulator
from wrapper.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "tests" / "bin"  # the tiny real programs tests run
RUNTIME = [sys.executable, "-m", "wrapper", "run"]
CLEARED_PREFIXES = ("AWS_", "LAMBDA_", "WRAPPER_", "_HANDLER", "_X_AMZN_TRACE_ID")  # never leak into a test
WAIT_S = 20.0  # generous upper bound for anything that should happen "soon"; never a timing assertion
# How `wrapper run` reads the config: "compiled", as `wrapper package` ships it, or "yaml", validated at cold start.
SOURCES = ("compiled", "yaml")


def local_lambda(
    config: Path,
    *,
    source: str = "compiled",
    env: dict[str, str] | None = None,
    timeout_s: float = 10.0,
    log: Any = None,
    **kwargs: Any,
) -> Emulator:
    """An emulator (not started: use `with`) whose runtime is `wrapper run` with this config, as Lambda runs it.

    The config's directory is the task root and its name the handler; `log` (a path or file) takes the
    runtime's output, else it is inherited. With source "compiled" the config's compiled form is written beside
    it first (unless the config is invalid: then there is none, as `wrapper package` would refuse it); with
    "yaml" any compiled form is removed.
    """
    use_source(config, source)
    return Emulator(
        runtime_argv=RUNTIME,
        port=0,
        function_timeout_s=timeout_s,
        task_root=str(config.parent),
        handler=config.name,
        env={"PYTHONPATH": str(ROOT), **(env or {})},
        runtime_stdout=log,
        runtime_stderr=log,
        **kwargs,
    )


def use_source(config: Path, source: str) -> None:
    """Make `wrapper run` read this config from `source` (see SOURCES). A config in this checkout (configs/,
    examples/) runs as YAML whatever the source: tests never write into the checkout."""
    if config.resolve().is_relative_to(ROOT / "configs") or config.resolve().is_relative_to(ROOT / "examples"):
        return
    if source == "yaml":
        compiled_path(config).unlink(missing_ok=True)
        return
    assert source == "compiled", source
    try:
        write_compiled(config)
    except ConfigError:
        compiled_path(config).unlink(missing_ok=True)


# the reference configs and one sample event each (examples bring their own in events/*.json)

CONFIGS = sorted(ROOT.glob("configs/*.yaml")) + sorted(ROOT.glob("examples/**/wrapper.yaml"))
SAMPLE_EVENTS = {
    "echo.yaml": {"hello": "world!"},
    "jq.yaml": {"filter": ".items | length", "document": {"items": [1, 2, 3]}},
    "qrencode.yaml": {"text": "https://example.com", "size": 4},
    "grep.yaml": {"pattern": "wor.d", "text": "hello\nworld\n"},
    "echo-hot.yaml": {"hello": "world!"},
    "jq-hot.yaml": {"items": [{"name": "a", "price": 2}, {"name": "b", "price": 5}]},
    "stream.yaml": {"last": 3},
}


def sample_events(path: Path) -> list[dict]:
    """The sample events of a reference config."""
    if path.name in SAMPLE_EVENTS:
        return [SAMPLE_EVENTS[path.name]]
    # a documentation address instead of the samples' public host: tests never resolve names off this machine
    texts = [p.read_text().replace("example.com", "192.0.2.1") for p in sorted(path.parent.glob("events/*.json"))]
    return [json.loads(text) for text in texts]


# processes and ports


def free_port() -> int:
    """A loopback port nothing listens on (right now), e.g. for a server-mode program's fixed port.

    Drawn at random below Linux's ephemeral range (32768+), where outgoing connections and other tests' port-0
    listeners never land, so two test runs on one machine rarely pick the same one.
    """
    for _ in range(200):
        port = random.randint(20000, 32000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port found in 20000-32000")


def accepts(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def is_live(pid: int) -> bool:
    """Running and not a zombie (read from /proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def wait_for(predicate: Callable[[], Any], what: str, timeout_s: float = WAIT_S) -> Any:
    """Poll predicate until it is truthy and return its value; AssertionError naming `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)


@contextmanager
def wrapper_serve(args: list[str], *, log: Path, env: dict[str, str]) -> Iterator[str]:
    """`wrapper serve ARGS` as a subprocess on a free port; yields its URL once the port accepts, then SIGTERM."""
    port = free_port()
    argv = [sys.executable, "-m", "wrapper", "serve", "--port", str(port), *args]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        def listening() -> bool:
            assert proc.poll() is None, f"wrapper serve exited {proc.returncode}: {log.read_text()}"
            return accepts(port)

        wait_for(listening, f"wrapper serve to listen on {port}")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(WAIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 0, log.read_text()


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a `python -m wrapper` subprocess: this one without AWS, Lambda or wrapper variables,
    this checkout first on PYTHONPATH, plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(CLEARED_PREFIXES)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return {**env, **extra}
