"""The `metrics:` block: CloudWatch metrics in the Embedded Metric Format (EMF), and its checks across fields.

The record itself is built by `wrapper.metrics.emf`; this module only says what a valid block is. Limits come from
the EMF specification (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/
CloudWatch_Embedded_Metric_Format_Specification.html) and CloudWatch's own (namespace, dimension and metric names).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Discriminator, Field, Tag, field_validator

from wrapper.config.fields import TAG_PREFIX, BaseConfig, Name
from wrapper.metrics.emf import INVOCATION_METRICS, MAX_DIMENSIONS, MAX_METRICS, RESERVED_MEMBERS, metric_name

# CloudWatch's units, as the EMF schema lists them (MetricDefinition.Unit)
Unit = Literal[
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes", "Bits",
    "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second", "Kilobytes/Second",
    "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
    "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
]
InvocationMetric = Literal["duration", "outcome", "exit_status", "output_bytes"]

# CloudWatch names: printable ASCII, at least one non-blank, not starting with ':' (API_Dimension, API_Metric)
_CLOUDWATCH_NAME = re.compile(r"[\x21-\x39\x3b-\x7e][\x20-\x7e]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_SERIES_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def _cloudwatch_name(value: Any, limit: int) -> Any:
    if isinstance(value, str) and not (_CLOUDWATCH_NAME.fullmatch(value) and len(value) <= limit):
        raise ValueError(f"{value!r} must be 1-{limit} printable ASCII characters, not starting with ':'")
    return value


def _metric_name(value: Any) -> Any:
    return _cloudwatch_name(value, 255)


def _dimension_name(value: Any) -> Any:
    return _cloudwatch_name(value, 250)  # the EMF schema's DimensionReference limit


def _label(value: Any) -> Any:
    if isinstance(value, str) and not _LABEL_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a Prometheus label name")
    return value


MetricName = Annotated[str, BeforeValidator(_metric_name)]
DimensionName = Annotated[str, BeforeValidator(_dimension_name)]
LabelName = Annotated[str, BeforeValidator(_label)]


class InputDimensionConfig(BaseConfig):
    """A dimension whose value is an input's checked value (a string; other types as compact JSON)."""

    input: Name = Field(description="The input whose value becomes the dimension value; `none` when it is null.")
    keep_query: bool = Field(
        False,
        description="Keep everything from the first `?` or `#` (a URL's query string and fragment). Off by default: "
        "query strings make unbounded metric counts and may carry tokens. A URL's `user:password@` is always dropped.",
    )


def _dimension_shape(value: Any) -> str | None:
    if isinstance(value, str):
        return f"{TAG_PREFIX}literal"
    if isinstance(value, (dict, BaseConfig)):
        return f"{TAG_PREFIX}input"
    return None


DimensionSource = Annotated[
    Annotated[str, Tag(f"{TAG_PREFIX}literal")] | Annotated[InputDimensionConfig, Tag(f"{TAG_PREFIX}input")],
    Discriminator(_dimension_shape),
]


class SeriesConfig(BaseConfig):
    """One sample of the program's Prometheus text output, published as a metric."""

    series: str = Field(
        pattern=f"^{_SERIES_NAME.pattern}$",
        description="The sample's name in the exposition, e.g. `probe_success` (histograms: `..._sum`, `..._count`).",
    )
    name: MetricName | None = Field(None, description="CloudWatch metric name; default: `series`.")
    unit: Unit = Field("None", description="CloudWatch unit, e.g. `Seconds`, `Bytes`, `Count`, `None`.")
    match: dict[LabelName, str] = Field(
        default_factory=dict,
        description="Labels the sample must have, with these values. One sample must match: when the output has "
        "none the metric is left out quietly (a debug record), when several a warning says so.",
    )
    dimensions: list[LabelName] = Field(
        default_factory=list,
        description="Labels of the sample that become dimensions of this metric (label values can be unbounded: "
        "choose only labels with few values).",
    )


