"""Soak: N invocations through the emulator and a real `wrapper run`, mixing successes, errors and timeouts.

    PYTHONPATH=. python3 tests/reliability/soak.py --n 10000 --concurrency 1 4
    PYTHONPATH=. python3 tests/reliability/soak.py --mode hot --n 10000 --concurrency 1 4

Hot mode (`--mode hot`): one long-lived program per loop (programs/hot_soak.py) answers with the event's own data
and its pid; 10% of events get a non-JSON answer (an error that keeps the program), one at N*0.37 times out and
one at N*0.73 crashes (each replaces the program), and `max_events` recycles every program after N/10 answers.
Checked besides the above: no program generation answered more than N/10 events, and the runtime's children
never outnumber its loops.

Every invocation writes its own file into its scratch dir and the program answers with that file's content, so a
mix-up between invocations shows as a wrong answer. Checked: every invocation answered exactly once with the
outcome its kind calls for (emulator.stats.posts), one runtime process throughout; sampled every N/10
invocations (at a quiet point between batches): the runtime's open descriptors, threads, child processes and
RSS, the scratch dirs left, and processes left carrying the run's tag. Prints a Markdown table. Runs in the Lambda
sandbox (tests/lambda_sandbox.py, so as root) and fails if anything was written outside its tmp dirs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from reliability_helpers import (
    LAMBDA,
    PYTHON,
    Sandbox,
    descendants,
    error_type,
    fd_count,
    new_sandbox,
    program,
    rss_kib,
    runtime_pid,
    start_emulator,
    tagged_processes,
    thread_count,
    write_config,
)

TIMEOUT_S = 1.0  # the program's limit in the config; "slow" invocations sleep far past it
SCRIPT = 'case "$1" in ok) cat "$2";; fail) echo "failing on purpose" >&2; exit 3;; slow) sleep 30;; esac'
EXPECTED_ERROR = {"ok": None, "fail": "Function.NonZeroExit", "slow": "Function.Timeout"}
HOT_EXPECTED_ERROR = {"ok": None, "fail": "Function.InvalidOutput", "slow": "Function.Timeout",
                      "crash": "Function.NonZeroExit"}


def kind_of(number: int, total: int = 0, mode: str = "exec") -> str:
    """The mix: 1% timeouts, 10% errors, the rest successes, spread evenly (hot: one timeout, one crash)."""
    if mode == "hot":
        if number in (int(total * 0.37), int(total * 0.73)):
            return "slow" if number == int(total * 0.37) else "crash"
        return "fail" if number % 10 == 3 else "ok"
    if number % 100 == 7:
        return "slow"
    if number % 10 == 3:
        return "fail"
    return "ok"


@dataclass
class Sample:
    done: int
    fds: int
    threads: int
    children: int
    scratch_dirs: int
    tagged: int
    rss_kib: int


@dataclass
class SoakResult:
    invocations: int
    concurrency: int
    kinds: dict[str, int]
    answered_once: int
    wrong: list[str]
    runtime_starts: int
    duration_s: float
    samples: list[Sample] = field(default_factory=list)
    mode: str = "exec"
    generations: dict[int, int] = field(default_factory=dict)  # hot: program pid → events it answered

    @property
    def lost(self) -> int:
        return self.invocations - self.answered_once + len(self.wrong)


def soak_config(directory: Path, scratch: Path, tag: str) -> Path:
    return write_config(
        directory,
        f"""\
        command: [/bin/sh, -c, {json.dumps(SCRIPT)}, soak]
        inputs:
          kind: {{enum: [ok, fail, slow]}}
          data: {{}}
        files:
          data: {{value: data}}
        args:
          - {{value: kind}}
          - {{file: data}}
        env: {{RELIABILITY_TAG: {tag}}}
        timeout_s: {TIMEOUT_S}
        grace_s: 0.2
        scratch: {{dir: {scratch}}}
        """,
    )


def hot_soak_config(directory: Path, scratch: Path, tag: str, total: int) -> Path:
    return write_config(
        directory,
        f"""\
        mode: hot
        command: [{PYTHON}, {program("hot_soak")}]
        stdin: event
        output: {{format: json}}
        hot: {{max_events: {max(1, total // 10)}, restart_backoff_s: 0.05}}
        env: {{RELIABILITY_TAG: {tag}}}
        timeout_s: {TIMEOUT_S}
        grace_s: 0.2
        scratch: {{dir: {scratch}}}
        """,
    )


def run_soak(total: int, concurrency: int, sandbox: Sandbox, *, samples: int = 10, mode: str = "exec") -> SoakResult:
    """Run `total` invocations with `concurrency` callers and as many loops in one runtime."""
    scratch, tag = sandbox.scratch, sandbox.tag
    if mode == "hot":
        config = hot_soak_config(sandbox.dir, scratch, tag, total)
    else:
        config = soak_config(sandbox.dir, scratch, tag)
    expected_error = HOT_EXPECTED_ERROR if mode == "hot" else EXPECTED_ERROR
    step = max(1, total // samples)
    outcomes: dict[int, tuple[str, str | None, bytes]] = {}

    def one(number: int) -> None:
        kind = kind_of(number, total, mode)
        data = f"invocation {number} of {total}"
        result = emulator.invoke(json.dumps({"kind": kind, "data": data}).encode(), timeout_s=120)
        outcomes[number] = (result.request_id, error_type(result), result.body)

    with start_emulator(config, log=sandbox.log, timeout_s=60,
                        max_concurrency=concurrency if concurrency > 1 else None) as emulator:
        pid = runtime_pid(emulator)
        for warm in range(-concurrency * 2, 0):  # imports and first allocations before the first sample
            emulator.invoke(json.dumps({"kind": "ok", "data": str(warm)}).encode(), timeout_s=120)
        result = SoakResult(total, concurrency, {}, 0, [], 0, 0.0, mode=mode)
        started = time.monotonic()
        with ThreadPoolExecutor(concurrency) as pool:
            for batch_start in range(0, total, step):
                list(pool.map(one, range(batch_start, min(total, batch_start + step))))
                result.samples.append(Sample(
                    done=min(total, batch_start + step), fds=fd_count(pid), threads=thread_count(pid),
                    children=len(descendants(pid)), scratch_dirs=len(os.listdir(scratch)),
                    tagged=len(tagged_processes(tag)), rss_kib=rss_kib(pid)))
        result.duration_s = time.monotonic() - started
        stats = emulator.stats
        result.runtime_starts = stats.runtime_starts
    for number in range(total):
        kind = kind_of(number, total, mode)
        result.kinds[kind] = result.kinds.get(kind, 0) + 1
        if number not in outcomes:
            result.wrong.append(f"{number}: no answer")
            continue
        request_id, got, body = outcomes[number]
        if stats.posts.get(request_id) == 1:
            result.answered_once += 1
        expected_body = f"invocation {number} of {total}"
        if got != expected_error[kind]:
            result.wrong.append(f"{number} ({kind}): {got}: {body[:200]!r}")
        elif kind == "ok" and mode == "hot":
            answer = json.loads(body)
            result.generations[answer["pid"]] = max(result.generations.get(answer["pid"], 0), answer["n"])
            if answer["data"] != expected_body:
                result.wrong.append(f"{number}: someone else's answer: {body[:200]!r}")
        elif kind == "ok" and body != expected_body.encode():
            result.wrong.append(f"{number}: someone else's answer: {body[:200]!r}")
    return result


def table(results: list[SoakResult]) -> str:
    """The figures as a Markdown table."""
    rows = [
        (
            "| concurrency | invocations (ok / error / timeout) | answered exactly once | wrong or lost | runtime "
            "starts | open fds first → last | threads first → last | child processes (max) | scratch dirs left "
            "(max) | tagged processes left (max) | runtime RSS first → last (KiB) | wall time | invocations/s |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        first, last = r.samples[0], r.samples[-1]
        rows.append(
            f"| {r.concurrency} | {r.invocations} ({r.kinds.get('ok', 0)} / {r.kinds.get('fail', 0)} / "
            f"{r.kinds.get('slow', 0)}) | {r.answered_once} | {r.lost} | {r.runtime_starts} | "
            f"{first.fds} → {last.fds} | {first.threads} → {last.threads} | "
            f"{max(s.children for s in r.samples)} | {max(s.scratch_dirs for s in r.samples)} | "
            f"{max(s.tagged for s in r.samples)} | {first.rss_kib} → {last.rss_kib} | {r.duration_s:.0f} s | "
            f"{r.invocations / r.duration_s:.0f} |"
        )
    return "\n".join(rows)


def hot_table(results: list[SoakResult]) -> str:
    """Hot mode's figures as a Markdown table: the exec columns that apply, and the program generations."""
    rows = [
        "| concurrency | invocations (ok / error / timeout / crash) | answered exactly once | wrong or lost | runtime "
        "starts | program generations (most events one answered) | open fds first → last | threads first → last | "
        "child processes (max) | runtime RSS first → last (KiB) | wall time | invocations/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        first, last = r.samples[0], r.samples[-1]
        rows.append(
            f"| {r.concurrency} | {r.invocations} ({r.kinds.get('ok', 0)} / {r.kinds.get('fail', 0)} / "
            f"{r.kinds.get('slow', 0)} / {r.kinds.get('crash', 0)}) | {r.answered_once} | {r.lost} | "
            f"{r.runtime_starts} | {len(r.generations)} ({max(r.generations.values(), default=0)}) | "
            f"{first.fds} → {last.fds} | {first.threads} → {last.threads} | {max(s.children for s in r.samples)} | "
            f"{first.rss_kib} → {last.rss_kib} | {r.duration_s:.0f} s | {r.invocations / r.duration_s:.0f} |"
        )
    return "\n".join(rows)


def samples_table(result: SoakResult) -> str:
    rows = [f"concurrency {result.concurrency}: done, fds, threads, children, scratch dirs, tagged, RSS KiB"]
    rows += [f"  {s.done:6d} {s.fds:4d} {s.threads:3d} {s.children:3d} {s.scratch_dirs:3d} {s.tagged:3d} "
             f"{s.rss_kib:7d}" for s in result.samples]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=int(os.environ.get("WRAPPER_SOAK_N", "10000")))
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--mode", choices=["exec", "hot"], default="exec")
    args = parser.parse_args(argv)
    results = []
    for concurrency in args.concurrency:
        sandbox, _ = new_sandbox(f"soak-{args.mode}-c{concurrency}")
        result = run_soak(args.n, concurrency, sandbox, mode=args.mode)
        print(samples_table(result), file=sys.stderr, flush=True)
        for line in result.wrong[:20]:
            print("  WRONG", line, file=sys.stderr)
        results.append(result)
    print(hot_table(results) if args.mode == "hot" else table(results))
    outside = LAMBDA.writes_outside()
    for path in outside:
        print("  WRITTEN OUTSIDE THE SANDBOX'S TMP DIRS", path, file=sys.stderr)
    return 0 if all(r.lost == 0 for r in results) and not outside else 1


if __name__ == "__main__":
    sys.exit(main())
