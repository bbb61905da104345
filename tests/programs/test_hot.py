"""Hot mode's supervisor: real long-lived programs, one line in and one line out, kept in step or replaced."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from wrapper.errors import ProgramError, SpawnError
from wrapper.programs.hot import HotProgram, _is_ack

PROGRAM = str(Path(__file__).resolve().parents[1] / "bin" / "hot_program.py")
ENV = {"PATH": os.environ.get("PATH", os.defpath)}


def hot(*args: str, lines: list | None = None, **options) -> HotProgram:
    log = lines if lines is not None else []
    program = HotProgram([sys.executable, PROGRAM, *args], ENV, cwd=None, grace_s=0.5, restart_backoff_s=0.01,
                         on_log_line=lambda line, tag: log.append((line, tag)), **options)
    return program


def event(kind: str = "ok", arg: object = "", actionloop: bool = False) -> bytes:
    document = {"kind": kind, "arg": arg}
    return json.dumps({"value": document} if actionloop else document).encode() + b"\n"


def exchange(program: HotProgram, line: bytes, timeout_s: float = 10.0, **options):
    program.prepare(timeout_s)
    return program.exchange(line, timeout_s=timeout_s, **options)


@pytest.fixture
def programs():
    started: list[HotProgram] = []
    yield started
    for program in started:
        program.close(0.5)


def answer(outcome) -> dict:
    assert outcome.answer is not None, outcome
    return json.loads(outcome.answer)


def wait_for(predicate, timeout_s: float = 10.0):
    deadline = time.monotonic() + timeout_s
    while not (value := predicate()) and time.monotonic() < deadline:
        time.sleep(0.01)
    return value


def is_live(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_one_program_answers_many_events_in_order(programs):
    programs.append(program := hot())
    answers = [answer(exchange(program, event("ok", n))) for n in range(50)]
    assert [a["arg"] for a in answers] == list(range(50))
    assert {a["pid"] for a in answers} == {program.pid} and program.starts == 1
    assert answers[-1]["n"] == 50


def test_timeout_kills_the_group_and_the_next_event_gets_a_fresh_program(programs):
    programs.append(program := hot())
    first = answer(exchange(program, event()))
    outcome = exchange(program, event("hang"), timeout_s=0.3)
    assert outcome.timed_out and outcome.answer is None
    assert not is_live(first["pid"])  # killed at the timeout, not left to answer late
    after = answer(exchange(program, event()))
    assert after["pid"] != first["pid"] and after["n"] == 1


def test_late_answer_after_a_timeout_is_never_read(programs):
    programs.append(program := hot())
    assert exchange(program, event("slow", 0.5), timeout_s=0.2).timed_out
    time.sleep(0.6)  # when the old program would have answered
    assert answer(exchange(program, event("ok", "mine")))["arg"] == "mine"


@pytest.mark.parametrize(("kind", "arg", "code", "sig"), [("exit", 3, 3, None), ("signal", "SIGSEGV", None, 11)])
def test_crash_mid_event_is_reported_and_the_program_restarted(programs, kind, arg, code, sig):
    log: list = []
    programs.append(program := hot(lines=log))
    outcome = exchange(program, event(kind, arg), tag="req-1")
    assert (outcome.exit_code, outcome.signal, outcome.answer) == (code, sig, None)
    if kind == "exit":
        assert b"exiting 3" in outcome.log_tail and (b"exiting 3", "req-1") in log
    assert answer(exchange(program, event()))["n"] == 1 and program.starts == 2


def test_restarts_after_crashes_back_off(programs):
    programs.append(program := hot())
    program.restart_backoff_s = program._delay_s = 0.2
    exchange(program, event("exit", 1))
    started = time.monotonic()
    exchange(program, event("exit", 1))  # the first replacement: no earlier start to space from
    exchange(program, event())  # the second one waits for the backoff
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize(
    ("kind", "arg", "why"),
    [
        ("extra", "", "more than one line"),
        ("close_stdin", "", "closed its stdin"),
    ],
)
def test_out_of_step_program_is_replaced(programs, kind, arg, why):
    programs.append(program := hot())
    outcome = exchange(program, event(kind, arg))
    if outcome.out_of_step is None:  # answered fine; the next event finds what it did
        pid = answer(outcome)["pid"]
        program.prepare(10)
        assert why in (program.replaced_because or ""), program.replaced_because
    else:
        assert why in outcome.out_of_step
        pid = None
    after = answer(exchange(program, event()))
    assert after["n"] == 1 and after["pid"] != pid


def test_output_between_events_means_out_of_step_and_no_stale_answer(programs):
    programs.append(program := hot())
    answer(exchange(program, event("between", 0.05)))
    time.sleep(0.3)  # the late line is in the pipe now
    after = answer(exchange(program, event("ok", "fresh")))
    assert after["arg"] == "fresh" and after["n"] == 1  # a new program, not the stale line
    assert program.starts == 2


def test_partial_line_at_exit_is_an_error_not_an_answer(programs):
    programs.append(program := hot())
    outcome = exchange(program, event("partial"))
    assert outcome.answer is None and outcome.exit_code == 0 and outcome.partial == b'{"unterminated": '


def test_answer_then_exit_keeps_the_answer_and_replaces_the_program(programs):
    programs.append(program := hot())
    first = answer(exchange(program, event("answer_exit")))
    time.sleep(0.3)  # gone before the next event (one that races its exit gets an error instead)
    assert answer(exchange(program, event()))["pid"] != first["pid"]


def test_answer_over_the_cap(programs):
    programs.append(program := hot(max_answer_bytes=1000))
    assert exchange(program, event("big", 1000)).answer == b'"' + b"x" * 998 + b'"'
    assert exchange(program, event("big", 5000)).too_large
    truncated = exchange(program, event("big", 200_000), truncate=True)
    assert truncated.truncated and len(truncated.answer) == 1000
    assert answer(exchange(program, event()))["ok"]


def test_large_event_line_is_written_while_answers_are_awaited(programs):
    programs.append(program := hot())
    line = json.dumps({"kind": "ok", "arg": "y" * (3 << 20)}).encode() + b"\n"
    assert len(answer(exchange(program, line))["arg"]) == 3 << 20


def test_max_events_recycles_between_events(programs):
    programs.append(program := hot(max_events=3))
    pids = [answer(exchange(program, event()))["pid"] for _ in range(7)]
    assert pids[0] == pids[1] == pids[2] != pids[3] == pids[4] == pids[5] != pids[6]
    assert program.starts == 3


def test_memory_ceiling_recycles_between_events(programs):
    programs.append(program := hot(max_rss_bytes=80 << 20))
    first = answer(exchange(program, event("hold", 100)))  # its answer stands; then it is over the ceiling
    assert "RSS" in (program.reason or "")
    assert answer(exchange(program, event()))["pid"] != first["pid"]


def test_stderr_lines_are_logs_tagged_with_the_event(programs):
    log: list = []
    programs.append(program := hot(lines=log))
    assert answer(exchange(program, event("log", "x"), tag="req-7"))["ok"]
    assert log == [(b"log x", "req-7")]  # read before the answer was returned, so tagged with its event
    assert answer(exchange(program, event("flood_stderr", 1 << 20), tag="req-8"))["ok"]  # a full pipe never blocks
    assert len(log) == 1 + 1024 and all(tag == "req-8" for _, tag in log[1:])


def test_actionloop_answers_on_fd_3_and_forwards_stdout_as_logs(programs):
    log: list = []
    programs.append(program := hot("--actionloop", lines=log, result_fd=3, ack=True))
    program.env["__OW_WAIT_FOR_ACK"] = "1"
    program.spawn()
    program.await_ack(5)
    assert answer(exchange(program, event("log", "hi", actionloop=True), tag="req-9"))["arg"] == "hi"
    assert log.count((b"log hi", "req-9")) == 2, log  # stdout and stderr both


def test_actionloop_without_ack_fails_to_start(programs):
    programs.append(program := hot("--actionloop", "--no-ack", result_fd=3, ack=True))
    program.spawn()
    with pytest.raises(ProgramError, match="did not acknowledge its start"):
        program.await_ack(0.5)


def test_program_that_cannot_start():
    program = HotProgram(["/nonexistent/program"], ENV, cwd=None)
    with pytest.raises(SpawnError):
        program.prepare(1)


def test_close_stops_the_whole_group(programs):
    program = hot()
    grandchild = answer(exchange(program, event("grandchild")))["grandchild"]
    pid = program.pid
    program.close(0.5)
    deadline = time.monotonic() + 5
    while (is_live(pid) or is_live(grandchild)) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not is_live(pid) and not is_live(grandchild)
    with pytest.raises(ProgramError, match="stopped"):
        program.prepare(1)


@pytest.mark.parametrize("line", [b'{"ok": true}\n', b'{"ok":true}'])
def test_an_ack_is_an_object_with_ok_true(line):
    assert _is_ack(line)


@pytest.mark.parametrize("line", [b"ok\n", b'{"ok": 1}', b"[" * 100_000, b"\xff\xfe"])
def test_anything_else_the_program_writes_is_not_an_ack_and_raises_nothing(line):
    assert not _is_ack(line)  # b"[" * 100_000: Python's parser gives up with RecursionError, not ValueError
