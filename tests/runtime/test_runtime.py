"""End to end: `wrapper run` as a real subprocess under the emulator, with real programs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

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


def test_wrapper_run_works_against_a_runtime_api_under_a_path_prefix(tmp_path):
    config = write_config(tmp_path, "command: [cat]\nstdin: event\n")
    # the emulator serves the Runtime API under /.rt only, and gives its runtimes host:port/.rt
    with start(config, api_prefix="/.rt") as emulator:
        result = emulator.invoke(b'{"under": "a prefix"}', timeout_s=30)
        assert emulator.stats.runtime_starts == 1
    assert result.function_error is None and result.body == b'{"under": "a prefix"}'


class _NoDeadlineAPI(BaseHTTPRequestHandler):
    """A Runtime API stand-in: one event without a deadline header, then a long-poll that never answers."""

    protocol_version = "HTTP/1.1"
    posted: ClassVar[list[bytes]] = []
    served = False

    def do_GET(self):  # noqa: N802 - http.server's naming
        if type(self).served:
            time.sleep(60)  # the runtime is stopped long before
            return
        type(self).served = True
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", "req-1")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def do_POST(self):  # noqa: N802
        self.posted.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_missing_deadline_falls_back_to_the_configs_timeout_not_60_seconds(tmp_path):
    config = context_config(tmp_path, "timeout_s: 7")
    handler = type("Handler", (_NoDeadlineAPI,), {"posted": [], "served": False})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT),
           "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}"}
    runtime = subprocess.Popen([*RUNTIME, str(config)], env=env, stderr=subprocess.PIPE)
    try:
        for _ in range(400):
            if handler.posted:
                break
            time.sleep(0.05)
    finally:
        runtime.send_signal(signal.SIGTERM)
        runtime.wait(timeout=10)
        server.shutdown()
        server.server_close()
    assert handler.posted, runtime.stderr.read()
    seen = json.loads(handler.posted[0])
    ahead_ms = int(seen["env"]["AWS_LAMBDA_DEADLINE_MS"]) - seen["started"] * 1000
    assert 0 < ahead_ms <= 7_000  # the config's timeout_s (7 s), not the 60 s default


WINDOW_RUNTIME = """\
import os, signal, subprocess, sys, time
from wrapper.programs.reaper import Reaper
from wrapper.runtime.client import RuntimeClient
from wrapper.runtime.loop import Runtime

class Handler:
    # A handler whose program start is hit by SIGTERM exactly between spawn and registration.
    reaper = Reaper()

    def handle(self, invocation):
        def spawn():
            proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with open(sys.argv[2], "w") as f:
                f.write(str(proc.pid))
            os.kill(os.getpid(), signal.SIGTERM)  # lands here: started, not yet registered
            time.sleep(0.5)  # room for a shutdown that does not wait for this start to run first, and miss it
            return proc
        proc = self.reaper.start_run(spawn)
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # until the shutdown kills it
        self.reaper.finish_run(proc)
        return b'"done"', "application/json"

    def close(self):
        self.reaper.kill_running()

address = sys.argv[1]
sys.exit(Runtime(Handler(), lambda: RuntimeClient(address)).run())
"""


@pytest.mark.parametrize("concurrency", [1, 2])
def test_regression_sigterm_between_spawn_and_registration_leaves_the_program_running(tmp_path, concurrency):
    script = tmp_path / "window.py"
    script.write_text(WINDOW_RUNTIME.replace("(address))", f"(address), concurrency={concurrency})"))
    pid_file = tmp_path / "pid"
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)}
    with ThreadPoolExecutor(1) as pool, Emulator(runtime_argv=None, port=0, function_timeout_s=30) as emulator:
        runtime = subprocess.Popen([PYTHON, str(script), emulator.address, str(pid_file)], env=env,
                                   stderr=subprocess.PIPE)
        pool.submit(emulator.invoke, b"{}")
        code = runtime.wait(timeout=20)
        message = runtime.stderr.read().decode()
    program = int(pid_file.read_text())
    assert code == 0, message
    with pytest.raises(ProcessLookupError):
        for _ in range(100):  # killed by the runtime on its way out; give init a moment to reap
            os.kill(program, 0)
            time.sleep(0.05)


def test_event_making_the_command_too_large_to_exec_is_invalid_event_not_a_spawn_error(tmp_path):
    from wrapper.programs.execlimits import exec_budget_bytes  # the runtime inherits this process's stack limit

    config = write_config(tmp_path, """\
        command: [echo]
        inputs:
          word: {max_length: 1000000}
          words: {type: list, items: string, max_items: 1000000}
        args:
          - {value: word}
          - {value: words}
          - {value: words}
          - {value: words}
        """)
    count = exec_budget_bytes() // (3 * (100 + 1 + 8)) + 100  # three copies of the list: just over the budget
    with start(config, timeout_s=30) as emulator:
        one_long = emulator.invoke(json.dumps({"word": "a" * 200_000, "words": []}).encode(), timeout_s=30)
        many = emulator.invoke(json.dumps({"word": "a", "words": ["w" * 100] * count}).encode(), timeout_s=30)
        fine = emulator.invoke(json.dumps({"word": "a" * 100_000, "words": ["w"]}).encode(), timeout_s=30)
    for result in (one_long, many):  # the first, one word over 128 KiB, was refused before; the total was not
        assert json.loads(result.body)["errorType"] == "Function.InvalidEvent", result.body[:300]
    assert "too large to start" in json.loads(many.body)["errorMessage"]
    assert fine.function_error is None


@pytest.mark.parametrize(("token", "reason"), [("", "is blank"), ("   ", "is blank"), (" s3cret", "whitespace"),
                                               ("s3cret\n", "whitespace")])
def test_bearer_token_variable_blank_or_padded_fails_at_init_with_a_clear_message(tmp_path, token, reason):
    config = write_config(tmp_path, "command: [cat]\nauth: {bearer_token_env: API_TOKEN}\n")
    with start(config, env={"API_TOKEN": token}) as emulator:
        result = emulator.invoke(b"{}", timeout_s=30)
    error = json.loads(result.body)
    assert error["errorType"] == "Runtime.ConfigError", error
    assert "API_TOKEN" in error["errorMessage"] and reason in error["errorMessage"]
    assert "s3cret" not in error["errorMessage"]
