"""Load and soak, CI-sized: WRAPPER_SOAK_N invocations (default 600) at concurrency 1 and 4 through one runtime.

The full-size figures in RELIABILITY.md come from `soak.py` (same code) with N=10,000.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from reliability_helpers import rss_kib, runtime_pid, start_emulator, write_config
from soak import run_soak, samples_table

pytestmark = pytest.mark.reliability

# read at import: the suite's autouse fixture clears WRAPPER_* variables before each test runs
SOAK_N = int(os.environ.get("WRAPPER_SOAK_N", "600"))
RSS_GROWTH_LIMIT_KIB = 16 * 1024  # generous: catches a gross leak; the per-invocation trend is pinned below
LEAK_PROBE_N = 5000


@pytest.mark.parametrize("concurrency", [1, 4])
def test_soak_answers_every_invocation_once_and_leaks_nothing(sandbox, concurrency):
    result = run_soak(SOAK_N, concurrency, sandbox)
    report = samples_table(result)
    assert result.wrong == [], result.wrong[:10]
    assert result.answered_once == SOAK_N
    assert result.runtime_starts == 1, "the runtime was replaced during the soak"
    first, last = result.samples[0], result.samples[-1]
    assert [s.fds for s in result.samples] == [first.fds] * len(result.samples), report
    assert [s.threads for s in result.samples] == [first.threads] * len(result.samples), report
    assert all(s.children == 0 and s.scratch_dirs == 0 and s.tagged == 0 for s in result.samples), report
    assert last.rss_kib - first.rss_kib < RSS_GROWTH_LIMIT_KIB, report


@pytest.mark.parametrize("concurrency", [1, 4])
def test_hot_soak_answers_every_event_once_with_recycling_and_leaks_nothing(sandbox, concurrency):
    result = run_soak(SOAK_N, concurrency, sandbox, mode="hot")
    report = samples_table(result)
    assert result.wrong == [], result.wrong[:10]
    assert result.answered_once == SOAK_N
    assert result.runtime_starts == 1, "the runtime was replaced during the soak"
    # recycled after N/10 answers each; replaced after the timeout and the crash
    assert max(result.generations.values()) <= SOAK_N // 10, result.generations
    assert len(result.generations) >= 8, result.generations
    first, last = result.samples[0], result.samples[-1]
    assert [s.fds for s in result.samples] == [first.fds] * len(result.samples), report
    assert [s.threads for s in result.samples] == [first.threads] * len(result.samples), report
    assert all(s.children <= concurrency and s.tagged <= concurrency for s in result.samples), report
    assert last.rss_kib - first.rss_kib < RSS_GROWTH_LIMIT_KIB, report


def test_regression_runtime_rss_grows_with_every_invocation(sandbox):
    # invalid events: no program runs, so all the runtime does per invocation is next → handle → post
    config = write_config(sandbox.dir, "command: [cat]\ninputs: {x: {type: integer}}\n")
    with start_emulator(config, log=sandbox.log, max_concurrency=4) as emulator, \
            ThreadPoolExecutor(4) as pool:
        pid = runtime_pid(emulator)

        def burst(count: int) -> None:
            list(pool.map(lambda _: emulator.invoke(b'{"x": "no"}', timeout_s=60), range(count)))

        burst(500)
        before = rss_kib(pid)
        burst(LEAK_PROBE_N)
        grown = rss_kib(pid) - before
    # a leak-free loop stays within allocator noise; 140 B x LEAK_PROBE_N is ~680 KiB
    assert grown < 256, f"RSS grew {grown} KiB over {LEAK_PROBE_N} invocations"
