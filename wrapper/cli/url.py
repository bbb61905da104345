"""`wrapper invoke --url URL`: one HTTP request to a deployed Function URL or a remote emulator, shown as curl shows it.

Built on requests: a command run once by a person can afford its imports (about 6x those of the run path's own
HTTP/1.1 client, see the README's design notes) and gets in return what talking to the internet needs: TLS with
certificate checks, proxies from the environment, and retries with backoff. Retries are safe ones only: a
connection that never reached the server is retried for every method, an answer of 429 or 503 (with its
Retry-After) only for methods that change nothing (GET, HEAD, OPTIONS, ...), never a POST that may have run.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from wrapper import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

CONNECT_TIMEOUT_S = 10.0
RETRIES = 3
BACKOFF_S = 0.5  # 0.5 s, 1 s, 2 s between tries


@dataclass(frozen=True)
class UrlRequest:
    """What to send: method, URL (with path and query added), headers, body, and how long to wait."""

    method: str
    url: str
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | None = None
    token: str | None = None  # sent as Authorization: Bearer TOKEN
    read_timeout_s: float = 60.0
    retries: int = RETRIES


def join_url(url: str, path: str | None) -> str:
    """URL with path appended, exactly one '/' between them."""
    if not path:
        return url
    return url.rstrip("/") + "/" + path.lstrip("/")


def send(request: UrlRequest) -> requests.Response:
    """Send the request (no redirects followed, as curl); requests' exceptions for a request that never completed."""
    retry = Retry(
        total=request.retries,
        connect=request.retries,
        read=0,  # the server may have run the function: never send it twice
        status=request.retries,
        status_forcelist=(429, 503),
        allowed_methods=Retry.DEFAULT_ALLOWED_METHODS,  # idempotent ones: POST is not retried on a status
        backoff_factor=BACKOFF_S,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    headers = dict(request.headers)
    if request.token is not None:
        headers["Authorization"] = f"Bearer {request.token}"
    with requests.Session() as session:
        session.mount("http://", HTTPAdapter(max_retries=retry))
        session.mount("https://", HTTPAdapter(max_retries=retry))
        return session.request(
            request.method,
            request.url,
            params=request.query or None,
            headers=headers,
            data=request.body,
            timeout=(CONNECT_TIMEOUT_S, request.read_timeout_s),
            allow_redirects=False,
        )


def format_head(response: requests.Response) -> bytes:
    """The status line and headers as `curl -i` prints them."""
    version = {10: "HTTP/1.0", 11: "HTTP/1.1", 20: "HTTP/2"}.get(getattr(response.raw, "version", 11), "HTTP/1.1")
    lines = [f"{version} {response.status_code} {response.reason or ''}".rstrip()]
    lines += [f"{name}: {value}" for name, value in response.headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")


def invoke_url(request: UrlRequest, *, include: bool, newline_on_tty: bool = False, stdout=None, stderr=None) -> int:
    """Send, print the answer (body; with include, status and headers first), and return 0, or 1 on HTTP >= 400
    or when no answer came. newline_on_tty: end with a newline, so a terminal's prompt starts on a line of its own."""
    out = stdout or sys.stdout.buffer
    err = stderr or sys.stderr
    try:
        response = send(request)
    except requests.RequestException as exc:
        print(f"wrapper invoke: no answer from {request.url}: {exc}", file=err)
        return 1
    if include:
        out.write(format_head(response))
    out.write(response.content)
    if newline_on_tty and response.content and not response.content.endswith(b"\n"):
        out.write(b"\n")
    out.flush()
    if response.status_code >= 400:
        # curl --fail-with-body: the body is still shown, and the status says what failed
        print(f"wrapper invoke: {request.url} answered HTTP {response.status_code} {response.reason}", file=err)
        return 1
    return 0


def main(args: argparse.Namespace, body: bytes | None) -> int:
    """`wrapper invoke --url`: the options of wrapper/cli/invoke.py → one request; the exit status."""
    from wrapper.cli import EXIT_USAGE

    if args.config is not None:
        print("wrapper invoke: --url sends to a deployed function; it takes no config", file=sys.stderr)
        return EXIT_USAGE
    query, headers = [], []
    for pair in args.query:
        name, sep, value = pair.partition("=")
        if not sep:
            print(f"wrapper invoke: --query takes NAME=VALUE, got {pair!r}", file=sys.stderr)
            return EXIT_USAGE
        query.append((name, value))
    for line in args.header:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            print(f"wrapper invoke: --header takes 'NAME: VALUE', got {line!r}", file=sys.stderr)
            return EXIT_USAGE
        headers.append((name.strip(), value.strip()))
    request = UrlRequest(
        method=(args.request or ("POST" if body is not None else "GET")).upper(),
        url=join_url(args.url, args.path),
        query=query,
        headers=headers,
        body=body,
        token=args.token,
        read_timeout_s=args.timeout or 60.0,
    )
    return invoke_url(request, include=args.include, newline_on_tty=sys.stdout.isatty())
