"""The recorder: one bare JSON line per invocation in either log format; a failure is a warning, never an error."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator

import pytest

from emf_rules import assert_valid_emf
from wrapper.config.metrics import MetricsConfig
from wrapper.metrics.recorder import MetricsRecorder


class Clock:
    """A clock that moves only when told."""

    def __init__(self, now_s: float) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


class Pipe:
    """A real pipe the recorder writes to; `text()` closes the writing end and returns all that was written."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        self.chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._drain)  # so long output never fills the pipe
        self._reader.start()

    def _drain(self) -> None:
        while chunk := os.read(self.read_fd, 65536):
            self.chunks.append(chunk)

    def text(self) -> str:
        if self.write_fd >= 0:
            os.close(self.write_fd)
            self.write_fd = -1
            self._reader.join()
            os.close(self.read_fd)
        return b"".join(self.chunks).decode()


@pytest.fixture
def pipe() -> Iterator[Pipe]:
    captured = Pipe()
    yield captured
    captured.text()


def recorder(fd: int, *, log_format="text", level_name="INFO", **fields) -> tuple[MetricsRecorder, Clock, Clock]:
    """A recorder writing to fd, and its wall clock (at 1,000,000.5 s) and monotonic clock (at 50 s)."""
    wall, monotonic = Clock(1_000_000.5), Clock(50.0)
    metrics = MetricsConfig.model_validate({"namespace": "Test", "dimensions": {"service": "echo"}, **fields})
    recorder = MetricsRecorder(metrics, log_format=log_format, level_name=level_name, fd=fd, clock=wall,
                               monotonic=monotonic)
    return recorder, wall, monotonic


def test_text_format_writes_the_bare_record_on_one_line(pipe):
    metrics, wall, monotonic = recorder(pipe.write_fd)
    seen = metrics.observe()
    monotonic.now_s += 0.125
    wall.now_s -= 10  # the wall clock stepped back meanwhile (NTP at a cold start): the duration does not care
    metrics.record(seen, "req-1")
    text = pipe.text()
    lines = text.splitlines()
    assert len(lines) == 1 and text.endswith("\n")
    record = json.loads(lines[0])
    assert_valid_emf(record)
    assert record["_aws"]["Timestamp"] == 1_000_000_500
    assert record["Duration"] == 125.0 and record["requestId"] == "req-1"
    assert "level" not in record and "timestamp" not in record  # text format: nothing Lambda would need


@pytest.mark.parametrize("level_name", ["INFO", "WARN", "FATAL"])
def test_json_format_adds_the_kept_level_and_an_rfc3339_timestamp(pipe, level_name):
    metrics, *_ = recorder(pipe.write_fd, log_format="json", level_name=level_name)
    metrics.record(metrics.observe(), "req-2")
    record = json.loads(pipe.text())
    assert_valid_emf(record)
    assert record["level"] == level_name  # Lambda's log-level filter keeps it, whatever AWS_LAMBDA_LOG_LEVEL is
    assert record["timestamp"] == "1970-01-12T13:46:40.500Z"  # the same instant as _aws.Timestamp
    assert record["requestId"] == "req-2"


@pytest.mark.parametrize(
    "env, log_format, level",
    [({}, "text", "INFO"), ({"AWS_LAMBDA_LOG_FORMAT": "JSON"}, "json", "INFO"),
     ({"AWS_LAMBDA_LOG_FORMAT": "json", "AWS_LAMBDA_LOG_LEVEL": "warn"}, "json", "WARN"),
     ({"AWS_LAMBDA_LOG_FORMAT": "Text", "AWS_LAMBDA_LOG_LEVEL": "DEBUG"}, "text", "DEBUG")],
)
def test_the_recorder_follows_the_functions_log_settings(env, log_format, level):
    metrics = MetricsRecorder.for_environment(MetricsConfig(namespace="Test"), env)
    assert (metrics.json_format, metrics.level_name) == (log_format == "json", level)


def test_a_record_that_cannot_be_written_is_a_warning_and_nothing_is_raised(wrapper_log):
    full = os.open("/dev/full", os.O_WRONLY)  # every write fails with ENOSPC
    try:
        metrics, *_ = recorder(full)
        metrics.record(metrics.observe(), "req-3")
    finally:
        os.close(full)
    assert "[WARN]" in wrapper_log.getvalue() and "Metrics record not written: OSError" in wrapper_log.getvalue()


def test_an_http_invocation_writes_nothing_when_only_direct_ones_emit(pipe):
    metrics, *_ = recorder(pipe.write_fd, events="direct")
    seen = metrics.observe()
    seen.http = True
    metrics.record(seen, "req-4")
    assert pipe.text() == ""


@pytest.mark.parametrize(
    "output, logged",
    [(b"probe_success one\n", "Metrics: the output is not Prometheus text: line 1: invalid value 'one'"),
     (b"<html>not metrics</html>\n", "Metric left out: probe_success: not in the output")],
)
def test_output_without_the_sample_leaves_the_invocation_metrics_in_place(pipe, wrapper_log, output, logged):
    metrics, *_ = recorder(pipe.write_fd, invocation=["outcome"], prometheus=[{"series": "probe_success"}])
    seen = metrics.observe()
    seen.output = output
    metrics.record(seen, "req-5")
    record = json.loads(pipe.text())
    assert_valid_emf(record)
    assert record["Success"] == 1 and "probe_success" not in record
    assert logged in wrapper_log.getvalue()


def test_only_the_chosen_samples_lines_are_read(pipe, wrapper_log):
    # a malformed line elsewhere in the output is not the metrics' business (the answer goes out as it is)
    metrics, *_ = recorder(pipe.write_fd, invocation=[], prometheus=[{"series": "probe_success"}])
    seen = metrics.observe()
    seen.output = b"# TYPE x gauge\nx{broken 1\nprobe_success_total 7\n  probe_success 0\r\n"
    metrics.record(seen, "req-7")
    assert json.loads(pipe.text())["probe_success"] == 0 and "WARN" not in wrapper_log.getvalue()


def test_a_record_without_any_metric_is_not_written(pipe, wrapper_log):
    metrics, *_ = recorder(pipe.write_fd, invocation=[], prometheus=[{"series": "probe_success"}])
    seen = metrics.observe()
    seen.output = b"other_metric 1\n"
    metrics.record(seen, "req-6")
    assert pipe.text() == ""
    assert "probe_success: not in the output" in wrapper_log.getvalue()


def test_concurrent_invocations_never_interleave_their_lines(pipe):
    metrics, *_ = recorder(pipe.write_fd, dimensions={"service": "x" * 1000})  # each line longer than PIPE_BUF/4

    def invocations(worker: int) -> None:
        for number in range(50):
            metrics.record(metrics.observe(), f"{worker}-{number}")

    workers = [threading.Thread(target=invocations, args=(worker,)) for worker in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    lines = pipe.text().splitlines()
    assert sorted(json.loads(line)["requestId"] for line in lines) == sorted(
        f"{worker}-{number}" for worker in range(4) for number in range(50))
