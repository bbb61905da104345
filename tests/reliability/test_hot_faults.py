"""Program faults in hot mode: one long-lived program (tests/bin/hot_program.py) behind a real runtime.

Every case: exactly one post for the invocation, a structured outcome, the next invocation answered by a program in
step (a fresh one when the fault put it out of step), the runtime never replaced, and after shutdown no tagged
process left. Both framings: `lines` (answers on stdout) and `actionloop` (answers on fd 3, stdout is a log).
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from reliability_helpers import (
    PYTHON,
    error_type,
    is_live,
    program,
    runtime_pid,
    start_emulator,
    survivors,
    tagged_processes,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.reliability

MIB = 1 << 20
FRAMINGS = ["lines", "actionloop"]


def hot_config(sandbox, framing: str, *, timeout_s: float = 2.0, max_bytes: int = 1 * MIB) -> object:
    actionloop = framing == "actionloop"
    return write_config(
        sandbox.dir,
        f"""\
        mode: hot
        command: [{PYTHON}, {program("hot_program")}{", --actionloop" if actionloop else ""}]
        stdin: event
        env: {{RELIABILITY_TAG: {sandbox.tag}}}
        hot: {{framing: {framing}{", ack: true" if actionloop else ""}, restart_backoff_s: 0.05}}
        output: {{format: json, max_bytes: {max_bytes}}}
        timeout_s: {timeout_s}
        grace_s: 0.5
        scratch: {{dir: {sandbox.scratch}}}
        """,
    )


def event(kind: str, arg: object = "") -> bytes:
    return json.dumps({"kind": kind, "arg": arg}).encode()


# (case id, kind, arg, expected errorType (None: success), whether the program is replaced)
CASES = [
    ("exit_status_3_mid_event", "exit", 3, "Function.NonZeroExit", True),
    *[(f"signal_{name}", "signal", name, "Function.Signaled", True)
      for name in ["SIGSEGV", "SIGKILL", "SIGTERM", "SIGABRT", "SIGBUS"]],
    ("hang", "hang", "", "Function.Timeout", True),
    ("answer_after_the_timeout", "slow", 3, "Function.Timeout", True),
    ("two_lines_for_one_event", "extra", "", "Function.OutOfStep", True),
    ("partial_line_then_exit", "partial", "", "Function.ProgramExited", True),
    ("answer_over_the_cap", "big", 2 * MIB, "Function.OutputTooLarge", True),
    ("closes_stdin_then_answers", "close_stdin", "", None, True),
    ("late_line_between_events", "between", 0.05, None, True),
    ("answers_then_exits", "answer_exit", "", None, True),
    ("stderr_flood", "flood_stderr", 8 * MIB, None, False),
    ("grandchild_holds_the_answer_pipe", "grandchild", "", None, False),
]


@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize(("kind", "arg", "expected", "replaced"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hot_fault_is_answered_once_and_the_next_event_works(sandbox, framing, kind, arg, expected, replaced):
    config = hot_config(sandbox, framing)
    with start_emulator(config, log=sandbox.log) as emulator:
        pid = runtime_pid(emulator)
        before = emulator.invoke(event("ok"), timeout_s=60)
        fault = emulator.invoke(event(kind, arg), timeout_s=60)
        time.sleep(0.3)  # a fault that shows between events (a late line, an exit) shows before the next one
        after = emulator.invoke(event("ok"), timeout_s=60)
        posts = emulator.stats.posts
        assert emulator.runtime_pids == [pid], "the runtime was replaced"
    assert error_type(fault) == expected, fault.body[:2000]
    assert posts[before.request_id] == posts[fault.request_id] == posts[after.request_id] == 1
    assert after.function_error is None, after.body[:2000]
    first, last = before.json(), after.json()
    if replaced:
        assert last["pid"] != first["pid"] and last["n"] == 1, (first, last)
    else:
        assert last["pid"] == first["pid"] and last["n"] == 3, (first, last)
    assert survivors(sandbox.tag) == []


@pytest.mark.parametrize("framing", FRAMINGS)
def test_sigterm_during_an_event_stops_the_program_and_its_grandchildren(sandbox, framing):
    config = hot_config(sandbox, framing, timeout_s=30)
    with start_emulator(config, log=sandbox.log) as emulator:
        pid = runtime_pid(emulator)
        grandchild = emulator.invoke(event("grandchild"), timeout_s=60).json()["grandchild"]
        assert is_live(grandchild)
        import threading

        in_flight = threading.Thread(target=lambda: emulator.invoke(event("hang"), timeout_s=60), daemon=True)
        in_flight.start()
        assert wait_for(lambda: len(tagged_processes(sandbox.tag)) >= 2)
        time.sleep(0.2)  # the hang event is in the program's hands
        os.kill(pid, signal.SIGTERM)
        assert wait_for(lambda: not is_live(pid)), "the runtime did not exit on SIGTERM"
    assert survivors(sandbox.tag) == []


@pytest.mark.parametrize("framing", FRAMINGS)
def test_crash_loop_backs_off_and_recovers(sandbox, framing):
    config = hot_config(sandbox, framing)
    with start_emulator(config, log=sandbox.log) as emulator:
        crashes = [emulator.invoke(event("exit", 9), timeout_s=60) for _ in range(5)]
        after = emulator.invoke(event("ok"), timeout_s=60)
    assert [error_type(r) for r in crashes] == ["Function.NonZeroExit"] * 5
    assert after.function_error is None and after.json()["n"] == 1
    assert survivors(sandbox.tag) == []
