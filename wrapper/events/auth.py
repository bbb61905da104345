"""The bearer-token check for HTTP callers (config `auth.bearer_token_env`)."""

from __future__ import annotations

from wrapper import TYPE_CHECKING
from wrapper.errors import UnauthorizedError

if TYPE_CHECKING:
    from wrapper.types import HttpRequest


def check_bearer(request: HttpRequest, expected_token: str) -> None:
    """Raise UnauthorizedError unless the request sends 'Authorization: Bearer <expected_token>'."""
    header = request.headers.get("authorization", "").strip()
    if not header:
        raise UnauthorizedError("Authorization header is missing")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        raise UnauthorizedError("Authorization scheme must be Bearer")
    import hmac  # only configs with a bearer token pay for it

    # compare_digest on bytes: constant time, and it also accepts non-ASCII tokens
    matches = hmac.compare_digest(token.strip().encode("utf-8"), expected_token.encode("utf-8"))
    # an empty expected token would let "Bearer " through; a misconfiguration must not open the door
    if not matches or not expected_token:
        raise UnauthorizedError("Bearer token is wrong")


def bearer_token_problem(token: str | None) -> str | None:
    """Why a bearer token (auth.bearer_token_env's value at init) cannot be used, or None."""
    if token is None:
        return "is not set"
    if not token.strip():
        return "is blank"
    if token != token.strip():
        # HTTP strips a header value's surrounding whitespace: no caller could ever send this token
        return "has leading or trailing whitespace (HTTP strips it from headers, so no request could match)"
    return None
