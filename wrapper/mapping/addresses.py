"""Hosts and the addresses they denote, and the policy that judges them. Pure: no I/O, no name resolution.

A host is a DNS name or an IP address. Every spelling a program's resolver would take as an address is turned into
that address before it is judged (`0`, `127.1`, `2130706433`, `0x7f.1`, `0177.0.0.1`, a trailing dot), and an IPv6
address that carries an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo) is judged as both. The same
`Policy` serves the input checks (`inputs.*.destination`) and the egress guard (`egress:`), so a destination is
refused or allowed by one rule wherever it is met.
"""

from __future__ import annotations

import ipaddress
import re

from wrapper import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")
_MAX_NAME_CHARS = 253


def _nets(*cidrs: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


# Linux connects to the local host for 0.0.0.0/8 and ::, so they count as loopback
LOOPBACK = _nets("127.0.0.0/8", "0.0.0.0/8", "::1/128", "::/128")
LINK_LOCAL = _nets("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128")  # fd00:ec2::254: EC2's IPv6 metadata
PRIVATE = _nets("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
# special-purpose ranges that are not one reachable host, or lead somewhere local (RFC 6890 and successors); the
# documentation ranges (192.0.2.0/24, 2001:db8::/32, ...) are left out: harmless, and examples use them
RESERVED = _nets(
    "192.0.0.0/24", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4", "100::/64", "2001::/23", "5f00::/16",
    "64:ff9b:1::/48", "fec0::/10", "ff00::/8",
)
_CATEGORIES = (("loopback", LOOPBACK), ("link-local", LINK_LOCAL), ("private", PRIVATE), ("reserved", RESERVED))


class HostError(ValueError):
    """A host, port or policy entry that is not well formed; the message says why."""


def parse_host(text: str) -> str | IPAddress:
    """The canonical host for text: an address for any numeric spelling, else a lower-case DNS name.

    IPv6 literals come without brackets (see parse_ipv6).
    """
    if not text:
        raise HostError("no host")
    if not text.isascii():
        raise HostError(f"{text!r} is not ASCII (write international names in punycode, xn--)")
    if ":" in text:
        return parse_ipv6(text)
    name = text.lower()
    if name.endswith("."):
        name = name[:-1]  # a fully qualified name; resolvers treat both spellings alike
    labels = name.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        # the last label is a number: resolvers take the whole host as an IPv4 address, or fail
        ipv4 = _inet_aton(labels)
        if ipv4 is None:
            raise HostError(f"{text!r} is neither an IPv4 address nor a host name")
        return ipv4
    if len(name) > _MAX_NAME_CHARS or not all(_LABEL.fullmatch(label) for label in labels):
        raise HostError(f"{text!r} is not a valid host name")
    return name


def parse_ipv6(text: str) -> ipaddress.IPv6Address:
    """An IPv6 literal without brackets; a zone id (`%eth0`) is refused, as only link-local addresses take one."""
    address, zone, _ = text.partition("%")
    try:
        parsed = ipaddress.IPv6Address(address)
    except ValueError:
        raise HostError(f"{text!r} is not a valid IPv6 address") from None
    if zone:
        raise HostError(f"{text!r} has a zone id")
    return parsed


def _inet_aton(parts: list[str]) -> ipaddress.IPv4Address | None:
    """IPv4 the way inet_aton (and so getaddrinfo and curl) reads it: 1-4 parts, decimal, 0x hex or 0 octal."""
    if not 1 <= len(parts) <= 4:
        return None
    numbers = []
    for part in parts:
        if part.startswith("0x"):
            digits, base = part[2:] or "0", 16
        elif len(part) > 1 and part.startswith("0"):
            digits, base = part[1:], 8
        else:
            digits, base = part, 10
        if not digits or not all(c in "0123456789abcdef"[:base] for c in digits):
            return None
        numbers.append(int(digits, base))
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (4 - len(leading)):
        return None
    value = last
    for index, number in enumerate(leading):
        value |= number << (24 - 8 * index)
    return ipaddress.IPv4Address(value)


def parse_port(text: str) -> int:
    """A TCP port written in decimal digits, 1 to 65535."""
    if not text.isascii() or not text.isdigit() or not 0 < int(text) < 65536:
        raise HostError(f"{text!r} is not a port (1-65535)")
    return int(text)


def host_text(host: str | IPAddress, *, bracket: bool) -> str:
    """A canonical host as written in a URL or host:port (bracket) or alone."""
    if isinstance(host, ipaddress.IPv6Address) and bracket:
        return f"[{host.compressed}]"
    return host if isinstance(host, str) else host.compressed


def embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, compatible, SIIT, NAT64, 6to4, Teredo), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return []
    value = int(address)
    found = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    high96 = value >> 32
    low32 = ipaddress.IPv4Address(value & 0xFFFFFFFF)
    if high96 in (0, 0xFFFF0000) and value > 1:  # ::a.b.c.d (compatible), ::ffff:0:a.b.c.d (SIIT)
        found.append(low32)
    if high96 == 0x0064FF9B0000000000000000:  # 64:ff9b::/96, NAT64's well-known prefix
        found.append(low32)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    return found


class Policy:
    """Which addresses a destination may have: deny categories and ranges, and an explicit allow-list.

    Allow entries are IPs, CIDRs or host names, each optionally with a port (`127.0.0.1:8080`, `[::1]:8080`,
    `probe.example:443`); an entry with a port allows only that port. Nothing is allowed by default.
    """

    def __init__(
        self, *, allow: Iterable[str] = (), deny: Iterable[str] = (), deny_loopback: bool = True,
        deny_link_local: bool = True, deny_private: bool = False, deny_reserved: bool = True,
    ) -> None:
        self.denied = {"loopback": deny_loopback, "link-local": deny_link_local, "private": deny_private,
                       "reserved": deny_reserved}
        self.deny_ranges = tuple(ipaddress.ip_network(entry, strict=False) for entry in deny)
        self.allowed_names: set[tuple[str, int | None]] = set()
        self.allowed_ranges: list[tuple[Network, int | None]] = []
        for entry in allow:
            target, port = parse_allow_entry(entry)
            if isinstance(target, str):
                self.allowed_names.add((target, port))
            else:
                self.allowed_ranges.append((target, port))

    @classmethod
    def from_config(cls, spec: Any) -> Policy:
        """The policy of a `destination:` config node (a pydantic model, or a compiled config's node)."""
        return cls(allow=spec.allow, deny=spec.deny, deny_loopback=spec.deny_loopback,
                   deny_link_local=spec.deny_link_local, deny_private=spec.deny_private,
                   deny_reserved=spec.deny_reserved)

    def name_allowed(self, name: str, port: int | None) -> bool:
        """Whether a host name is on the allow-list (for this port); its addresses are then not judged."""
        return (name, None) in self.allowed_names or (port is not None and (name, port) in self.allowed_names)

    def is_loopback_name(self, name: str) -> bool:
        """`localhost` and its subdomains resolve to loopback by convention (RFC 6761), without DNS."""
        return self.denied["loopback"] and (name == "localhost" or name.endswith(".localhost"))

    def judge(self, address: IPAddress, port: int | None) -> str | None:
        """Why a connection to address (and port, when known) is refused (`a loopback address`), or None."""
        if self._allowed(address, port):
            return None
        reason = self._denied_as(address)
        if reason is not None:
            return reason
        for inner in embedded_ipv4(address):
            reason = self._denied_as(inner) if not self._allowed(inner, port) else None
            if reason is not None:
                return f"an IPv6 address carrying {inner}, {reason}"
        return None

    def _allowed(self, address: IPAddress, port: int | None) -> bool:
        return any(
            address.version == network.version and address in network and (want is None or want == port)
            for network, want in self.allowed_ranges
        )

    def _denied_as(self, address: IPAddress) -> str | None:
        for category, networks in _CATEGORIES:
            if self.denied[category] and _within(address, networks):
                return f"a {category} address" if category != "reserved" else "a reserved (special-purpose) address"
        if _within(address, self.deny_ranges):
            return "in a denied range"
        return None


def _within(address: IPAddress, networks: Iterable[Network]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


def parse_allow_entry(entry: str) -> tuple[str | Network, int | None]:
    """An allow-list entry: (host name or network, port or None). Raises HostError."""
    text = entry.strip()
    port = None
    if text.startswith("["):
        inner, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise HostError(f"{entry!r} is not [IPv6]:port")
        text, port = inner, parse_port(rest[1:]) if rest else None
    elif text.count(":") == 1:
        text, _, port_text = text.partition(":")
        port = parse_port(port_text)
    try:
        return ipaddress.ip_network(text, strict=False), port
    except ValueError:
        pass
    host = parse_host(text)
    if isinstance(host, str):
        return host, port
    return ipaddress.ip_network(host), port
