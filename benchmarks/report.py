"""The printed result: Markdown tables (latency, cold start, throughput, ratios) and the goals of issues 6 and 13.

Pure formatting over measured rows; a row that did not run shows its status in place of numbers.
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks import cases
from benchmarks.caller import median, p95
from benchmarks.cases import Row

MB = 1024.0  # kB per MiB


def machine() -> str:
    """Date, cores, CPU model, Python: the line every published table needs."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.partition(":")[2].strip()
                    break
    except OSError:
        pass
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    python = f"Python {platform.python_version()} ({sys.executable})"
    return f"{now}; {os.cpu_count()} cores ({model}); {python}; {platform.system()} {platform.release()}"


def table(header: list[str], lines: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines, strict=True)]

    def fmt(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([fmt(header), rule] + [fmt(line) for line in lines])


def ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.2f}"


def mib(kb: int | None) -> str:
    return "—" if kb is None else f"{kb / MB:.1f}"


def latency_table(rows: list[Row]) -> str:
    lines = []
    for row in rows:
        if row.status is not None or not row.samples:
            lines.append([row.case, row.label, row.status or "no samples", "", "", "", ""])
            continue
        above = None if row.peak_rss_kb is None or row.idle_rss_kb is None else row.peak_rss_kb - row.idle_rss_kb
        lines.append(
            [
                row.case,
                row.label,
                ms(median(row.samples)),
                ms(p95(row.samples)),
                str(len(row.samples)),
                mib(row.peak_rss_kb),
                mib(above),
            ]
        )
    return table(["case", "runtime", "median ms", "p95 ms", "n", "peak RSS MiB", "RSS above idle MiB"], lines)


def cold_start_table(rows: list[Row]) -> str:
    lines = []
    for row in rows:
        if row.status is not None or not row.samples:
            lines.append([row.label, row.status or "no samples", "", "", "", ""])
            continue
        cpu = ms(median(row.cpu_samples)) if row.cpu_samples else "—"
        lines.append(
            [row.label, ms(median(row.samples)), ms(min(row.samples)), ms(p95(row.samples)), cpu, str(len(row.samples))]
        )
    return table(["runtime", "median ms", "min ms", "p95 ms", "median CPU ms", "n"], lines)


def throughput_table(rows: list[Row]) -> str:
    lines = []
    for row in rows:
        if row.status is not None or not row.rates:
            lines.append([row.label, row.status or "no samples", "", "", "", "", ""])
            continue
        harness = statistics.median(c[0] for c in row.cpu_cores) if row.cpu_cores else None
        runtime = statistics.median(c[1] for c in row.cpu_cores) if row.cpu_cores else None
        lines.append(
            [
                row.label,
                f"{statistics.median(row.rates):.0f}",
                f"{min(row.rates):.0f}–{max(row.rates):.0f}",
                str(len(row.rates)),
                "—" if runtime is None else f"{runtime:.2f}",
                "—" if harness is None else f"{harness:.2f}",
                mib(row.peak_rss_kb),
            ]
        )
    header = [
        "runtime",
        "median invocations/s",
        "range",
        "rounds",
        "CPU cores: runtime + programs",
        "CPU cores: harness",
    ]
    return table(header + ["peak RSS MiB"], lines)


def find(rows: list[Row], case: str, label: str) -> Row | None:
    for row in rows:
        if row.case == case and row.label == label and row.status is None and (row.samples or row.rates):
            return row
    return None


def ratio_table(rows: list[Row]) -> str:
    """Each wrapper row against each baseline of its case: latency, and for echo also cold start and RSS."""
    lines = []
    for subject in [r for r in rows if r.subject and r.case in ("echo", "stdout-5mb", "event-5mb", "server")]:
        mine = find(rows, subject.case, subject.label)
        for base in [r for r in rows if r.case == subject.case and not r.subject]:
            theirs = find(rows, base.case, base.label)
            if mine is None or theirs is None:
                lines.append([subject.label, base.label, "n/a", "", "", ""])
                continue
            m, t = median(mine.samples), median(theirs.samples)
            rss = f"{mine.peak_rss_kb / theirs.peak_rss_kb:.2f}×" if mine.peak_rss_kb and theirs.peak_rss_kb else "—"
            cold = "—"
            if subject.case == "echo":
                cm, ct = find(rows, "cold-start", subject.label), find(rows, "cold-start", base.label)
                if cm and ct:
                    cold = f"{median(cm.samples) / median(ct.samples):.2f}×"
            lines.append([subject.label, base.label, f"{m / t:.2f}×", f"{(m - t) * 1000:+.2f}", rss, cold])
    return table(
        ["wrapper row", "baseline (same run)", "latency ×", "Δ median ms", "peak RSS ×", "cold start ×"], lines
    )


