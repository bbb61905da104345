"""The Function URL front: HTTP request → payload 2.0 event, function result → HTTP answer.

Shapes follow https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html (request and response payloads).
"""

from __future__ import annotations

import base64
import json
import socket

import pytest
import requests

from emulator_helpers import Answer, serve
from wrapper.emulator import Emulator, InvokeResult
from wrapper.emulator.function_url import build_event, build_http_response, url_id


@pytest.fixture
def emulator():
    with Emulator(runtime_argv=None, function_name="site", function_timeout_s=30.0) as emulator:
        yield emulator


def answering(document: object):
    """A runtime answer: record the event, reply with `document` as JSON."""
    events: list[dict] = []

    def answer(event: Answer) -> tuple[str, bytes]:
        events.append(event.json())
        return "response", json.dumps(document).encode()

    return answer, events


def test_request_becomes_a_payload_2_event(emulator):
    answer, events = answering({"statusCode": 204})
    runtime = serve(emulator.address, answer, 1)
    response = requests.get(emulator.url + "/probe/x?target=a.example&target=b.example&empty=&sp=%20d",
                            headers={"X-Custom": "v1", "Cookie": "a=1; b=2", "User-Agent": "tester/1"}, timeout=30)
    runtime.result()
    assert response.status_code == 204
    event = events[0]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "$default"
    assert event["rawPath"] == "/probe/x"
    assert event["rawQueryString"] == "target=a.example&target=b.example&empty=&sp=%20d"
    assert event["queryStringParameters"] == {"target": "a.example,b.example", "empty": "", "sp": " d"}
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["headers"]["x-custom"] == "v1"
    assert "cookie" not in event["headers"]
    assert all(name == name.lower() for name in event["headers"])
    assert event["isBase64Encoded"] is False
    assert "body" not in event
    context = event["requestContext"]
    uid = url_id("site")
    assert context["accountId"] == "anonymous"
    assert (context["apiId"], context["domainPrefix"]) == (uid, uid)
    assert context["domainName"] == f"{uid}.lambda-url.us-east-1.on.aws"
    assert context["http"] == {"method": "GET", "path": "/probe/x", "protocol": "HTTP/1.1",
                               "sourceIp": "127.0.0.1", "userAgent": "tester/1"}
    assert (context["routeKey"], context["stage"]) == ("$default", "$default")
    assert response.headers["x-amzn-RequestId"] == context["requestId"]
    assert isinstance(context["timeEpoch"], int) and context["time"].endswith(" +0000")


def test_binary_body_is_base64_and_binary_answer_is_decoded(emulator):
    payload = bytes(range(256))
    answer, events = answering({"statusCode": 200, "headers": {"Content-Type": "application/octet-stream"},
                                "body": base64.b64encode(payload[::-1]).decode(), "isBase64Encoded": True})
    runtime = serve(emulator.address, answer, 1)
    response = requests.post(emulator.url + "/upload", data=payload,
                             headers={"Content-Type": "application/octet-stream"}, timeout=30)
    runtime.result()
    assert events[0]["isBase64Encoded"] is True
    assert base64.b64decode(events[0]["body"]) == payload
    assert events[0]["requestContext"]["http"]["method"] == "POST"
    assert response.content == payload[::-1]
    assert response.headers["Content-Type"] == "application/octet-stream"


def test_text_body_travels_as_text(emulator):
    answer, events = answering({"ok": True})
    runtime = serve(emulator.address, answer, 1)
    requests.put(emulator.url + "/", json={"k": "v"}, timeout=30)
    runtime.result()
    assert events[0]["body"] == '{"k": "v"}'
    assert events[0]["isBase64Encoded"] is False


def test_status_headers_and_cookies_are_answered(emulator):
    answer, _ = answering({"statusCode": 418, "headers": {"X-Tea": "earl grey", "Content-Type": "text/plain"},
                           "cookies": ["a=1; Path=/", "b=2"], "body": "short and stout"})
    runtime = serve(emulator.address, answer, 1)
    response = requests.get(emulator.url + "/teapot", timeout=30)
    runtime.result()
    assert response.status_code == 418
    assert response.headers["X-Tea"] == "earl grey"
    assert response.raw.headers.getlist("Set-Cookie") == ["a=1; Path=/", "b=2"]
    assert response.text == "short and stout"


@pytest.mark.parametrize("document", [{"message": "no statusCode"}, [1, 2], "just a string", 7, None])
def test_json_without_status_code_is_inferred_as_200_json(emulator, document):
    answer, _ = answering(document)
    runtime = serve(emulator.address, answer, 1)
    response = requests.get(emulator.url + "/", timeout=30)
    runtime.result()
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == document


def test_head_request_gets_headers_only(emulator):
    answer, events = answering({"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": "hello"})
    runtime = serve(emulator.address, answer, 1)
    response = requests.head(emulator.url + "/page", timeout=30)
    runtime.result()
    assert events[0]["requestContext"]["http"]["method"] == "HEAD"
    assert (response.status_code, response.headers["Content-Length"], response.content) == (200, "5", b"")


def test_function_error_is_502(emulator):
    error = b'{"errorType": "Function.Boom", "errorMessage": "x"}'
    runtime = serve(emulator.address, lambda event: ("error", error), 1)
    response = requests.get(emulator.url + "/", timeout=30)
    runtime.result()
    assert response.status_code == 502
    assert response.json()["errorType"] == "Function.Boom"


