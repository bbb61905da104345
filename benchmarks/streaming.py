"""`python -m benchmarks.streaming [--quick|--full]`: a streamed answer against the buffered path, in one run.

Both sides run `wrapper run` behind the emulator with the same program (`head -c SIZE /dev/zero`, a producer that
is never the bottleneck); only `output.streaming` differs. Per size and path it measures the time to the first
body byte a caller receives, the time to the last, and the throughput (MB/s). The streamed path goes through a
Function URL in RESPONSE_STREAM mode; the buffered one through the invoke API (a buffered Function URL adds JSON
and base64 on top). Sizes above 6 MB have no buffered row: Lambda refuses buffered answers that large.
Medians of the iterations; nothing is asserted, the Markdown table goes to stdout.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the tests' local_lambda: `wrapper run` behind the emulator

from harness import local_lambda  # noqa: E402

MB = 1024 * 1024
BUFFERED_MAX = 6_291_000
QUICK = {"iterations": 3, "sizes": (5 * MB, 20 * MB)}
FULL = {"iterations": 15, "sizes": (1 * MB, 5 * MB, 50 * MB, 150 * MB)}
STREAM_PATH = "/2021-11-15/functions/function/response-streaming-invocations"
INVOKE_PATH = "/2015-03-31/functions/function/invocations"


def write_config(directory: Path, size: int, *, streaming: bool) -> Path:
    path = directory / f"{'stream' if streaming else 'buffer'}-{size}.yaml"
    output = f"{{streaming: true, max_bytes: {size + 1}}}" if streaming else f"{{max_bytes: {BUFFERED_MAX}}}"
    path.write_text(f"version: 1\ncommand: [head, -c, '{size}', /dev/zero]\noutput: {output}\ntimeout_s: 120\n")
    return path


def timed_request(address: str, method: str, path: str, body: bytes | None) -> tuple[float, float, int]:
    """(seconds to the first body byte, seconds to the last, body bytes) for one request."""
    host, port = address.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=300)
    started = time.perf_counter()
    conn.request(method, path, body=body)
    response = conn.getresponse()
    first = response.read1(65536)
    first_at = time.perf_counter()
    total = len(first)
    while piece := response.read1(1 << 20):
        total += len(piece)
    done_at = time.perf_counter()
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"{method} {path}: HTTP {response.status}")
    return first_at - started, done_at - started, total


def measure(make: Callable[[], tuple[float, float, int]], iterations: int, size: int, *,
            framed: bool = False) -> tuple[float, float, float]:
    """Median (first byte s, last byte s, payload MB/s) over the iterations, after one warm-up."""
    make()
    samples = [make() for _ in range(iterations)]
    for _, _, received in samples:
        if received != size and not (framed and received > size):  # frames add their headers and CRCs
            raise RuntimeError(f"received {received} bytes, expected {size}")
    first = statistics.median(s[0] for s in samples)
    last = statistics.median(s[1] for s in samples)
    return first, last, size / MB / last


def run(settings: dict, progress: Callable[[str], None]) -> list[tuple[str, int, tuple[float, float, float]]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="wrapper-bench-stream-") as scratch:
        for size in settings["sizes"]:
            config = write_config(Path(scratch), size, streaming=True)
            with local_lambda(config, timeout_s=200, invoke_mode="RESPONSE_STREAM", log=Path(scratch) / "log") as em:
                progress(f"streamed {size // MB} MB: Function URL")
                rows.append(("streamed: Function URL (RESPONSE_STREAM)", size, measure(
                    lambda: timed_request(em.address, "GET", "/", None), settings["iterations"], size)))
                progress(f"streamed {size // MB} MB: InvokeWithResponseStream")
                rows.append(("streamed: InvokeWithResponseStream (frames)", size, measure(
                    lambda: timed_request(em.address, "POST", STREAM_PATH, b"{}"), settings["iterations"], size,
                    framed=True)))
            if size <= BUFFERED_MAX:
                config = write_config(Path(scratch), size, streaming=False)
                with local_lambda(config, timeout_s=200, log=Path(scratch) / "log") as em:
                    progress(f"buffered {size // MB} MB: invoke API")
                    rows.append(("buffered: invoke API", size, measure(
                        lambda: timed_request(em.address, "POST", INVOKE_PATH, b"{}"), settings["iterations"], size)))
    return rows


def render(rows: list[tuple[str, int, tuple[float, float, float]]], mode: str) -> str:
    lines = [f"## Response streaming ({mode} run)", "",
             "| path | size | first byte (ms) | last byte (ms) | MB/s |", "|---|---:|---:|---:|---:|"]
    for label, size, (first, last, rate) in rows:
        lines.append(f"| {label} | {size // MB} MB | {first * 1000:.1f} | {last * 1000:.1f} | {rate:.0f} |")
    lines += ["", "| ratio, same size | first byte: buffered / streamed |", "|---|---:|"]
    by_key = {(label.split(":")[0], size): first for label, size, (first, _, _) in rows if "Function URL" in label
              or label.startswith("buffered")}
    for (kind, size), buffered_first in sorted(by_key.items()):
        streamed_first = by_key.get(("streamed", size))
        if kind == "buffered" and streamed_first:
            lines.append(f"| {size // MB} MB | {buffered_first / streamed_first:.1f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.streaming", description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="two sizes, three iterations (seconds)")
    size.add_argument("--full", action="store_true", help="four sizes up to 150 MB (default)")
    args = parser.parse_args(argv)
    settings, mode = (QUICK, "quick") if args.quick else (FULL, "full")
    started = time.monotonic()

    def progress(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    print(render(run(settings, progress), mode))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
