"""Server mode: one invocation forwarded to the long-lived program as a loopback HTTP request."""

from __future__ import annotations

import time

from wrapper import TYPE_CHECKING
from wrapper.mapping.command import build_server_request
from wrapper.mapping.response import build_upstream_response

if TYPE_CHECKING:
    from typing import Any

    from wrapper.metrics.emf import Observation
    from wrapper.runtime.function import FunctionHandler
    from wrapper.types import HttpRequest, HttpResponse, Invocation


def forward(
    handler: FunctionHandler, invocation: Invocation, values: dict[str, Any], request: HttpRequest | None,
    seen: Observation | None,
) -> HttpResponse:
    """Send the mapped request to the server-mode program and shape its answer."""
    config, server = handler.config, handler.server
    server_config = config.server
    assert server_config is not None and server is not None  # only server mode forwards
    method, target, headers, body = build_server_request(config, values, event_body=invocation.body,
                                                         http_request=request)
    server.ensure_running()  # may restart the program: only then is the time left known
    timeout_s = handler.time_left_s(invocation)
    if server_config.request.timeout_header:
        # the caller's own scrape timeout (e.g. Prometheus's) wins when it is shorter
        name = server_config.request.timeout_header
        forwarded = [k for k in headers if k.lower() == name.lower()]
        caller_s = min((_float(headers.pop(k)) or timeout_s for k in forwarded), default=timeout_s)
        headers[name] = f"{min(timeout_s, caller_s):.3f}"
    started = time.monotonic()
    upstream = server.request(method, target, headers=headers, body=body, timeout_s=timeout_s)
    if seen is not None:
        seen.output = upstream.body
    content_type = handler.content_type or upstream.headers.get("content-type") or "application/json"
    return build_upstream_response(upstream, config, content_type, http=request is not None,
                                   duration_s=time.monotonic() - started)


def _float(raw: str | None) -> float | None:
    try:
        return float(raw) if raw else None
    except ValueError:
        return None
