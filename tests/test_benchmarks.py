"""The benchmark harness runs end to end in its quick form and prints every row. No timing is ever asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Every row the quick run must print, by label (a missing runtime prints "not installed (...)" on its row).
LATENCY_ROWS = [
    "wrapper: configs/echo.yaml",
    "wrapper: configs/echo-hot.yaml (hot mode)",
    "bash + curl bootstrap (cat)",
    "awslambdaric + subprocess.run(cat)",
    "awslambdaric echo (no child)",
    "stdlib loop: API floor (no child)",
    "stdlib loop + direct spawn of cat",
    "requests.Session loop (no child)",
    "subprocess.run(cat) alone, no API",
    "wrapper: cat 5 MB file",
    "stdlib loop + direct cat of the file",
    "wrapper: echo.yaml, 5 MB event",
    "stdlib loop + direct cat, 5 MB event",
    "wrapper: blackbox example (server mode)",
    "wrapper: blackbox example without the egress guard",
    "stdlib loop + direct GET /probe",
]
THROUGHPUT_ROWS = ["wrapper echo, single loop", "wrapper echo, AWS_LAMBDA_MAX_CONCURRENCY=4"]
COLD_START_ROWS = ["python: interpreter + one socket", "wrapper: echo.yaml without its compiled form"]
SECTIONS = ["## Per invocation", "## Cold start", "## Throughput", "## Ratios", "## Goals"]


def test_quick_run_completes_and_prints_every_row() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr[-4000:]}"
    for heading in SECTIONS:
        assert heading in run.stdout
    table_lines = [line for line in run.stdout.splitlines() if line.startswith("| ")]
    for label in LATENCY_ROWS + THROUGHPUT_ROWS + COLD_START_ROWS:
        assert any(f"| {label} " in line for line in table_lines), f"row {label!r} missing:\n{run.stdout}"
    assert "not measured" not in run.stdout.split("## Goals")[1] or "not installed" in run.stdout


def test_cases_option_runs_only_what_it_names() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--cases", "cold-start"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    assert "## Cold start" in run.stdout
    assert "## Per invocation" not in run.stdout


def test_streaming_benchmark_quick_run_prints_streamed_and_buffered_rows() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.streaming", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    for row in ("| streamed: Function URL (RESPONSE_STREAM) | 5 MB |", "| buffered: invoke API | 5 MB |",
                "| streamed: InvokeWithResponseStream (frames) | 20 MB |", "| 5 MB |"):
        assert row in run.stdout, run.stdout
