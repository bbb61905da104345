"""Running the rows: each runtime behind its own emulator, warmed up, then measured in alternating rounds.

Alternating (every row gets one batch per round, the order rotating each round) spreads whatever the machine
does meanwhile over all rows alike, so ratios within one case are fair even when absolute numbers drift.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks import caller, coldstart, runtimes
from benchmarks.cases import BLACKBOX_DIR, EXPORTER, Fixtures, Row


@dataclass(frozen=True)
class Settings:
    """How much to measure: invocations per batch, rounds, warm-up; trials for cold start; seconds for throughput."""

    warmup: int
    rounds: int
    batch: int
    big_warmup: int
    big_rounds: int
    big_batch: int
    cold_trials: int
    rate_rounds: int
    rate_duration_s: float
    rate_callers: int


QUICK = Settings(
    warmup=3,
    rounds=3,
    batch=8,
    big_warmup=1,
    big_rounds=2,
    big_batch=2,
    cold_trials=3,
    rate_rounds=2,
    rate_duration_s=0.5,
    rate_callers=8,
)
# Full: small batches over many rounds, so a burst of other work on the machine lands on every row alike.
FULL = Settings(
    warmup=20,
    rounds=40,
    batch=10,
    big_warmup=3,
    big_rounds=10,
    big_batch=3,
    cold_trials=15,
    rate_rounds=6,
    rate_duration_s=2.0,
    rate_callers=8,
)

Progress = Callable[[str], None]


class Running:
    """A row's runtime, live: its emulator, its process, a caller connected to the emulator."""

    def __init__(self, row: Row, scratch: Path) -> None:
        from wrapper.emulator import Emulator  # the only piece of wrapper the harness itself uses

        self.row = row
        self.log_path = scratch / "runtime.log"
        self.emulator = Emulator(runtime_argv=None, function_timeout_s=60.0).start()
        self.process: subprocess.Popen | None = None
        self.caller: caller.Caller | None = None
        try:
            env = runtimes.lambda_env(row.spec, self.emulator.address, scratch)
            self.process = runtimes.start(row.spec, env, self.log_path)
            runtimes.wait_idle(self.process, int(self.emulator.address.rpartition(":")[2]))
            row.idle_rss_kb = runtimes.memory_kb(self.process.pid)["VmRSS"]
            self.caller = caller.Caller(self.emulator.address)
        except BaseException:
            self.stop()
            raise

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(
                f"runtime exited with status {self.process.returncode}: {runtimes.log_tail(self.log_path)}"
            )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.row.peak_rss_kb = runtimes.memory_kb(self.process.pid)["VmHWM"]
        if self.caller is not None:
            self.caller.close()
        if self.process is not None:
            runtimes.stop(self.process)
        self.emulator.stop()


def fail(row: Row, exc: BaseException, running: Running | None = None) -> None:
    """Mark a row as failed, with the runtime's own last words when there are some."""
    tail = runtimes.log_tail(running.log_path, 300) if running is not None else ""
    row.status = f"error: {type(exc).__name__}: {exc}" + (f" | log: {tail}" if tail and tail not in str(exc) else "")


def latency_case(rows: list[Row], settings: Settings, scratch: Path, progress: Progress, *, big: bool = False) -> None:
    """Median/p95 per invocation, idle and peak RSS, for rows that run (status None)."""
    warmup, rounds, batch = (
        (settings.big_warmup, settings.big_rounds, settings.big_batch)
        if big
        else (settings.warmup, settings.rounds, settings.batch)
    )
    live: dict[str, Running] = {}
    try:
        for row in rows:
            if row.status is not None or row.spec is None:
                continue
            progress(f"  starting {row.label}")
            try:
                live[row.label] = Running(row, Path(tempfile.mkdtemp(dir=scratch)))
                for _ in range(warmup):
                    live[row.label].caller.checked(row.payload, row.check)
            except Exception as exc:  # noqa: BLE001 - a broken row must not hide the others
                fail(row, exc, live.pop(row.label, None))
        active = [row for row in rows if row.status is None]
        for number in range(rounds):
            shift = number % len(active) if active else 0
            for row in active[shift:] + active[:shift]:
                if row.status is not None:
                    continue
                try:
                    row.samples += sample(row, live.get(row.label), batch)
                except Exception as exc:  # noqa: BLE001 - the row shows the error
                    fail(row, exc, live.get(row.label))
            progress(f"  round {number + 1}/{rounds}")
    finally:
        for running in live.values():
            running.stop()


