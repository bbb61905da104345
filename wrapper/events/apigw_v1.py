"""API Gateway REST API (and HTTP API payload 1.0) proxy events.

Shape: https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html
"""

from __future__ import annotations

from wrapper import TYPE_CHECKING
from wrapper.events.base import (
    decode_body,
    encode_body,
    last_values,
    multi_value,
    query_lists,
    read_headers,
    response_headers,
    section,
    split_cookies,
    text_field,
)
from wrapper.types import EventSource, HttpRequest, HttpResponse

if TYPE_CHECKING:
    from typing import Any

SOURCES: tuple[EventSource, ...] = ("apigw_v1",)


def infer(event: dict[str, Any]) -> EventSource | None:
    """A proxy event names its resource or method and carries a requestContext."""
    if ("resource" in event or "httpMethod" in event) and isinstance(event.get("requestContext"), dict):
        return "apigw_v1"
    return None


def parse(event: dict[str, Any], source: EventSource) -> HttpRequest:
    """Normalize a v1 proxy event; API Gateway has already URL-decoded the query values."""
    headers, multi_headers = read_headers(event)
    query_multi = query_lists(event.get("multiValueQueryStringParameters")) or query_lists(
        event.get("queryStringParameters")
    )
    identity = section(section(event, "requestContext"), "identity")
    return HttpRequest(
        source=source,
        method=text_field(event.get("httpMethod"), "httpMethod").upper(),
        path=text_field(event.get("path"), "path", default="/"),
        query=last_values(query_multi),
        query_multi=query_multi,
        headers=headers,
        body=decode_body(event),
        source_ip=str(identity.get("sourceIp") or ""),
        cookies=split_cookies(headers.get("cookie", "")),
        multi_value_headers=multi_headers,
    )


def respond(request: HttpRequest, response: HttpResponse, *, binary: bool = False) -> dict[str, Any]:
    """statusCode, headers (or multiValueHeaders, so several Set-Cookie survive), body, isBase64Encoded."""
    headers = response_headers(response)
    body, is_base64 = encode_body(headers, response.body, binary=binary)
    shaped: dict[str, Any] = {"statusCode": response.status_code}
    if request.multi_value_headers:
        shaped["multiValueHeaders"] = multi_value(headers)
    else:
        shaped["headers"] = headers
    shaped.update(body=body, isBase64Encoded=is_base64)
    return shaped
