"""Cold start: process spawn → the runtime's first GET /next, timed against a tiny loopback listener.

No emulator is involved: the listener accepts the runtime's connection, timestamps the moment a complete
`GET .../invocation/next` request has arrived, and the runtime is then killed. Anything a runtime asks before
its first /next (none of ours do) is answered 202 and counted in its cold start.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from benchmarks import runtimes
from benchmarks.runtimes import RuntimeSpec

NEXT_LINE = b"GET /2018-06-01/runtime/invocation/next "


class ColdStartError(Exception):
    """The runtime never reached /next."""


class Listener:
    """A loopback socket that plays the Runtime API just long enough to see the first /next."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.address = f"127.0.0.1:{self._sock.getsockname()[1]}"
        self._held: list[socket.socket] = []

    def wait_next(self, process: subprocess.Popen, limit_s: float) -> float:
        """Return perf_counter() when the first /next request arrived (that connection stays open)."""
        deadline = time.monotonic() + limit_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or process.poll() is not None:
                raise ColdStartError(f"no /next within {limit_s:g} s (exit status {process.poll()})")
            self._sock.settimeout(min(remaining, 0.2))
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self._held.append(conn)  # closed only after the runtime is stopped, so it never sees EOF and retries
            conn.settimeout(max(0.1, deadline - time.monotonic()))
            request = b""
            try:
                while b"\r\n\r\n" not in request:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    request += chunk
            except TimeoutError:
                pass
            if request.startswith(NEXT_LINE):
                return time.perf_counter()
            if request:
                conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def close(self) -> None:
        for conn in self._held:
            conn.close()
        self._sock.close()


def measure_once(spec: RuntimeSpec, scratch: Path, limit_s: float = 20.0) -> tuple[float, float]:
    """(wall, CPU) seconds from spawning the runtime to its first /next (a fresh listener each time: no stale
    retries). CPU is the runtime process's own, all its threads, children excluded: a busy machine stretches the
    wall time, much less the CPU time."""
    listener = Listener()
    env = runtimes.lambda_env(spec, listener.address, scratch)
    log_path = scratch / "coldstart.log"
    start = time.perf_counter()
    process = runtimes.start(spec, env, log_path)
    try:
        arrived = listener.wait_next(process, limit_s)
        cpu_s = cpu_seconds(process.pid)
    except ColdStartError as exc:
        raise ColdStartError(f"{exc}: {runtimes.log_tail(log_path)}") from None
    finally:
        runtimes.stop(process, grace_s=2.0)  # server mode stops its program on SIGTERM
        listener.close()
    return arrived - start, cpu_s


def cpu_seconds(pid: int) -> float:
    """CPU time the process has used so far, every thread, from /proc/PID/task/*/schedstat (nanoseconds)."""
    total_ns = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total_ns += int(stat.read_text().split()[0])
        except (OSError, ValueError, IndexError):  # a thread that just ended
            pass
    return total_ns / 1e9
