"""Program faults in server mode: one long-lived HTTP program (programs/fault_server.py) behind a real runtime.

Every case: exactly one post for the invocation, a structured outcome, the next invocation answered (by a
restarted program if the first one died), the runtime never replaced, and after shutdown no tagged process left.
"""

from __future__ import annotations

import json

import pytest

from reliability_helpers import (
    PYTHON,
    error_type,
    free_port,
    is_live,
    program,
    runtime_pid,
    start_emulator,
    survivors,
    tagged_processes,
    write_config,
)

pytestmark = pytest.mark.reliability

MIB = 1 << 20
SIGNALS = ["SIGSEGV", "SIGABRT", "SIGKILL", "SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGPIPE", "SIGBUS", "SIGUSR1"]
BAD_UTF8 = b"\xff\xfe\x00\x80 not utf-8 \xc3\x28 \xed\xa0\x80\n"


def server_config(sandbox, *, timeout_s: float = 2.0, extra_args: str = "") -> tuple:
    port = free_port()
    config = write_config(
        sandbox.dir,
        f"""\
        mode: server
        command: [{PYTHON}, {program("fault_server")}, "{port}", --log, {sandbox.tmp / "requests.log"}
                  {extra_args}]
        inputs:
          kind: {{}}
          arg: {{default: ""}}
        env: {{RELIABILITY_TAG: {sandbox.tag}}}
        server:
          port: {port}
          ready: {{path: /health}}
          request:
            method: POST
            path: /fault
            query: {{kind: "{{kind}}", arg: "{{arg}}"}}
            body: event
        timeout_s: {timeout_s}
        grace_s: 0.5
        scratch: {{dir: {sandbox.scratch}}}
        """,
    )
    return config, port


def event(kind: str, arg: object = "", **extra) -> bytes:
    return json.dumps({"kind": kind, "arg": str(arg), **extra}).encode()


# (case id, kind, arg, expected errorType (None: success; a tuple: any of them))
CASES = [
    ("exit_status_3", "exit", 3, "Function.ServerCrashed"),
    *[(f"signal_{name}", "signal", name, "Function.ServerCrashed") for name in SIGNALS],
    ("hang_in_one_request", "hang", "", "Function.Timeout"),
    ("hang_after_closing_stdout", "close_hang", "", "Function.Timeout"),
    ("grandchild_holds_stdout", "grandchild", "", None),
    ("grandchild_then_crash", "grandchild_exit", "", "Function.ServerCrashed"),
    ("stdout_flood_in_lines", "flood_stdout", MIB // 2, None),
    ("stderr_flood", "flood_stderr", 16 * MIB, None),
    ("body_over_the_cap", "big_body", 16 * MIB, "Function.OutputTooLarge"),
    ("non_utf8", "non_utf8", "", None),
    ("exhausts_its_memory", "memory", 2048, ("Function.UpstreamError", "Function.Timeout")),
    ("writes_64_mib_into_its_home", "disk", 64 * MIB, None),
]


@pytest.mark.parametrize(("kind", "arg", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_server_fault_is_answered_once_and_leaves_nothing(sandbox, kind, arg, expected):
    config, _ = server_config(sandbox, extra_args=f", --as-limit, {512 * MIB}")
    with start_emulator(config, log=sandbox.log) as emulator:
        pid = runtime_pid(emulator)
        before = emulator.invoke(event("ok"), timeout_s=60)
        fault = emulator.invoke(event(kind, arg), timeout_s=60)
        after = emulator.invoke(event("ok"), timeout_s=60)
        posts = emulator.stats.posts
        assert emulator.runtime_pids == [pid], "the runtime was replaced"
        if kind == "grandchild_exit":
            # the crashed program's group was killed before the restart: its grandchild is gone
            old_server = before.json()["pid"]
            assert after.json()["pid"] != old_server
            assert all(p == after.json()["pid"] or not is_live(p) for p in tagged_processes(sandbox.tag)), \
                tagged_processes(sandbox.tag)
    if isinstance(expected, tuple):  # the program's own handling decides which (a closed connection or none)
        assert error_type(fault) in expected, fault.body[:2000]
    else:
        assert error_type(fault) == expected, fault.body[:2000]
    if kind == "non_utf8":
        assert fault.body == BAD_UTF8
    assert posts[fault.request_id] == 1 and posts[after.request_id] == 1
    assert after.function_error is None and after.json()["ok"] is True
    assert survivors(sandbox.tag) == []
    assert sandbox.scratch_entries() == []


def test_server_answering_without_reading_a_large_body(sandbox):
    config, _ = server_config(sandbox)
    with start_emulator(config, log=sandbox.log) as emulator:
        pid = runtime_pid(emulator)
        results = [emulator.invoke(event("no_read", pad="x" * (5 * MIB)), timeout_s=60) for _ in range(3)]
        after = emulator.invoke(event("ok"), timeout_s=60)
        posts = emulator.stats.posts
        assert emulator.runtime_pids == [pid]
    for result in results:
        # the program may answer before the body is sent; either its answer or a structured upstream error
        assert error_type(result) in (None, "Function.UpstreamError"), result.body[:500]
        assert posts[result.request_id] == 1
    assert after.function_error is None
    assert survivors(sandbox.tag) == []


def test_sigterm_to_the_runtime_stops_the_server_and_its_grandchildren(sandbox):
    config, _ = server_config(sandbox)
    with start_emulator(config, log=sandbox.log) as emulator:
        result = emulator.invoke(event("grandchild"), timeout_s=60)
        grandchild = result.json()["grandchild"]
        assert is_live(grandchild)
    # the emulator stops its runtime with SIGTERM; the runtime stops the program's whole group
    assert survivors(sandbox.tag) == []


def test_regression_hung_server_is_never_restarted(sandbox):
    config, _ = server_config(sandbox, timeout_s=1.0)
    with start_emulator(config, log=sandbox.log) as emulator:
        assert emulator.invoke(event("ok"), timeout_s=60).function_error is None
        frozen = emulator.invoke(event("signal", "SIGSTOP"), timeout_s=60)
        assert error_type(frozen) == "Function.Timeout"
        later = [emulator.invoke(event("ok"), timeout_s=60) for _ in range(3)]
        assert [error_type(r) for r in later][-1] is None, [r.body for r in later]
