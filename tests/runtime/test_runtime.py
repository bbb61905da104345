"""End to end: `wrapper run` as a real subprocess under the emulator, with real programs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness import local_lambda
from wrapper.emulator import Emulator

PYTHON = sys.executable
RUNTIME = [PYTHON, "-m", "wrapper", "run"]
ROOT = Path(__file__).resolve().parents[2]

PRINT_CONTEXT = """\
import json, os, sys, time
started = time.time()
data = sys.stdin.read()
if data.strip() == '"sleep"':
    time.sleep(0.4)
print("a line for the log", file=sys.stderr)
print(json.dumps({"env": dict(os.environ), "stdin": data, "started": started, "ended": time.time(),
                  "cwd": os.getcwd()}))
"""


def write_config(tmp_path: Path, text: str, name: str = "wrapper.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def context_config(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "context.py").write_text(PRINT_CONTEXT)
    return write_config(
        tmp_path,
        f"""\
        command: [{PYTHON}, "{{config_dir}}/context.py"]
        stdin: event
        output: {{format: json}}
        {extra}
        """,
    )


def start(config: Path, *, env: dict[str, str] | None = None, timeout_s: float = 10.0, log=None, **kwargs) -> Emulator:
    return local_lambda(config, env=env, timeout_s=timeout_s, log=log, **kwargs)  # compiled unless told otherwise


def runtime_pids() -> list[int]:
    """Our child processes running `wrapper run`."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == os.getpid() and b"wrapper" in cmdline and b"run" in cmdline:
            pids.append(int(entry))
    return pids


def children_of(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def test_echo_returns_the_event_byte_for_byte(tmp_path, config_source):
    config = write_config(tmp_path, "command: [cat]\nstdin: event\n")
    with start(config, source=config_source) as emulator:
        result = emulator.invoke(b'{"hello": "world!"}')
    assert result.function_error is None
    assert result.body == b'{"hello": "world!"}'


def test_non_zero_exit_is_a_structured_function_error_and_the_next_invocation_works(tmp_path, config_source):
    (tmp_path / "fail.py").write_text(
        "import sys\nprint('bad input', file=sys.stderr)\nsys.exit(int(sys.stdin.read() or 0))\n"
    )
    config = write_config(tmp_path, f"command: [{PYTHON}, '{{config_dir}}/fail.py']\nstdin: event\n")
    with start(config, source=config_source) as emulator:
        failed = emulator.invoke(b"3")
        worked = emulator.invoke(b"0")
    error = json.loads(failed.body)
    assert failed.function_error
    assert error["errorType"] == "Function.NonZeroExit"
    assert "status 3" in error["errorMessage"] and "bad input" in error["errorMessage"]
    assert worked.function_error is None


def test_bad_config_is_an_init_error_naming_file_and_field(tmp_path):
    config = write_config(tmp_path, "command: [cat]\nstdin: event\noutput: {format: xml}\n")
    with start(config, source="yaml") as emulator:  # an invalid config has no compiled form
        result = emulator.invoke(b"{}")
    error = json.loads(result.body)
    assert result.function_error
    assert error["errorType"] == "Runtime.ConfigError"
    assert "wrapper.yaml" in error["errorMessage"] and "output.format" in error["errorMessage"]


def test_missing_program_is_an_init_error(tmp_path, config_source):
    config = write_config(tmp_path, "command: [no-such-program-anywhere]\n")
    with start(config, source=config_source) as emulator:
        error = json.loads(emulator.invoke(b"{}").body)
    assert error["errorType"] == "Runtime.ConfigError"
    assert "no-such-program-anywhere" in error["errorMessage"]


def test_program_sees_a_clean_environment_with_the_invocation_context(tmp_path, config_source):
    config = context_config(tmp_path)
    secrets = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cr3t", "AWS_SESSION_TOKEN": "tok"}
    with start(config, source=config_source, env={**secrets, "UNRELATED_VARIABLE": "x"}) as emulator:
        result = emulator.invoke(b'"hi"')
    seen = json.loads(result.body)
    env = seen["env"]
    assert not set(secrets) & set(env)
    assert "UNRELATED_VARIABLE" not in env
    assert env["AWS_LAMBDA_REQUEST_ID"] and env["_X_AMZN_TRACE_ID"].startswith("Root=")
    assert env["HOME"] == seen["cwd"]
    assert not Path(seen["cwd"]).exists()  # the scratch dir is gone after the invocation


def test_credentials_reach_the_program_only_when_the_config_asks(tmp_path, config_source):
    config = context_config(tmp_path, "aws_credentials: true")
    secrets = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cr3t"}
    with start(config, source=config_source, env=secrets) as emulator:
        env = json.loads(emulator.invoke(b'"hi"').body)["env"]
    assert env["AWS_ACCESS_KEY_ID"] == "AKIAEXAMPLE" and env["AWS_SECRET_ACCESS_KEY"] == "s3cr3t"


def test_json_logs_carry_level_and_request_id_and_forward_program_stderr(tmp_path, config_source):
    config = context_config(tmp_path)
    log_path = tmp_path / "runtime.log"
    json_logs = {"AWS_LAMBDA_LOG_FORMAT": "JSON"}
    with open(log_path, "w") as log, start(config, source=config_source, env=json_logs, log=log) as emulator:
        seen = json.loads(emulator.invoke(b'"hi"').body)
    records = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    program_lines = [r for r in records if r["message"] == "a line for the log"]
    assert program_lines, log_path.read_text()
    record = program_lines[0]
    assert record["requestId"] == seen["env"]["AWS_LAMBDA_REQUEST_ID"]
    assert record["level"] == "INFO" and record["timestamp"].endswith("Z") and record["logger"]


def test_runtime_killed_mid_invocation_is_restarted_and_the_next_invocation_works(tmp_path, config_source):
    config = context_config(tmp_path)
    with start(config, source=config_source) as emulator, ThreadPoolExecutor(1) as pool:
        assert emulator.invoke(b'"warm"').function_error is None
        pending = pool.submit(emulator.invoke, b'"sleep"')
        time.sleep(0.2)  # let the invocation reach the program
        for pid in runtime_pids():
            os.kill(pid, signal.SIGKILL)
        killed = pending.result(timeout=10)
        after = emulator.invoke(b'"again"')
    assert killed.function_error and json.loads(killed.body)["errorType"] == "Runtime.ExitError"
    assert after.function_error is None and json.loads(after.body)["stdin"] == '"again"'


def test_thousand_sequential_invocations_leave_no_processes_or_descriptors_behind(tmp_path):
    config = write_config(tmp_path, "command: [cat]\nstdin: event\n")
    with start(config) as emulator:
        for _ in range(50):
            emulator.invoke(b"{}")
        (pid,) = runtime_pids()
        fds_before = len(os.listdir(f"/proc/{pid}/fd"))
        for number in range(1000):
            assert emulator.invoke(b'{"n": %d}' % number).body == b'{"n": %d}' % number
        fds_after = len(os.listdir(f"/proc/{pid}/fd"))
        assert children_of(pid) == []
        assert runtime_pids() == [pid]  # the same runtime served them all
    assert fds_after == fds_before


def test_max_concurrency_runs_invocations_side_by_side(tmp_path):
    config = context_config(tmp_path)
    with start(config, env={"AWS_LAMBDA_MAX_CONCURRENCY": "3"}) as emulator, ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: emulator.invoke(b'"sleep"'), range(3)))
    spans = [(r["started"], r["ended"]) for r in (json.loads(x.body) for x in results)]
    # every program started before any of them ended: they ran at the same time, in one runtime

    assert max(start for start, _ in spans) < min(end for _, end in spans)