def sample(row: Row, running: Running | None, count: int) -> list[float]:
    if running is None:  # in-process: subprocess.run alone, no Runtime API
        samples = []
        for _ in range(count):
            start = time.perf_counter()
            result = subprocess.run(["cat"], input=row.payload, capture_output=True, check=True)
            samples.append(time.perf_counter() - start)
            if not row.check(result.stdout):
                raise caller.InvokeError("cat changed its input")
        return samples
    running.check_alive()
    return caller.time_invocations(running.caller, row.payload, row.check, count)


def throughput_case(rows: list[Row], settings: Settings, scratch: Path, progress: Progress) -> None:
    """Invocations per second with several callers at once, one emulator and runtime per row, alternating."""
    live: dict[str, Running] = {}
    try:
        for row in rows:
            if row.status is not None:
                continue
            progress(f"  starting {row.label}")
            try:
                live[row.label] = Running(row, Path(tempfile.mkdtemp(dir=scratch)))
                caller.throughput(
                    live[row.label].emulator.address,
                    row.payload,
                    row.check,
                    callers=settings.rate_callers,
                    duration_s=settings.rate_duration_s / 2,
                )
            except Exception as exc:  # noqa: BLE001 - the row shows the error
                fail(row, exc, live.pop(row.label, None))
        active = [row for row in rows if row.status is None]
        for number in range(settings.rate_rounds):
            order = active if number % 2 == 0 else active[::-1]
            for row in order:
                if row.status is not None:
                    continue
                try:
                    running = live[row.label]
                    running.check_alive()
                    # CPU in cores while it ran: is the runtime the limit, or the harness (emulator + callers)?
                    harness_before, runtime_before, start = _harness_cpu_s(), _tree_cpu_s(running), time.perf_counter()
                    row.rates.append(
                        caller.throughput(
                            running.emulator.address,
                            row.payload,
                            row.check,
                            callers=settings.rate_callers,
                            duration_s=settings.rate_duration_s,
                        )
                    )
                    wall = time.perf_counter() - start
                    row.cpu_cores.append(
                        ((_harness_cpu_s() - harness_before) / wall, (_tree_cpu_s(running) - runtime_before) / wall)
                    )
                except Exception as exc:  # noqa: BLE001 - the row shows the error
                    fail(row, exc, live.get(row.label))
            progress(f"  round {number + 1}/{settings.rate_rounds}")
    finally:
        for running in live.values():
            running.stop()


def _harness_cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def _tree_cpu_s(running: Running) -> float:
    """CPU seconds of the runtime and of its children it has reaped (the programs it ran)."""
    return runtimes.cpu_ticks(running.process.pid, children=True) / os.sysconf("SC_CLK_TCK")


def cold_start_case(rows: list[Row], settings: Settings, scratch: Path, progress: Progress) -> None:
    """Spawn → first /next, alternating runtimes trial by trial."""
    active = [row for row in rows if row.status is None and row.spec is not None]
    for trial in range(settings.cold_trials):
        for row in active[trial % len(active) :] + active[: trial % len(active)] if active else []:
            if row.status is not None:
                continue
            try:
                row.samples.append(coldstart.measure_once(row.spec, Path(tempfile.mkdtemp(dir=scratch))))
            except Exception as exc:  # noqa: BLE001 - the row shows the error
                fail(row, exc)
        progress(f"  trial {trial + 1}/{settings.cold_trials}")


def start_server_helpers(fx: Fixtures, progress: Progress) -> None:
    """The probe target (a static HTTP server) and, for the floor row, the exporter run directly."""
    site = fx.scratch / "site"
    site.mkdir(exist_ok=True)
    (site / "index.html").write_text("<html><body>benchmark target</body></html>\n")
    target = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(site), str(fx.target_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    fx.cleanups.append(lambda: runtimes.stop(target))
    exporter = subprocess.Popen(
        [
            EXPORTER,
            f"--config.file={fx.floor_modules or BLACKBOX_DIR / 'blackbox.yml'}",
            f"--web.listen-address=127.0.0.1:{fx.exporter_port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    fx.cleanups.append(lambda: runtimes.stop(exporter))
    wait_http(fx.target_port, "/")
    wait_http(fx.exporter_port, "/-/healthy")
    progress(f"  probe target on :{fx.target_port}, exporter on :{fx.exporter_port}")


def wait_http(port: int, path: str, limit_s: float = 10.0) -> None:
    deadline = time.monotonic() + limit_s
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing answers on 127.0.0.1:{port}{path}")
        time.sleep(0.05)
