"""One invocation as one CloudWatch Embedded Metric Format (EMF) record. Pure: no I/O, no clock.

    {"_aws": {"Timestamp": <ms>, "CloudWatchMetrics": [
        {"Namespace": "...", "Dimensions": [["target", "module"]], "Metrics": [{"Name": "Duration", "Unit": "..."}]},
        {"Namespace": "...", "Dimensions": [["target", "module", "ErrorType"]], "Metrics": [{"Name": "Error", ...}]}]},
     "target": "https://example.com", "module": "http_2xx", "Duration": 12.5, "Error": 1,
     "ErrorType": "Function.Timeout",
     "requestId": "..."}

Every dimension and metric is a member of the root, as the specification requires; metrics that share a set of
dimensions share a directive. The ErrorType directive exists only when the invocation failed, and a Prometheus
sample's label dimensions get a directive of their own. Values are finite numbers: a NaN or infinite sample is left
out, never written. Specification: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/
CloudWatch_Embedded_Metric_Format_Specification.html
"""

from __future__ import annotations

import json
import math

from wrapper import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any


MAX_METRICS = 100  # MetricDefinitions in one directive
MAX_DIMENSIONS = 30  # keys in one DimensionSet
MAX_DIMENSION_VALUE = 1024  # characters of a dimension's value
NO_VALUE = "none"  # the dimension value of a null input: a dimension must always be a non-blank string
REDACTED = "redacted"
MIN_SECRET_SEARCHED = 8  # a shorter token is only redacted as the whole value: "x" must not redact "http_2xx"
# members of the record's root that are neither metrics nor configured dimensions
RESERVED_MEMBERS = ("_aws", "requestId", "timestamp", "level", "ErrorType")
INVOCATION_METRICS: dict[str, tuple[tuple[str, str], ...]] = {
    "duration": (("Duration", "Milliseconds"),),
    "outcome": (("Success", "Count"), ("Error", "Count")),
    "exit_status": (("ExitStatus", "None"),),
    "output_bytes": (("OutputBytes", "Bytes"),),
}


class Observation:
    """What one invocation did, as far as metrics care; filled in by the handler while it runs."""

    __slots__ = ("started_ms", "started_s", "http", "values", "error_type", "exit_status", "output",  # noqa: RUF023
                 "output_bytes")

    def __init__(self, started_ms: float, started_s: float = 0.0, *, http: bool = False) -> None:
        self.started_ms = started_ms  # epoch ms when the invocation began: the record's timestamp
        self.started_s = started_s  # the monotonic clock then: durations ignore steps of the wall clock
        self.http = http  # an HTTP event (Function URL, API Gateway, ALB)
        self.values: dict[str, Any] = {}  # the inputs' checked values (none when the event was refused)
        self.error_type: str | None = None  # the Category.Reason the invocation failed with
        self.exit_status: int | None = None  # exec mode: the program's exit status (128+N for signal N)
        self.output: bytes | None = None  # the program's stdout, or the server's answer body
        self.output_bytes: int | None = None  # how much was sent when the output is not kept (a stream)

    def output_size(self) -> int | None:
        """OutputBytes: what a stream sent, else the length of the output kept; None when there was none."""
        if self.output_bytes is not None:
            return self.output_bytes
        return None if self.output is None else len(self.output)

    def ran(self, result: Any) -> None:
        """Take what a finished exec-mode program did (a ProcessResult)."""
        self.exit_status = result.exit_code if result.exit_code is not None else 128 + (result.signal or 0)
        self.output = result.stdout


class Series:
    """A Prometheus sample chosen for the record: its value and label dimensions, or why it is left out.

    `absent` marks a sample the output does not have (normal: blackbox_exporter's http module has
    probe_http_status_code, its tcp module does not); other problems point at the config.
    """

    __slots__ = ("name", "unit", "value", "labels", "problem", "absent")  # noqa: RUF023

    def __init__(self, name: str, unit: str, value: float | None, labels: dict[str, str], problem: str | None,
                 *, absent: bool = False) -> None:
        self.name, self.unit, self.value, self.labels, self.problem = name, unit, value, labels, problem
        self.absent = absent


def metric_name(series: Any) -> str:
    """The CloudWatch name of a `metrics.prometheus` entry's metric."""
    return series.name or series.series


def wanted(metrics: Any, observation: Observation) -> bool:
    """Whether this invocation emits a record at all (`metrics.events`)."""
    return metrics.events == "all" or (metrics.events == "http") == observation.http


def dimension_values(metrics: Any, values: dict[str, Any], *, secret: str | None = None) -> dict[str, str]:
    """Every configured dimension's value for these input values, made safe (see `dimension_value`)."""
    found = {}
    for name, source in metrics.dimensions.items():
        if isinstance(source, str):
            found[name] = source
        else:
            found[name] = dimension_value(values.get(source.input), keep_query=source.keep_query, secret=secret)
    return found


