"""The config's network checks: `inputs.*.destination` (a value naming a destination) and `egress:` (the guard).

Part of the schema (see wrapper.config.schema); every key documented once, here.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from wrapper.config.fields import BaseConfig, Name
from wrapper.mapping.addresses import parse_allow_entry

DestinationKind = Literal["auto", "url", "host_port", "host"]


def _allow_entries(value: list[str]) -> list[str]:
    for entry in value:
        try:
            parse_allow_entry(entry)
        except ValueError as error:
            raise ValueError(f"{entry!r} is not an IP, CIDR or host name with an optional :port ({error})") from None
    return value


def _cidrs(value: list[str]) -> list[str]:
    for entry in value:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or CIDR") from None
    return value


AllowList = Annotated[list[str], AfterValidator(_allow_entries)]
DenyList = Annotated[list[str], AfterValidator(_cidrs)]


class DestinationConfig(BaseConfig):
    """Checks for an input naming a network destination; the program receives the form that was checked."""

    kind: DestinationKind = Field(
        "auto",
        description="How the program reads the value: `url` (scheme://host[:port]/path?query), `host_port` "
        "(host:port, [v6]:port, or a host alone), `host` (a name or IP alone), `auto` (`url` when the value starts "
        "with scheme://, else `host_port`). The value is parsed that way, its host judged, and the program gets it "
        "re-serialised (numeric spellings as plain addresses, no fragment).",
    )
    default_scheme: Literal["http", "https"] | None = Field(
        None,
        description="`url`: the scheme put in front of a value without `scheme://`, as the program does (blackbox_"
        "exporter: http); null: a scheme is required. Only `http://` and `https://`, in lower case, are accepted.",
    )
    kind_input: Name | None = Field(
        None,
        description="Another input whose value picks the kind from `kinds` (e.g. the blackbox module).",
    )
    kinds: dict[str, DestinationKind] = Field(
        default_factory=dict,
        description="With `kind_input`: that input's value to the kind used; other values use `kind`.",
    )
    allow: AllowList = Field(
        default_factory=list,
        description="IPs, CIDRs or host names always allowed, each optionally with `:port` (`127.0.0.1:8080`, "
        "`[::1]:8080`) to allow that port only; checked first. Nothing is allowed by default.",
    )
    deny_loopback: bool = Field(True, description="Deny 127.0.0.0/8, ::1, 0.0.0.0/8, :: and `localhost`.")
    deny_link_local: bool = Field(
        True,
        description="Deny 169.254.0.0/16 (incl. the 169.254.169.254 metadata service), fe80::/10 and fd00:ec2::254.",
    )
    deny_private: bool = Field(
        False, description="Deny 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10 (CGNAT) and fc00::/7.",
    )
    deny_reserved: bool = Field(
        True,
        description="Deny special-purpose addresses: 192.0.0.0/24, 198.18.0.0/15 (benchmarking), multicast, "
        "240.0.0.0/4 and broadcast, 100::/64, 2001::/23 (Teredo, ...), 5f00::/16, 64:ff9b:1::/48 (local NAT64), "
        "fec0::/10 (site-local).",
    )
    deny: DenyList = Field(default_factory=list, description="Extra CIDRs to deny.")
    resolve: bool = Field(
        True,
        description="Resolve host names and check every address; names that do not resolve pass (the program reports "
        "them). An IPv6 address that carries an IPv4 one (mapped, NAT64, 6to4, ...) is judged by both.",
    )


class EgressConfig(BaseConfig):
    """The egress guard: a filtering HTTP(S) forward proxy on 127.0.0.1 for the program's web traffic."""

    guard: bool = Field(
        False,
        description="Start the guard at init. It resolves each host itself, refuses loopback, link-local and "
        "reserved addresses (and `deny`, `deny_private`) for every address, connects to the address it checked, "
        "and tunnels CONNECT for HTTPS; redirect hops and DNS rebinding are judged too. Refusals are HTTP 403 with "
        "the reason in `X-Wrapper-Egress-Error`.",
    )
    port: int = Field(
        0, ge=0, le=65535,
        description="Port on 127.0.0.1; 0: a free port chosen at init (for programs told by `env`). A fixed port "
        "is for programs whose own config names the proxy (blackbox_exporter's `proxy_url`).",
    )
    env: bool = Field(
        True,
        description="Give the program HTTP_PROXY, HTTPS_PROXY, http_proxy and https_proxy (the guard's URL) and an "
        "empty NO_PROXY/no_proxy. Programs that ignore these variables, or skip the proxy for loopback (Go's "
        "default), are not guarded by them.",
    )
    allow: AllowList = Field(
        default_factory=list,
        description="IPs, CIDRs or host names always allowed, each optionally with `:port`. Nothing by default.",
    )
    deny_private: bool = Field(False, description="Also deny the private ranges (as `destination.deny_private`).")
    deny: DenyList = Field(default_factory=list, description="Extra CIDRs to deny.")
    connect_timeout_s: float = Field(10.0, gt=0, description="Limit for resolving and connecting to one destination.")