def test_invoke_api_paths_are_not_function_url_requests(emulator):
    response = requests.get(emulator.url + "/2015-03-31/functions/site/invocations", timeout=30)
    assert response.status_code == 404
    assert emulator.stats.invocations == 0


# the pure mapping, as tables


def event_for(**overrides):
    arguments = {"method": "GET", "target": "/", "headers": [], "body": b"", "source_ip": "10.0.0.1",
                 "protocol": "HTTP/1.1", "function_name": "f", "request_id": "rid", "now_s": 1583348638.390}
    return build_event(**{**arguments, **overrides})


def test_event_time_fields_use_aws_formats():
    context = event_for()["requestContext"]
    assert (context["time"], context["timeEpoch"]) == ("04/Mar/2020:19:03:58 +0000", 1583348638390)


@pytest.mark.parametrize(("headers", "expected"), [
    ([("X-A", "1"), ("x-a", "2")], {"x-a": "1,2"}),
    ([("Content-Type", "text/plain")], {"content-type": "text/plain"}),
    ([("Cookie", "a=1"), ("Cookie", "b=2; c=3")], {}),
])
def test_headers_are_lowercased_and_comma_joined(headers, expected):
    got = event_for(headers=headers)["headers"]
    assert {k: v for k, v in got.items() if not k.startswith("x-forwarded") and k != "x-amzn-trace-id"} == expected


@pytest.mark.parametrize(("content_type", "body", "base64_encoded"), [
    ("application/json", b'{"a": 1}', False),
    ("text/plain; charset=utf-8", "héllo".encode(), False),
    ("application/problem+json", b"{}", False),
    ("application/x-www-form-urlencoded", b"a=1", False),
    ("application/octet-stream", b"abc", True),
    ("image/png", b"\x89PNG", True),
    ("text/plain", b"\xff\xfe", True),  # not UTF-8 after all
    ("", b"abc", True),
])
def test_body_encoding_follows_the_content_type(content_type, body, base64_encoded):
    event = event_for(method="POST", headers=[("Content-Type", content_type)] if content_type else [], body=body)
    assert event["isBase64Encoded"] is base64_encoded
    decoded = base64.b64decode(event["body"]) if base64_encoded else event["body"].encode()
    assert decoded == body


def result(body: object, *, raw: bytes | None = None, function_error: str | None = None) -> InvokeResult:
    data = raw if raw is not None else json.dumps(body).encode()
    return InvokeResult(200, data, function_error, {})


@pytest.mark.parametrize(("invoke_result", "status", "headers", "body"), [
    (result({"statusCode": 201, "body": "made"}), 201, [], b"made"),
    (result({"statusCode": 200, "body": "aGk=", "isBase64Encoded": True}), 200, [], b"hi"),
    (result({"statusCode": 200, "headers": {"X-N": 1, "X-B": True}}), 200, [("X-N", "1"), ("X-B", "true")], b""),
    (result({"statusCode": 302, "headers": {"Location": "/x", "Content-Length": "99"}}), 302,
     [("Location", "/x")], b""),
    (result({"statusCode": 200, "cookies": ["s=1"]}), 200, [("Set-Cookie", "s=1")], b""),
    (result({"statusCode": 200, "body": {"nested": 1}}), 200, [], b'{"nested": 1}'),
    (result({"hello": "world"}), 200, [("Content-Type", "application/json")], b'{"hello": "world"}'),
    (result(None, raw=b"not json"), 502, [("Content-Type", "text/plain")], b"Internal Server Error"),
    (result({"statusCode": "200"}), 502, [("Content-Type", "text/plain")], b"Internal Server Error"),
    (result({"statusCode": 200, "body": "!!", "isBase64Encoded": True}), 502,
     [("Content-Type", "text/plain")], b"Internal Server Error"),
    (result(None, raw=b'{"errorType": "Function.X"}', function_error="Unhandled"), 502,
     [("Content-Type", "application/json")], b'{"errorType": "Function.X"}'),
])
def test_result_becomes_the_http_answer(invoke_result, status, headers, body):
    assert build_http_response(invoke_result) == (status, headers, body)


@pytest.mark.parametrize("document", [
    {"statusCode": 200, "headers": {"X-A": "1\r\nSet-Cookie: injected=1"}},
    {"statusCode": 200, "headers": {"X-A": "1\nX-Injected: 1"}},
    {"statusCode": 200, "headers": {"X-A\r\nX-Injected": "1"}},
    {"statusCode": 200, "headers": {"X A": "1"}},
    {"statusCode": 200, "cookies": ["a=1\r\nX-Injected: 1"]},
    {"statusCode": 200, "headers": {"X-A": "nul\x00byte"}},
])
def test_header_values_or_names_that_would_split_the_answer_are_refused(emulator, document):
    answer, _ = answering(document)
    runtime = serve(emulator.address, answer, 1)
    with socket.create_connection(("127.0.0.1", int(emulator.url.rsplit(":", 1)[1])), timeout=30) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    runtime.result()
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.startswith(b"HTTP/1.1 502"), raw[:300]
    assert b"injected" not in head.lower()


def test_deeply_nested_runtime_answer_is_a_502_not_a_dead_connection(emulator):
    nested = b"[" * 100_000 + b"]" * 100_000
    runtime = serve(emulator.address, lambda event: ("response", nested), 1)
    response = requests.get(emulator.url + "/", timeout=30)
    runtime.result()
    assert response.status_code == 502