def dimension_value(raw: Any, *, keep_query: bool = False, secret: str | None = None) -> str:
    """A value fit to be a dimension: no credentials, no query string unless kept, printable ASCII, ≤ 1024 chars.

    A URL's `user:password@` goes always; so does everything from the first `?` or `#` unless keep_query; other
    characters become %XX (UTF-8); a value holding `secret` (the bearer token) becomes "redacted".
    """
    if raw is None:
        return NO_VALUE
    text = raw if isinstance(raw, str) else json.dumps(raw, separators=(",", ":"), sort_keys=True)
    text = _without_userinfo(text)
    if not keep_query:
        cut = min((i for i in (text.find("?"), text.find("#")) if i >= 0), default=len(text))
        text = text[:cut]
    if secret and (secret == text or (len(secret) >= MIN_SECRET_SEARCHED and secret in text)):
        return REDACTED
    text = "".join(c if " " <= c <= "~" else "".join(f"%{b:02X}" for b in c.encode()) for c in text)
    text = text[:MAX_DIMENSION_VALUE]
    return text if text.strip() else NO_VALUE


def _without_userinfo(text: str) -> str:
    scheme_end = text.find("://")
    if scheme_end < 0:
        return text
    start = scheme_end + 3
    end = min((i for i in (text.find(c, start) for c in "/?#") if i >= 0), default=len(text))
    at = text.rfind("@", start, end)
    return text if at < 0 else text[:start] + text[at + 1 :]


def invocation_values(metrics: Any, observation: Observation, ended_s: float) -> list[tuple[str, str, float]]:
    """(name, unit, value) of each chosen per-invocation metric that applies; ended_s on the monotonic clock."""
    found: list[tuple[str, str, float]] = []
    for kind in metrics.invocation:
        if kind == "duration":
            found.append(("Duration", "Milliseconds", round(max(0.0, ended_s - observation.started_s) * 1000, 3)))
        elif kind == "outcome":
            failed = observation.error_type is not None
            found += [("Success", "Count", 0 if failed else 1), ("Error", "Count", 1 if failed else 0)]
        elif kind == "exit_status" and observation.exit_status is not None:
            found.append(("ExitStatus", "None", observation.exit_status))
        elif kind == "output_bytes" and (size := observation.output_size()) is not None:
            found.append(("OutputBytes", "Bytes", size))
    return found


def choose_series(metrics: Any, families: dict[str, Any] | None, *, secret: str | None = None) -> list[Series]:
    """Each `metrics.prometheus` entry's sample in parsed exposition (`parse_exposition(...)["metrics"]`)."""
    samples = [sample for family in (families or {}).values() for sample in family["samples"]]
    chosen = []
    for spec in metrics.prometheus:
        name = metric_name(spec)
        matching = [
            s for s in samples
            if s["name"] == spec.series and all(s["labels"].get(k) == v for k, v in spec.match.items())
        ]
        if len(matching) != 1:
            problem = "not in the output" if not matching else f"{len(matching)} samples match (narrow it with match)"
            chosen.append(Series(name, spec.unit, None, {}, f"{spec.series}: {problem}", absent=not matching))
            continue
        sample = matching[0]
        value = sample["value"]
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            chosen.append(Series(name, spec.unit, None, {}, f"{spec.series}: value {value} is not a finite number"))
            continue
        missing = [label for label in spec.dimensions if label not in sample["labels"]]
        if missing:
            chosen.append(Series(name, spec.unit, None, {}, f"{spec.series}: no label {', '.join(missing)}"))
            continue
        labels = {label: dimension_value(sample["labels"][label], secret=secret) for label in spec.dimensions}
        if float(value).is_integer() and abs(value) < 2**53:
            value = int(value)  # 1, not 1.0: the same number, as Prometheus wrote it
        chosen.append(Series(name, spec.unit, value, labels, None))
    return chosen


def build_record(
    metrics: Any,
    dimensions: dict[str, str],
    values: list[tuple[str, str, float]],
    series: list[Series],
    *,
    error_type: str | None,
    timestamp_ms: int,
    request_id: str | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """The EMF record, and why series were left out of it (absent samples are left out without a word)."""
    base = list(dimensions)
    record: dict[str, Any] = {"_aws": {"Timestamp": timestamp_ms, "CloudWatchMetrics": []}}
    record.update(dimensions)
    directives: dict[tuple[str, ...], list[dict[str, str]]] = {tuple(base): []}
    problems: list[str] = []
    for name, unit, value in values:
        record[name] = value
        directives[tuple(base)].append({"Name": name, "Unit": unit})
    for item in series:
        if item.problem is not None:
            if not item.absent:
                problems.append(item.problem)
            continue
        clash = [k for k, v in item.labels.items() if record.get(k, v) != v]
        if clash:
            problems.append(f"{item.name}: label {', '.join(clash)} already has another value in this record")
            continue
        record.update(item.labels)
        record[item.name] = item.value
        directives.setdefault((*base, *item.labels), []).append({"Name": item.name, "Unit": item.unit})
    if error_type is not None and "Error" in record:
        record["ErrorType"] = error_type
        directives[(*base, "ErrorType")] = [{"Name": "Error", "Unit": "Count"}]
    record["_aws"]["CloudWatchMetrics"] = [
        {"Namespace": metrics.namespace, "Dimensions": [list(keys)], "Metrics": found}
        for keys, found in directives.items()
        if found
    ]
    if request_id:
        record["requestId"] = request_id
    return record, problems