@dataclass(frozen=True)
class Goal:
    text: str
    target: str
    measure: Callable[[list[Row]], float | None]
    limit: float
    at_most: bool  # True: measured must be ≤ limit; False: ≥ limit
    unit: str = "×"


def _ratio(case_a: str, a: str, case_b: str, b: str, pick=median) -> Callable[[list[Row]], float | None]:
    def measure(rows: list[Row]) -> float | None:
        x, y = find(rows, case_a, a), find(rows, case_b, b)
        return None if x is None or y is None else pick(x.samples) / pick(y.samples)

    return measure


def _cpu_ratio(rows: list[Row]) -> float | None:
    x, y = find(rows, "cold-start", cases.WRAPPER_ZIP), find(rows, "cold-start", cases.RIC_CAT)
    return median(x.cpu_samples) / median(y.cpu_samples) if x and y and x.cpu_samples and y.cpu_samples else None


def _echo_overhead(rows: list[Row]) -> float | None:
    x, y = find(rows, "echo", cases.WRAPPER_ECHO), find(rows, "echo", cases.FLOOR_SPAWN)
    return None if x is None or y is None else (median(x.samples) - median(y.samples)) * 1000


def _hot_overhead(rows: list[Row]) -> float | None:
    x, y = find(rows, "echo", cases.WRAPPER_ECHO_HOT), find(rows, "echo", cases.FLOOR)
    return None if x is None or y is None else (median(x.samples) - median(y.samples)) * 1000


def _rss_ratio(rows: list[Row]) -> float | None:
    x, y = find(rows, "echo", cases.WRAPPER_ECHO), find(rows, "echo", cases.RIC_CAT)
    return x.peak_rss_kb / y.peak_rss_kb if x and y and x.peak_rss_kb and y.peak_rss_kb else None


def _above_idle(case: str, label: str) -> Callable[[list[Row]], float | None]:
    def measure(rows: list[Row]) -> float | None:
        x = find(rows, case, label)
        if x is None or x.peak_rss_kb is None or x.idle_rss_kb is None or not x.payload_bytes:
            return None
        return (x.peak_rss_kb - x.idle_rss_kb) * 1024 / x.payload_bytes

    return measure


def _rate_ratio(rows: list[Row]) -> float | None:
    x, y = find(rows, "concurrency", cases.WRAPPER_C4), find(rows, "concurrency", cases.WRAPPER_C1)
    return None if x is None or y is None else statistics.median(x.rates) / statistics.median(y.rates)


