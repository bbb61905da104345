"""The emulator running real runtime children: environment, crash and timeout replacement, concurrency.

The runtimes are tests/bin/echo_runtime.py (Python, http.client) and tests/bin/bash_runtime.sh (bash +
curl, the AWS tutorial's style): neither knows anything of wrapper, which shows any language's runtime works.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import shutil
import signal
import sys
import time

import pytest

from emulator_helpers import background, invoke, wait_until
from harness import BIN, is_live
from wrapper.emulator import Emulator


def echo(emulator: Emulator, document: object):
    return emulator.invoke(json.dumps(document).encode(), timeout_s=30)


def test_child_gets_a_lambda_environment(program, tmp_path, monkeypatch):
    monkeypatch.setenv("EMULATOR_PARENT_ONLY", "secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "the-callers-own")  # the emulator hands on only what env= names
    with Emulator(runtime_argv=program("echo_runtime"), function_name="probe", memory_mb=256,
                  function_timeout_s=7, task_root=str(tmp_path), handler="config.yaml", max_concurrency=4,
                  env={"EXTRA": "1"}) as emulator:
        env = echo(emulator, {"env": True}).json()["env"]
        assert env["AWS_LAMBDA_RUNTIME_API"] == emulator.runtime_addresses[0]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "probe"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_TIMEOUT"] == "7"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/probe"
    assert "[$LATEST]" in env["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["LAMBDA_TASK_ROOT"] == str(tmp_path)
    assert env["_HANDLER"] == "config.yaml"
    assert env["TZ"] == ":UTC"
    assert env["AWS_LAMBDA_MAX_CONCURRENCY"] == "4"
    assert env["EXTRA"] == "1"
    # this machine's PATH first (its programs), then Lambda's own entries it lacks (/opt/bin: layers)
    assert env["PATH"].startswith(os.environ["PATH"]) and "/opt/bin" in env["PATH"].split(":")
    # Lambda's LD_LIBRARY_PATH with /var/task as the task root: a zip's lib/ loads as on Lambda
    assert env["LD_LIBRARY_PATH"].split(":")[:3] == ["/var/lang/lib", "/lib64", "/usr/lib64"]
    assert f"{tmp_path}/lib" in env["LD_LIBRARY_PATH"].split(":") and "/opt/lib" in env["LD_LIBRARY_PATH"]
    assert "EMULATOR_PARENT_ONLY" not in env and "AWS_SECRET_ACCESS_KEY" not in env


def test_exactly_one_post_per_invocation(program):
    with Emulator(runtime_argv=program("echo_runtime"), runtimes=2) as emulator:
        answers = [background(echo, emulator, {"n": n}) for n in range(6)]
        assert sorted(a.result().json()["n"] for a in answers) == list(range(6))
        stats = emulator.stats
    assert sorted(stats.posts.values()) == [1] * 6
    assert (stats.invocations, stats.responses, stats.errors) == (6, 6, 0)


def test_error_post_from_a_child(program):
    with Emulator(runtime_argv=program("echo_runtime")) as emulator:
        answer = echo(emulator, {"error": "Function.NonZeroExit"})
    assert answer.function_error == "Unhandled"
    assert answer.json()["errorType"] == "Function.NonZeroExit"


def test_crash_is_runtime_exit_error_and_the_runtime_restarts(program):
    with Emulator(runtime_argv=program("echo_runtime")) as emulator:
        first_pid = echo(emulator, {"env": True}).json()["pid"]
        crashed = echo(emulator, {"crash": True})
        assert crashed.function_error == "Unhandled"
        message = f"RequestId: {crashed.request_id} Error: Runtime exited with error: exit status 3"
        assert crashed.json() == {"errorType": "Runtime.ExitError", "errorMessage": message}
        again = echo(emulator, {"env": True}).json()["pid"]
        assert again != first_pid
        assert emulator.stats.runtime_starts == 2


def test_timeout_is_sandbox_timedout_and_the_runtime_is_replaced(program):
    with Emulator(runtime_argv=program("echo_runtime"), function_timeout_s=1.0) as emulator:
        first_pid = echo(emulator, {"env": True}).json()["pid"]
        late = echo(emulator, {"sleep": 60})
        assert late.function_error == "Unhandled"
        assert late.json() == {"errorType": "Sandbox.Timedout",
                               "errorMessage": f"{late.request_id} Task timed out after 1.00 seconds"}
        assert echo(emulator, {"env": True}).json()["pid"] != first_pid
        stats = emulator.stats
        assert (stats.timeouts, stats.runtime_starts) == (1, 2)
        assert stats.posts.get(late.request_id) is None  # the killed runtime never answered


def test_runtime_killed_while_holding_an_invocation(program, tmp_path):
    with Emulator(runtime_argv=program("echo_runtime")) as emulator:
        caller = background(echo, emulator, {"hold": str(tmp_path)})
        wait_until(lambda: os.listdir(tmp_path), "the runtime to take the invocation")
        os.kill(emulator.runtime_pids[0], signal.SIGKILL)
        answer = caller.result()
        assert answer.json()["errorType"] == "Runtime.ExitError"
        assert answer.json()["errorMessage"].endswith("Runtime exited with error: signal: killed")
        (tmp_path / "release").touch()
        assert echo(emulator, "after") .json() == "after"


def test_two_runtimes_serve_the_queue_concurrently(program, tmp_path):
    with Emulator(runtime_argv=program("echo_runtime"), runtimes=2) as emulator:
        callers = [background(echo, emulator, {"hold": str(tmp_path)}) for _ in range(2)]
        # both invocations are held at once, so they must be in two different children
        markers = wait_until(lambda: len(os.listdir(tmp_path)) == 2 and os.listdir(tmp_path), "two holders")
        (tmp_path / "release").touch()
        pids = {c.result().json()["pid"] for c in callers}
        assert len(pids) == 2
        assert {int(m.split("-")[0]) for m in markers} == pids
        assert len(set(emulator.runtime_addresses)) == 2


def test_concurrent_loops_in_one_runtime(program, tmp_path):
    with Emulator(runtime_argv=program("echo_runtime"), max_concurrency=2,
                  env={"ECHO_RUNTIME_LOOPS": "2"}) as emulator:
        callers = [background(echo, emulator, {"hold": str(tmp_path)}) for _ in range(2)]
        wait_until(lambda: len(os.listdir(tmp_path)) == 2, "two loops holding an invocation each")
        (tmp_path / "release").touch()
        assert len({c.result().json()["pid"] for c in callers}) == 1


def test_init_error_reaches_the_first_invoke(program):
    with Emulator(runtime_argv=program("echo_runtime"), env={"ECHO_RUNTIME_INIT_ERROR": "1"}) as emulator:
        answer = echo(emulator, {})
        assert answer.function_error == "Unhandled"
        assert answer.json()["errorType"] == "Runtime.ConfigError"
        assert answer.json()["errorMessage"] == "bad config"
        assert emulator.stats.init_errors >= 1


def test_runtime_dying_in_init_fails_the_waiting_invoke(tmp_path):
    with Emulator(runtime_argv=["/bin/sh", "-c", "exit 7"]) as emulator:
        answer = echo(emulator, {})
        assert answer.json()["errorType"] == "Runtime.ExitError"
        assert answer.json()["errorMessage"].endswith("exit status 7")


def test_missing_program_is_invalid_entrypoint(tmp_path):
    with Emulator(runtime_argv=[str(tmp_path / "bootstrap")]) as emulator:
        answer = echo(emulator, {})
        assert answer.json()["errorType"] == "Runtime.InvalidEntrypoint"
        assert emulator.stats.runtime_starts == 0


def test_stop_kills_the_whole_process_group(program, tmp_path):
    with Emulator(runtime_argv=program("echo_runtime")) as emulator:
        echo(emulator, {})
        pid = emulator.runtime_pids[0]
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)


def test_runtime_output_goes_where_asked(tmp_path):
    log = tmp_path / "runtime.log"
    with Emulator(runtime_argv=["/bin/sh", "-c", "echo started; exit 0"], runtime_stdout=str(log)) as emulator:
        answer = echo(emulator, {})
        assert answer.json()["errorMessage"].endswith("Runtime exited without providing a reason")
    assert log.read_text().startswith("started")


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_bash_and_curl_runtime_works_unchanged():
    with Emulator(runtime_argv=["bash", str(BIN / "bash_runtime.sh")]) as emulator:
        assert echo(emulator, {"n": 1}).json() == {"shell": "bash", "event": {"n": 1}}
        answer = invoke(emulator.url, b'{"n": 2}')
        assert answer.json() == {"shell": "bash", "event": {"n": 2}}


def escaping_runtime(program, pid_file) -> list[str]:
    """echo_runtime, after starting a `sleep 3600` in a session of its own (as wrapper starts its programs)."""
    escape = f"{sys.executable} -c 'import os; os.setsid(); os.execvp(\"sleep\", [\"sleep\", \"3600\"])' &"
    return ["/bin/sh", "-c", f"{escape} echo $! > {pid_file}; exec {shlex.join(program('echo_runtime'))}"]


@pytest.mark.parametrize("fault", ["timeout", "crash"])
def test_a_replaced_runtime_takes_its_other_sessions_with_it(program, tmp_path, fault):
    """Sandbox.Timedout (we kill it) or a crash (it exits): either way nothing it started lives on."""
    pid_file = tmp_path / "escaped"
    with Emulator(runtime_argv=escaping_runtime(program, pid_file), function_timeout_s=1.0) as emulator:
        echo(emulator, {"env": True})  # running, and its snapshot taken
        escaped = int(pid_file.read_text())
        assert is_live(escaped)
        answer = echo(emulator, {"sleep": 60} if fault == "timeout" else {"crash": True})
        assert answer.json()["errorType"] == ("Sandbox.Timedout" if fault == "timeout" else "Runtime.ExitError")
        wait_until(lambda: not is_live(escaped), "the runtime's escaped descendant to die")


def test_a_runtime_that_keeps_failing_init_is_restarted_with_backoff(program, caplog):
    caplog.set_level(logging.INFO, logger="wrapper.emulator")
    with Emulator(runtime_argv=program("echo_runtime"), env={"ECHO_RUNTIME_INIT_ERROR": "1"}) as emulator:
        for _ in range(600):  # until it has failed init five times
            if emulator.stats.init_errors >= 5:
                break
            time.sleep(0.02)
    delays = [float(m.group(1)) for r in caplog.records
              if (m := re.search(r"restarting in ([0-9.]+) s", r.getMessage()))]
    assert delays[:4] == [0.1, 0.2, 0.4, 0.8], delays  # doubling up to BACKOFF_MAX_S, never a tight loop
