"""Runtime API client: runtime.http11's raw-socket HTTP/1.1 over one kept-alive loopback connection.

Status handling follows the contract (protocol.py): 500 anywhere is fatal (RuntimeAPIError, the runtime exits
so Lambda replaces the environment); 413 on a response means Lambda already turned the invocation into an
error, so it is finished; 400 and 403 are logged and the loop goes on. Not thread-safe: one client per loop.
"""

from __future__ import annotations

import logging
import time

from wrapper import protocol
from wrapper.errors import RuntimeAPIError
from wrapper.runtime import http11 as wire
from wrapper.types import Invocation

logger = logging.getLogger(__name__)

CONNECT_ATTEMPTS = 6  # first contact: about 1.5 s of retries before giving up
CONNECT_BACKOFF_S = 0.05
# A deadline further out than Lambda's 900 s maximum (plus clock slack) is not a real deadline.
MAX_PLAUSIBLE_AHEAD_MS = 960_000


class RuntimeClient:
    """One loop's connection to the Lambda Runtime API at `address` (host:port)."""

    def __init__(self, address: str, *, fallback_timeout_s: float = 60.0) -> None:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise RuntimeAPIError("AWS_LAMBDA_RUNTIME_API must be host:port", endpoint=address)
        self.host, self.port = host.strip("[]"), int(port)
        self.fallback_timeout_s = fallback_timeout_s
        self._conn: wire.Connection | None = None
        self._contacted = False
        self._warned_deadline = False

    def close(self) -> None:
        """Close the connection (a later call reconnects)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def next_invocation(self) -> Invocation:
        """Long-poll for the next event; no timeout, since the environment may be frozen in between."""
        status, headers, body = self._call("GET", protocol.PATH_NEXT)
        if status != 200:
            raise RuntimeAPIError("Unexpected status from /next", endpoint=protocol.PATH_NEXT, status=status, body=body)
        request_id = headers.get(protocol.HEADER_REQUEST_ID.lower(), "")
        if not request_id:
            raise RuntimeAPIError("Invocation without a request id", endpoint=protocol.PATH_NEXT, status=status)
        return Invocation(
            request_id=request_id,
            deadline_ms=self._deadline_ms(headers.get(protocol.HEADER_DEADLINE_MS.lower())),
            body=body,
            function_arn=headers.get(protocol.HEADER_FUNCTION_ARN.lower(), ""),
            trace_id=headers.get(protocol.HEADER_TRACE_ID.lower()),
            client_context=headers.get(protocol.HEADER_CLIENT_CONTEXT.lower()),
            cognito_identity=headers.get(protocol.HEADER_COGNITO_IDENTITY.lower()),
            tenant_id=headers.get(protocol.HEADER_TENANT_ID.lower()),
            content_type=headers.get("content-type"),
        )

    def post_response(self, request_id: str, body: bytes, content_type: str = "application/json") -> None:
        """Report an invocation's result."""
        path = protocol.PATH_RESPONSE.format(request_id=request_id)
        self._post(path, body, {"Content-Type": content_type})

    def post_error(self, request_id: str, error_type: str, message: str, stack_trace: list[str] | None = None) -> None:
        """Report an invocation's failure as {errorMessage, errorType, stackTrace}."""
        path = protocol.PATH_ERROR.format(request_id=request_id)
        self._post(path, protocol.error_body(error_type, message, stack_trace), _error_headers(error_type))

    def post_init_error(self, error_type: str, message: str) -> None:
        """Report that start-up failed; the caller exits afterwards."""
        body = protocol.error_body(error_type, message)
        self._post(protocol.PATH_INIT_ERROR, body, _error_headers(error_type))

    def _post(self, path: str, body: bytes, headers: dict[str, str]) -> None:
        status, _, answer = self._call("POST", path, body, headers)
        if status == 202 or status == 200:
            return
        if status == 413:
            logger.warning("Response too large for Lambda (413); the invocation is finished as an error")
        elif status in (400, 403):
            logger.warning("Runtime API refused %s (%d): %s", path, status, answer[:200].decode("utf-8", "replace"))
        elif status >= 500:
            raise RuntimeAPIError("Runtime API failed", endpoint=path, status=status, body=answer)
        else:
            logger.warning("Unexpected status %d from %s", status, path)

    def _call(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        # A kept-alive connection may have been closed by the other side while we were frozen or idle:
        # retry once on a fresh one. On first contact, retry a little longer: the API may still be starting.
        attempts = 2 if self._contacted else CONNECT_ATTEMPTS
        for attempt in range(attempts):
            if self._conn is None:
                self._conn = wire.Connection(self.host, self.port)  # no timeout: /next blocks until an event
            try:
                response = self._conn.request(method, path, body, headers)
            except OSError as exc:  # wire.WireError included
                self.close()
                if attempt + 1 == attempts:
                    reason = f"unreachable: {exc}" if not self._contacted else f"connection failed: {exc}"
                    raise RuntimeAPIError(f"Runtime API {reason}", endpoint=f"{self.host}:{self.port}{path}") from exc
                if not self._contacted:
                    time.sleep(CONNECT_BACKOFF_S * 2**attempt)
                continue
            self._contacted = True
            return response.status, response.headers, response.body
        raise AssertionError("unreachable")  # pragma: no cover - the loop always returns or raises

    def _deadline_ms(self, raw: str | None) -> int:
        now_ms = int(time.time() * 1000)
        try:
            deadline_ms = int(raw) if raw is not None else 0
        except ValueError:
            deadline_ms = 0
        if now_ms < deadline_ms <= now_ms + MAX_PLAUSIBLE_AHEAD_MS:
            return deadline_ms
        if not self._warned_deadline:
            self._warned_deadline = True
            logger.warning(
                "Deadline header %r is missing or implausible; using the configured timeout of %gs",
                raw,
                self.fallback_timeout_s,
            )
        return now_ms + int(self.fallback_timeout_s * 1000)


def _error_headers(error_type: str) -> dict[str, str]:
    return {
        "Content-Type": protocol.ERROR_CONTENT_TYPE,
        protocol.HEADER_ERROR_TYPE: protocol.valid_error_type(error_type),
    }
