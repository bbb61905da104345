"""Network destination checks for inputs: deny loopback, link-local (metadata) and chosen ranges.

Pure except for the optional name resolution (socket.getaddrinfo). Returns a reason string, or None when allowed.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.parse

from wrapper import TYPE_CHECKING

if TYPE_CHECKING:
    from wrapper.config.values import Destination


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_LOOPBACK = [ipaddress.ip_network(n) for n in ("127.0.0.0/8", "::1/128", "0.0.0.0/8", "::/128")]
_LINK_LOCAL = [ipaddress.ip_network(n) for n in ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128")]
_PRIVATE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")]


def split_host(value: str) -> str:
    """The host part of a URL, host, host:port, [v6]:port or bare IP; raise ValueError when there is none."""
    text = value.strip()
    if "://" in text:
        parts = urllib.parse.urlsplit(text)
        _ = parts.port  # raises ValueError for a malformed port
        host = parts.hostname or ""
    elif text.startswith("["):
        end = text.find("]")
        if end < 0 or (text[end + 1 :] and not text[end + 1 :].startswith(":")):
            raise ValueError("malformed [address]:port")
        host = text[1:end]
    elif text.count(":") == 1:
        host, port = text.split(":")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("malformed port")
    else:
        host = text  # a name, an IPv4 address, or a bare IPv6 address (several colons)
    host = host.rstrip(".").lower()
    if not host:
        raise ValueError("no host")
    return host


def parse_address(host: str) -> IPAddress | None:
    """The IP a host literal denotes, including legacy IPv4 forms (127.1, 0x7f000001) that programs accept."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:
            # inet_aton takes the short, octal and hex forms curl and friends also take; no I/O
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except (OSError, ValueError):
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _within(address: IPAddress, networks: list[Network]) -> bool:
    return any(address.version == n.version and address in n for n in networks)


def _networks(entries: list[str]) -> list[Network]:
    """The entries that are IPs or CIDRs, as networks (host names are matched by name instead)."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue
    return networks


def _denied_as(address: IPAddress, spec: Destination) -> str | None:
    """Why an address is denied, or None."""
    if _within(address, _networks(spec.allow)):
        return None
    if spec.deny_loopback and _within(address, _LOOPBACK):
        return "a loopback address"
    if spec.deny_link_local and _within(address, _LINK_LOCAL):
        return "a link-local address"
    if spec.deny_private and _within(address, _PRIVATE):
        return "a private address"
    if _within(address, _networks(spec.deny)):
        return "in a denied range"
    return None


def check_destination(value: str, spec: Destination) -> str | None:
    """Why value may not be used as a destination (a message fragment), or None when it may."""
    try:
        host = split_host(value)
    except ValueError as error:
        return f"is not a valid destination ({error})"
    if host in {a.strip().rstrip(".").lower() for a in spec.allow}:
        return None
    address = parse_address(host.split("%")[0])
    if address is not None:
        reason = _denied_as(address, spec)
        return f"is {reason} (denied)" if reason else None
    if spec.deny_loopback and (host == "localhost" or host.endswith(".localhost")):
        return "is a loopback name (denied)"
    if not spec.resolve:
        return None
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return None  # the program will report the unresolvable name in its own words
    for info in infos:
        resolved = parse_address(str(info[4][0]).split("%")[0])
        reason = _denied_as(resolved, spec) if resolved is not None else None
        if reason:
            return f"resolves to {resolved}, {reason} (denied)"
    return None
