"""The egress guard: a small filtering forward proxy on 127.0.0.1 that the program's HTTP(S) traffic goes through.

A check before the program runs sees only the target the caller named. Redirects, and a DNS answer that changes
between our lookup and the program's (rebinding), are seen only where the connection is made, so the guard makes
it: for each request it resolves the host itself (through the resolver it was given), judges every address with
the same `Policy` as the input checks, and connects to an address it judged. Each redirect hop is a new request
to the guard, so it is judged too.

Wire contract (RFC 9110 §9.3.6, RFC 9112 §3.2.2):
- `CONNECT host:port HTTP/1.1` (HTTPS): `200 Connection established`, then bytes are relayed both ways.
- `GET http://host[:port]/path HTTP/1.1` (absolute form, plain HTTP): sent on as `GET /path` with `Host` set from
  the URL and `Connection: close`; the answer is relayed back and the connection closed.
- A refusal is an HTTP answer with a reason in `X-Wrapper-Egress-Error` and the body: 403 the policy refuses
  the destination, 400 a malformed or unsupported request, 502 the name does not resolve or no address
  accepts, 504 the connection timed out, 503 too many connections at once.

Only the standard library; nothing here is imported unless the config enables the guard.
"""

from __future__ import annotations

import select
import socket
import threading
from typing import Any

from wrapper import TYPE_CHECKING
from wrapper.logs import get_logger
from wrapper.mapping.addresses import HostError, host_text
from wrapper.mapping.destination import DestinationRefused, judged_addresses, parse_destination, resolve_host

if TYPE_CHECKING:
    from wrapper.mapping.addresses import IPAddress, Policy
    from wrapper.mapping.destination import Destination, Resolver


logger = get_logger(__name__)

ERROR_HEADER = "X-Wrapper-Egress-Error"
MAX_HEAD_BYTES = 16 * 1024
_HOP_BY_HOP = {b"connection", b"proxy-connection", b"keep-alive", b"proxy-authorization", b"proxy-authenticate",
               b"te", b"trailer", b"upgrade", b"host"}
_REASONS = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway", 503: "Service Unavailable",
            504: "Gateway Timeout"}


class _Answer(Exception):
    """Stop handling a request and answer the client with this status and reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class EgressGuard:
    """A forward proxy on 127.0.0.1 that connects only where policy allows; start() it, read url, stop() it."""

    def __init__(self, policy: Policy, *, resolver: Resolver = resolve_host, port: int = 0,
                 connect_timeout_s: float = 10.0, idle_timeout_s: float = 300.0, max_connections: int = 128) -> None:
        self.policy = policy
        self.resolver = resolver
        self.connect_timeout_s = connect_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self._port = port
        self._slots = threading.BoundedSemaphore(max_connections)
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The proxy URL to give the program (`proxy_url`, HTTP_PROXY)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def port(self) -> int:
        assert self._listener is not None, "start() the guard first"
        return int(self._listener.getsockname()[1])

    def start(self) -> EgressGuard:
        """Listen on 127.0.0.1 (port 0: a free one) and serve in a daemon thread."""
        self._listener = socket.create_server(("127.0.0.1", self._port), backlog=128)
        self._thread = threading.Thread(target=self._accept, name="egress-guard", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting connections (relays in flight end with their connections)."""
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() below
            except OSError:
                pass
            self._listener.close()
        if self._thread is not None:
            self._thread.join(5)

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed
            if not self._slots.acquire(blocking=False):
                _answer(client, 503, "too many connections through the egress guard")
                client.close()
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = None
        try:
            client.settimeout(self.connect_timeout_s)
            head, body = _read_head(client)
            method, target, lines = _parse_head(head)
            try:
                upstream, first = self._open(method, target, lines)
            except _Answer as answer:
                logger.warning("egress guard: %s %r refused: %s", method, target[:200], answer)
                _answer(client, answer.status, str(answer))
                return
            if method == "CONNECT":
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                upstream.sendall(first)
            if body:
                upstream.sendall(body)
            _relay(client, upstream, self.idle_timeout_s)
        except _Answer as answer:
            _answer(client, answer.status, str(answer))
        except OSError:
            pass  # either side went away; nothing to tell anybody
        finally:
            if upstream is not None:
                upstream.close()
            client.close()
            self._slots.release()

    def _open(self, method: str, target: str, lines: list[bytes]) -> tuple[socket.socket, bytes]:
        """Judge the request's destination and connect to it; return the socket and the head to send on."""
        try:
            if method == "CONNECT":
                destination = parse_destination(target, "host_port")
                if destination.port is None:
                    raise HostError("CONNECT needs host:port")
            elif target.startswith("http://"):
                destination = parse_destination(target, "url", schemes=("http",))
            else:
                raise HostError("is neither CONNECT host:port nor an absolute http:// URL")
        except HostError as error:
            raise _Answer(400, f"{target[:200]!r} {error}") from None
        port = destination.effective_port
        assert port is not None
        try:
            addresses = judged_addresses(destination.host, port, self.policy, self.resolver)
        except DestinationRefused as refused:
            raise _Answer(403, str(refused)) from None
        except (OSError, LookupError, UnicodeError) as error:
            raise _Answer(502, f"cannot resolve {destination.host}: {error}") from None
        if port == self.port and any(a.is_loopback for a in addresses):
            raise _Answer(403, "the egress guard does not connect to itself")
        upstream = self._connect(addresses, port)
        return upstream, b"" if method == "CONNECT" else _origin_head(method, destination, lines)

    def _connect(self, addresses: list[IPAddress], port: int) -> socket.socket:
        """Connect to the first judged address that accepts; never resolve again."""
        if not addresses:
            raise _Answer(502, "the name has no addresses")
        error: OSError | None = None
        for address in addresses:
            try:
                return socket.create_connection((address.compressed, port), timeout=self.connect_timeout_s)
            except OSError as failed:
                error = failed
        if isinstance(error, TimeoutError):
            raise _Answer(504, f"timed out connecting to port {port}")
        raise _Answer(502, f"cannot connect to port {port}: {error}")


