"""Builders for realistic Lambda events; each copies the shape of the AWS doc example it cites.

Every builder returns a fresh dict, so a test may change it freely. The defaults describe a Prometheus scrape of
a blackbox-style /probe endpoint.
"""

from __future__ import annotations

import base64 as b64
from typing import Any

TARGET_GROUP_ARN = "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/probe/6d0ecf831eec9f09"
PROMETHEUS_HEADERS = {
    "accept": "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
    "accept-encoding": "gzip",
    "user-agent": "Prometheus/3.0.1",
    "x-prometheus-scrape-timeout-seconds": "10",
}


def _body(body: str | bytes | None, base64: bool) -> tuple[str | None, bool]:
    """The event's body field and its isBase64Encoded flag."""
    if isinstance(body, bytes) or base64:
        raw = body.encode() if isinstance(body, str) else (body or b"")
        return b64.b64encode(raw).decode("ascii"), True
    return body, False


def rest_api_event(
    *,
    method: str = "GET",
    path: str = "/probe",
    query: dict[str, list[str]] | None = None,
    headers: dict[str, list[str]] | None = None,
    body: str | bytes | None = None,
    base64: bool = False,
) -> dict[str, Any]:
    """API Gateway REST API proxy event (payload 1.0), values already URL-decoded by API Gateway.

    Copies "Input format of a Lambda function for proxy integration",
    https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html
    """
    multi_headers = headers if headers is not None else {
        "Host": ["abcdef1234.execute-api.us-east-1.amazonaws.com"],
        "Accept": [PROMETHEUS_HEADERS["accept"]],
        "User-Agent": [PROMETHEUS_HEADERS["user-agent"]],
        "X-Forwarded-For": ["203.0.113.7"],
        "X-Forwarded-Port": ["443"],
        "X-Forwarded-Proto": ["https"],
    }
    multi_query = query if query is not None else {"target": ["https://example.com"], "module": ["http_2xx"]}
    body_field, is_base64 = _body(body, base64)
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        # API Gateway sends both maps; the single-valued one keeps the last value
        "headers": {name: values[-1] for name, values in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdef1234",
            "domainName": "abcdef1234.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abcdef1234",
            "extendedRequestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "httpMethod": method,
            "identity": {
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "cognitoIdentityId": None,
                "sourceIp": "203.0.113.7",
                "user": None,
                "userAgent": PROMETHEUS_HEADERS["user-agent"],
                "userArn": None,
            },
            "path": f"/prod{path}",
            "protocol": "HTTP/1.1",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "requestTime": "27/Nov/2026:00:50:17 +0000",
            "requestTimeEpoch": 1795740617135,
            "resourceId": "abc123",
            "resourcePath": "/{proxy+}",
            "stage": "prod",
        },
        "body": body_field,
        "isBase64Encoded": is_base64,
    }


def _v2_event(
    *,
    domain: str,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: dict[str, str] | None,
    cookies: list[str] | None,
    body: str | bytes | None,
    base64: bool,
) -> dict[str, Any]:
    """The payload-2.0 shape shared by HTTP APIs and Function URLs."""
    body_field, is_base64 = _body(body, base64)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": dict(headers) if headers is not None else {
            "host": domain,
            "x-forwarded-for": "198.51.100.23",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
            **PROMETHEUS_HEADERS,
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": domain.split(".")[0],
            "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "198.51.100.23",
                "userAgent": PROMETHEUS_HEADERS["user-agent"],
            },
            "requestId": "c2a8c1a4-7f4b-4d5e-9c77-0b2f8f3b1d2e",
            "routeKey": "$default",
            "stage": "$default",
            "time": "27/Nov/2026:00:50:17 +0000",
            "timeEpoch": 1795740617135,
        },
        "isBase64Encoded": is_base64,
    }
    if raw_query:
        # AWS comma-joins repeated keys here, which is why we read rawQueryString instead
        joined: dict[str, list[str]] = {}
        for pair in raw_query.split("&"):
            name, _, value = pair.partition("=")
            joined.setdefault(name, []).append(value)
        event["queryStringParameters"] = {name: ",".join(values) for name, values in joined.items()}
    if cookies:
        event["cookies"] = list(cookies)
    if body_field is not None:
        event["body"] = body_field
    return event


