"""Destinations: read an event value the way the program will, judge the host it names, and re-serialise it.

One canonical parse per kind of destination:

- `url`: `scheme://host[:port][/path][?query]`, read the way Go's net/url and Python's urllib split it. A value
  without `scheme://` gets `default_scheme` in front, as blackbox_exporter's HTTP prober does (`http://`); a
  scheme must be written exactly as one of `http`/`https` (blackbox_exporter 0.23 only recognises the lower-case
  prefix, so `HTTP://x` would be read as host `HTTP`). The fragment is dropped (no client sends it).
- `host_port`: `host:port`, `[IPv6]:port`, a bare host or a bare IPv6 address, as Go's net.SplitHostPort reads
  it (blackbox_exporter's tcp, tls and dns probers).
- `host`: a host name or IP address alone.
- `auto`: `url` when the value starts with `scheme://`, else `host_port`.

Refused everywhere: whitespace, control characters and backslashes (parsers disagree about all three), user
info (`user:pass@host`: `example.com@127.0.0.1` names 127.0.0.1), percent-escapes in a host, zone ids.
The host is judged by `wrapper.mapping.addresses.Policy`; what the program receives is `str(Destination)`, the
form that was judged, never the caller's raw text.
"""

from __future__ import annotations

import ipaddress
import re
import socket

from wrapper import TYPE_CHECKING
from wrapper.mapping.addresses import HostError, IPAddress, Policy, host_text, parse_host, parse_ipv6, parse_port

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Resolver = Callable[[str], list[IPAddress]]


DEFAULT_PORTS = {"http": 80, "https": 443}
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f-\x9f\\]|\s")  # \s: every Unicode space too
_KEPT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/")
_HEX = frozenset("0123456789abcdefABCDEF")


class DestinationRefused(Exception):
    """The destination is well formed but its policy refuses it; the message says which address and why."""


class Destination:
    """A parsed destination: its kind, scheme (urls), canonical host, explicit port and (urls) path with query."""

    __slots__ = ("host", "kind", "port", "rest", "scheme")

    def __init__(self, kind: str, host: str | IPAddress, port: int | None, scheme: str | None = None,
                 rest: str = "") -> None:
        self.kind, self.host, self.port, self.scheme, self.rest = kind, host, port, scheme, rest

    @property
    def effective_port(self) -> int | None:
        """The port a connection goes to: the explicit one, else the scheme's (None for a bare host)."""
        return self.port if self.port is not None else DEFAULT_PORTS.get(self.scheme or "")

    def __str__(self) -> str:
        if self.kind == "url":
            port = f":{self.port}" if self.port is not None else ""
            return f"{self.scheme}://{host_text(self.host, bracket=True)}{port}{self.rest}"
        if self.port is None:
            return host_text(self.host, bracket=False)
        return f"{host_text(self.host, bracket=True)}:{self.port}"


def parse_destination(value: str, kind: str, *, default_scheme: str | None = None,
                      schemes: tuple[str, ...] = ("http", "https")) -> Destination:
    """The canonical reading of value as a destination of this kind; raise HostError saying why it is not one."""
    if _FORBIDDEN.search(value):
        raise HostError("contains whitespace, a control character or a backslash")
    if kind == "auto":
        kind = "url" if _SCHEME.match(value) else "host_port"
    if kind == "url":
        return _parse_url(value, default_scheme, schemes)
    if any(c in value for c in "/?#@"):
        raise HostError("is not host:port (it has a path, query, fragment or user info)" if kind == "host_port"
                        else "is not a host name or IP address")
    if kind == "host":
        bare = value[1:-1] if value.startswith("[") and value.endswith("]") else value
        return Destination("host", parse_host(bare), None)
    if value.startswith("[") or value.count(":") < 2:
        host, port = _split_authority(value, zone_escape="%")
        return Destination("host_port", host, port)
    return Destination("host_port", _ipv6(value), None)  # a bare IPv6 address, no port (dig, the dns prober)


