"""Streamed answers to HTTP callers: which callers can take one, and the prelude that goes first. Pure.

A streamed HTTP answer (Lambda developer guide, "Response streaming"; API Gateway, "response transfer mode")
has the Content-Type application/vnd.awslambda.http-integration-response and starts with a JSON prelude
{statusCode, headers, cookies} and eight NUL bytes; the body follows as it is produced.
Function URLs (invoke mode RESPONSE_STREAM) and API Gateway REST APIs (payload 1.0) stream; HTTP APIs
(payload 2.0 from API Gateway) and ALB do not, so their callers get a buffered answer.
"""

from __future__ import annotations

import json

from wrapper.events.base import response_headers, split_set_cookie
from wrapper.types import HttpRequest, HttpResponse

HTTP_INTEGRATION_CONTENT_TYPE = "application/vnd.awslambda.http-integration-response"
PRELUDE_END = b"\0" * 8
STREAMING_SOURCES = ("function_url", "apigw_v1")


def can_stream(request: HttpRequest) -> bool:
    """Whether this request's caller can take a streamed answer."""
    return request.source in STREAMING_SOURCES


def stream_prelude(response: HttpResponse) -> bytes:
    """The prelude for a streamed answer with this status and these headers (the body is not part of it)."""
    headers = response_headers(response)
    cookies = split_set_cookie(headers.pop("set-cookie", ""))
    document = {"statusCode": response.status_code, "headers": headers, "cookies": cookies}
    return json.dumps(document).encode() + PRELUDE_END