def http_api_event(
    *,
    method: str = "GET",
    raw_path: str = "/probe",
    raw_query: str = "target=https%3A%2F%2Fexample.com&module=http_2xx",
    headers: dict[str, str] | None = None,
    cookies: list[str] | None = None,
    body: str | bytes | None = None,
    base64: bool = False,
) -> dict[str, Any]:
    """API Gateway HTTP API event, payload format 2.0.

    Copies "Payload format version 2.0",
    https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
    """
    event = _v2_event(
        domain="r3pmxmplak.execute-api.us-east-1.amazonaws.com",
        method=method,
        raw_path=raw_path,
        raw_query=raw_query,
        headers=headers,
        cookies=cookies,
        body=body,
        base64=base64,
    )
    event["requestContext"]["authorizer"] = {"jwt": {"claims": {"sub": "prometheus"}, "scopes": ["probe"]}}
    event["pathParameters"] = {"proxy": raw_path.lstrip("/")}
    event["stageVariables"] = {"stageVariable1": "value1"}
    return event


def function_url_event(
    *,
    method: str = "GET",
    raw_path: str = "/probe",
    raw_query: str = "target=https%3A%2F%2Fexample.com&module=http_2xx",
    headers: dict[str, str] | None = None,
    cookies: list[str] | None = None,
    body: str | bytes | None = None,
    base64: bool = False,
) -> dict[str, Any]:
    """Lambda Function URL event (payload 2.0 on a *.lambda-url.<region>.on.aws domain).

    Copies "Request payload format",
    https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html
    """
    return _v2_event(
        domain="a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6.lambda-url.eu-west-1.on.aws",
        method=method,
        raw_path=raw_path,
        raw_query=raw_query,
        headers=headers,
        cookies=cookies,
        body=body,
        base64=base64,
    )


def alb_event(
    *,
    multi_value: bool = False,
    method: str = "GET",
    path: str = "/probe",
    query: dict[str, list[str]] | None = None,
    headers: dict[str, list[str]] | None = None,
    body: str | bytes | None = None,
    base64: bool = False,
) -> dict[str, Any]:
    """Application Load Balancer event; query names and values arrive still URL-encoded.

    Copies "Receive events from the load balancer" (both the single- and the multi-value example),
    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/lambda-functions.html
    Without multi-value headers the load balancer keeps only the last value of a repeated header or key.
    """
    header_values = headers if headers is not None else {
        "accept": [PROMETHEUS_HEADERS["accept"]],
        "host": ["lambda-846800462-us-east-2.elb.amazonaws.com"],
        "user-agent": [PROMETHEUS_HEADERS["user-agent"]],
        "x-amzn-trace-id": ["Root=1-5bdb40ca-556d8b0c50dc66f0511bf520"],
        "x-forwarded-for": ["72.21.198.66"],
        "x-forwarded-port": ["443"],
        "x-forwarded-proto": ["https"],
    }
    query_values = query if query is not None else {"target": ["https%3A%2F%2Fexample.com"], "module": ["http_2xx"]}
    body_field, is_base64 = _body(body, base64)
    event: dict[str, Any] = {
        "requestContext": {"elb": {"targetGroupArn": TARGET_GROUP_ARN}},
        "httpMethod": method,
        "path": path,
        "isBase64Encoded": is_base64,
        "body": body_field if body_field is not None else "",
    }
    if multi_value:
        event["multiValueQueryStringParameters"] = query_values
        event["multiValueHeaders"] = header_values
    else:
        event["queryStringParameters"] = {name: values[-1] for name, values in query_values.items()}
        event["headers"] = {name: values[-1] for name, values in header_values.items()}
    return event


def scheduled_event() -> dict[str, Any]:
    """EventBridge rule schedule event: not HTTP, so it is read as raw.

    Copies the "Scheduled Event" example of https://docs.aws.amazon.com/lambda/latest/dg/with-scheduled-events.html
    (now https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-run-lambda-schedule.html).
    """
    return {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-27T00:50:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/probe-every-minute"],
        "detail": {},
    }


def raw_event() -> dict[str, Any]:
    """A direct invocation payload (aws lambda invoke, RIE curl): whatever JSON the caller chose."""
    return {"target": "https://example.com", "module": "http_2xx"}
