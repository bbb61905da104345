"""`wrapper check --event`: which metrics an invocation would emit, without running anything."""

from __future__ import annotations

from wrapper import TYPE_CHECKING
from wrapper.metrics.emf import INVOCATION_METRICS, Observation, dimension_values, metric_name, wanted

if TYPE_CHECKING:
    from typing import Any


def describe_metrics(metrics: Any, values: dict[str, Any], *, http: bool, secret: str | None = None) -> dict[str, Any]:
    """The record's namespace, dimension values and metrics (name → unit) for an event with these input values."""
    if not wanted(metrics, Observation(0, http=http)):
        kind = "an HTTP" if http else "a direct (non-HTTP)"
        return {"emitted": False, "reason": f"metrics.events is {metrics.events!r}: {kind} invocation emits no record"}
    dimensions = dimension_values(metrics, values, secret=secret)
    described: dict[str, Any] = {
        "emitted": True,
        "namespace": metrics.namespace,
        "dimensions": dimensions,
        "invocation": {name: unit for kind in metrics.invocation for name, unit in INVOCATION_METRICS[kind]},
    }
    if metrics.prometheus:
        described["prometheus"] = {metric_name(series): _series(series) for series in metrics.prometheus}
    if "outcome" in metrics.invocation:
        described["on_error"] = f"Error is also counted with dimensions {', '.join([*dimensions, 'ErrorType'])}"
    return described


def _series(series: Any) -> dict[str, Any]:
    labels = ",".join(f'{name}="{value}"' for name, value in series.match.items())
    found: dict[str, Any] = {"unit": series.unit, "sample": series.series + (f"{{{labels}}}" if labels else "")}
    if series.dimensions:
        found["label_dimensions"] = list(series.dimensions)
    return found
