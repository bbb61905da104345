"""The runtimes under test: how to start one, whether it is installed, and its memory from /proc.

Every runtime is started by the harness itself (the emulator gets runtime_argv=None), in its own session so
stopping it reaches its children, with a Lambda-like environment and its output in a log file.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BASELINES = REPO / "benchmarks" / "baselines"
BENCH_EXTRA = "not installed (pip install -e '.[bench]')"


@dataclass(frozen=True)
class RuntimeSpec:
    """One row's runtime: argv, working directory, extra environment, and what it needs installed."""

    name: str
    argv: list[str]
    cwd: Path = REPO
    env: dict[str, str] = field(default_factory=dict)
    needs_module: str | None = None  # a Python module (awslambdaric)
    needs_program: str | None = None  # a program on PATH (curl, the exporter)

    def missing(self) -> str | None:
        """Why this runtime cannot run here, or None."""
        if self.needs_module and not _importable(self.needs_module):
            return BENCH_EXTRA if self.needs_module == "awslambdaric" else f"not installed ({self.needs_module})"
        if self.needs_program and shutil.which(self.needs_program) is None:
            return f"not installed ({self.needs_program})"
        return None


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def wrapper_runtime(name: str, config: str | Path, env: dict[str, str] | None = None) -> RuntimeSpec:
    """`wrapper run CONFIG` with the repo's interpreter, started in the config's directory as Lambda starts the
    bootstrap in /var/task (the blackbox example relies on it); PYTHONPATH stands in for an installed package."""
    config = Path(config).resolve()
    env = {"PYTHONPATH": str(REPO), **(env or {})}
    return RuntimeSpec(name, [sys.executable, "-m", "wrapper", "run", config.name], cwd=config.parent, env=env)


def stdlib_loop(name: str, *args: str) -> RuntimeSpec:
    """The stdlib http.client loop (baselines/stdlib_loop.py) in one of its modes."""
    return RuntimeSpec(name, [sys.executable, str(BASELINES / "stdlib_loop.py"), *args], cwd=BASELINES)


def ric(name: str, handler: str, python: str = sys.executable) -> RuntimeSpec:
    """awslambdaric with a handler from baselines/ric_handler.py (python: see benchmarks/packaged.py)."""
    return RuntimeSpec(
        name,
        [python, "-m", "awslambdaric", f"ric_handler.{handler}"],
        cwd=BASELINES,
        needs_module="awslambdaric",
    )


def bash_curl(name: str) -> RuntimeSpec:
    """The bash + curl bootstrap in the common style."""
    return RuntimeSpec(name, ["bash", str(BASELINES / "bash_curl_bootstrap.sh")], cwd=BASELINES, needs_program="curl")


def lambda_env(spec: RuntimeSpec, api_address: str, scratch: Path, timeout_s: float = 60.0) -> dict[str, str]:
    """A Lambda-like environment: no AWS/WRAPPER/PYTHON variables from this shell, TMPDIR private to the run."""
    env = {name: os.environ[name] for name in ("PATH", "LANG", "HOME") if name in os.environ}
    env.update(
        AWS_LAMBDA_RUNTIME_API=api_address,
        AWS_LAMBDA_FUNCTION_NAME="bench",
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="1024",
        AWS_LAMBDA_FUNCTION_TIMEOUT=str(int(timeout_s)),
        AWS_REGION="us-east-1",
        LAMBDA_TASK_ROOT=str(spec.cwd),
        TMPDIR=str(scratch),  # the bash loop leaks a mktemp file per invocation, as the tutorial does
        TZ="UTC",
    )
    env.update(spec.env)
    return env


def start(spec: RuntimeSpec, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """Spawn the runtime in its own session, output to log_path."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            spec.argv, cwd=spec.cwd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )


def stop(process: subprocess.Popen, grace_s: float = 2.0) -> None:
    """SIGTERM to the whole group, then SIGKILL; a group already gone counts as stopped."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGTERM:  # the leader is gone: make sure no child of it lingers
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of one process, children excluded, in kB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def cpu_ticks(pid: int, *, children: bool = False) -> int:
    """utime + stime of one process (plus cutime + cstime, its reaped children's, when children=True)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks + int(fields[13]) + int(fields[14]) if children else ticks


def connected_to(port: int) -> bool:
    """Whether some process on this machine has an established TCP connection to 127.0.0.1:port."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "01" and int(fields[2].rpartition(":")[2], 16) == port:
                return True
    return False


def wait_idle(process: subprocess.Popen, api_port: int, *, quiet_s: float = 0.15, limit_s: float = 20.0) -> None:
    """Wait until the runtime is blocked in its first /next: connected to the API, and no longer using CPU.

    The connection is what proves init is over (every runtime here connects only to ask for /next); the CPU
    check lets the process settle. Raise if it exits first.
    """
    deadline = time.monotonic() + limit_s
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with status {process.returncode} during init")
        ticks = cpu_ticks(process.pid)
        if ticks != last or not connected_to(api_port):
            last, since = ticks, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        time.sleep(0.02)
    raise RuntimeError(f"no /next after {limit_s:g} s of init")


def log_tail(log_path: Path, limit: int = 600) -> str:
    """The end of a runtime's log, for error rows."""
    try:
        return log_path.read_bytes()[-limit:].decode("utf-8", "replace").strip()
    except OSError:
        return ""
