"""Building EMF records: every record valid per the specification; dimension values safe; NaN never written."""

from __future__ import annotations

import json
from typing import Any

import pytest

from emf_rules import assert_valid_emf, emf_problems
from wrapper.config.metrics import MetricsConfig
from wrapper.mapping.exposition import parse_exposition
from wrapper.metrics.emf import (
    Observation,
    build_record,
    choose_series,
    dimension_value,
    dimension_values,
    invocation_values,
    wanted,
)

PROBE_OUTPUT = """\
# HELP probe_dns_lookup_time_seconds Returns the time taken for probe dns lookup in seconds
# TYPE probe_dns_lookup_time_seconds gauge
probe_dns_lookup_time_seconds 0.000021
# HELP probe_duration_seconds Returns how long the probe took to complete in seconds
# TYPE probe_duration_seconds gauge
probe_duration_seconds 0.0021543
# HELP probe_http_duration_seconds Duration of http request by phase, summed over all redirects
# TYPE probe_http_duration_seconds gauge
probe_http_duration_seconds{phase="connect"} 0.000187
probe_http_duration_seconds{phase="processing"} 0.0011
probe_http_duration_seconds{phase="resolve"} 0.000021
# HELP probe_http_status_code Response HTTP status code
# TYPE probe_http_status_code gauge
probe_http_status_code 200
# HELP probe_ssl_earliest_cert_expiry Returns last SSL chain expiry in unixtime
# TYPE probe_ssl_earliest_cert_expiry gauge
probe_ssl_earliest_cert_expiry NaN
# HELP probe_success Displays whether or not the probe was a success
# TYPE probe_success gauge
probe_success 1
"""


def metrics_config(**fields: Any) -> MetricsConfig:
    return MetricsConfig.model_validate({"namespace": "Test", **fields})


def record_for(metrics: MetricsConfig, observation: Observation, *, output: str | None = None,
               ended_s: float = 0.25) -> tuple[dict[str, Any], list[str]]:
    families = parse_exposition(output)["metrics"] if output is not None else None
    return build_record(
        metrics,
        dimension_values(metrics, observation.values),
        invocation_values(metrics, observation, ended_s),
        choose_series(metrics, families),
        error_type=observation.error_type,
        timestamp_ms=int(observation.started_ms),
        request_id="req-1",
    )


def test_a_successful_exec_invocation_has_every_invocation_metric_and_is_valid():
    observation = Observation(1_000_000.0)
    observation.exit_status, observation.output = 0, b"hello\n"
    record, problems = record_for(metrics_config(), observation)
    assert_valid_emf(record)
    assert problems == []
    assert record["_aws"]["Timestamp"] == 1_000_000
    assert {k: record[k] for k in ("Duration", "Success", "Error", "ExitStatus", "OutputBytes")} == {
        "Duration": 250.0, "Success": 1, "Error": 0, "ExitStatus": 0, "OutputBytes": 6}
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert directive == {"Namespace": "Test", "Dimensions": [[]], "Metrics": [
        {"Name": "Duration", "Unit": "Milliseconds"}, {"Name": "Success", "Unit": "Count"},
        {"Name": "Error", "Unit": "Count"}, {"Name": "ExitStatus", "Unit": "None"},
        {"Name": "OutputBytes", "Unit": "Bytes"}]}
    assert record["requestId"] == "req-1" and "ErrorType" not in record


def test_a_failed_invocation_counts_an_error_also_by_error_type():
    observation = Observation(1_000_000.0)
    observation.error_type, observation.exit_status = "Function.NonZeroExit", 3
    metrics = metrics_config(dimensions={"service": "echo"})
    record, _ = record_for(metrics, observation)
    assert_valid_emf(record)
    assert record["Success"] == 0 and record["Error"] == 1 and record["ErrorType"] == "Function.NonZeroExit"
    by_dimensions = {tuple(d["Dimensions"][0]): [m["Name"] for m in d["Metrics"]]
                     for d in record["_aws"]["CloudWatchMetrics"]}
    assert by_dimensions[("service",)] == ["Duration", "Success", "Error", "ExitStatus"]
    assert by_dimensions[("service", "ErrorType")] == ["Error"]


