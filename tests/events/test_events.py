"""wrapper.events: source detection, normalization, response shaping, error answers, the bearer check."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

import wrapper.events
from events.samples import (
    alb_event,
    function_url_event,
    http_api_event,
    raw_event,
    rest_api_event,
    scheduled_event,
)
from wrapper.errors import (
    InternalError,
    InvalidEventError,
    InvocationError,
    ProgramError,
    ProgramTimeoutError,
    SpawnError,
    UnauthorizedError,
    UpstreamError,
)
from wrapper.events import (
    build_http_event_response,
    detect_source,
    error_http_response,
    parse_http_event,
)
from wrapper.events.auth import check_bearer
from wrapper.types import HttpRequest, HttpResponse

PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def test_all_names_are_exported() -> None:
    for name in wrapper.events.__all__:
        assert hasattr(wrapper.events, name), name


# --- detection -------------------------------------------------------------------------------------------------


def _payload_1_0_http_api() -> dict[str, Any]:
    """An HTTP API using payload 1.0 sends the REST shape with version "1.0"."""
    event = rest_api_event()
    event["version"] = "1.0"
    return event


def _alb_with_rest_fields() -> dict[str, Any]:
    """ALB wins when an event also has REST-looking fields."""
    event = alb_event()
    event["resource"] = "/{proxy+}"
    return event


def _v2_without_http() -> dict[str, Any]:
    event = http_api_event()
    del event["requestContext"]["http"]
    return event


@pytest.mark.parametrize(
    ("event", "source"),
    [
        (rest_api_event(), "apigw_v1"),
        (_payload_1_0_http_api(), "apigw_v1"),
        (http_api_event(), "apigw_v2"),
        (function_url_event(), "function_url"),
        (alb_event(), "alb"),
        (alb_event(multi_value=True), "alb"),
        (_alb_with_rest_fields(), "alb"),
        (_v2_without_http(), "raw"),
        (scheduled_event(), "raw"),
        (raw_event(), "raw"),
        ({}, "raw"),
        ({"requestContext": "elb"}, "raw"),
        (["not", "an", "object"], "raw"),
        ("a string", "raw"),
        (42, "raw"),
        (None, "raw"),
    ],
    ids=[
        "rest_api",
        "http_api_payload_1_0",
        "http_api",
        "function_url",
        "alb",
        "alb_multi_value",
        "alb_before_rest",
        "v2_without_requestContext_http",
        "eventbridge_schedule",
        "raw_object",
        "empty_object",
        "requestContext_not_an_object",
        "list",
        "string",
        "number",
        "null",
    ],
)
def test_detect_source(event: Any, source: str) -> None:
    assert detect_source(event) == source
    parsed = parse_http_event(event)
    assert (parsed is None) == (source == "raw")
    if parsed is not None:
        assert parsed.source == source


# --- normalization ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            rest_api_event(method="get", path="/probe"),
            {"method": "GET", "path": "/probe", "source_ip": "203.0.113.7", "multi_value_headers": True},
        ),
        (
            http_api_event(method="post", raw_path="/prod/probe"),
            {"method": "POST", "path": "/prod/probe", "source_ip": "198.51.100.23", "multi_value_headers": False},
        ),
        (
            function_url_event(raw_path="/probe"),
            {"method": "GET", "path": "/probe", "source_ip": "198.51.100.23", "multi_value_headers": False},
        ),
        (
            alb_event(method="head", path="/probe"),
            {"method": "HEAD", "path": "/probe", "source_ip": "72.21.198.66", "multi_value_headers": False},
        ),
        (
            alb_event(multi_value=True),
            {"method": "GET", "path": "/probe", "source_ip": "72.21.198.66", "multi_value_headers": True},
        ),
    ],
    ids=["rest_api", "http_api", "function_url", "alb", "alb_multi_value"],
)
def test_method_path_source_ip_and_multi_value_flag(event: dict[str, Any], expected: dict[str, Any]) -> None:
    request = parse_http_event(event)
    assert request is not None
    assert {name: getattr(request, name) for name in expected} == expected


@pytest.mark.parametrize(
    ("event", "query", "query_multi"),
    [
        (
            http_api_event(raw_query="target=a&module=http_2xx&target=b&debug="),
            {"target": "b", "module": "http_2xx", "debug": ""},
            {"target": ["a", "b"], "module": ["http_2xx"], "debug": [""]},
        ),
        (
            function_url_event(raw_query="target=https%3A%2F%2Fexample.com%2F%3Fa%3D1&q=a+b%2Bc"),
            {"target": "https://example.com/?a=1", "q": "a b+c"},
            {"target": ["https://example.com/?a=1"], "q": ["a b+c"]},
        ),
        (function_url_event(raw_query=""), {}, {}),
        (
            rest_api_event(query={"target": ["a", "b"], "module": ["http_2xx"]}),
            {"target": "b", "module": "http_2xx"},
            {"target": ["a", "b"], "module": ["http_2xx"]},
        ),
        (
            rest_api_event(query={"target": ["https://example.com/?a=1"]}),
            {"target": "https://example.com/?a=1"},
            {"target": ["https://example.com/?a=1"]},
        ),
        (rest_api_event(query={}), {}, {}),
        (
            alb_event(query={"target": ["https%3A%2F%2Fexample.com%2F%3Fa%3D1"], "q": ["a+b%2Bc"], "na%20me": ["x"]}),
            {"target": "https://example.com/?a=1", "q": "a b+c", "na me": "x"},
            {"target": ["https://example.com/?a=1"], "q": ["a b+c"], "na me": ["x"]},
        ),
        (
            alb_event(multi_value=True, query={"target": ["a%2F1", "b%2F2"], "module": ["http_2xx"]}),
            {"target": "b/2", "module": "http_2xx"},
            {"target": ["a/1", "b/2"], "module": ["http_2xx"]},
        ),
        (
            alb_event(query={"target": ["a", "b"]}),
            {"target": "b"},
            {"target": ["b"]},
        ),
    ],
    ids=[
        "v2_repeated_keys_last_wins",
        "function_url_url_encoded",
        "function_url_no_query",
        "v1_multi_value",
        "v1_already_decoded",
        "v1_null_query",
        "alb_values_and_names_decoded",
        "alb_multi_value_repeated_and_decoded",
        "alb_single_value_keeps_last",
    ],
)
def test_query(event: dict[str, Any], query: dict[str, str], query_multi: dict[str, list[str]]) -> None:
    request = parse_http_event(event)
    assert request is not None
    assert (request.query, request.query_multi) == (query, query_multi)


def test_v2_query_falls_back_to_query_string_parameters_without_raw_query_string() -> None:
    event = http_api_event()
    del event["rawQueryString"]
    request = parse_http_event(event)
    assert request is not None
    assert request.query == {"target": "https%3A%2F%2Fexample.com", "module": "http_2xx"}


@pytest.mark.parametrize(
    ("event", "headers"),
    [
        (
            rest_api_event(headers={"Host": ["h.example"], "X-Forwarded-For": ["203.0.113.7", "10.0.0.1"]}),
            {"host": "h.example", "x-forwarded-for": "203.0.113.7, 10.0.0.1"},
        ),
        (
            rest_api_event(headers={"Accept": ["text/plain"], "accept": ["application/json"]}),
            {"accept": "text/plain, application/json"},
        ),
        (
            rest_api_event(headers={"Cookie": ["a=1", "b=2"]}),
            {"cookie": "a=1; b=2"},
        ),
        (rest_api_event(headers={}), {}),
        (
            http_api_event(headers={"accept": "text/plain", "x-custom": "1,2"}),
            {"accept": "text/plain", "x-custom": "1,2"},
        ),
        (
            alb_event(headers={"Accept": ["text/plain"], "X-Forwarded-For": ["72.21.198.66"]}),
            {"accept": "text/plain", "x-forwarded-for": "72.21.198.66"},
        ),
        (
            alb_event(multi_value=True, headers={"x-dup": ["1", "2"], "Host": ["h"]}),
            {"x-dup": "1, 2", "host": "h"},
        ),
    ],
    ids=[
        "v1_lower_cased_and_joined",
        "v1_names_differing_in_case_merge",
        "v1_cookie_headers_join_with_semicolon",
        "v1_null_headers",
        "v2_as_sent",
        "alb_lower_cased",
        "alb_multi_value_joined",
    ],
)
def test_headers(event: dict[str, Any], headers: dict[str, str]) -> None:
    request = parse_http_event(event)
    assert request is not None
    assert request.headers == headers


@pytest.mark.parametrize(
    ("event", "cookies", "cookie_header"),
    [
        (
            http_api_event(cookies=["session=abc", "theme=dark"]),
            ["session=abc", "theme=dark"],
            "session=abc; theme=dark",
        ),
        (function_url_event(), [], None),
        (rest_api_event(headers={"Cookie": ["session=abc; theme=dark"]}), ["session=abc", "theme=dark"], None),
        (alb_event(headers={"cookie": ["session=abc;theme=dark"]}), ["session=abc", "theme=dark"], None),
        (
            alb_event(multi_value=True, headers={"cookie": ["session=abc", "theme=dark"]}),
            ["session=abc", "theme=dark"],
            None,
        ),
    ],
    ids=["v2_cookies_field", "function_url_none", "v1_cookie_header", "alb_cookie_header", "alb_multi_value_cookies"],
)
def test_cookies(event: dict[str, Any], cookies: list[str], cookie_header: str | None) -> None:
    request = parse_http_event(event)
    assert request is not None
    assert request.cookies == cookies
    if cookie_header is not None:
        # 2.0 events carry cookies outside the headers; we fold them back in
        assert request.headers["cookie"] == cookie_header


BINARY = bytes(range(256))


@pytest.mark.parametrize(
    ("event", "body"),
    [
        (function_url_event(body='{"target": "https://example.com"}'), b'{"target": "https://example.com"}'),
        (function_url_event(body="héllo"), "héllo".encode()),
        (function_url_event(body="\ud800"), b"\xed\xa0\x80"),
        (function_url_event(body=BINARY), BINARY),
        (http_api_event(body="hello", base64=True), b"hello"),
        (http_api_event(), b""),
        (rest_api_event(body=BINARY), BINARY),
        (rest_api_event(), b""),
        (alb_event(body="request_body"), b"request_body"),
        (alb_event(body=BINARY, multi_value=True), BINARY),
        (alb_event(), b""),
    ],
    ids=[
        "json_text",
        "utf8_text",
        "lone_surrogate_passes_through",
        "binary_base64",
        "text_base64",
        "v2_no_body",
        "v1_binary",
        "v1_null_body",
        "alb_text",
        "alb_binary",
        "alb_empty_body",
    ],
)
def test_body(event: dict[str, Any], body: bytes) -> None:
    request = parse_http_event(event)
    assert request is not None
    assert request.body == body


def test_json_body_reaches_the_request_view() -> None:
    event = function_url_event(method="POST", body='{"target": "https://example.com", "module": "http_2xx"}')
    request = parse_http_event(event)
    assert request is not None
    view = request.view(event)
    assert view["json"] == {"target": "https://example.com", "module": "http_2xx"}
    assert view["query"]["module"] == "http_2xx"


def _with(event: dict[str, Any], **fields: Any) -> dict[str, Any]:
    event.update(fields)
    return event


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (_with(function_url_event(), body="not base64!", isBase64Encoded=True), "not valid base64"),
        (_with(alb_event(), body="aGVsbG8", isBase64Encoded=True), "not valid base64"),
        (_with(http_api_event(), body="héllo", isBase64Encoded=True), "not valid base64"),
        (_with(rest_api_event(), body={"a": 1}), "body must be a string"),
        (_with(rest_api_event(), httpMethod=None), "httpMethod must be a string"),
        (_with(function_url_event(), rawQueryString=["a=1"]), "rawQueryString must be a string"),
    ],
    ids=[
        "invalid_base64",
        "alb_base64_missing_padding",
        "non_ascii_base64",
        "body_not_a_string",
        "v1_no_method",
        "raw_query_not_a_string",
    ],
)
def test_broken_http_events_are_invalid_events(event: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidEventError, match=message) as caught:
        parse_http_event(event)
    assert caught.value.status_code == 400


# --- response shaping ------------------------------------------------------------------------------------------


def _request(event: dict[str, Any]) -> HttpRequest:
    request = parse_http_event(event)
    assert request is not None
    return request


METRICS = b'# TYPE probe_success gauge\nprobe_success 1\n'
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


@pytest.mark.parametrize(
    ("event", "response", "expected"),
    [
        (
            function_url_event(),
            HttpResponse(200, {"Content-Type": PROMETHEUS_TYPE}, METRICS),
            {
                "statusCode": 200,
                "headers": {"content-type": PROMETHEUS_TYPE},
                "cookies": [],
                "body": METRICS.decode(),
                "isBase64Encoded": False,
            },
        ),
        (
            http_api_event(),
            HttpResponse(200, {"content-type": "image/png"}, PNG),
            {
                "statusCode": 200,
                "headers": {"content-type": "image/png"},
                "cookies": [],
                "body": base64.b64encode(PNG).decode(),
                "isBase64Encoded": True,
            },
        ),
        (
            function_url_event(),
            HttpResponse(
                200,
                {"content-type": "text/html", "Set-Cookie": "a=1; Path=/, b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT"},
                b"<p>hi</p>",
            ),
            {
                "statusCode": 200,
                "headers": {"content-type": "text/html"},
                "cookies": ["a=1; Path=/", "b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT"],
                "body": "<p>hi</p>",
                "isBase64Encoded": False,
            },
        ),
        (
            rest_api_event(),
            HttpResponse(201, {"content-type": "application/json", "set-cookie": "a=1\nb=2"}, b'{"ok": true}'),
            {
                "statusCode": 201,
                "multiValueHeaders": {"content-type": ["application/json"], "set-cookie": ["a=1", "b=2"]},
                "body": '{"ok": true}',
                "isBase64Encoded": False,
            },
        ),
        (
            _with(rest_api_event(), multiValueHeaders=None),
            HttpResponse(200, {"content-type": "application/xml"}, b"<a/>"),
            {
                "statusCode": 200,
                "headers": {"content-type": "application/xml"},
                "body": "<a/>",
                "isBase64Encoded": False,
            },
        ),
        (
            alb_event(),
            HttpResponse(200, {"content-type": "application/problem+json"}, b'{"title": "x"}'),
            {
                "statusCode": 200,
                "statusDescription": "200 OK",
                "headers": {"content-type": "application/problem+json"},
                "body": '{"title": "x"}',
                "isBase64Encoded": False,
            },
        ),
        (
            alb_event(multi_value=True),
            HttpResponse(404, {"content-type": "application/octet-stream", "set-cookie": "a=1, b=2"}, b"\x00\x01"),
            {
                "statusCode": 404,
                "statusDescription": "404 Not Found",
                "multiValueHeaders": {"content-type": ["application/octet-stream"], "set-cookie": ["a=1", "b=2"]},
                "body": "AAE=",
                "isBase64Encoded": True,
            },
        ),
    ],
    ids=[
        "function_url_prometheus_text",
        "http_api_binary",
        "function_url_set_cookie_moves_to_cookies",
        "rest_api_multi_value_headers",
        "rest_api_single_value_headers",
        "alb_text_with_status_description",
        "alb_multi_value_binary",
    ],
)
def test_response_shape(event: dict[str, Any], response: HttpResponse, expected: dict[str, Any]) -> None:
    assert build_http_event_response(_request(event), response) == expected


@pytest.mark.parametrize(
    ("headers", "body", "text"),
    [
        ({"content-type": PROMETHEUS_TYPE}, METRICS, True),
        ({"content-type": "application/openmetrics-text; version=1.0.0; charset=utf-8"}, METRICS, True),
        ({"content-type": "text/plain; charset=utf-8"}, "héllo".encode(), True),
        ({"content-type": "Application/JSON"}, b"{}", True),
        ({"content-type": "application/javascript"}, b"1", True),
        ({"content-type": "application/vnd.api+json"}, b"{}", True),
        ({"content-type": "image/svg+xml"}, b"<svg/>", True),
        ({"content-type": "application/octet-stream"}, b"abc", False),
        ({"content-type": "application/pdf"}, b"%PDF", False),
        ({"content-type": "text/plain"}, b"\xff\xfe latin-1 bytes", False),
        ({"content-type": PROMETHEUS_TYPE, "content-encoding": "gzip"}, b"\x1f\x8b\x08\x00", False),
        ({"content-type": PROMETHEUS_TYPE, "content-encoding": "identity"}, METRICS, True),
        ({}, b"abc", False),
    ],
    ids=[
        "prometheus",
        "openmetrics",
        "text_utf8",
        "json_any_case",
        "javascript",
        "plus_json",
        "plus_xml",
        "octet_stream",
        "pdf",
        "text_but_not_utf8",
        "gzip_encoded_text",
        "identity_encoding",
        "no_content_type",
    ],
)
def test_text_or_base64_body(headers: dict[str, str], body: bytes, text: bool) -> None:
    shaped = build_http_event_response(_request(function_url_event()), HttpResponse(200, headers, body))
    assert shaped["isBase64Encoded"] is not text
    assert (shaped["body"].encode() if text else base64.b64decode(shaped["body"])) == body


@pytest.mark.parametrize(
    "event",
    [function_url_event(), http_api_event(), rest_api_event(), alb_event(), alb_event(multi_value=True)],
    ids=["function_url", "http_api", "rest_api", "alb", "alb_multi"],
)
def test_binary_body_is_base64_even_under_a_text_type(event: dict) -> None:
    # output.format base64: the caller gets the program's bytes, whatever the configured content type says
    response = HttpResponse(200, {"content-type": "text/plain"}, b"plain ascii")
    shaped = build_http_event_response(_request(event), response, binary=True)
    assert shaped["isBase64Encoded"] is True
    assert base64.b64decode(shaped["body"]) == b"plain ascii"


@pytest.mark.parametrize(
    "event",
    [function_url_event(), http_api_event(), rest_api_event(), alb_event(), alb_event(multi_value=True)],
    ids=["function_url", "http_api", "rest_api", "alb", "alb_multi_value"],
)
@pytest.mark.parametrize("content_type", [None, "", "  "], ids=["missing", "empty", "blank"])
def test_content_type_is_always_explicit(event: dict[str, Any], content_type: str | None) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    shaped = build_http_event_response(_request(event), HttpResponse(200, headers, b""))
    found = shaped.get("headers") or {name: values[0] for name, values in shaped["multiValueHeaders"].items()}
    assert found["content-type"] == "application/octet-stream"


@pytest.mark.parametrize(
    ("status", "description"),
    [(200, "200 OK"), (401, "401 Unauthorized"), (502, "502 Bad Gateway"), (504, "504 Gateway Timeout"), (599, "599")],
    ids=["200", "401", "502", "504", "unknown"],
)
def test_alb_status_description(status: int, description: str) -> None:
    shaped = build_http_event_response(_request(alb_event()), HttpResponse(status, {"content-type": "text/plain"}, b""))
    assert shaped["statusDescription"] == description


def test_raw_requests_have_no_http_shape() -> None:
    request = HttpRequest("raw", "GET", "/", {}, {}, {}, b"")
    with pytest.raises(ValueError, match="raw"):
        build_http_event_response(request, HttpResponse(200, {}, b""))


# --- error answers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "status_codes", "status", "error_type"),
    [
        (InvalidEventError("target: is required"), None, 400, "Function.InvalidEvent"),
        (UnauthorizedError("Bearer token is wrong"), None, 401, "Function.Unauthorized"),
        (ProgramError("Program '/opt/bin/probe' exited with status 3"), None, 502, "Function.NonZeroExit"),
        (SpawnError("Program '/opt/bin/probe' not found"), None, 502, "Runtime.SpawnError"),
        (ProgramTimeoutError("Program '/opt/bin/probe' ran past 10 s"), None, 504, "Function.Timeout"),
        (InternalError("boom"), None, 500, "Runtime.InternalError"),
        (InvocationError("generic"), None, 502, "Function.Error"),
        (ProgramTimeoutError("slow"), {"timeout": 408}, 408, "Function.Timeout"),
        (InvalidEventError("bad"), {"invalid_event": 422, "failure": 500}, 422, "Function.InvalidEvent"),
        (SpawnError("gone"), {"failure": 503}, 503, "Runtime.SpawnError"),
        (UpstreamError("upstream said 503"), {"failure": 500}, 500, "Function.UpstreamError"),
        (InternalError("boom"), {"failure": 503}, 500, "Runtime.InternalError"),
        (
            ProgramError("grep: bad pattern", error_type="Function.BadPattern", status_code=400),
            {"failure": 502},
            400,
            "Function.BadPattern",
        ),
        (UpstreamError("upstream said 503", status_code=503), {"failure": 502}, 503, "Function.UpstreamError"),
    ],
    ids=[
        "invalid_event_400",
        "unauthorized_401",
        "program_error_502",
        "spawn_error_502",
        "timeout_504",
        "internal_500",
        "base_class_502",
        "config_maps_timeout",
        "config_maps_invalid_event",
        "config_maps_failure",
        "upstream_is_a_failure",
        "internal_not_a_failure",
        "status_set_on_the_error_wins",
        "upstream_status_kept",
    ],
)
def test_error_http_response(
    exc: InvocationError, status_codes: dict[str, int] | None, status: int, error_type: str
) -> None:
    response = error_http_response(exc, status_codes)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert ("www-authenticate" in response.headers) == (status == 401)
    assert json.loads(response.body) == {"errorType": error_type, "errorMessage": str(exc)}


def test_unauthorized_asks_for_a_bearer_token() -> None:
    assert error_http_response(UnauthorizedError("Bearer token is wrong")).headers["www-authenticate"] == "Bearer"


def test_error_answer_reaches_a_function_url_caller_as_json_text() -> None:
    response = error_http_response(ProgramTimeoutError("Program '/opt/bin/probe' ran past 10 s"))
    shaped = build_http_event_response(_request(function_url_event()), response)
    assert shaped["statusCode"] == 504
    assert shaped["isBase64Encoded"] is False
    assert shaped["headers"]["content-type"] == "application/json"
    assert json.loads(shaped["body"])["errorType"] == "Function.Timeout"


# --- bearer check ----------------------------------------------------------------------------------------------

TOKEN = "s3cr3t-t0ken"


def _authorized(*values: str) -> HttpRequest:
    """A Function URL request carrying these Authorization header values (none: no header)."""
    headers = {"accept": "text/plain"} | ({"authorization": ", ".join(values)} if values else {})
    return _request(function_url_event(headers=headers))


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (_authorized(f"Bearer {TOKEN}"), TOKEN),
        (_authorized(f"bearer {TOKEN}"), TOKEN),
        (_authorized(f"BEARER   {TOKEN}  "), TOKEN),
        (_authorized("Bearer jalapeño-ü"), "jalapeño-ü"),
        (_request(rest_api_event(headers={"Authorization": [f"Bearer {TOKEN}"]})), TOKEN),
        (_request(alb_event(multi_value=True, headers={"authorization": [f"Bearer {TOKEN}"]})), TOKEN),
    ],
    ids=["exact", "lower_case_scheme", "extra_blanks", "non_ascii_token", "rest_api_mixed_case_header", "alb"],
)
def test_bearer_accepted(request_: HttpRequest, expected: str) -> None:
    check_bearer(request_, expected)


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (_authorized(), "missing"),
        (_authorized(""), "missing"),
        (_authorized(f"Bearer {TOKEN}x"), "wrong"),
        (_authorized(f"Bearer {TOKEN[:-1]}"), "wrong"),
        (_authorized("Bearer "), "wrong"),
        (_authorized("Bearer"), "wrong"),
        (_authorized(f"Bearer {TOKEN.upper()}"), "wrong"),
        (_authorized("Bearer jalapeño"), "wrong"),
        (_authorized(f"Basic {TOKEN}"), "scheme must be Bearer"),
        (_authorized(TOKEN), "scheme must be Bearer"),
        (_authorized(f"Token {TOKEN}"), "scheme must be Bearer"),
        (_authorized(f"Bearer {TOKEN}", "Bearer other"), "wrong"),
    ],
    ids=[
        "missing",
        "empty",
        "longer",
        "shorter_prefix",
        "empty_token",
        "scheme_only",
        "case_differs",
        "non_ascii_wrong",
        "basic_scheme",
        "no_scheme",
        "token_scheme",
        "two_headers",
    ],
)
def test_bearer_rejected(request_: HttpRequest, message: str) -> None:
    with pytest.raises(UnauthorizedError, match=message) as caught:
        check_bearer(request_, TOKEN)
    assert TOKEN not in str(caught.value)
    assert TOKEN[:-1] not in str(caught.value)


def test_empty_expected_token_lets_nobody_in() -> None:
    with pytest.raises(UnauthorizedError):
        check_bearer(_authorized("Bearer "), "")


def test_wrong_token_message_never_echoes_the_sent_token() -> None:
    with pytest.raises(UnauthorizedError) as caught:
        check_bearer(_authorized("Bearer attacker-supplied-value"), TOKEN)
    assert "attacker-supplied-value" not in str(caught.value)
