"""Writes each invocation's EMF record to stdout, where Lambda sends it to CloudWatch Logs as its own log event.

The record is a bare JSON object on one line, in both log formats: CloudWatch only extracts metrics from an event
that is exactly one JSON object, and with AWS_LAMBDA_LOG_FORMAT=JSON Lambda passes a line that already is JSON
through as it is (it does not wrap it a second time). In that format the record also carries `timestamp` (RFC 3339)
and `level`, the lowest level the function's log-level filter keeps, so AWS_LAMBDA_LOG_LEVEL=WARN does not drop
metrics: Lambda counts a line without a valid level and timestamp as INFO. Metrics never change an answer: a record
that cannot be built or written is a warning in the log, and the invocation's result stands.

Sources: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Lambda.html
(EMF on stdout, no agent), https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-logformat.html
(JSON is not encoded twice), https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html
(runtimes other than the managed ones: `level` and an RFC 3339 `timestamp`, else INFO).
"""

from __future__ import annotations

import json
import os
import threading
import time

from wrapper import TYPE_CHECKING
from wrapper.logs import get_logger
from wrapper.metrics.emf import Observation, build_record, choose_series, dimension_values, invocation_values, wanted

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

logger = get_logger(__name__)


class MetricsRecorder:
    """One per function: starts an Observation per invocation and writes its record when the invocation ends."""

    def __init__(
        self,
        metrics: Any,
        *,
        log_format: str = "text",
        level_name: str = "INFO",
        secret: str | None = None,
        fd: int = 1,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.metrics = metrics
        self.json_format = log_format == "json"
        self.level_name = level_name
        self.secret = secret  # the bearer token: never a dimension value
        self.fd = fd  # stdout: Lambda sends it to CloudWatch Logs
        self.clock, self.monotonic = clock, monotonic
        self._lock = threading.Lock()  # concurrent loops: one whole line at a time
        self._series_names = tuple(series.series for series in metrics.prometheus)

    @classmethod
    def for_environment(cls, metrics: Any, env: dict[str, str], *, secret: str | None = None) -> MetricsRecorder:
        """A recorder that fits the function's log settings (AWS_LAMBDA_LOG_FORMAT, AWS_LAMBDA_LOG_LEVEL)."""
        from wrapper.logs import LEVEL_NAMES, parse_level

        log_format = "json" if env.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON" else "text"
        level_name = LEVEL_NAMES[parse_level(env.get("AWS_LAMBDA_LOG_LEVEL"))]
        return cls(metrics, log_format=log_format, level_name=level_name, secret=secret)

    def observe(self) -> Observation:
        """A fresh observation for an invocation starting now."""
        return Observation(self.clock() * 1000, self.monotonic())

    def record(self, observation: Observation, request_id: str) -> None:
        """Write the invocation's record; log (never raise) when that fails."""
        try:
            if wanted(self.metrics, observation):
                self._write(self.build(observation, request_id))
        except Exception as exc:  # noqa: BLE001 - a metrics failure must never change the answer
            logger.warning("Metrics record not written: %s: %s", type(exc).__name__, exc)

    def build(self, observation: Observation, request_id: str) -> dict[str, Any] | None:
        """The record for a finished invocation (None when it holds no metric), logging series left out of it."""
        metrics = self.metrics
        series = []
        if metrics.prometheus and observation.output is not None and observation.error_type is None:
            families = self._exposition(observation.output)
            if families is not None:
                series = choose_series(metrics, families, secret=self.secret)
        for item in series:
            if item.absent:
                logger.debug("Metric left out: %s", item.problem)
        record, problems = build_record(
            metrics,
            dimension_values(metrics, observation.values, secret=self.secret),
            invocation_values(metrics, observation, self.monotonic()),
            series,
            error_type=observation.error_type,
            timestamp_ms=int(observation.started_ms),
            request_id=request_id,
        )
        for problem in problems:
            logger.warning("Metric left out: %s", problem)
        return record if record["_aws"]["CloudWatchMetrics"] else None

    def _exposition(self, output: bytes) -> dict[str, Any] | None:
        from wrapper.mapping.exposition import parse_exposition

        # only lines that may be chosen samples: a full parse of blackbox_exporter's answer costs ~1.5 ms
        lines = [line for line in output.decode("utf-8", "replace").split("\n")
                 if line.lstrip(" \t").startswith(self._series_names)]
        try:
            return parse_exposition("\n".join(lines))["metrics"]
        except ValueError as exc:
            logger.warning("Metrics: the output is not Prometheus text: %s", exc)
            return None

    def _write(self, record: dict[str, Any] | None) -> None:
        if record is None:
            return
        if self.json_format:
            millis = record["_aws"]["Timestamp"]
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(millis // 1000)) + f".{millis % 1000:03d}Z"
            record = {"timestamp": stamp, "level": self.level_name, **record}
        line = json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n"  # NaN would be invalid EMF
        data = memoryview(line.encode())
        # straight to the descriptor: a failed write leaves nothing behind in a buffer to fail again later
        with self._lock:
            while data:
                data = data[os.write(self.fd, data) :]
