"""wrapper.mapping.exposition: Prometheus text exposition 0.0.4 to JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

from wrapper.mapping.exposition import parse_exposition

# What blackbox_exporter's /probe?module=http_2xx answers (its probe registry), followed by a histogram and a
# summary as client_golang writes them, and a label whose value needs every escape the format has.
BLACKBOX_PROBE = r"""# HELP probe_dns_lookup_time_seconds Returns the time taken for probe dns lookup in seconds
# TYPE probe_dns_lookup_time_seconds gauge
probe_dns_lookup_time_seconds 0.002350286
# HELP probe_duration_seconds Returns how long the probe took to complete in seconds
# TYPE probe_duration_seconds gauge
probe_duration_seconds 0.118455342
# HELP probe_failed_due_to_regex Indicates if probe failed due to regex
# TYPE probe_failed_due_to_regex gauge
probe_failed_due_to_regex 0
# HELP probe_http_content_length Length of http content response
# TYPE probe_http_content_length gauge
probe_http_content_length -1
# HELP probe_http_duration_seconds Duration of http request by phase, summed over all redirects
# TYPE probe_http_duration_seconds gauge
probe_http_duration_seconds{phase="connect"} 0.011624553
probe_http_duration_seconds{phase="processing"} 0.046813498
probe_http_duration_seconds{phase="resolve"} 0.002350286
probe_http_duration_seconds{phase="tls"} 0.036193871
probe_http_duration_seconds{phase="transfer"} 0.000153462
# HELP probe_http_redirects The number of redirects
# TYPE probe_http_redirects gauge
probe_http_redirects 1
# HELP probe_http_ssl Indicates if SSL was used for the final redirect
# TYPE probe_http_ssl gauge
probe_http_ssl 1
# HELP probe_http_status_code Response HTTP status code
# TYPE probe_http_status_code gauge
probe_http_status_code 200
# HELP probe_http_uncompressed_body_length Length of uncompressed response body
# TYPE probe_http_uncompressed_body_length gauge
probe_http_uncompressed_body_length 1256
# HELP probe_http_version Returns the version of HTTP of the probe response
# TYPE probe_http_version gauge
probe_http_version 2
# HELP probe_ip_addr_hash Specifies the hash of IP address. It's useful to detect if the IP address changes.
# TYPE probe_ip_addr_hash gauge
probe_ip_addr_hash 3.757030469e+09
# HELP probe_ip_protocol Specifies whether probe ip protocol is IP4 or IP6
# TYPE probe_ip_protocol gauge
probe_ip_protocol 4
# HELP probe_ssl_earliest_cert_expiry Returns last SSL chain expiry in unixtime
# TYPE probe_ssl_earliest_cert_expiry gauge
probe_ssl_earliest_cert_expiry 1.7310528e+09
# HELP probe_ssl_last_chain_expiry_timestamp_seconds Returns last SSL chain expiry in timestamp
# TYPE probe_ssl_last_chain_expiry_timestamp_seconds gauge
probe_ssl_last_chain_expiry_timestamp_seconds 1.7310528e+09
# HELP probe_ssl_last_chain_info Contains SSL leaf certificate information
# TYPE probe_ssl_last_chain_info gauge
probe_ssl_last_chain_info{fingerprint_sha256="2f0c5b1e9a7d",issuer="CN=R11,O=Let's Encrypt,C=US",serialnumber="04a1f3",subject="CN=example.com",subjectalternative="example.com,www.example.com"} 1
# HELP probe_success Displays whether or not the probe was a success
# TYPE probe_success gauge
probe_success 1
# HELP probe_tls_version_info Returns the TLS version used or NaN when unknown
# TYPE probe_tls_version_info gauge
probe_tls_version_info{version="TLS 1.3"} 1
# HELP blackbox_exporter_build_info A metric with a constant '1' value labeled by version, revision, branch, goversion from which blackbox_exporter was built, and the goos and goarch for the build.
# TYPE blackbox_exporter_build_info gauge
blackbox_exporter_build_info{branch="HEAD",goarch="amd64",goos="linux",goversion="go1.23.4",revision="e0a5b0c2",tags="unknown",version="0.25.0"} 1
# HELP http_request_duration_seconds Time spent serving HTTP requests.\nBuckets are in seconds; path is C:\\probe.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{handler="/probe",le="0.005"} 0
http_request_duration_seconds_bucket{handler="/probe",le="0.1"} 3
http_request_duration_seconds_bucket{handler="/probe",le="1"} 7
http_request_duration_seconds_bucket{handler="/probe",le="+Inf"} 8
http_request_duration_seconds_sum{handler="/probe"} 2.731
http_request_duration_seconds_count{handler="/probe"} 8
# HELP go_gc_duration_seconds A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 2.7833e-05
go_gc_duration_seconds{quantile="0.5"} 5.1667e-05
go_gc_duration_seconds{quantile="1"} 0.000196041
go_gc_duration_seconds_sum 0.001203209
go_gc_duration_seconds_count 17
# HELP probe_http_last_error Last error text, verbatim.
# TYPE probe_http_last_error gauge
probe_http_last_error{error="read \"body\": C:\\tmp\\x\nline two"} 1
"""


@pytest.fixture(scope="module")
def probe() -> dict[str, Any]:
    return parse_exposition(BLACKBOX_PROBE)


def test_probe_output_is_valid_json(probe: dict[str, Any]) -> None:
    assert json.loads(json.dumps(probe, allow_nan=False)) == probe


def test_unlabelled_samples_are_in_values(probe: dict[str, Any]) -> None:
    assert probe["values"]["probe_success"] == 1.0
    assert probe["values"]["probe_duration_seconds"] == 0.118455342
    assert probe["values"]["probe_http_status_code"] == 200.0
    assert probe["values"]["probe_http_content_length"] == -1.0
    assert probe["values"]["probe_ip_addr_hash"] == 3757030469.0
    assert probe["values"]["go_gc_duration_seconds_count"] == 17.0
    assert "probe_http_duration_seconds" not in probe["values"]  # labelled: only under metrics


def test_families_keep_type_help_and_order(probe: dict[str, Any]) -> None:
    family = probe["metrics"]["probe_success"]
    assert family == {
        "type": "gauge",
        "help": "Displays whether or not the probe was a success",
        "samples": [{"name": "probe_success", "labels": {}, "value": 1.0}],
    }
    assert list(probe["metrics"])[:3] == [
        "probe_dns_lookup_time_seconds",
        "probe_duration_seconds",
        "probe_failed_due_to_regex",
    ]


def test_labelled_gauge(probe: dict[str, Any]) -> None:
    samples = probe["metrics"]["probe_http_duration_seconds"]["samples"]
    assert {s["labels"]["phase"]: s["value"] for s in samples} == {
        "connect": 0.011624553,
        "processing": 0.046813498,
        "resolve": 0.002350286,
        "tls": 0.036193871,
        "transfer": 0.000153462,
    }
    info = probe["metrics"]["probe_ssl_last_chain_info"]["samples"][0]["labels"]
    assert info["issuer"] == "CN=R11,O=Let's Encrypt,C=US"
    assert info["subjectalternative"] == "example.com,www.example.com"


def test_histogram_samples_group_under_their_family(probe: dict[str, Any]) -> None:
    family = probe["metrics"]["http_request_duration_seconds"]
    assert family["type"] == "histogram"
    assert family["help"] == "Time spent serving HTTP requests.\nBuckets are in seconds; path is C:\\probe."
    buckets = {s["labels"]["le"]: s["value"] for s in family["samples"] if s["name"].endswith("_bucket")}
    assert buckets == {"0.005": 0.0, "0.1": 3.0, "1": 7.0, "+Inf": 8.0}
    assert [s["name"] for s in family["samples"][-2:]] == [
        "http_request_duration_seconds_sum",
        "http_request_duration_seconds_count",
    ]
    assert not any(name.startswith("http_request_duration_seconds_") for name in probe["metrics"])


def test_summary_samples_group_under_their_family(probe: dict[str, Any]) -> None:
    family = probe["metrics"]["go_gc_duration_seconds"]
    assert family["type"] == "summary"
    assert [(s["name"], s["labels"].get("quantile")) for s in family["samples"]] == [
        ("go_gc_duration_seconds", "0"),
        ("go_gc_duration_seconds", "0.5"),
        ("go_gc_duration_seconds", "1"),
        ("go_gc_duration_seconds_sum", None),
        ("go_gc_duration_seconds_count", None),
    ]


def test_label_escapes_are_undone(probe: dict[str, Any]) -> None:
    labels = probe["metrics"]["probe_http_last_error"]["samples"][0]["labels"]
    assert labels == {"error": 'read "body": C:\\tmp\\x\nline two'}


def _only_sample(text: str) -> dict[str, Any]:
    (family,) = parse_exposition(text)["metrics"].values()
    (sample,) = family["samples"]
    return sample


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("m 1", 1.0),
        ("m -0.5", -0.5),
        ("m 1e-3", 0.001),
        ("m 2.5E+2", 250.0),
        ("m NaN", "NaN"),
        ("m nan", "NaN"),
        ("m +Inf", "+Inf"),
        ("m Inf", "+Inf"),
        ("m -Inf", "-Inf"),
        ("m 9007199254740993", 9007199254740992.0),
    ],
    ids=[
        "integer",
        "negative",
        "exponent",
        "upper_exponent",
        "nan",
        "nan_lower",
        "plus_inf",
        "inf",
        "minus_inf",
        "huge",
    ],
)
def test_values(line: str, value: float | str) -> None:
    assert _only_sample(line + "\n")["value"] == value


@pytest.mark.parametrize(
    ("line", "timestamp"),
    [("m 1 1700000000000", 1700000000000), ("m{a=\"b\"} 1 -5", -5), ("m 1\t\t1700000000000  ", 1700000000000)],
    ids=["milliseconds", "negative", "tabs_and_trailing_blanks"],
)
def test_timestamps(line: str, timestamp: int) -> None:
    assert _only_sample(line)["timestamp"] == timestamp


def test_no_timestamp_key_without_a_timestamp() -> None:
    assert "timestamp" not in _only_sample("m 1")


@pytest.mark.parametrize(
    ("line", "labels"),
    [
        ('m{} 1', {}),
        ('m{a="1",} 1', {"a": "1"}),
        ('m { a = "1" , b="2" } 1', {"a": "1", "b": "2"}),
        ('m{a=""} 1', {"a": ""}),
        ('m{a="x,y}=z"} 1', {"a": "x,y}=z"}),
        ('m{a="ünïcødé ✓"} 1', {"a": "ünïcødé ✓"}),
        ('m{a="\\\\n"} 1', {"a": "\\n"}),
        ('m{_private="1",le="0.5"} 1', {"_private": "1", "le": "0.5"}),
    ],
    ids=[
        "empty_braces",
        "trailing_comma",
        "blanks_inside",
        "empty_value",
        "separators_inside_quotes",
        "unicode",
        "escaped_backslash_then_n",
        "underscore_name",
    ],
)
def test_labels(line: str, labels: dict[str, str]) -> None:
    assert _only_sample(line)["labels"] == labels


def _single(name: str, kind: str, help_text: str, value: float) -> dict[str, Any]:
    """The parse of a text holding one unlabelled sample."""
    sample = {"name": name, "labels": {}, "value": value}
    return {"metrics": {name: {"type": kind, "help": help_text, "samples": [sample]}}, "values": {name: value}}


EMPTY = {"metrics": {}, "values": {}}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", EMPTY),
        ("\n\n   \n", EMPTY),
        ("# just a comment\n#\n#HELP not a directive\n# HELPER neither\n", EMPTY),
        ("# HELP m\n# TYPE m counter\nm 3\n", _single("m", "counter", "", 3.0)),
        ("m_total 3\r\n\r\n", _single("m_total", "untyped", "", 3.0)),
        ("  # TYPE m gauge\n\tm 1\n", _single("m", "gauge", "", 1.0)),
        (
            "# TYPE m\tgauge\n# HELP\tm\tline one\\nline two \\t kept\nm 1",
            _single("m", "gauge", "line one\nline two \\t kept", 1.0),
        ),
    ],
    ids=[
        "empty",
        "blank_lines",
        "comments_only",
        "help_without_text",
        "untyped_and_crlf",
        "indented",
        "tabs_and_help_escapes",
    ],
)
def test_edge_cases(text: str, expected: dict[str, Any]) -> None:
    assert parse_exposition(text) == expected


def test_suffix_of_a_gauge_is_its_own_family() -> None:
    metrics = parse_exposition("# TYPE m gauge\nm 1\nm_count 2\nm_bucket{le=\"1\"} 3\n")["metrics"]
    assert list(metrics) == ["m", "m_count", "m_bucket"]
    assert metrics["m_count"]["type"] == "untyped"


def test_bucket_of_a_summary_is_its_own_family() -> None:
    metrics = parse_exposition("# TYPE s summary\ns_count 2\ns_bucket 1\n")["metrics"]
    assert [s["name"] for s in metrics["s"]["samples"]] == ["s_count"]
    assert "s_bucket" in metrics


def test_colons_in_metric_names() -> None:
    assert parse_exposition("job:request_rate:5m 12.5\n")["values"] == {"job:request_rate:5m": 12.5}


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("m\n", 1, "missing value"),
        ("m{a=\"b\"}\n", 1, "missing value"),
        ("m abc\n", 1, "invalid value 'abc'"),
        ("m 1_000\n", 1, "invalid value '1_000'"),
        ("m 0x10\n", 1, "invalid value"),
        ("m 1 1.5\n", 1, "invalid timestamp '1.5'"),
        ("m 1 2 3\n", 1, "unexpected text after the timestamp"),
        ("m{a=\"b} 1\n", 1, "unterminated label value"),
        ("m{a=\"\\t\"} 1\n", 1, "invalid escape"),
        ("m{a=\"1\",a=\"2\"} 1\n", 1, "label a given twice"),
        ("m{a \"1\"} 1\n", 1, "expected '='"),
        ("m{a=1} 1\n", 1, "expected '\"'"),
        ("m{1a=\"1\"} 1\n", 1, "expected a label name"),
        ("m{,} 1\n", 1, "expected a label name"),
        ("m{a=\"1\" b=\"2\"} 1\n", 1, "expected ',' or '}'"),
        ("m{a=\"1\"\n", 1, "expected ',' or '}'"),
        ("1m 1\n", 1, "expected a metric name"),
        ("m-x 1\n", 1, "unexpected '-' after metric name"),
        ("# TYPE m gauge2\n", 1, "unknown metric type 'gauge2'"),
        ("# TYPE m\n", 1, "unknown metric type ''"),
        ("# TYPE m gauge\n# TYPE m counter\n", 2, "second TYPE line for m"),
        ("m 1\n# TYPE m gauge\n", 2, "TYPE line for m after its samples"),
        ("# HELP m a\n# HELP m b\n", 2, "second HELP line for m"),
        ("# HELP\n", 1, "HELP needs a valid metric name"),
        ("# TYPE 9m gauge\n", 1, "TYPE needs a valid metric name"),
        ("# HELP ok fine\nok 1\n\n\nok{x=\"1\"} nope\n", 5, "invalid value 'nope'"),
    ],
    ids=[
        "missing_value",
        "labels_but_no_value",
        "word_value",
        "underscore_value",
        "hex_value",
        "float_timestamp",
        "extra_field",
        "unterminated_label_value",
        "unknown_escape",
        "duplicate_label",
        "missing_equals",
        "unquoted_label_value",
        "label_name_starts_with_digit",
        "lone_comma",
        "missing_comma",
        "unclosed_braces",
        "metric_name_starts_with_digit",
        "bad_character_in_name",
        "unknown_type",
        "type_without_type",
        "second_type",
        "type_after_samples",
        "second_help",
        "help_without_name",
        "type_bad_name",
        "later_line_number",
    ],
)
def test_malformed_lines_name_the_line(text: str, line: int, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_exposition(text)
    message = str(caught.value)
    assert message.startswith(f"line {line}: ")
    assert reason in message


def test_long_malformed_lines_are_shortened_in_the_message() -> None:
    with pytest.raises(ValueError) as caught:
        parse_exposition("m " + "x" * 500)
    assert len(str(caught.value)) < 400
