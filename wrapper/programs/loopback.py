"""HTTP/1.1 to server mode's program on 127.0.0.1: request checks, kept-alive connections, response headers."""

from __future__ import annotations

import http.client
import re
import socket
import threading

from wrapper.errors import InvalidEventError

__all__ = [
    "HOP_BY_HOP", "HOST", "ConnectionPool", "accepts_connections", "check_request", "get_status", "response_headers",
]

HOST = "127.0.0.1"  # the only address requests ever go to
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token: methods and header names
BAD_VALUE = re.compile(r"[\r\n\x00]")
# Framing and hop-by-hop headers: http.client sets framing itself; a caller's copy could desync the connection.
HOP_BY_HOP = frozenset(
    ["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "content-length"]
)


def get_status(port: int, path: str, timeout_s: float) -> int:
    """GET path on a fresh connection; the answer's status (OSError or HTTPException when there is none)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    return response.status


def accepts_connections(port: int, timeout_s: float) -> bool:
    """Whether something accepts TCP connections on the port."""
    try:
        socket.create_connection((HOST, port), timeout=timeout_s).close()
    except OSError:
        return False
    return True


class ConnectionPool:
    """Kept-alive connections to one loopback port, one per concurrent request."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def take(self, timeout_s: float) -> tuple[http.client.HTTPConnection, bool]:
        """An idle kept-alive connection (reused=True) or a new one, with timeout_s set."""
        with self._lock:
            conn = self.idle.pop() if self.idle else None
        if conn is None:
            return http.client.HTTPConnection(HOST, self.port, timeout=timeout_s), False
        conn.timeout = timeout_s
        if conn.sock is not None:
            conn.sock.settimeout(timeout_s)
        return conn, True

    def give_back(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            self.idle.append(conn)

    def close_idle(self) -> None:
        with self._lock:
            idle, self.idle = self.idle, []
        for conn in idle:
            conn.close()


def check_request(method: str, path_with_query: str, headers: dict[str, str]) -> None:
    """Reject anything that could leave loopback or split the request: absolute URLs, control characters."""
    if not TOKEN.fullmatch(method):
        raise InvalidEventError(f"Invalid HTTP method {method!r}")
    if not path_with_query.startswith("/") or "://" in path_with_query or path_with_query.startswith("//"):
        raise InvalidEventError(f"Request path must be a local path starting with '/': {path_with_query[:200]!r}")
    if any(ch <= " " or ch == "\x7f" for ch in path_with_query):
        raise InvalidEventError(f"Request path contains spaces or control characters: {path_with_query[:200]!r}")
    for name, value in headers.items():
        if not TOKEN.fullmatch(name):
            raise InvalidEventError(f"Invalid header name {name[:100]!r}")
        if BAD_VALUE.search(value):
            raise InvalidEventError(f"Header {name!r} contains CR, LF or NUL")
        if not value.isascii() and not _latin1(value):
            raise InvalidEventError(f"Header {name!r} has characters HTTP headers cannot carry (outside Latin-1)")


def _latin1(value: str) -> bool:
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def response_headers(response: http.client.HTTPResponse) -> dict[str, str]:
    """Lower-cased names, duplicates comma-joined, hop-by-hop and framing headers dropped."""
    result: dict[str, str] = {}
    for name, value in response.getheaders():
        key = name.lower()
        if key in HOP_BY_HOP:
            continue
        result[key] = f"{result[key]}, {value}" if key in result else value
    return result
