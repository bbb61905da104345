"""Payload format 2.0: API Gateway HTTP API and Lambda Function URL events.

Shapes: https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
and https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html (Function URLs use the same format).
"""

from __future__ import annotations

from urllib.parse import parse_qs

from wrapper import TYPE_CHECKING
from wrapper.errors import InvalidEventError
from wrapper.events.base import (
    decode_body,
    encode_body,
    join_headers,
    last_values,
    query_lists,
    response_headers,
    section,
    split_set_cookie,
    text_field,
)
from wrapper.types import EventSource, HttpRequest, HttpResponse

if TYPE_CHECKING:
    from typing import Any

SOURCES: tuple[EventSource, ...] = ("apigw_v2", "function_url")


def infer(event: dict[str, Any]) -> EventSource | None:
    """Version 2.0 with requestContext.http; a *.lambda-url.* domain means a Function URL."""
    context = section(event, "requestContext")
    if event.get("version") != "2.0" or not isinstance(context.get("http"), dict):
        return None
    return "function_url" if ".lambda-url." in str(context.get("domainName") or "") else "apigw_v2"


def parse(event: dict[str, Any], source: EventSource) -> HttpRequest:
    """Normalize a 2.0 event; the query comes from rawQueryString, so repeated keys keep every value."""
    http = section(section(event, "requestContext"), "http")
    raw_query = event.get("rawQueryString")
    if raw_query is None:
        # hand-written events may omit it; queryStringParameters has already comma-joined repeats
        query_multi = query_lists(event.get("queryStringParameters"))
    else:
        query_multi = parse_qs(text_field(raw_query, "rawQueryString"), keep_blank_values=True)
    raw_cookies = event.get("cookies") or []
    if not isinstance(raw_cookies, list):
        raise InvalidEventError("cookies: must be a list of strings")
    cookies = [str(cookie) for cookie in raw_cookies]
    headers = join_headers(section(event, "headers").items())
    if cookies and "cookie" not in headers:
        # 2.0 moves Cookie out of headers; put it back so every source looks alike downstream
        headers["cookie"] = "; ".join(cookies)
    path = event.get("rawPath")
    return HttpRequest(
        source=source,
        method=text_field(http.get("method"), "requestContext.http.method").upper(),
        path=text_field(path if path is not None else http.get("path"), "rawPath", default="/"),
        query=last_values(query_multi),
        query_multi=query_multi,
        headers=headers,
        body=decode_body(event),
        source_ip=str(http.get("sourceIp") or ""),
        cookies=cookies,
    )


def respond(request: HttpRequest, response: HttpResponse, *, binary: bool = False) -> dict[str, Any]:
    """statusCode, headers, cookies (every Set-Cookie moved there, as 2.0 requires), body, isBase64Encoded."""
    headers = response_headers(response)
    cookies = split_set_cookie(headers.pop("set-cookie", ""))
    body, is_base64 = encode_body(headers, response.body, binary=binary)
    return {
        "statusCode": response.status_code,
        "headers": headers,
        "cookies": cookies,
        "body": body,
        "isBase64Encoded": is_base64,
    }