def _spawn_runtime(emulator: Emulator, config: Path, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "AWS_LAMBDA_RUNTIME_API": emulator.address}
    env.update(extra_env or {})
    return subprocess.Popen([*RUNTIME, str(config)], env=env, stderr=subprocess.PIPE)


def test_sigterm_while_waiting_ends_the_runtime_cleanly(tmp_path):
    config = write_config(tmp_path, "command: [cat]\nstdin: event\n")
    with Emulator(runtime_argv=None, port=0) as emulator:
        runtime = _spawn_runtime(emulator, config)
        with ThreadPoolExecutor(1) as pool:
            assert pool.submit(emulator.invoke, b"{}").result(timeout=10).body == b"{}"
        runtime.send_signal(signal.SIGTERM)
        assert runtime.wait(timeout=10) == 0, runtime.stderr.read()


@pytest.mark.parametrize("concurrency", [1, 3])
def test_sigterm_during_invocations_stops_the_programs_and_exits_cleanly(tmp_path, concurrency):
    pids = tmp_path / "pids"
    pids.mkdir()
    (tmp_path / "sleeper.py").write_text(
        f"import os, time\nopen(os.path.join({str(pids)!r}, str(os.getpid())), 'w').close()\ntime.sleep(60)\n"
    )
    config = write_config(tmp_path, f"command: [{PYTHON}, '{{config_dir}}/sleeper.py']\n")
    # the emulator stops first and answers the abandoned invocations, so the pool does not wait them out
    with ThreadPoolExecutor(3) as pool, Emulator(runtime_argv=None, port=0, function_timeout_s=30) as emulator:
        runtime = _spawn_runtime(emulator, config, {"AWS_LAMBDA_MAX_CONCURRENCY": str(concurrency)})
        for _ in range(concurrency):
            pool.submit(emulator.invoke, b"{}")
        for _ in range(200):
            if len(list(pids.iterdir())) == concurrency:
                break
            time.sleep(0.05)
        program_pids = [int(p.name) for p in pids.iterdir()]
        assert len(program_pids) == concurrency
        runtime.send_signal(signal.SIGTERM)
        assert runtime.wait(timeout=10) == 0, runtime.stderr.read()
        for pid in program_pids:
            with pytest.raises(ProcessLookupError):
                for _ in range(100):  # killed by the runtime on its way out; give init a moment to reap
                    os.kill(pid, 0)
                    time.sleep(0.05)