def _parse_url(value: str, default_scheme: str | None, schemes: tuple[str, ...]) -> Destination:
    match = _SCHEME.match(value)
    if match:
        scheme, rest = match.group()[:-3], value[match.end() :]
        if scheme not in schemes:
            raise HostError(f"scheme {scheme!r} is not one of {', '.join(schemes)} (written in lower case)")
    elif default_scheme is None:
        raise HostError("is not a URL (scheme://host)")
    else:
        scheme, rest = default_scheme, value
    rest = rest.partition("#")[0]
    rest, question, query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        raise HostError("user info (user@host) is refused")
    host, port = _split_authority(authority, zone_escape="%25")
    tail = _canonical_part(slash + path, "") + (f"?{_canonical_part(query, '?')}" if question else "")
    return Destination("url", host, port, scheme, tail)


def _split_authority(authority: str, *, zone_escape: str) -> tuple[str | IPAddress, int | None]:
    """host[:port] or [IPv6][:port] → (canonical host, port or None)."""
    if not authority.isascii():
        raise HostError("has a host that is not ASCII (write international names in punycode, xn--)")
    if authority.startswith("["):
        inner, bracket, after = authority[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise HostError("has a malformed [IPv6] host")
        return _ipv6(inner.replace(zone_escape, "%")), parse_port(after[1:]) if after else None
    if authority.count(":") > 1:
        raise HostError("has an IPv6 address outside brackets")
    name, colon, port_text = authority.partition(":")
    if "%" in name:
        raise HostError("has a percent-escape in its host")
    return parse_host(name), parse_port(port_text) if colon else None


def _ipv6(text: str) -> IPAddress:
    if ":" not in text:
        raise HostError(f"{text!r} in brackets is not an IPv6 address")
    return parse_ipv6(text)


def _canonical_part(text: str, extra: str) -> str:
    """A path or query in RFC 3986 characters: valid %XX escapes kept, anything else outside the set escaped."""
    out = []
    for index, char in enumerate(text):
        if char == "%":
            if not set(text[index + 1 : index + 3]) <= _HEX or len(text) < index + 3:
                raise HostError("has a malformed percent-escape")
            out.append(char)
        elif char in _KEPT or char in extra:
            out.append(char)
        else:
            out.append("".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass")))
    return "".join(out)


def resolve_host(name: str) -> list[IPAddress]:
    """The machine's resolver (getaddrinfo): every address of name, in its order; raise OSError if none."""
    infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).partition("%")[0])
        if address not in found:
            found.append(address)
    return found


def judged_addresses(host: str | IPAddress, port: int | None, policy: Policy,
                     resolver: Resolver | None) -> list[IPAddress]:
    """Every address host stands for, each allowed by policy; raise DestinationRefused.

    Names are resolved by resolver (LookupError or OSError when they cannot be); with no resolver a name is
    judged by itself only, and no address is returned.
    """
    if not isinstance(host, str):
        reason = policy.judge(host, port)
        if reason is not None:
            raise DestinationRefused(f"{host.compressed} is {reason}")
        return [host]
    if policy.name_allowed(host, port):
        return resolver(host) if resolver is not None else []
    if policy.is_loopback_name(host):
        raise DestinationRefused(f"{host} is a loopback name")
    addresses = resolver(host) if resolver is not None else []
    for address in addresses:
        reason = policy.judge(address, port)
        if reason is not None:
            raise DestinationRefused(f"{host} resolves to {address.compressed}, {reason}")
    return addresses


_policies: dict[int, tuple[Any, Policy]] = {}


def _policy(spec: Any) -> Policy:
    """The Policy of a config node, built once per node (configs never change once loaded)."""
    cached = _policies.get(id(spec))
    if cached is None or cached[0] is not spec:
        cached = _policies[id(spec)] = (spec, Policy.from_config(spec))
    return cached[1]


def check_destination(value: str, spec: Any, *, kind: str | None = None,
                      resolver: Resolver | None = resolve_host) -> str:
    """The canonical form of value as a destination `spec` allows; raise HostError or DestinationRefused.

    kind overrides `spec.kind` (the kind chosen by another input's value). A name that does not resolve passes:
    the program reports it in its own words.
    """
    destination = parse_destination(value, kind or spec.kind, default_scheme=spec.default_scheme)
    try:
        judged_addresses(destination.host, destination.effective_port, _policy(spec),
                         resolver if spec.resolve else None)
    except (OSError, LookupError, UnicodeError):
        pass
    return str(destination)
