"""Platform faults: the Runtime API misbehaving (injected by the emulator), gone, or the environment shut down."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from reliability_helpers import (
    PYTHON,
    RUNTIME,
    WAIT_S,
    error_type,
    free_port,
    is_live,
    program,
    runtime_env,
    runtime_pid,
    start_emulator,
    survivors,
    tagged_processes,
    wait_for,
    write_config,
)
from wrapper.emulator import Emulator

pytestmark = pytest.mark.reliability


def echo_config(sandbox, *, timeout_s: float = 20.0):
    """`echo_args` with the event as stdin; {"sleep": true} makes it a long sleeper instead."""
    return write_config(
        sandbox.dir,
        f"""\
        command: [{PYTHON}]
        inputs:
          prog: {{default: echo_args, enum: [echo_args, sleep_forever, exit_code]}}
          code: {{default: "0"}}
        args:
          - {{template: "{program("echo_args").rsplit("/", 1)[0]}/{{prog}}.py"}}
          - {{value: code}}
        stdin: event
        env: {{RELIABILITY_TAG: {sandbox.tag}}}
        timeout_s: {timeout_s}
        grace_s: 0.5
        scratch: {{dir: {sandbox.scratch}}}
        """,
    )


def spawn_runtime(address: str, config, sandbox, **env: str) -> subprocess.Popen:
    """`wrapper run` started by hand (as Lambda's user) against an emulator without runtimes of its own."""
    full_env = runtime_env(sandbox.dir, AWS_LAMBDA_RUNTIME_API=address, **env)
    return subprocess.Popen([*RUNTIME, str(config)], env=full_env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True, cwd=sandbox.dir)


def stderr_of(process: subprocess.Popen) -> str:
    return process.stderr.read().decode("utf-8", "replace")


# /next failing


def test_next_answered_500_makes_the_runtime_exit_non_zero(sandbox):
    config = echo_config(sandbox)
    with Emulator(runtime_argv=None, port=0) as emulator:
        emulator.inject_fault("next", status=500)
        runtime = spawn_runtime(emulator.address, config, sandbox)
        code = runtime.wait(timeout=WAIT_S)
        message = stderr_of(runtime)
    assert code != 0
    assert "/next" in message and "500" in message, message


@pytest.mark.parametrize("fault", [{"drop": True}, {"status": 502}])
def test_next_failing_once_makes_the_runtime_exit_and_nothing_is_lost(sandbox, fault):
    config = echo_config(sandbox)
    with start_emulator(config, log=sandbox.log) as emulator:
        pid = runtime_pid(emulator)
        assert emulator.invoke(b'{"n": 0}', timeout_s=WAIT_S * 3).function_error is None
        emulator.inject_fault("next", **fault)
        results = [emulator.invoke(b'{"n": %d}' % n, timeout_s=WAIT_S * 3) for n in (1, 2)]
        posts = emulator.stats.posts
        pids = emulator.runtime_pids
    # A 5xx from /next is fatal, and so is a /next whose connection drops after it went out: the client cannot
    # tell that drop from an answer lost after an invocation was handed out, and never asks again (exactly once).
    # The runtime exits and is replaced; this drop came before anything was handed out, so nothing is lost.
    assert pids != [pid]
    assert all(r.function_error is None for r in results), [r.body for r in results]
    assert all(posts[r.request_id] == 1 for r in results)


# posts refused


@pytest.mark.parametrize(("endpoint", "status", "caller_sees"), [
    ("response", 413, "Function.ResponseSizeTooLarge"),
    ("response", 403, "Runtime.InvalidStateTransition"),
    ("error", 413, "Function.ResponseSizeTooLarge"),
    ("error", 403, "Runtime.InvalidStateTransition"),
])
def test_post_refused_is_not_posted_again_and_the_runtime_goes_on(sandbox, endpoint, status, caller_sees):
    config = echo_config(sandbox)
    payload = b'{"prog": "exit_code", "code": "3"}' if endpoint == "error" else b'{"n": 1}'
    with start_emulator(config, log=sandbox.log) as emulator:
        pid = runtime_pid(emulator)
        emulator.inject_fault(endpoint, status=status)
        refused = emulator.invoke(payload, timeout_s=WAIT_S * 3)
        after = emulator.invoke(b'{"n": 2}', timeout_s=WAIT_S * 3)
        time.sleep(0.2)  # room for a (wrong) second post to arrive before counting
        posts = emulator.stats.posts
        assert emulator.runtime_pids == [pid]
    assert error_type(refused) == caller_sees
    assert posts[refused.request_id] == 1
    assert after.function_error is None and posts[after.request_id] == 1
    assert survivors(sandbox.tag) == []


def test_response_connection_dropped_once_is_retried_and_answered_once(sandbox):
    config = echo_config(sandbox)
    with start_emulator(config, log=sandbox.log) as emulator:
        pid = runtime_pid(emulator)
        emulator.inject_fault("response", drop=True)
        result = emulator.invoke(b'{"n": 1}', timeout_s=WAIT_S * 3)
        after = emulator.invoke(b'{"n": 2}', timeout_s=WAIT_S * 3)
        stats = emulator.stats
        assert emulator.runtime_pids == [pid]
    assert result.function_error is None and json.loads(result.body)["stdin"] == '{"n": 1}'
    # the dropped post never reached the state machine; the retry on a fresh connection did, once
    assert stats.posts[result.request_id] == 2 and stats.responses == 2
    assert after.function_error is None


def test_next_answer_lost_after_the_handout_is_answered_by_the_platform_not_dropped(sandbox):
    config = echo_config(sandbox)
    with start_emulator(config, log=sandbox.log, timeout_s=60.0) as emulator:
        pid = runtime_pid(emulator)
        emulator.inject_fault("next", lose_answer=True)  # the invocation is handed out, the answer never arrives
        handed_out = emulator.invoke(b'{"n": 1}', timeout_s=WAIT_S * 3)
        after = emulator.invoke(b'{"n": 2}', timeout_s=WAIT_S * 3)
        new_pids = emulator.runtime_pids
        posts = emulator.stats.posts
    # A retried /next would have left it to time out (Sandbox.Timedout, after 60 s); the runtime exits instead,
    # and the platform answers the invocation it handed out at once.
    assert error_type(handed_out) == "Runtime.ExitError", handed_out.body
    assert posts.get(handed_out.request_id, 0) == 0
    assert new_pids != [pid]
    assert after.function_error is None and posts[after.request_id] == 1
    assert "not asking again" in sandbox.log_text()
    assert survivors(sandbox.tag) == []


def test_response_answer_lost_is_posted_again_refused_and_the_runtime_goes_on(sandbox):
    config = echo_config(sandbox)
    with start_emulator(config, log=sandbox.log) as emulator:
        pid = runtime_pid(emulator)
        emulator.inject_fault("response", lose_answer=True)  # recorded, then the connection drops unanswered
        result = emulator.invoke(b'{"n": 1}', timeout_s=WAIT_S * 3)
        after = emulator.invoke(b'{"n": 2}', timeout_s=WAIT_S * 3)
        stats = emulator.stats
        assert emulator.runtime_pids == [pid]
    assert result.function_error is None and json.loads(result.body)["stdin"] == '{"n": 1}'
    assert stats.posts[result.request_id] == 2 and stats.responses == 2  # the repeat was refused (403), harmless
    assert after.function_error is None


def test_response_connection_dropped_twice_makes_the_runtime_exit_and_nothing_is_lost(sandbox):
    config = echo_config(sandbox)
    with start_emulator(config, log=sandbox.log) as emulator:
        pid = runtime_pid(emulator)
        emulator.inject_fault("response", drop=True, count=2)
        lost = emulator.invoke(b'{"n": 1}', timeout_s=WAIT_S * 3)
        after = emulator.invoke(b'{"n": 2}', timeout_s=WAIT_S * 3)
        new_pids = emulator.runtime_pids
    assert error_type(lost) == "Runtime.ExitError"  # the caller is answered once, by the platform
    assert new_pids != [pid]
    assert after.function_error is None
    assert "Runtime API" in sandbox.log_text()
    assert survivors(sandbox.tag) == []


def test_runtime_api_gone_at_start_exits_non_zero_with_a_clear_message(sandbox):
    config = echo_config(sandbox)
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    runtime = spawn_runtime(address, config, sandbox)
    code = runtime.wait(timeout=WAIT_S)
    message = stderr_of(runtime)
    assert code != 0
    assert "Runtime API" in message and address in message and "Traceback" not in message, message


def test_runtime_api_unset_exits_with_a_usage_error(sandbox):
    config = echo_config(sandbox)
    done = subprocess.run([*RUNTIME, str(config)], env=runtime_env(sandbox.dir), capture_output=True,
                          timeout=WAIT_S, check=False, cwd=sandbox.dir)
    assert done.returncode == 2 and b"AWS_LAMBDA_RUNTIME_API" in done.stderr


# SIGTERM


def _wait_tagged(sandbox, count: int = 1) -> list[int]:
    found = wait_for(lambda: len(tagged_processes(sandbox.tag)) >= count and tagged_processes(sandbox.tag))
    assert found, "the program never started"
    return found


def test_sigterm_during_an_invocation_stops_the_program_and_exits_0(sandbox):
    config = echo_config(sandbox, timeout_s=60)
    with ThreadPoolExecutor(1) as pool, Emulator(runtime_argv=None, port=0, function_timeout_s=60) as emulator:
        runtime = spawn_runtime(emulator.address, config, sandbox)
        pool.submit(emulator.invoke, b'{"prog": "sleep_forever"}')
        _wait_tagged(sandbox)
        runtime.send_signal(signal.SIGTERM)
        code = runtime.wait(timeout=WAIT_S)
        message = stderr_of(runtime)
    assert code == 0, message
    assert survivors(sandbox.tag) == []
    assert sandbox.scratch_entries() == []


def test_sigterm_in_server_mode_stops_the_server_and_exits_0(sandbox):
    port = free_port()
    config = write_config(sandbox.dir, f"""\
        mode: server
        command: [{PYTHON}, {program("fault_server")}, "{port}"]
        inputs: {{kind: {{}}}}
        env: {{RELIABILITY_TAG: {sandbox.tag}}}
        server:
          port: {port}
          ready: {{path: /health}}
          request: {{path: /fault, query: {{kind: "{{kind}}"}}}}
        timeout_s: 60
        """)
    with ThreadPoolExecutor(2) as pool, Emulator(runtime_argv=None, port=0, function_timeout_s=60) as emulator:
        runtime = spawn_runtime(emulator.address, config, sandbox)
        grandchild = pool.submit(emulator.invoke, b'{"kind": "grandchild"}').result(timeout=WAIT_S * 3)
        assert grandchild.function_error is None
        pool.submit(emulator.invoke, b'{"kind": "hang"}')
        time.sleep(0.3)  # let the hanging request reach the program
        runtime.send_signal(signal.SIGTERM)
        code = runtime.wait(timeout=WAIT_S)
        message = stderr_of(runtime)
    assert code == 0, message
    assert not is_live(grandchild.json()["grandchild"]) or survivors(sandbox.tag) == []
    assert survivors(sandbox.tag) == []


def test_regression_sigterm_with_concurrency_leaves_programs_running(sandbox):
    """Found by this suite, fixed in 01b1d17: loops in daemon threads could not unwind, their programs survived.

    It still failed 1 run in 3 under load: a SIGTERM landing between a program's spawn and its registration
    missed that program. Fixed at the cause (the handler only sets a flag; the shutdown waits for a start in
    progress and refuses later ones); test_runtime.py's test_regression_sigterm_between_spawn_and_registration...
    hits that window deterministically.
    """
    config = echo_config(sandbox, timeout_s=60)
    with ThreadPoolExecutor(3) as pool, Emulator(runtime_argv=None, port=0, function_timeout_s=60) as emulator:
        runtime = spawn_runtime(emulator.address, config, sandbox, AWS_LAMBDA_MAX_CONCURRENCY="3")
        for _ in range(3):
            pool.submit(emulator.invoke, b'{"prog": "sleep_forever"}')
        _wait_tagged(sandbox, 3)
        runtime.send_signal(signal.SIGTERM)
        code = runtime.wait(timeout=WAIT_S)
    assert code == 0
    assert survivors(sandbox.tag) == []


def test_regression_emulator_timeout_leaves_the_program_running(sandbox):
    config = echo_config(sandbox, timeout_s=60)
    with ThreadPoolExecutor(1) as pool, start_emulator(config, log=sandbox.log, timeout_s=3.0) as emulator:
        pid = runtime_pid(emulator)
        pending = pool.submit(emulator.invoke, b'{"prog": "sleep_forever"}', timeout_s=WAIT_S * 3)
        _wait_tagged(sandbox)
        os.kill(pid, signal.SIGSTOP)  # a stuck runtime: only the platform's deadline can end this invocation
        timed_out = pending.result()
        assert error_type(timed_out) == "Sandbox.Timedout"
        after = emulator.invoke(b'{"n": 1}', timeout_s=WAIT_S * 3)
        assert after.function_error is None
        assert wait_for(lambda: not tagged_processes(sandbox.tag), timeout_s=2), tagged_processes(sandbox.tag)
