"""Destinations: the canonical parse per kind, numeric spellings, the policy, and what the program receives."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from wrapper.mapping.addresses import HostError, Policy, embedded_ipv4, parse_allow_entry, parse_host
from wrapper.mapping.destination import (
    DestinationRefused,
    check_destination,
    judged_addresses,
    parse_destination,
)


class Spec:
    """A destination config node with the schema's defaults (the runtime reads compiled nodes the same way)."""

    def __init__(self, **fields: object) -> None:
        defaults = {"kind": "auto", "default_scheme": None, "allow": [], "deny": [], "deny_loopback": True,
                    "deny_link_local": True, "deny_private": False, "deny_reserved": True, "resolve": True}
        self.__dict__.update({**defaults, **fields})


BLACKBOX_HTTP = Spec(kind="url", default_scheme="http")  # how blackbox_exporter's http prober reads a target
HOSTS = {
    "public.example.net": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
    "loopback.example.net": ["93.184.215.14", "127.0.0.1"],  # one bad address is enough to refuse
    "metadata.example.net": ["169.254.169.254"],
    "mapped.example.net": ["::ffff:169.254.169.254"],
}


def hosts_resolver(name: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The tests' resolver: a fixed map, never the machine's DNS; other names do not resolve."""
    if name not in HOSTS:
        raise OSError(f"{name}: name does not resolve")
    return [ipaddress.ip_address(a) for a in HOSTS[name]]


def refusal(value: str, spec: Spec = BLACKBOX_HTTP, **kw: object) -> str:
    with pytest.raises((HostError, DestinationRefused)) as caught:
        check_destination(value, spec, resolver=hosts_resolver, **kw)
    return str(caught.value)


# the targets of issue 10, each accepted by the old check and read by blackbox_exporter as an internal address

ISSUE_10_TARGETS = {
    "127.0.0.1/x": "127.0.0.1 is a loopback address",
    "127.0.0.1?x": "127.0.0.1 is a loopback address",
    "169.254.169.254/latest/meta-data/": "169.254.169.254 is a link-local address",
    "user@169.254.169.254": "user info",
    "example.com@127.0.0.1": "user info",
    "x:y@127.0.0.1:9001/2018-06-01/runtime/invocation/next": "user info",
    "0/": "0.0.0.0 is a loopback address",
}


ROOT = Path(__file__).resolve().parents[2]
BLACKBOX_CONFIG = ROOT / "examples" / "blackbox-exporter" / "wrapper.yaml"


@pytest.mark.parametrize(("target", "reason"), ISSUE_10_TARGETS.items())
def test_regression_issue_10_targets_are_refused_as_the_exporter_reads_them(target, reason):
    assert reason in refusal(target)


@pytest.mark.parametrize(("target", "reason"), ISSUE_10_TARGETS.items())
def test_regression_issue_10_wrapper_check_of_the_blackbox_example_refuses(target, reason):
    # the old check accepted each of these (exit 0, the probe request printed): the exporter read them as internal
    done = subprocess.run(
        [sys.executable, "-m", "wrapper", "check", str(BLACKBOX_CONFIG), "--event", json.dumps({"target": target})],
        cwd=ROOT, capture_output=True, timeout=60, check=False,
    )
    assert done.returncode == 1, done.stdout.decode()
    error = json.loads(done.stderr.decode().strip().splitlines()[-1])
    assert error["errorType"] == "Function.InvalidEvent"
    assert error["errorMessage"].startswith("inputs.target: ") and reason in error["errorMessage"]


def test_the_blackbox_example_passes_the_judged_target_and_reads_tcp_targets_as_host_port():
    def request_url(event: dict[str, str]) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "wrapper", "check", str(BLACKBOX_CONFIG), "--event", json.dumps(event)],
            cwd=ROOT, capture_output=True, timeout=60, check=True,
        )
        query = urllib.parse.urlsplit(json.loads(done.stdout)["request"]["url"]).query
        return urllib.parse.parse_qs(query)["target"][0]

    assert request_url({"target": "0x5d.0xb8.0xd7.0x0e/x#f"}) == "http://93.184.215.14/x"
    assert request_url({"target": "93.184.215.14:443", "module": "tcp_connect"}) == "93.184.215.14:443"


@pytest.mark.parametrize(
    ("value", "address"),
    [
        ("0", "0.0.0.0"), ("127.1", "127.0.0.1"), ("127.0.1", "127.0.0.1"), ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"), ("0X7F.1", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"), ("0x7f.0.0.0x1", "127.0.0.1"), ("127.0.0.1.", "127.0.0.1"),
        ("169.254.43518", "169.254.169.254"), ("0xa9fea9fe", "169.254.169.254"), ("0x", "0.0.0.0"),
        ("8.8.8.8", "8.8.8.8"), ("::ffff:127.0.0.1", "::ffff:7f00:1"), ("FE80::1", "fe80::1"),
    ],
)
def test_numeric_spellings_are_the_address_a_resolver_would_take(value, address):
    assert parse_host(value) == ipaddress.ip_address(address)


@pytest.mark.parametrize("value", ["1.2.3.4.5", "256.1.1.1", "1.16777216", "08.0.0.1", "0x1g.1", "1.0xfffffffff",
                                   "a..b", ".", "-a.example", "exa mple.com", "fe80::1%eth0", "fe80::1%", "1:2",
                                   "exam\u212ale.com"])  # KELVIN SIGN lower-cases to an ASCII k
def test_malformed_hosts_are_refused(value):
    with pytest.raises(HostError):
        parse_host(value)


@pytest.mark.parametrize(
    ("address", "carried"),
    [
        ("::ffff:127.0.0.1", "127.0.0.1"),  # IPv4-mapped
        ("::127.0.0.1", "127.0.0.1"),  # IPv4-compatible
        ("::ffff:0:127.0.0.1", "127.0.0.1"),  # SIIT IPv4-translated
        ("64:ff9b::169.254.169.254", "169.254.169.254"),  # NAT64 well-known prefix
        ("2002:a9fe:a9fe::1", "169.254.169.254"),  # 6to4
    ],
)
def test_ipv6_addresses_carrying_ipv4_are_judged_by_the_ipv4_too(address, carried):
    assert ipaddress.ip_address(carried) in embedded_ipv4(ipaddress.ip_address(address))
    assert f"carrying {carried}" in refusal(f"http://[{address}]/")


@pytest.mark.parametrize(
    "value",
    [
        "http://[fe80::1%25eth0]/", "http://127.0.0.1\\@example.com/", "http://example.com /", "http://exa\tmple.com/",
        "example.com/\x00", "example.com/\u2028", "HTTP://127.0.0.1/", "ftp://example.com/", "file:///etc/passwd",
        "http://%31%32%37.0.0.1/", "http://[127.0.0.1]/", "http://1:2:3/", "http://example.com:0/",
        "http://example.com:99999/", "http://example.com:/", "http://exämple.com/", "http:///x", "//example.com/",
        "http://example.com/%zz", "http://localhost/", "http://a.localhost:8080/", "http://[::]/", "http://[::1]/",
        "http://metadata.example.net/", "http://loopback.example.net/", "http://mapped.example.net/",
        "http://224.0.0.1/", "http://255.255.255.255/", "http://[fd00:ec2::254]/",
    ],
)
def test_refused_urls(value):
    refusal(value)


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("https://example.com", "https://example.com"),
        ("example.com", "http://example.com"),
        ("example.com:8080/a?b=1&c=2", "http://example.com:8080/a?b=1&c=2"),
        ("http://EXAMPLE.com./x#fragment", "http://example.com/x"),
        ("http://93.184.215.14/ä?q=<x>", "http://93.184.215.14/%C3%A4?q=%3Cx%3E"),
        ("http://[2606:4700:0::1111]:443/", "http://[2606:4700::1111]:443/"),
        ("http://0x5d.0xb8.0xd7.0x0e/", "http://93.184.215.14/"),  # a public address in hex: the program gets it plain
        ("http://public.example.net/r?to=http://127.0.0.1/", "http://public.example.net/r?to=http://127.0.0.1/"),
        ("http://unknown.example.net/", "http://unknown.example.net/"),  # does not resolve: the program says so
    ],
)
def test_the_program_receives_the_canonical_form_that_was_judged(value, canonical):
    assert check_destination(value, BLACKBOX_HTTP, resolver=hosts_resolver) == canonical


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("example.com:443", "example.com:443"), ("1.1.1.1", "1.1.1.1"), ("1.1.1.1:53", "1.1.1.1:53"),
        ("[2606:4700::1111]:53", "[2606:4700::1111]:53"), ("2606:4700:0::1111", "2606:4700::1111"),
        ("16843009:53", "1.1.1.1:53"),
    ],
)
def test_host_port_kind(value, canonical):
    assert check_destination(value, Spec(kind="host_port"), resolver=hosts_resolver) == canonical


@pytest.mark.parametrize("value", ["127.0.0.1:9001", "127.1:9001", "[::1]:53", "0:80", "1.1.1.1/x", "a@1.1.1.1:53",
                                   "https://1.1.1.1", "[fe80::1%eth0]:53", "metadata.example.net:80"])
def test_host_port_kind_refusals(value):
    refusal(value, Spec(kind="host_port"))


def test_auto_kind_reads_scheme_urls_as_urls_and_the_rest_as_host_port():
    spec = Spec()
    assert check_destination("https://example.com/x", spec, resolver=hosts_resolver) == "https://example.com/x"
    assert check_destination("example.com:443", spec, resolver=hosts_resolver) == "example.com:443"
    assert "host:port" in refusal("127.0.0.1/x", spec)


def test_a_kind_chosen_by_another_input_overrides_the_configured_kind():
    assert check_destination("example.com:443", BLACKBOX_HTTP, kind="host_port", resolver=hosts_resolver) == (
        "example.com:443"
    )


def test_names_are_judged_by_every_address_they_resolve_to():
    assert "loopback.example.net resolves to 127.0.0.1, a loopback address" in refusal("http://loopback.example.net/")
    checked = check_destination("public.example.net", BLACKBOX_HTTP, resolver=hosts_resolver)
    assert checked == "http://public.example.net"


def test_without_resolve_a_name_is_judged_by_itself_only():
    spec = Spec(kind="url", resolve=False)
    assert check_destination("http://loopback.example.net/", spec, resolver=hosts_resolver) == (
        "http://loopback.example.net/"
    )
    assert "loopback name" in refusal("http://localhost/", spec)


# the allow-list: explicit, optionally per port, never a default


def test_an_allowed_address_and_port_lets_only_that_port_through():
    spec = Spec(kind="url", allow=["127.0.0.1:8080"])
    assert check_destination("http://127.1:8080/x", spec, resolver=hosts_resolver) == "http://127.0.0.1:8080/x"
    assert "loopback" in refusal("http://127.0.0.1:8081/", spec)
    assert "loopback" in refusal("http://127.0.0.2:8080/", spec)
    assert "loopback" in refusal("http://127.0.0.1/", spec)  # port 80


def test_allowed_default_ports_follow_the_scheme():
    spec = Spec(kind="url", allow=["10.1.2.3:443"], deny_private=True)
    assert check_destination("https://10.1.2.3", spec) == "https://10.1.2.3"
    assert "private" in refusal("http://10.1.2.3", spec)


@pytest.mark.parametrize(("entry", "parsed"), [
    ("127.0.0.1", (ipaddress.ip_network("127.0.0.1/32"), None)),
    ("127.0.0.1:8080", (ipaddress.ip_network("127.0.0.1/32"), 8080)),
    ("[::1]:8080", (ipaddress.ip_network("::1/128"), 8080)),
    ("10.0.0.0/8", (ipaddress.ip_network("10.0.0.0/8"), None)),
    ("Probe.Example.net.", ("probe.example.net", None)),
    ("probe.example.net:443", ("probe.example.net", 443)),
])
def test_allow_entries(entry, parsed):
    assert parse_allow_entry(entry) == parsed


def test_the_default_policy_allows_nothing_internal():
    policy = Policy()
    for address in ["127.0.0.1", "169.254.169.254", "0.0.0.0", "::1", "fe80::1", "fd00:ec2::254", "224.0.0.1"]:
        assert policy.judge(ipaddress.ip_address(address), 80) is not None, address
    assert policy.judge(ipaddress.ip_address("10.0.0.1"), 80) is None  # private ranges: deny_private opts in
    assert Policy(deny_private=True).judge(ipaddress.ip_address("100.64.0.1"), 80) == "a private address"


def test_judged_addresses_returns_what_the_egress_guard_connects_to():
    policy = Policy()
    assert judged_addresses("public.example.net", 443, policy, hosts_resolver) == [
        ipaddress.ip_address(a) for a in HOSTS["public.example.net"]
    ]
    with pytest.raises(OSError):
        judged_addresses("unknown.example.net", 443, policy, hosts_resolver)


# properties: every spelling of an internal address is refused, in every composition; public ones pass

LOOPBACK_V4 = st.integers(0x7F000000, 0x7FFFFFFF)
INTERNAL_V4 = st.one_of(
    LOOPBACK_V4,
    st.integers(0, 0x00FFFFFF),  # 0.0.0.0/8
    st.integers(0xA9FE0000, 0xA9FEFFFF),  # 169.254.0.0/16, metadata included
    st.just(0xA9FEA9FE),  # 169.254.169.254
    st.integers(0x0A000000, 0x0AFFFFFF),  # 10/8
    st.integers(0xAC100000, 0xAC1FFFFF),  # 172.16/12
    st.integers(0xC0A80000, 0xC0A8FFFF),  # 192.168/16
)
PRIVATE_DENIED = Spec(kind="url", default_scheme="http", deny_private=True)


@st.composite
def ipv4_spellings(draw: st.DrawFn, value: int) -> str:
    """One way inet_aton (and so curl, getaddrinfo) reads value: 1-4 parts, each decimal, hex or octal."""
    octets = list(value.to_bytes(4, "big"))
    parts = draw(st.integers(1, 4))
    numbers = octets[: parts - 1] + [int.from_bytes(bytes(octets[parts - 1 :]), "big")]
    spelled = []
    for number in numbers:
        base = draw(st.sampled_from(["dec", "hex", "HEX", "oct"]))
        spelled.append({"dec": str(number), "hex": hex(number), "HEX": hex(number).upper(),
                        "oct": "0" + oct(number)[2:]}[base])
    return ".".join(spelled) + draw(st.sampled_from(["", "."]))


@st.composite
def ipv6_carriers(draw: st.DrawFn, value: int) -> str:
    """value inside an IPv6 address: mapped, compatible, SIIT, NAT64, 6to4."""
    v4 = ipaddress.IPv4Address(value)
    form = draw(st.sampled_from(["mapped", "mapped-hex", "compat", "siit", "nat64", "6to4"]))
    text = {
        "mapped": f"::ffff:{v4}", "mapped-hex": ipaddress.IPv6Address(0xFFFF00000000 | value).compressed,
        "compat": f"::{v4}", "siit": f"::ffff:0:{v4}", "nat64": f"64:ff9b::{v4}",
        "6to4": ipaddress.IPv6Address((0x2002 << 112) | (value << 80) | draw(st.integers(0, 2**64 - 1))).exploded,
    }[form]
    return f"[{text.upper() if draw(st.booleans()) else text}]"


INTERNAL_V6 = st.sampled_from(["::1", "::", "fe80::1", "fe80::abcd:1234", "fd00:ec2::254", "fc00::1", "fd12:3456::1"])
TAIL = st.text(alphabet="abcXYZ019-._~!$&'()*+,;=:@/%?#", max_size=20).filter(
    lambda t: "%" not in t  # a stray % is refused for its own reason; keep tails well formed
)


@st.composite
def internal_hosts(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["v4", "v4-in-v6", "v6", "name"]))
    if kind == "v4":
        return draw(ipv4_spellings(draw(INTERNAL_V4)))
    if kind == "v4-in-v6":
        return draw(ipv6_carriers(draw(INTERNAL_V4)))
    if kind == "v6":
        return f"[{draw(INTERNAL_V6)}]"
    return draw(st.sampled_from(["localhost", "LocalHost.", "x.localhost", "loopback.example.net",
                                 "metadata.example.net", "mapped.example.net"]))


@st.composite
def targets(draw: st.DrawFn, host: str) -> str:
    scheme = draw(st.sampled_from(["", "http://", "https://"]))
    userinfo = draw(st.sampled_from(["", "", "user@", "user:pass@", "example.com@"]))
    port = draw(st.sampled_from(["", "", ":80", ":443", ":9001", ":08080"]))
    tails = ["", "/", "/x", "?x", "#x", "/latest/meta-data/", "/2018-06-01/runtime/invocation/next"]
    tail = draw(st.sampled_from(tails))
    return f"{scheme}{userinfo}{host}{port}{tail}{draw(TAIL) if tail else ''}"


@settings(max_examples=250)
@given(st.data())
def test_property_every_spelling_of_an_internal_destination_is_refused(data):
    target = data.draw(targets(data.draw(internal_hosts())))
    with pytest.raises((HostError, DestinationRefused)):
        check_destination(target, PRIVATE_DENIED, resolver=hosts_resolver)


@settings(max_examples=100)
@given(st.data())
def test_property_internal_host_port_destinations_are_refused(data):
    host = data.draw(internal_hosts())
    port = data.draw(st.sampled_from(["", ":53", ":9001"]))
    with pytest.raises((HostError, DestinationRefused)):
        check_destination(f"{host}{port}", Spec(kind="host_port", deny_private=True), resolver=hosts_resolver)


STRICT = Policy(deny_private=True)


def _public(value: int) -> bool:
    return STRICT.judge(ipaddress.IPv4Address(value), None) is None


@settings(max_examples=100)
@given(st.data())
def test_property_public_addresses_pass_and_the_program_gets_what_was_judged(data):
    value = data.draw(st.integers(0, 2**32 - 1).filter(_public))
    host = data.draw(st.one_of(ipv4_spellings(value), st.just(str(ipaddress.IPv4Address(value)))))
    scheme = data.draw(st.sampled_from(["", "http://", "https://"]))
    port = data.draw(st.sampled_from(["", ":80", ":8443"]))
    tail = data.draw(st.sampled_from(["", "/", "/x?y=1", "/a/b#frag"]))
    canonical = check_destination(f"{scheme}{host}{port}{tail}", PRIVATE_DENIED, resolver=hosts_resolver)
    # a second parser (Python's) reads the canonical form as the same address, and it is a fixed point
    assert urllib.parse.urlsplit(canonical).hostname == str(ipaddress.IPv4Address(value))
    assert check_destination(canonical, PRIVATE_DENIED, resolver=hosts_resolver) == canonical


@settings(max_examples=100)
@given(st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z0-9](\.[a-z][a-z0-9-]{0,20}[a-z0-9]){1,3}", fullmatch=True))
def test_property_public_names_pass_unchanged(name):
    assume(not name.endswith(".localhost") and name != "localhost")
    assert check_destination(f"https://{name}/x", PRIVATE_DENIED, resolver=hosts_resolver) == f"https://{name}/x"
    assert check_destination(f"{name}:443", Spec(kind="host_port"), resolver=hosts_resolver) == f"{name}:443"


def test_parsed_destinations_know_the_port_a_connection_goes_to():
    https = parse_destination("https://[2606:4700::1111]/x", "url")
    assert (https.host, https.port, https.effective_port) == (ipaddress.ip_address("2606:4700::1111"), None, 443)
    assert parse_destination("example.com:8080/x", "url", default_scheme="http").effective_port == 8080
    assert parse_destination("1.1.1.1", "host_port").effective_port is None  # the program's default applies