def _read_head(client: socket.socket) -> tuple[bytes, bytes]:
    """The request head (up to the blank line) and whatever body bytes came with it."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > MAX_HEAD_BYTES:
            raise _Answer(400, "request head too large")
        chunk = client.recv(65536)
        if not chunk:
            raise OSError("client closed before sending a request")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


def _parse_head(head: bytes) -> tuple[str, str, list[bytes]]:
    request_line, *lines = head.split(b"\r\n")
    parts = request_line.split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1.") or not parts[0].isalpha():
        raise _Answer(400, "malformed request line")
    try:
        return parts[0].decode("ascii"), parts[1].decode("ascii"), lines
    except UnicodeDecodeError:
        raise _Answer(400, "non-ASCII request target") from None


def _origin_head(method: str, destination: Destination, lines: list[bytes]) -> bytes:
    """The request head as the origin server must see it: origin-form target, Host from the URL, one request."""
    named = {line.partition(b":")[2].strip().lower() for line in lines if line.lower().startswith(b"connection:")}
    dropped = _HOP_BY_HOP | {n.strip() for value in named for n in value.split(b",")}
    kept = [line for line in lines if line.partition(b":")[0].strip().lower() not in dropped]
    authority = host_text(destination.host, bracket=True) + (f":{destination.port}" if destination.port else "")
    start = f"{method} {destination.rest or '/'} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n"
    return start.encode("ascii") + b"".join(line + b"\r\n" for line in kept) + b"\r\n"


def _relay(client: socket.socket, upstream: socket.socket, idle_timeout_s: float) -> None:
    """Copy bytes both ways until both sides have finished sending, or nothing moved for idle_timeout_s."""
    peers = {client: upstream, upstream: client}
    open_readers = [client, upstream]
    for sock in peers:
        sock.settimeout(idle_timeout_s)  # a peer that stops reading cannot hold sendall() forever
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # pass each write on now, as its sender did
    while open_readers:
        readable, _, _ = select.select(open_readers, [], [], idle_timeout_s)
        if not readable:
            return
        for sock in readable:
            data = sock.recv(65536)
            if data:
                peers[sock].sendall(data)
                continue
            open_readers.remove(sock)
            try:
                peers[sock].shutdown(socket.SHUT_WR)  # pass the half-close on
            except OSError:
                pass
            if sock is upstream:
                return  # the origin is done: nothing more can come back


def _answer(client: socket.socket, status: int, reason: str) -> None:
    text = "".join(c if " " <= c < "\x7f" else "?" for c in reason)[:1000]
    body = f"wrapper egress guard: {text}\n".encode()
    head = (f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"{ERROR_HEADER}: {text}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    try:
        client.sendall(head.encode("ascii") + body)
    except OSError:
        pass


def start_egress_guard(egress: Any, *, file: str = "") -> tuple[EgressGuard, dict[str, str]]:
    """Start the guard for an `egress:` config on 127.0.0.1; return it and the proxy variables the program gets
    (none unless `egress.env`). ConfigError naming the config file when its port cannot be had."""
    from wrapper.errors import ConfigError, Problem
    from wrapper.mapping.addresses import Policy

    policy = Policy(allow=egress.allow, deny=egress.deny, deny_private=egress.deny_private)
    try:
        guard = EgressGuard(policy, port=egress.port, connect_timeout_s=egress.connect_timeout_s).start()
    except OSError as error:
        reason = f"cannot listen on 127.0.0.1:{egress.port}: {error.strerror or error}"
        raise ConfigError([Problem(file=file, path="egress.port", reason=reason)]) from None
    if not egress.env:
        return guard, {}
    url = guard.url
    return guard, {"HTTP_PROXY": url, "HTTPS_PROXY": url, "http_proxy": url, "https_proxy": url,
                   "NO_PROXY": "", "no_proxy": ""}