class MetricsConfig(BaseConfig):
    """CloudWatch metrics: one EMF record per invocation, written to the function's log stream (stdout)."""

    namespace: str = Field(
        description="CloudWatch namespace (1-255 printable ASCII characters; not starting with `:` or `AWS/`).",
    )
    dimensions: dict[DimensionName, DimensionSource] = Field(
        default_factory=dict,
        description="Dimensions of every metric: NAME to a literal string, or `{input: NAME}` for an input's value. "
        "None by default, so no unbounded dimension is made unless asked for.",
    )
    events: Literal["all", "direct", "http"] = Field(
        "all",
        description="Which invocations emit a record: `all`; `direct` (not HTTP: EventBridge Scheduler, SDK, "
        "`aws lambda invoke`); `http` (Function URL, API Gateway, ALB).",
    )
    invocation: list[InvocationMetric] = Field(
        default_factory=lambda: list(INVOCATION_METRICS),  # type: ignore[arg-type]  # every kind, in order
        description="Per-invocation metrics: `duration` (Duration, ms), `outcome` (Success and Error, 0 or 1; on "
        "errors also by ErrorType), `exit_status` (ExitStatus; exec mode; 128+N for signal N), `output_bytes` "
        "(OutputBytes: stdout or the server's answer).",
    )
    prometheus: list[SeriesConfig] = Field(
        default_factory=list,
        description="Samples read from the program's Prometheus text output (server mode, or exec mode with "
        "`output.format: prometheus_json`). NaN and infinite values are left out.",
    )

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        _cloudwatch_name(value, 255)
        if value.startswith("AWS/"):
            raise ValueError("namespaces starting with 'AWS/' are reserved for AWS services")
        return value

    @field_validator("invocation")
    @classmethod
    def _once_each(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("lists a metric twice")
        return value


def check_metrics(config: Any) -> list[tuple[tuple[int | str, ...], str]]:
    """Problems across fields of `metrics:` (names, limits, the output it reads), as (location, reason)."""
    metrics = config.metrics
    if metrics is None:
        return []
    found: list[tuple[tuple[int | str, ...], str]] = []
    for name, source in metrics.dimensions.items():
        if isinstance(source, InputDimensionConfig) and source.input not in config.inputs:
            found.append((("metrics", "dimensions", name, "input"), f"{source.input!r} is not a declared input"))
    if metrics.prometheus and config.mode != "server" and config.output.format != "prometheus_json":
        reason = "needs Prometheus text output: mode server, or output.format prometheus_json"
        found.append((("metrics", "prometheus"), reason))
    # every metric and dimension is a member of the record's root: one name, one member
    members: dict[str, str] = {name: "a reserved member of the record" for name in RESERVED_MEMBERS}
    for kind in metrics.invocation:
        for name, _ in INVOCATION_METRICS[kind]:
            members[name] = f"a metric of metrics.invocation ({kind})"
    for name in metrics.dimensions:
        if name in members:
            found.append((("metrics", "dimensions", name), f"{name!r} is also {members[name]}"))
        members[name] = f"metrics.dimensions.{name}"
    for index, series in enumerate(metrics.prometheus):
        at = ("metrics", "prometheus", index)
        owner = members.get(metric_name(series))
        if owner is not None:
            found.append(((*at, "name" if series.name else "series"), f"{metric_name(series)!r} is also {owner}"))
        members[metric_name(series)] = f"metrics.prometheus[{index}]"
        for label in series.dimensions:
            if label in metrics.dimensions or label in RESERVED_MEMBERS:
                found.append(((*at, "dimensions"), f"label {label!r} clashes with a dimension or reserved member"))
        extra = 1 if "outcome" in metrics.invocation else 0  # ErrorType
        if len(metrics.dimensions) + len(series.dimensions) + extra > MAX_DIMENSIONS:
            found.append(((*at, "dimensions"), f"more than {MAX_DIMENSIONS} dimensions for one metric"))
    if len(metrics.dimensions) + (1 if "outcome" in metrics.invocation else 0) > MAX_DIMENSIONS:
        found.append((("metrics", "dimensions"), f"more than {MAX_DIMENSIONS} dimensions (ErrorType counts too)"))
    count = sum(len(INVOCATION_METRICS[kind]) for kind in metrics.invocation) + len(metrics.prometheus)
    if count > MAX_METRICS:
        found.append((("metrics",), f"{count} metrics; one EMF record holds at most {MAX_METRICS}"))
    if count == 0:
        found.append((("metrics",), "no metric chosen: list some in invocation or prometheus"))
    return found
