"""EMF records end to end: `wrapper run` under the emulator, real programs, the records read from its real stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from emf_rules import assert_valid_emf, emf_lines
from harness import ROOT, RUNTIME, local_lambda
from wrapper.emulator import Emulator

PROGRAMS = ROOT / "tests" / "bin"
METRICS = """
metrics:
  namespace: WrapperTest
  dimensions: {service: echo}
"""


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "wrapper.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def echo_config(tmp_path: Path, metrics: str = METRICS) -> Path:
    return write_config(tmp_path, "command: [cat]\nstdin: event\n" + metrics)


def record_of(log: Path, request_id: str) -> dict:
    """The one EMF record the runtime wrote for this invocation."""
    records = [r for r in emf_lines(log.read_text()) if r.get("requestId") == request_id]
    assert len(records) == 1, log.read_text()[-3000:]
    assert_valid_emf(records[0])
    return records[0]


def test_an_echo_invocation_emits_duration_and_outcome(tmp_path):
    log = tmp_path / "runtime.log"
    with local_lambda(echo_config(tmp_path), log=str(log)) as emulator:
        result = emulator.invoke(b'{"hello": "world!"}')
    assert result.function_error is None and result.body == b'{"hello": "world!"}'
    record = record_of(log, result.request_id)
    assert record["Duration"] > 0 and record["Success"] == 1 and record["Error"] == 0
    assert record["ExitStatus"] == 0 and record["OutputBytes"] == len(b'{"hello": "world!"}')
    assert record["service"] == "echo"
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "WrapperTest" and directive["Dimensions"] == [["service"]]


def test_a_failed_invocation_counts_an_error_by_type_and_keeps_its_exit_status(tmp_path):
    config = write_config(tmp_path, f"""
        command: [{sys.executable}, {PROGRAMS / "exit_code.py"}, "3"]
        {METRICS}
    """.replace("\n        ", "\n"))
    log = tmp_path / "runtime.log"
    with local_lambda(config, log=str(log)) as emulator:
        result = emulator.invoke(b"{}")
    assert result.function_error == "Unhandled"
    error = result.json()
    record = record_of(log, result.request_id)
    assert record["Success"] == 0 and record["Error"] == 1 and record["ExitStatus"] == 3
    assert record["ErrorType"] == error["errorType"] == "Function.NonZeroExit"
    dimension_sets = [d["Dimensions"][0] for d in record["_aws"]["CloudWatchMetrics"]]
    assert dimension_sets == [["service"], ["service", "ErrorType"]]


def test_json_log_format_keeps_records_bare_and_at_the_level_lambda_keeps(tmp_path):
    log = tmp_path / "runtime.log"
    env = {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "WARN"}
    with local_lambda(echo_config(tmp_path), env=env, log=str(log)) as emulator:
        result = emulator.invoke(b"{}")
    record = record_of(log, result.request_id)
    assert record["level"] == "WARN" and record["timestamp"].endswith("Z")
    # one JSON object per line, nothing around it: what CloudWatch needs to extract the metrics
    line = next(line for line in log.read_text().splitlines() if result.request_id in line and "_aws" in line)
    assert json.loads(line) == record


def test_text_log_format_writes_the_record_without_a_prefix(tmp_path):
    log = tmp_path / "runtime.log"
    with local_lambda(echo_config(tmp_path), log=str(log)) as emulator:
        result = emulator.invoke(b"{}")
    line = next(line for line in log.read_text().splitlines() if '"_aws"' in line)
    assert line.startswith('{"_aws":') and json.loads(line)["requestId"] == result.request_id
    assert "level" not in json.loads(line)


def test_metrics_that_cannot_be_written_never_change_the_answer(tmp_path):
    log = tmp_path / "runtime.log"
    with open("/dev/full", "wb") as full, open(log, "wb") as stderr:  # stdout: every write fails (ENOSPC)
        emulator = Emulator(runtime_argv=RUNTIME, port=0, function_timeout_s=10, task_root=str(tmp_path),
                            handler="wrapper.yaml", env={"PYTHONPATH": str(ROOT)}, runtime_stdout=full,
                            runtime_stderr=stderr)
        echo_config(tmp_path)
        with emulator:
            first = emulator.invoke(b'{"n": 1}')
            second = emulator.invoke(b'{"n": 2}')
    assert (first.function_error, first.body) == (None, b'{"n": 1}')
    assert (second.function_error, second.body) == (None, b'{"n": 2}')
    warnings = [line for line in log.read_text().splitlines() if "Metrics record not written" in line]
    assert len(warnings) == 2 and "No space left on device" in warnings[0]


def test_http_invocations_emit_nothing_when_only_direct_ones_are_measured(tmp_path):
    log = tmp_path / "runtime.log"
    config = echo_config(tmp_path, METRICS + "  events: direct\n")
    with local_lambda(config, log=str(log)) as emulator:
        direct = emulator.invoke(b"{}")
        http = emulator.invoke(json.dumps({"version": "2.0", "rawPath": "/", "requestContext": {
            "http": {"method": "GET", "path": "/"}}, "headers": {}}).encode())
    assert http.function_error is None
    requests = [r["requestId"] for r in emf_lines(log.read_text())]
    assert requests == [direct.request_id]


HANDLE_ONE = """
import sys, time
from wrapper.runtime.function import FunctionHandler
from wrapper.types import Invocation
handler = FunctionHandler.load({path!r}, base_env={{"PATH": "/usr/bin:/bin"}})
handler.handle(Invocation("id-1", int(time.time() * 1000) + 10000, b"{{}}"))
loaded = sorted(m for m in sys.modules if m.startswith("wrapper.metrics") or m.split(".")[0] in ("pydantic", "yaml"))
print(" ".join(loaded) or "-", file=sys.stderr)
"""


def test_without_metrics_nothing_of_wrapper_metrics_is_imported(tmp_path):
    from wrapper.cli.check import write_compiled

    path = echo_config(tmp_path, metrics="")
    write_compiled(path)
    script = HANDLE_ONE.format(path=str(path))
    env = {"PYTHONPATH": str(ROOT), "PATH": os.environ.get("PATH", "")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env)
    assert done.stderr.split() == ["-"] and done.stdout == ""


def test_with_metrics_a_compiled_config_emits_without_pydantic(tmp_path):
    from wrapper.cli.check import write_compiled

    path = echo_config(tmp_path)
    write_compiled(path)
    script = HANDLE_ONE.format(path=str(path))
    env = {"PYTHONPATH": str(ROOT), "PATH": os.environ.get("PATH", "")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env)
    assert done.stderr.split() == ["wrapper.metrics", "wrapper.metrics.emf", "wrapper.metrics.recorder"]
    (record,) = emf_lines(done.stdout)
    assert_valid_emf(record)
    assert record["requestId"] == "id-1" and record["service"] == "echo"
