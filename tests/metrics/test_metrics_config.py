"""The `metrics:` block: defaults, the forms it takes, and every mistake reported with its place."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from wrapper.config.loader import load_config
from wrapper.config.values import InputDimension
from wrapper.errors import ConfigError

SERVER = """
mode: server
command: [exporter]
inputs: {target: {}, module: {default: http_2xx}}
server: {port: 9115}
"""


def load(tmp_path: Path, text: str, *, base: str = "command: [cat]\ninputs: {target: {}}\n"):
    path = tmp_path / "wrapper.yaml"
    path.write_text(base + textwrap.dedent(text).lstrip("\n"))
    return load_config(path)


def reasons(tmp_path: Path, text: str, **kwargs) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, **kwargs)
    return [f"{p.path}: {p.reason}" + (f" (line {p.line})" if p.line else "") for p in caught.value.problems]


def test_metrics_are_off_unless_configured(tmp_path):
    assert load(tmp_path, "").metrics is None


def test_defaults_every_invocation_metric_no_dimension_all_events(tmp_path):
    metrics = load(tmp_path, "metrics: {namespace: Echo}").metrics
    assert metrics.invocation == ["duration", "outcome", "exit_status", "output_bytes"]
    assert metrics.dimensions == {} and metrics.events == "all" and metrics.prometheus == []


def test_every_form_parses(tmp_path):
    metrics = load(tmp_path, """
        metrics:
          namespace: Blackbox
          events: direct
          dimensions:
            service: probe
            target: {input: target, keep_query: true}
            module: {input: module}
          invocation: [duration, outcome]
          prometheus:
            - series: probe_success
            - {series: probe_duration_seconds, unit: Seconds}
            - {series: probe_http_duration_seconds, match: {phase: connect}, name: connect_s, unit: Seconds,
               dimensions: [phase]}
    """, base=SERVER).metrics
    assert metrics.dimensions["service"] == "probe"
    assert metrics.dimensions["target"] == InputDimension(input="target", keep_query=True)
    assert metrics.prometheus[2].match == {"phase": "connect"} and metrics.prometheus[2].dimensions == ["phase"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("metrics: {namespace: AWS/Lambda}", "metrics.namespace: namespaces starting with 'AWS/' are reserved"),
        ("metrics: {namespace: ':x'}", "metrics.namespace: ':x' must be 1-255 printable ASCII"),
        ("metrics: {namespace: Echo, unknown: 1}", "metrics.unknown: unknown key"),
        ("metrics: {namespace: Echo, dimensions: {target: {input: nope}}}",
         "metrics.dimensions.target.input: 'nope' is not a declared input"),
        ("metrics: {namespace: Echo, dimensions: {target: {value: target}}}",
         "metrics.dimensions.target.value: unknown key"),
        ("metrics: {namespace: Echo, dimensions: {Duration: x}}",
         "metrics.dimensions.Duration: 'Duration' is also a metric of metrics.invocation (duration)"),
        ("metrics: {namespace: Echo, dimensions: {requestId: x}}",
         "metrics.dimensions.requestId: 'requestId' is also a reserved member"),
        ("metrics: {namespace: Echo, invocation: [duration, duration]}", "metrics.invocation: lists a metric twice"),
        ("metrics: {namespace: Echo, invocation: [cpu]}", "metrics.invocation[0]: Input should be 'duration'"),
        ("metrics: {namespace: Echo, invocation: []}", "metrics: no metric chosen"),
        ("metrics: {namespace: Echo, prometheus: [{series: probe_success}]}",
         "metrics.prometheus: needs Prometheus text output: mode server, or output.format prometheus_json"),
        ("metrics: {namespace: Echo, events: scheduled}", "metrics.events: Input should be 'all', 'direct' or 'http'"),
    ],
)
def test_mistakes_are_config_errors_with_their_place(tmp_path, text, expected):
    found = reasons(tmp_path, text)
    assert any(reason.startswith(expected) for reason in found), found
    assert all("(line " in reason for reason in found), found


@pytest.mark.parametrize(
    "series, expected",
    [
        ({"series": "probe success"}, "metrics.prometheus[0].series: String should match pattern"),
        ({"series": "probe_success", "unit": "Hours"}, "metrics.prometheus[0].unit: Input should be 'Seconds'"),
        ({"series": "probe_success", "match": {"bad-label": "x"}},
         "metrics.prometheus[0].match.bad-label: key: 'bad-label' is not a Prometheus label name"),
        ({"series": "probe_success", "name": "Success"},
         "metrics.prometheus[0].name: 'Success' is also a metric of metrics.invocation (outcome)"),
        ({"series": "probe_success", "dimensions": ["target"]},
         "metrics.prometheus[0].dimensions: label 'target' clashes with a dimension"),
    ],
)
def test_series_mistakes_are_config_errors(tmp_path, series, expected):
    block = {"namespace": "Blackbox", "dimensions": {"target": {"input": "target"}}, "prometheus": [series]}
    text = f"metrics: {json.dumps(block)}"  # JSON is YAML
    found = reasons(tmp_path, text, base=SERVER)
    assert any(reason.startswith(expected) for reason in found), found


def test_two_series_with_one_name_are_refused(tmp_path):
    found = reasons(tmp_path, """
        metrics:
          namespace: Blackbox
          prometheus: [{series: probe_success}, {series: probe_success}]
    """, base=SERVER)
    assert any("'probe_success' is also metrics.prometheus[0]" in reason for reason in found), found


def test_more_than_thirty_dimensions_are_refused(tmp_path):
    dimensions = ", ".join(f"d{i}: x" for i in range(30))
    found = reasons(tmp_path, f"metrics: {{namespace: Echo, dimensions: {{{dimensions}}}}}")
    assert any("more than 30 dimensions (ErrorType counts too)" in reason for reason in found), found
    without_outcome = f"metrics: {{namespace: Echo, invocation: [duration], dimensions: {{{dimensions}}}}}"
    assert len(load(tmp_path, without_outcome).metrics.dimensions) == 30


def test_exec_mode_with_prometheus_json_output_may_read_series(tmp_path):
    metrics = load(tmp_path, """
        output: {format: prometheus_json}
        metrics: {namespace: Node, prometheus: [{series: node_load1}]}
    """).metrics
    assert metrics.prometheus[0].series == "node_load1"