GOALS = [
    Goal(
        "echo: median vs awslambdaric + subprocess.run",
        "≤ 1.0×",
        _ratio("echo", cases.WRAPPER_ECHO, "echo", cases.RIC_CAT),
        1.0,
        True,
    ),
    Goal(
        "echo: bash + curl median ÷ wrapper median",
        "≥ 10×",
        _ratio("echo", cases.BASH, "echo", cases.WRAPPER_ECHO),
        10.0,
        False,
    ),
    Goal("echo: overhead over API floor + direct spawn", "≤ 0.5 ms", _echo_overhead, 0.5, True, " ms"),
    Goal(
        "cold start vs awslambdaric + subprocess handler",
        "≤ 1.0×",
        _ratio("cold-start", cases.WRAPPER_ZIP, "cold-start", cases.RIC_CAT),
        1.0,
        True,
    ),
    Goal("cold start CPU (the runtime's own) vs the same", "≤ 1.0×", _cpu_ratio, 1.0, True),
    Goal("peak RSS vs awslambdaric + subprocess handler", "≤ 1.2×", _rss_ratio, 1.2, True),
    Goal(
        "5 MB stdout: end to end vs floor + direct cat",
        "≤ 2×",
        _ratio("stdout-5mb", cases.WRAPPER_STDOUT, "stdout-5mb", cases.FLOOR_STDOUT),
        2.0,
        True,
    ),
    Goal(
        "5 MB event: end to end vs floor + direct cat",
        "≤ 2×",
        _ratio("event-5mb", cases.WRAPPER_EVENT, "event-5mb", cases.FLOOR_EVENT),
        2.0,
        True,
    ),
    Goal(
        "5 MB stdout: peak RSS above idle ÷ payload", "≤ 3×", _above_idle("stdout-5mb", cases.WRAPPER_STDOUT), 3.0, True
    ),
    Goal("5 MB event: peak RSS above idle ÷ payload", "≤ 3×", _above_idle("event-5mb", cases.WRAPPER_EVENT), 3.0, True),
    Goal(
        "server mode: median vs floor + GET /probe directly",
        "≤ 1.2×",
        _ratio("server", cases.WRAPPER_SERVER, "server", cases.FLOOR_SERVER),
        1.2,
        True,
    ),
    Goal(f"MAX_CONCURRENCY={cases.CONCURRENCY} throughput ÷ single loop", "≥ 1.8×", _rate_ratio, 1.8, False),
    # issue 13: hot mode, one cat answering every event
    Goal(
        "hot echo: awslambdaric + subprocess.run median ÷ hot median",
        "≥ 2×",
        _ratio("echo", cases.RIC_CAT, "echo", cases.WRAPPER_ECHO_HOT),
        2.0,
        False,
    ),
    Goal(
        "hot echo: bash + curl median ÷ hot median",
        "≥ 25×",
        _ratio("echo", cases.BASH, "echo", cases.WRAPPER_ECHO_HOT),
        25.0,
        False,
    ),
    Goal("hot echo: overhead over the API floor (no child)", "≤ 0.3 ms", _hot_overhead, 0.3, True, " ms"),
]


def goals_table(rows: list[Row]) -> str:
    lines = []
    for goal in GOALS:
        value = goal.measure(rows)
        if value is None:
            lines.append([goal.text, goal.target, "not measured", "—", ""])
            continue
        met = value <= goal.limit if goal.at_most else value >= goal.limit
        gap = abs(value - goal.limit)
        if goal.unit == " ms":
            margin = f"{gap:.2f} ms {'to spare' if met else 'over'}"
        else:
            margin = f"{gap / goal.limit:.0%} {'to spare' if met else ('over' if goal.at_most else 'short')}"
        lines.append([goal.text, goal.target, f"{value:.2f}{goal.unit}", "met" if met else "NOT met", margin])
    return table(["goal (issues 6, 13)", "target", "measured", "status", "margin"], lines)


def render(rows: list[Row], mode: str, command: str, *, callers: int, load_before: float, notes: list[str]) -> str:
    """The whole report; the load averages say how busy the machine was (other work skews absolute numbers)."""
    load = f"1-min load average {load_before:.2f} at start, {os.getloadavg()[0]:.2f} at end"
    parts = [
        f"# wrapper benchmarks ({mode})",
        "",
        f"Machine: {machine()}",
        f"Load: {load}",
        f"Command: `{command}`",
        *[f"Note: {note}" for note in notes],
        "",
    ]
    latency = [r for r in rows if r.case in ("echo", "stdout-5mb", "event-5mb", "server")]
    if latency:
        parts += [
            "## Per invocation (HTTP caller → emulator → runtime → back; "
            "RSS of the runtime process, children excluded)",
            "",
            latency_table(latency),
            "",
        ]
    cold = [r for r in rows if r.case == "cold-start"]
    if cold:
        parts += ["## Cold start (spawn → first GET /next)", "", cold_start_table(cold), ""]
    rate = [r for r in rows if r.case == "concurrency"]
    if rate:
        parts += [f"## Throughput ({callers} callers at once)", "", throughput_table(rate), ""]
    if latency:
        parts += ["## Ratios (wrapper ÷ baseline, same run)", "", ratio_table(rows), ""]
    parts += ["## Goals", "", goals_table(rows), ""]
    return "\n".join(parts)
