"""`python -m benchmarks [--quick|--full] [--cases CASE ...]`: wrapper against the runtimes people use, in one run.

Installs nothing: awslambdaric comes from the `bench` extra, curl and the blackbox exporter from the system;
a row whose runtime is missing says so instead of failing. Progress goes to stderr, the tables (Markdown) to
stdout. Exit status 1 when a row that could run failed.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import cases, measure, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="few iterations, well under a minute (CI)")
    size.add_argument("--full", action="store_true", help="the published run, a few minutes (default)")
    parser.add_argument(
        "--cases",
        nargs="+",
        choices=cases.CASES,
        default=list(cases.CASES),
        metavar="CASE",
        help=f"cases to run (default all): {', '.join(cases.CASES)}",
    )
    args = parser.parse_args(argv)
    settings, mode = (measure.QUICK, "quick") if args.quick else (measure.FULL, "full")
    selected = tuple(c for c in cases.CASES if c in args.cases)
    command = "python -m benchmarks " + shlex.join(sys.argv[1:] if argv is None else argv)
    started, load_before = time.monotonic(), os.getloadavg()[0]

    def progress(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="wrapper-bench-") as scratch:
        fixtures = cases.Fixtures(Path(scratch))
        try:
            rows = cases.build_rows(selected, fixtures)
            run_cases(rows, selected, settings, fixtures, progress)
        finally:
            for cleanup in reversed(fixtures.cleanups):
                cleanup()
    print(
        report.render(
            rows, mode, command, callers=settings.rate_callers, load_before=load_before, notes=notes(fixtures)
        )
    )
    progress("done")
    failed = [row for row in rows if row.status and row.status.startswith("error")]
    for row in failed:
        print(f"FAILED: {row.case}: {row.label}: {row.status}", file=sys.stderr)
    return 1 if failed else 0


def notes(fixtures: cases.Fixtures) -> list[str]:
    """Say how wrapper's configs were run: compiled as `wrapper package` ships them, or YAML."""
    if not fixtures.compiled:
        return []
    compiled = sorted(name for name, done in fixtures.compiled.items() if done)
    plain = sorted(name for name, done in fixtures.compiled.items() if not done)
    lines = []
    if compiled:
        lines.append(
            "wrapper configs compiled beside the YAML (`wrapper check --compile`, as `wrapper package` ships them): "
            f"{', '.join(compiled)}"
        )
    if plain:
        lines.append(f"wrapper configs run as YAML (compiling failed or is not supported): {', '.join(plain)}")
    return lines


def run_cases(rows, selected, settings, fixtures, progress) -> None:
    def by_case(case):
        return [row for row in rows if row.case == case]

    for case in selected:
        progress(f"case {case}")
        scratch = fixtures.scratch / f"case-{case}"
        scratch.mkdir()
        if case == "server" and any(row.status is None for row in by_case(case)):
            try:
                measure.start_server_helpers(fixtures, progress)
            except Exception as exc:  # noqa: BLE001 - reported on the rows it affects
                for row in by_case(case):
                    row.status = row.status or f"error: {exc}"
        if case == "cold-start":
            measure.cold_start_case(by_case(case), settings, scratch, progress)
        elif case == "concurrency":
            measure.throughput_case(by_case(case), settings, scratch, progress)
        else:
            measure.latency_case(by_case(case), settings, scratch, progress, big=case.endswith("5mb"))


if __name__ == "__main__":
    raise SystemExit(main())
