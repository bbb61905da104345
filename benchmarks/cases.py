"""The cases of issue 6 and the baselines each is compared with, as data: rows grouped by case.

A row is one runtime (or, for "subprocess.run alone", one in-process measurement) with the event it is sent
and how its answer is checked. `subject` rows are wrapper; the others are the baselines it is compared with
in the same run.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from benchmarks import caller, runtimes
from benchmarks.runtimes import REPO, RuntimeSpec

ECHO_CONFIG = REPO / "configs" / "echo.yaml"
ECHO_HOT_CONFIG = REPO / "configs" / "echo-hot.yaml"
BLACKBOX_DIR = REPO / "examples" / "blackbox-exporter"
EXPORTER = "prometheus-blackbox-exporter"
ECHO_EVENT = b'{"hello": "world!", "n": 42}'
BIG_BYTES = 5 * 1024 * 1024
CONCURRENCY = 4

CASES = ("echo", "stdout-5mb", "event-5mb", "server", "concurrency", "cold-start")

# rows (in every case) that the goals table reads, by label
WRAPPER_ECHO = "wrapper: configs/echo.yaml"
WRAPPER_ECHO_HOT = "wrapper: configs/echo-hot.yaml (hot mode)"
WRAPPER_ECHO_YAML = "wrapper: echo.yaml without its compiled form"
BASH = "bash + curl bootstrap (cat)"
RIC_CAT = "awslambdaric + subprocess.run(cat)"
RIC_ECHO = "awslambdaric echo (no child)"
FLOOR = "stdlib loop: API floor (no child)"
FLOOR_SPAWN = "stdlib loop + direct spawn of cat"
REQUESTS_LOOP = "requests.Session loop (no child)"
SPAWN_ALONE = "subprocess.run(cat) alone, no API"
INTERPRETER = "python: interpreter + one socket"
WRAPPER_STDOUT = "wrapper: cat 5 MB file"
FLOOR_STDOUT = "stdlib loop + direct cat of the file"
WRAPPER_EVENT = "wrapper: echo.yaml, 5 MB event"
FLOOR_EVENT = "stdlib loop + direct cat, 5 MB event"
WRAPPER_SERVER = "wrapper: blackbox example (server mode)"
WRAPPER_SERVER_NO_GUARD = "wrapper: blackbox example without the egress guard"
FLOOR_SERVER = "stdlib loop + direct GET /probe"
WRAPPER_C1 = "wrapper echo, single loop"
WRAPPER_C4 = f"wrapper echo, AWS_LAMBDA_MAX_CONCURRENCY={CONCURRENCY}"


@dataclass
class Row:
    """One line of a table, and what its measurements came to."""

    case: str
    label: str
    spec: RuntimeSpec | None  # None: measured in-process (SPAWN_ALONE)
    payload: bytes = ECHO_EVENT
    check: caller.Check = field(default=lambda body: True)
    subject: bool = False
    status: str | None = None  # "not installed (...)" or "error: ..." instead of numbers
    samples: list[float] = field(default_factory=list)  # seconds per invocation
    idle_rss_kb: int | None = None
    peak_rss_kb: int | None = None
    rates: list[float] = field(default_factory=list)  # invocations per second (concurrency case)
    cpu_cores: list[tuple[float, float]] = field(default_factory=list)  # (harness, runtime tree) per rate
    payload_bytes: int = 0  # the big cases: the size the "above idle" goal is relative to


@dataclass
class Fixtures:
    """Files and helper processes the cases need, made once per run in a scratch directory."""

    scratch: Path
    echo_config: Path | None = None  # configs/echo.yaml as packaged: a copy, compiled beside it when wrapper can
    echo_hot_config: Path | None = None  # configs/echo-hot.yaml, the same way
    big_file: Path | None = None
    stdout_config: Path | None = None
    server_config: Path | None = None
    server_config_no_guard: Path | None = None
    floor_modules: Path | None = None  # blackbox.yml without the egress guard, for the exporter called directly
    exporter_port: int = 0
    target_port: int = 0
    cleanups: list[Callable[[], None]] = field(default_factory=list)
    compiled: dict[str, bool] = field(default_factory=dict)  # config file name → compiled form written


def package_config(config: Path, fx: Fixtures) -> Path:
    """Compile config beside itself as `wrapper package` ships it (`wrapper check --compile`); return config.

    A wrapper without compiled configs leaves the YAML alone and validates it at every cold start.
    """
    result = subprocess.run(
        [sys.executable, "-m", "wrapper", "check", "--compile", config.name],
        cwd=config.parent,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        timeout=60,
        check=False,
    )
    fx.compiled[config.name] = result.returncode == 0 and any(config.parent.glob("*.compiled.json"))
    return config


def echo_config(fx: Fixtures) -> Path:
    """configs/echo.yaml, copied to the scratch directory and compiled there (the repo tree stays untouched)."""
    if fx.echo_config is None:
        directory = fx.scratch / "config-echo"
        directory.mkdir()
        fx.echo_config = package_config(Path(shutil.copy(ECHO_CONFIG, directory / ECHO_CONFIG.name)), fx)
    return fx.echo_config


def echo_hot_config(fx: Fixtures) -> Path:
    """configs/echo-hot.yaml, copied and compiled like echo_config."""
    if fx.echo_hot_config is None:
        directory = fx.scratch / "config-echo-hot"
        directory.mkdir()
        fx.echo_hot_config = package_config(Path(shutil.copy(ECHO_HOT_CONFIG, directory / ECHO_HOT_CONFIG.name)), fx)
    return fx.echo_hot_config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def big_event() -> bytes:
    """A 5 MiB JSON event."""
    head, tail = b'{"data": "', b'"}'
    return head + b"x" * (BIG_BYTES - len(head) - len(tail)) + tail


def write_stdout_config(scratch: Path) -> tuple[Path, Path]:
    """A 5 MiB text file and a config that cats it (no stdin, raw output)."""
    big_file = scratch / "big.txt"
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyz\n"
    big_file.write_bytes((line * (BIG_BYTES // len(line) + 1))[:BIG_BYTES])
    (scratch / "config-stdout").mkdir()
    config = scratch / "config-stdout" / "stdout-5mb.yaml"
    config.write_text(
        "# benchmark: 5 MiB of stdout, event ignored\n"
        "version: 1\n"
        f"command: [cat, {big_file}]\n"
        "output:\n  format: raw\n"
        "timeout_s: 30\n"
    )
    return big_file, config


def copy_server_config(scratch: Path, target_port: int, *, guard: bool) -> Path:
    """The blackbox example on free ports, allowed to probe exactly the local target (127.0.0.1:target_port).

    The example refuses loopback targets (SSRF guard) and listens on the fixed 9115 and 9116; a benchmark on a
    shared machine needs neither. With guard=False the HTTP modules connect directly and no guard runs: the
    difference between the two rows is what the egress guard adds per probe. Everything else is as shipped.
    """
    import yaml  # PyYAML is a dependency of wrapper; only the harness reads YAML here

    directory = scratch / ("config-blackbox" if guard else "config-blackbox-no-guard")
    directory.mkdir()
    config = yaml.safe_load((BLACKBOX_DIR / "wrapper.yaml").read_text())
    modules = (BLACKBOX_DIR / "blackbox.yml").read_text()
    port, guard_port = free_port(), free_port()
    listen = [i for i, word in enumerate(config["command"]) if word.startswith("--web.listen-address=")]
    proxy = "proxy_url: http://127.0.0.1:9116"
    if len(listen) != 1 or modules.count(proxy) != 2 or not config.get("egress", {}).get("guard"):
        raise RuntimeError("examples/blackbox-exporter changed shape; update benchmarks/cases.py")
    config["command"][listen[0]] = f"--web.listen-address=127.0.0.1:{port}"
    config["server"]["port"] = port
    config["inputs"]["target"]["destination"]["allow"] = [f"127.0.0.1:{target_port}"]
    if guard:
        config["egress"].update(port=guard_port, allow=[f"127.0.0.1:{target_port}"])
        modules = modules.replace(proxy, f"proxy_url: http://127.0.0.1:{guard_port}")
    else:
        config["egress"]["guard"] = False
        modules = without_guard(modules)
    (directory / "blackbox.yml").write_text(modules)
    (directory / "wrapper.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return directory / "wrapper.yaml"


def without_guard(modules: str) -> str:
    """blackbox.yml with the HTTP modules connecting directly (no proxy_url, the exporter resolves names itself)."""
    kept = [line for line in modules.splitlines(keepends=True)
            if line.strip().split(":")[0] not in ("proxy_url", "skip_resolve_phase_with_proxy")]
    return "".join(kept)


def build_rows(selected: tuple[str, ...], fx: Fixtures) -> list[Row]:
    """Every row of the selected cases (cold-start rows are runtimes of the echo case plus two)."""
    rows: list[Row] = []
    echo_check = caller.same_json(ECHO_EVENT)
    echo_rows = [
        Row(
            "echo",
            WRAPPER_ECHO,
            runtimes.wrapper_runtime(WRAPPER_ECHO, echo_config(fx)),
            check=echo_check,
            subject=True,
        ),
        Row(
            "echo",
            WRAPPER_ECHO_HOT,
            runtimes.wrapper_runtime(WRAPPER_ECHO_HOT, echo_hot_config(fx)),
            check=echo_check,
            subject=True,
        ),
        Row("echo", BASH, runtimes.bash_curl(BASH), check=echo_check),
        Row("echo", RIC_CAT, runtimes.ric(RIC_CAT, "run_cat"), check=echo_check),
        Row("echo", RIC_ECHO, runtimes.ric(RIC_ECHO, "echo"), check=echo_check),
        Row("echo", FLOOR, runtimes.stdlib_loop(FLOOR), check=echo_check),
        Row("echo", FLOOR_SPAWN, runtimes.stdlib_loop(FLOOR_SPAWN, "--spawn", "cat"), check=echo_check),
        Row("echo", REQUESTS_LOOP, runtimes.stdlib_loop(REQUESTS_LOOP, "--requests"), check=echo_check),
    ]
    if "echo" in selected:
        rows += echo_rows
        rows.append(Row("echo", SPAWN_ALONE, None, check=echo_check))
    if "stdout-5mb" in selected:
        if fx.stdout_config is None:
            fx.big_file, fx.stdout_config = write_stdout_config(fx.scratch)
            package_config(fx.stdout_config, fx)
        size = caller.same_length(BIG_BYTES)
        rows += [
            Row(
                "stdout-5mb",
                WRAPPER_STDOUT,
                runtimes.wrapper_runtime(WRAPPER_STDOUT, fx.stdout_config),
                payload=b"{}",
                check=size,
                subject=True,
                payload_bytes=BIG_BYTES,
            ),
            Row(
                "stdout-5mb",
                FLOOR_STDOUT,
                runtimes.stdlib_loop(FLOOR_STDOUT, "--spawn-no-stdin", "cat", str(fx.big_file)),
                payload=b"{}",
                check=size,
                payload_bytes=BIG_BYTES,
            ),
        ]
    if "event-5mb" in selected:
        event = big_event()
        size = caller.same_length(len(event))
        rows += [
            Row(
                "event-5mb",
                WRAPPER_EVENT,
                runtimes.wrapper_runtime(WRAPPER_EVENT, echo_config(fx)),
                payload=event,
                check=size,
                subject=True,
                payload_bytes=len(event),
            ),
            Row(
                "event-5mb",
                FLOOR_EVENT,
                runtimes.stdlib_loop(FLOOR_EVENT, "--spawn", "cat"),
                payload=event,
                check=size,
                payload_bytes=len(event),
            ),
        ]
    if "server" in selected:
        rows += server_rows(fx)
    if "concurrency" in selected:
        rows += [
            Row("concurrency", WRAPPER_C1, runtimes.wrapper_runtime(WRAPPER_C1, echo_config(fx)), check=echo_check),
            Row(
                "concurrency",
                WRAPPER_C4,
                runtimes.wrapper_runtime(WRAPPER_C4, echo_config(fx), {"AWS_LAMBDA_MAX_CONCURRENCY": str(CONCURRENCY)}),
                check=echo_check,
                subject=True,
            ),
        ]
    if "cold-start" in selected:
        rows += [Row("cold-start", r.label, r.spec, subject=r.subject) for r in echo_rows]
        yaml_only = fx.scratch / "config-echo-yaml"
        yaml_only.mkdir()
        config = Path(shutil.copy(ECHO_CONFIG, yaml_only / ECHO_CONFIG.name))
        rows.append(Row("cold-start", WRAPPER_ECHO_YAML, runtimes.wrapper_runtime(WRAPPER_ECHO_YAML, config)))
        interpreter = RuntimeSpec(
            INTERPRETER,
            [
                sys.executable,
                "-c",
                (
                    "import os, socket; h, _, p = os.environ['AWS_LAMBDA_RUNTIME_API'].rpartition(':'); "
                    "s = socket.create_connection((h, int(p))); "
                    "s.sendall(b'GET /2018-06-01/runtime/invocation/next HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'); s.recv(1)"
                ),
            ],
        )
        rows.append(Row("cold-start", INTERPRETER, interpreter))
        server = [r for r in rows if r.case == "server" and r.label == WRAPPER_SERVER]
        if server:
            rows.append(Row("cold-start", WRAPPER_SERVER, server[0].spec, subject=True, status=server[0].status))
    for row in rows:
        if row.status is None and row.spec is not None:
            row.status = row.spec.missing()
    return rows


def server_rows(fx: Fixtures) -> list[Row]:
    """The blackbox example (with and without its egress guard) against the exporter called directly."""
    probed = caller.contains(b"probe_success 1")
    wrapper_row = Row("server", WRAPPER_SERVER, None, subject=True, check=probed)
    no_guard_row = Row("server", WRAPPER_SERVER_NO_GUARD, None, check=probed)
    floor_row = Row("server", FLOOR_SERVER, None, check=probed)
    rows = [wrapper_row, no_guard_row, floor_row]
    if shutil.which(EXPORTER) is None:
        for row in rows:
            row.status = f"not installed ({EXPORTER})"
        return rows
    if not fx.target_port:
        fx.target_port, fx.exporter_port = free_port(), free_port()
    if not (BLACKBOX_DIR / "wrapper.yaml").exists():
        wrapper_row.status = no_guard_row.status = "error: examples/blackbox-exporter/wrapper.yaml is missing"
    if fx.server_config is None and wrapper_row.status is None:
        fx.server_config = package_config(copy_server_config(fx.scratch, fx.target_port, guard=True), fx)
        fx.server_config_no_guard = package_config(copy_server_config(fx.scratch, fx.target_port, guard=False), fx)
    if fx.floor_modules is None:
        fx.floor_modules = fx.scratch / "floor-blackbox.yml"
        fx.floor_modules.write_text(without_guard((BLACKBOX_DIR / "blackbox.yml").read_text()))
    target = f"http://127.0.0.1:{fx.target_port}/"
    env = {"WRAPPER_BEARER_TOKEN": "bench"}
    for row, config in ((wrapper_row, fx.server_config), (no_guard_row, fx.server_config_no_guard)):
        row.payload = b'{"target": "%s", "module": "http_2xx"}' % target.encode()
        if config is not None:
            row.spec = runtimes.wrapper_runtime(row.label, config, env)
    probe = f"http://127.0.0.1:{fx.exporter_port}/probe?" + urlencode({"target": target, "module": "http_2xx"})
    floor_row.spec = runtimes.stdlib_loop(FLOOR_SERVER, "--get", probe)
    return rows
