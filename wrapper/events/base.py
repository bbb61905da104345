"""What every event-source adapter provides, and the helpers they share. Pure: no I/O."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus

from wrapper import TYPE_CHECKING
from wrapper.errors import InvalidEventError
from wrapper.types import EventSource, HttpRequest, HttpResponse

if TYPE_CHECKING:
    from typing import Any, Protocol
else:
    Protocol = object  # at run time the interface is documentation

# Bodies of these types travel as text; everything else as base64 (mangum's list, plus Prometheus/OpenMetrics).
TEXT_TYPES = ("application/json", "application/javascript", "application/xml", "application/openmetrics-text")
TEXT_SUFFIXES = ("+json", "+xml")
DEFAULT_CONTENT_TYPE = "application/octet-stream"


class Adapter(Protocol):
    """One event source: recognise its events, read them, answer in its shape."""

    SOURCES: tuple[EventSource, ...]  # the HttpRequest.source values whose responses this adapter shapes

    def infer(self, event: dict[str, Any]) -> EventSource | None:
        """Return the source this adapter reads `event` as, or None."""

    def parse(self, event: dict[str, Any], source: EventSource) -> HttpRequest:
        """Normalize an event this adapter recognised."""

    def respond(self, request: HttpRequest, response: HttpResponse, *, binary: bool = False) -> dict[str, Any]:
        """Shape a response the way this source expects it; binary: base64 the body whatever its type."""


def section(event: Mapping[str, Any], key: str) -> dict[str, Any]:
    """Return event[key] when it is an object, else an empty dict (missing and null are common)."""
    value = event.get(key)
    return value if isinstance(value, dict) else {}


def join_headers(pairs: Iterable[tuple[str, Any]]) -> dict[str, str]:
    """Lower-case header names and join repeated ones (cookies with '; ', the rest with ', ')."""
    joined: dict[str, list[str]] = {}
    for name, value in pairs:
        values = value if isinstance(value, list) else [value]
        joined.setdefault(str(name).lower(), []).extend(str(v) for v in values if v is not None)
    # RFC 6265 §5.4: several cookie headers fold into one with "; ", never ", "
    return {name: ("; " if name == "cookie" else ", ").join(values) for name, values in joined.items()}


def read_headers(event: Mapping[str, Any]) -> tuple[dict[str, str], bool]:
    """Headers of a v1/ALB event and whether the caller sent multiValueHeaders."""
    multi = event.get("multiValueHeaders")
    if isinstance(multi, dict):
        # API Gateway REST sends both maps; the multi-value one is the complete one
        return join_headers(multi.items()), True
    return join_headers(section(event, "headers").items()), False


def split_cookies(cookie_header: str) -> list[str]:
    """Split a Cookie header into its 'name=value' pairs."""
    return [part.strip() for part in cookie_header.split(";") if part.strip()]


def last_values(multi: Mapping[str, list[str]]) -> dict[str, str]:
    """The single-valued query view: the last value of each key wins."""
    return {key: values[-1] for key, values in multi.items() if values}


def decode_body(event: Mapping[str, Any]) -> bytes:
    """The request body as bytes: base64-decoded when isBase64Encoded, else UTF-8."""
    body = event.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise InvalidEventError(f"HTTP event body must be a string, not {type(body).__name__}")
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidEventError("HTTP event body is marked isBase64Encoded but is not valid base64") from None
    # a JSON-escaped lone surrogate ("\ud800") is not UTF-8; pass it through rather than fail the request
    return body.encode("utf-8", "surrogatepass")


def is_textual(content_type: str) -> bool:
    """True when a body of this content type can travel as text."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith("text/") or media in TEXT_TYPES or media.endswith(TEXT_SUFFIXES)


def response_headers(response: HttpResponse) -> dict[str, str]:
    """The response's headers, lower-cased, with an explicit content-type."""
    headers = join_headers(response.headers.items())
    # Function URLs relabel a missing type application/json, and Prometheus 3 rejects a blank one
    if not headers.get("content-type", "").strip():
        headers["content-type"] = DEFAULT_CONTENT_TYPE
    return headers


def encode_body(headers: Mapping[str, str], body: bytes, *, binary: bool = False) -> tuple[str, bool]:
    """The body for the response document and its isBase64Encoded flag.

    Text (a textual content type, no content coding, valid UTF-8) travels as it is; anything else, and every
    body marked `binary`, as base64 with isBase64Encoded true, which the caller receives as the exact bytes.
    """
    encoded = headers.get("content-encoding", "identity").strip().lower() not in ("", "identity")
    if not binary and not encoded and is_textual(headers.get("content-type", "")):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass  # labelled text but not UTF-8: base64 keeps every byte
    return base64.b64encode(body).decode("ascii"), True


def split_set_cookie(value: str) -> list[str]:
    """Split a joined Set-Cookie value into cookies (newline- or comma-joined; commas inside Expires survive)."""
    cookies: list[str] = []
    for line in value.split("\n"):
        start = 0
        for index, char in enumerate(line):
            # a comma starts a new cookie only when a "name=" follows it, unlike "Expires=Wed, 21 Oct ..."
            if char == "," and _starts_cookie(line[index + 1 :]):
                cookies.append(line[start:index].strip())
                start = index + 1
        cookies.append(line[start:].strip())
    return [cookie for cookie in cookies if cookie]


def _starts_cookie(rest: str) -> bool:
    """True when `rest` begins (after blanks) with a cookie name and '='."""
    name, eq, _ = rest.lstrip().partition("=")
    return bool(eq) and bool(name) and not any(c in name for c in " \t;,")


def multi_value(headers: Mapping[str, str]) -> dict[str, list[str]]:
    """Headers as multiValueHeaders: each Set-Cookie its own value, the rest one value each."""
    return {
        name: split_set_cookie(value) if name == "set-cookie" else [value] for name, value in headers.items()
    }


def status_line(status_code: int) -> str:
    """ALB's statusDescription, e.g. '200 OK'."""
    try:
        return f"{status_code} {HTTPStatus(status_code).phrase}"
    except ValueError:
        return str(status_code)


def text_field(value: Any, what: str, *, default: str | None = None) -> str:
    """A string field of the event, or InvalidEventError naming it."""
    if value is None and default is not None:
        return default
    if not isinstance(value, str):
        raise InvalidEventError(f"HTTP event {what} must be a string")
    return value


def query_lists(params: Any, *, decode: Callable[[str], str] | None = None) -> dict[str, list[str]]:
    """A (multi)ValueQueryStringParameters map as name -> list of values, optionally decoding both."""
    if not isinstance(params, dict):
        return {}
    multi: dict[str, list[str]] = {}
    for key, value in params.items():
        values = value if isinstance(value, list) else [value]
        name = decode(str(key)) if decode else str(key)
        multi.setdefault(name, []).extend(decode(str(v)) if decode else str(v) for v in values if v is not None)
    return multi
