"""Function URL front, pure: an HTTP request → the payload 2.0 event, the function's result → the HTTP answer.

Follows "Invoking Lambda function URLs", https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html
(request and response payloads): the event is API Gateway's payload format 2.0 with routeKey and stage
"$default"; an answer with statusCode is taken apart (headers, cookies → Set-Cookie, body, isBase64Encoded);
any other valid JSON is inferred as 200, content-type application/json, body = the JSON text; a function error
becomes 502. AWS answers that 502 with the body "Internal Server Error"; the emulator sends the error JSON
instead, because locally the reason is the useful part.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import time
from typing import Any
from urllib.parse import parse_qsl

from wrapper.emulator.results import InvokeResult

REGION = "us-east-1"
ACCOUNT_ID = "anonymous"  # what Function URLs with auth type NONE report
TEXT_TYPES = ("application/json", "application/javascript", "application/xml", "application/x-www-form-urlencoded",
              "application/vnd.api+json", "application/graphql")
HOP_BY_HOP = {"connection", "content-length", "keep-alive", "transfer-encoding", "upgrade"}
INTERNAL_ERROR = (502, [("Content-Type", "text/plain")], b"Internal Server Error")
HTTP_INTEGRATION = "application/vnd.awslambda.http-integration-response"  # a streamed answer with a prelude
PRELUDE_END = b"\0" * 8
MAX_PRELUDE_BYTES = 16 * 1024

Headers = list[tuple[str, str]]
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # a header name (RFC 9110 §5.1)
_UNSAFE_IN_VALUE = re.compile(r"[\r\n\x00]")  # what would split a header line (RFC 9110 §5.5)


def url_id(function_name: str) -> str:
    """A stable 32-character URL id for a function name, shaped like Lambda's."""
    return hashlib.sha256(function_name.encode()).hexdigest()[:32]


def is_text(content_type: str) -> bool:
    """Whether a request body of this content type travels as text (else base64)."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith("text/") or media in TEXT_TYPES or media.endswith(("+json", "+xml"))


def build_event(*, method: str, target: str, headers: Headers, body: bytes, source_ip: str, protocol: str,
                function_name: str, request_id: str, now_s: float | None = None) -> dict[str, Any]:
    """The Function URL event for one HTTP request; `target` is the request line's path?query, undecoded."""
    now_s = time.time() if now_s is None else now_s
    raw_path, _, raw_query = target.partition("?")
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        name = name.lower()
        if name == "cookie":  # cookies travel in their own field, not as a header
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    uid = url_id(function_name)
    joined.setdefault("x-forwarded-for", source_ip)
    joined.setdefault("x-forwarded-proto", "http")
    joined.setdefault("x-amzn-trace-id", f"Root=1-{int(now_s):08x}-{request_id.replace('-', '')[:24]}")
    query: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    event: dict[str, Any] = {"version": "2.0", "routeKey": "$default", "rawPath": raw_path or "/",
                             "rawQueryString": raw_query}
    if cookies:
        event["cookies"] = cookies
    event["headers"] = joined
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": ACCOUNT_ID,
        "apiId": uid,
        "domainName": f"{uid}.lambda-url.{REGION}.on.aws",
        "domainPrefix": uid,
        "http": {"method": method, "path": raw_path or "/", "protocol": protocol, "sourceIp": source_ip,
                 "userAgent": joined.get("user-agent", "")},
        "requestId": request_id,
        "routeKey": "$default",
        "stage": "$default",
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now_s)),
        "timeEpoch": int(now_s * 1000),
    }
    binary = not is_text(joined.get("content-type", ""))
    if body and not binary:
        try:
            event["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            binary = True
    if body and binary:
        event["body"] = base64.b64encode(body).decode("ascii")
    event["pathParameters"] = None
    event["isBase64Encoded"] = bool(body) and binary
    event["stageVariables"] = None
    return event


def build_http_response(result: InvokeResult) -> tuple[int, Headers, bytes]:
    """The HTTP answer a Function URL gives for an invoke result: (status, headers, body)."""
    if result.status != 200 or result.function_error:
        return 502, [("Content-Type", "application/json")], result.body
    try:
        document = json.loads(result.body)
    except (ValueError, RecursionError):
        return INTERNAL_ERROR
    if not isinstance(document, dict) or "statusCode" not in document:
        return 200, [("Content-Type", "application/json")], result.body
    return _explicit_response(document)


def build_unstreamed_answer(result: InvokeResult, content_type: str | None) -> tuple[int, Headers, bytes]:
    """A Function URL in RESPONSE_STREAM mode whose function answered without streaming: the payload as it is.

    No statusCode document is taken apart in this mode: the caller gets the runtime's bytes with its
    Content-Type. Errors are answered as in buffered mode.
    """
    if result.status != 200 or result.function_error:
        return 502, [("Content-Type", "application/json")], result.body
    return 200, [("Content-Type", content_type or "application/json")], result.body


def split_prelude(data: bytes) -> tuple[int, Headers, bytes] | None:
    """A streamed HTTP answer's (status, headers, the body bytes after the prelude); None while incomplete.

    The stream starts with a JSON prelude {statusCode, headers, cookies} and eight NUL bytes (Lambda developer
    guide, response streaming; API Gateway holds it to the first 16 KB, and so does the emulator). ValueError
    when the prelude is malformed or missing.
    """
    end = data.find(PRELUDE_END)
    if end < 0:
        if len(data) > MAX_PRELUDE_BYTES:
            raise ValueError(f"no prelude (JSON and 8 NUL bytes) within the first {MAX_PRELUDE_BYTES} bytes")
        return None
    try:
        document = json.loads(data[:end])
    except ValueError as exc:
        raise ValueError(f"the prelude is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ValueError("the prelude is not a JSON object")
    head = _status_and_headers({"statusCode": 200, **document})
    if head is None:
        raise ValueError("the prelude's statusCode, headers or cookies are malformed")
    return head[0], head[1], data[end + len(PRELUDE_END) :]


def _status_and_headers(document: dict[str, Any]) -> tuple[int, Headers] | None:
    status = document["statusCode"]
    headers = document.get("headers") or {}
    cookies = document.get("cookies") or []
    if (isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599
            or not isinstance(headers, dict) or not isinstance(cookies, list)):
        return None
    out: Headers = [(str(k), _header_value(v)) for k, v in headers.items() if str(k).lower() not in HOP_BY_HOP]
    out += [("Set-Cookie", str(c)) for c in cookies]
    if not all(_TOKEN.fullmatch(name) and not _UNSAFE_IN_VALUE.search(value) for name, value in out):
        return None  # CR or LF would end the header and start one of the runtime's choosing
    return status, out


def _explicit_response(document: dict[str, Any]) -> tuple[int, Headers, bytes]:
    head = _status_and_headers(document)
    if head is None:
        return INTERNAL_ERROR
    status, out = head
    body = document.get("body")
    if body is None:
        data = b""
    elif isinstance(body, str) and document.get("isBase64Encoded") is True:
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return INTERNAL_ERROR
    elif isinstance(body, str):
        data = body.encode("utf-8")
    else:
        data = json.dumps(body).encode()
    return status, out, data


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