def test_only_the_chosen_invocation_metrics_are_written():
    observation = Observation(1_000_000.0)
    observation.exit_status, observation.output = 0, b"x"
    record, _ = record_for(metrics_config(invocation=["duration", "outcome"]), observation)
    assert_valid_emf(record)
    names = [m["Name"] for d in record["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]
    assert names == ["Duration", "Success", "Error"]
    assert "ExitStatus" not in record and "OutputBytes" not in record


def test_prometheus_samples_become_metrics_with_their_units_and_nan_is_left_out():
    metrics = metrics_config(
        dimensions={"target": {"input": "target"}, "module": {"input": "module"}},
        invocation=["duration"],
        prometheus=[
            {"series": "probe_success"},
            {"series": "probe_duration_seconds", "unit": "Seconds"},
            {"series": "probe_http_duration_seconds", "match": {"phase": "connect"}, "name": "connect_seconds",
             "unit": "Seconds"},
            {"series": "probe_ssl_earliest_cert_expiry", "unit": "Seconds"},
            {"series": "probe_http_status_code"},
        ],
    )
    observation = Observation(1_000_000.0)
    observation.values = {"target": "https://example.com/", "module": "http_2xx"}
    record, problems = record_for(metrics, observation, output=PROBE_OUTPUT)
    assert_valid_emf(record)
    assert record["probe_success"] == 1 and record["probe_duration_seconds"] == 0.0021543
    assert json.dumps([record["probe_success"], record["probe_http_status_code"]]) == "[1, 200]"  # not 1.0
    assert record["connect_seconds"] == 0.000187
    assert "probe_ssl_earliest_cert_expiry" not in record
    assert problems == ["probe_ssl_earliest_cert_expiry: value NaN is not a finite number"]
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert directive["Dimensions"] == [["target", "module"]]
    assert {"Name": "probe_duration_seconds", "Unit": "Seconds"} in directive["Metrics"]
    assert record["target"] == "https://example.com/" and record["module"] == "http_2xx"


def test_a_label_dimension_gets_a_directive_of_its_own():
    metrics = metrics_config(
        invocation=[],
        prometheus=[{"series": "probe_success"},
                    {"series": "probe_http_duration_seconds", "match": {"phase": "resolve"}, "dimensions": ["phase"],
                     "unit": "Seconds"}],
    )
    record, problems = record_for(metrics, Observation(1.0), output=PROBE_OUTPUT)
    assert_valid_emf(record)
    assert problems == []
    assert record["phase"] == "resolve"
    assert [d["Dimensions"] for d in record["_aws"]["CloudWatchMetrics"]] == [[[]], [["phase"]]]


@pytest.mark.parametrize(
    "series, problem",
    [
        ({"series": "probe_http_duration_seconds"},
         "probe_http_duration_seconds: 3 samples match (narrow it with match)"),
        ({"series": "probe_icmp_reply_hop_limit"}, None),  # absent: normal for some modules, no warning
        ({"series": "probe_success", "dimensions": ["instance"]}, "probe_success: no label instance"),
    ],
)
def test_a_sample_that_cannot_be_chosen_is_left_out_with_a_reason(series, problem):
    metrics = metrics_config(invocation=["duration"], prometheus=[series])
    record, problems = record_for(metrics, Observation(1.0), output=PROBE_OUTPUT)
    assert_valid_emf(record)
    assert problems == ([problem] if problem else [])
    assert [m["Name"] for m in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]] == ["Duration"]


@pytest.mark.parametrize(
    "raw, keep_query, expected",
    [
        ("https://example.com/health", False, "https://example.com/health"),
        ("https://example.com/?token=s3cret&x=1", False, "https://example.com/"),
        ("https://example.com/?token=s3cret", True, "https://example.com/?token=s3cret"),
        ("https://example.com/#frag", False, "https://example.com/"),
        ("https://user:pa55@example.com:8443/x", False, "https://example.com:8443/x"),
        ("https://user:pa55@example.com/?q=1", True, "https://example.com/?q=1"),
        ("example.com:443", False, "example.com:443"),
        ("bücher.example", False, "b%C3%BCcher.example"),
        ("line\nbreak\x00", False, "line%0Abreak%00"),
        (None, False, "none"),
        ("", False, "none"),
        ("   ", False, "none"),
        ("?only-a-query", False, "none"),
        (42, False, "42"),
        (True, False, "true"),
        (["b", "a"], False, '["b","a"]'),
        ("x" * 2000, False, "x" * 1024),
    ],
)
def test_dimension_values_carry_no_credentials_query_or_unprintable_text(raw, keep_query, expected):
    assert dimension_value(raw, keep_query=keep_query) == expected


def test_a_dimension_value_holding_the_bearer_token_is_redacted():
    token = "tok-0123456789abcdef0123456789abcdef"
    assert dimension_value(f"https://example.com/{token}", secret=token) == "redacted"
    assert dimension_value(token, secret=token) == "redacted"
    assert dimension_value("https://example.com/", secret=token) == "https://example.com/"


def test_a_short_token_is_redacted_only_as_the_whole_value():
    # found by running the example with WRAPPER_BEARER_TOKEN=x: every module name holding an x was redacted
    assert dimension_value("http_2xx", secret="x") == "http_2xx"
    assert dimension_value("x", secret="x") == "redacted"


def test_literal_and_input_dimensions_and_a_null_input():
    metrics = metrics_config(dimensions={"service": "probe", "target": {"input": "target"}})
    assert dimension_values(metrics, {"target": None}) == {"service": "probe", "target": "none"}
    assert dimension_values(metrics, {}) == {"service": "probe", "target": "none"}


@pytest.mark.parametrize(
    "events, http, emitted",
    [("all", False, True), ("all", True, True), ("direct", False, True), ("direct", True, False),
     ("http", True, True), ("http", False, False)],
)
def test_events_chooses_which_invocations_emit(events, http, emitted):
    assert wanted(metrics_config(events=events), Observation(0, http=http)) is emitted


def test_exit_status_and_output_bytes_are_absent_when_nothing_ran():
    observation = Observation(5.0)
    observation.error_type = "Function.InvalidEvent"
    values = invocation_values(metrics_config(), observation, 0.001)
    assert [name for name, _, _ in values] == ["Duration", "Success", "Error"]


def test_the_validator_itself_rejects_what_the_specification_forbids():
    # the checks in emf_rules must be able to fail, or the tests above prove nothing
    good, _ = record_for(metrics_config(dimensions={"service": "x"}), Observation(1.0))
    assert emf_problems(good) == []
    for breaking in (
        lambda r: r.pop("service"),
        lambda r: r.update(Duration=float("nan")),
        lambda r: r.update(Duration="12"),
        lambda r: r.update(service=""),
        lambda r: r["_aws"].update(Timestamp=1.5),
        lambda r: r["_aws"]["CloudWatchMetrics"][0]["Metrics"].append({"Name": "Duration", "Unit": "Hours"}),
        lambda r: r["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0].extend(f"d{i}" for i in range(30)),
    ):
        record = json.loads(json.dumps(good))
        breaking(record)
        assert emf_problems(record), record
