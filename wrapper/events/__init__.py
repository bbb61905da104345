"""HTTP events: recognise the source, normalize to HttpRequest, answer in the caller's shape. Pure: no I/O.

Each source is one module behind the `Adapter` protocol (`infer`, `parse`, `respond`), tried in this order:

    alb        requestContext.elb
    apigw_v2   version "2.0" + requestContext.http  (function_url when requestContext.domainName has ".lambda-url.")
    apigw_v1   resource or httpMethod + requestContext
    (none)     "raw": anything else, including EventBridge events and non-objects
"""

from __future__ import annotations

from wrapper import TYPE_CHECKING
from wrapper.errors import InvalidEventError
from wrapper.events import alb, apigw_v1, apigw_v2
from wrapper.events.base import Adapter, is_textual
from wrapper.events.failure import error_http_response, error_kind, error_status
from wrapper.types import EventSource, HttpRequest, HttpResponse

if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "build_http_event_response",
    "detect_source",
    "error_http_response",
    "error_kind",
    "error_status",
    "is_textual",
    "parse_http_event",
    "request_view",
]

ADAPTERS: tuple[Adapter, ...] = (alb, apigw_v2, apigw_v1)


def _infer(event: Any) -> tuple[EventSource, Adapter | None]:
    """The source of an event and the adapter that reads it (None for raw)."""
    if isinstance(event, dict):
        for adapter in ADAPTERS:
            source = adapter.infer(event)
            if source is not None:
                return source, adapter
    return "raw", None


def detect_source(event: Any) -> EventSource:
    """Which caller sent this event: alb, function_url, apigw_v2, apigw_v1 or raw."""
    return _infer(event)[0]


def parse_http_event(event: Any) -> HttpRequest | None:
    """Normalize an HTTP event to HttpRequest; None when it is not one. InvalidEventError on a broken one."""
    source, adapter = _infer(event)
    return None if adapter is None else adapter.parse(event, source)


def build_http_event_response(request: HttpRequest, response: HttpResponse, *, binary: bool = False) -> dict[str, Any]:
    """The response document the request's source expects; binary: the body travels base64-encoded."""
    for adapter in ADAPTERS:
        if request.source in adapter.SOURCES:
            return adapter.respond(request, response, binary=binary)
    raise ValueError(f"no HTTP response shape for event source {request.source!r}")


def request_view(request: HttpRequest, event: Any) -> dict[str, Any]:
    """`request.view(event)`, the document JMESPath expressions see; InvalidEventError for a body nested too deeply
    (the caller's body, not our bug: a 400, not an internal error with a stack)."""
    try:
        return request.view(event)
    except RecursionError:
        raise InvalidEventError("Request body JSON is nested too deeply") from None
