"""Application Load Balancer target-group events, with and without multi-value headers.

Shape: https://docs.aws.amazon.com/elasticloadbalancing/latest/application/lambda-functions.html
"""

from __future__ import annotations

from urllib.parse import unquote_plus

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
    status_line,
    text_field,
)
from wrapper.types import EventSource, HttpRequest, HttpResponse

if TYPE_CHECKING:
    from typing import Any

SOURCES: tuple[EventSource, ...] = ("alb",)


def infer(event: dict[str, Any]) -> EventSource | None:
    """ALB events carry requestContext.elb."""
    return "alb" if "elb" in section(event, "requestContext") else None


def parse(event: dict[str, Any], source: EventSource) -> HttpRequest:
    """Normalize an ALB event; unlike API Gateway, ALB leaves query names and values URL-encoded."""
    headers, multi_headers = read_headers(event)
    raw_query = event.get("multiValueQueryStringParameters")
    if not isinstance(raw_query, dict):
        raw_query = event.get("queryStringParameters")
    query_multi = query_lists(raw_query, decode=unquote_plus)
    return HttpRequest(
        source=source,
        method=text_field(event.get("httpMethod"), "httpMethod").upper(),
        path=text_field(event.get("path"), "path", default="/"),
        query=last_values(query_multi),
        query_multi=query_multi,
        headers=headers,
        body=decode_body(event),
        source_ip=_client_ip(headers),
        cookies=split_cookies(headers.get("cookie", "")),
        multi_value_headers=multi_headers,
    )


def _client_ip(headers: dict[str, str]) -> str:
    """The client address ALB saw: the last X-Forwarded-For entry, the one ALB itself appended."""
    # earlier entries come from the client and can be forged
    entries = [entry.strip() for entry in headers.get("x-forwarded-for", "").split(",") if entry.strip()]
    return entries[-1] if entries else ""


def respond(request: HttpRequest, response: HttpResponse, *, binary: bool = False) -> dict[str, Any]:
    """statusCode, statusDescription, the header map the request used, body, isBase64Encoded."""
    headers = response_headers(response)
    body, is_base64 = encode_body(headers, response.body, binary=binary)
    shaped: dict[str, Any] = {
        "statusCode": response.status_code,
        "statusDescription": status_line(response.status_code),
    }
    # a target group with multi-value headers on ignores `headers`, and one with it off ignores the other
    if request.multi_value_headers:
        shaped["multiValueHeaders"] = multi_value(headers)
    else:
        shaped["headers"] = headers
    shaped.update(body=body, isBase64Encoded=is_base64)
    return shaped
