"""`python -m benchmarks.instructions`: cold start as instructions executed, which the machine's load cannot change.

Each runtime runs under `valgrind --tool=callgrind --trace-children=yes` (every process of the runtime counted, the
zip's `/bin/sh` bootstrap included) from spawn to its first `GET /next`. The Runtime API here reads that request and
closes the connection, so each runtime then exits by its own error path (a few log lines). Rows: the packaged echo
zip, awslambdaric + a subprocess handler (in a site-packages of its own, as `benchmarks/packaged.py` sets up), and a
bare `python -S` that connects and sends the request, each in the environment the other benchmarks give a runtime
(`runtimes.lambda_env`). Needs valgrind (Debian: `apt-get install valgrind`).
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from benchmarks import packaged, runtimes
from benchmarks.runtimes import RuntimeSpec

NEXT = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"


def closing_api() -> str:
    """A loopback listener that reads each request head and closes the connection; its address."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            conn, _ = server.accept()
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk

    threading.Thread(target=serve, daemon=True).start()
    return f"127.0.0.1:{server.getsockname()[1]}"


def instructions(spec: RuntimeSpec, env: dict[str, str], out: Path) -> int:
    """Instructions of the runtime and its children under callgrind, summed over every process."""
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--trace-children=yes", f"--callgrind-out-file={out}/callgrind.%p",
         *spec.argv],
        cwd=spec.cwd, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    counts = [int(n) for n in re.findall(r"Collected : (\d+)", done.stderr)]
    if not counts:
        raise RuntimeError(f"{spec.name}: no callgrind totals: {done.stderr.strip()[-400:]}")
    return sum(counts)


def main() -> int:
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="wrapper-instructions-") as scratch_dir:
        scratch = Path(scratch_dir)
        api = closing_api()
        host, port = api.split(":")
        zip_spec, zip_error = packaged.zip_runtime(scratch, "wrapper: echo.yaml packaged (the zip's bootstrap)")
        if zip_spec is None:
            print(zip_error, file=sys.stderr)
            return 1
        ric = packaged.ric_python(scratch)
        bare = f"import socket; s = socket.create_connection(({host!r}, {port})); s.sendall({NEXT!r}); s.recv(1)"
        specs = [
            zip_spec,
            runtimes.ric("awslambdaric + subprocess.run(cat)", "run_cat", python=ric) if ric else None,
            RuntimeSpec("python -S: connect and send GET /next", [sys.executable, "-S", "-c", bare], cwd=scratch),
        ]
        print("| runtime | million instructions, spawn → first GET /next |\n|---|---|")
        for index, spec in enumerate(specs):
            if spec is None:
                print(f"| awslambdaric + subprocess.run(cat) | {runtimes.BENCH_EXTRA} |")
                continue
            out = scratch / f"out-{index}"
            out.mkdir()
            env = runtimes.lambda_env(spec, api, scratch)
            print(f"| {spec.name} | {instructions(spec, env, out) / 1e6:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
