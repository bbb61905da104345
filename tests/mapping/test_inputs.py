"""extract_inputs: JMESPath, coercion, required/default, checks, destinations; every failure an InvalidEventError."""

from __future__ import annotations

import re
import socket
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wrapper.config.loader import from_schema
from wrapper.config.schema import InputConfig
from wrapper.config.values import Input
from wrapper.errors import InvalidEventError
from wrapper.mapping.inputs import extract_inputs


def spec(**fields: Any) -> Input:
    return from_schema(InputConfig.model_validate(fields))


@pytest.mark.parametrize(
    ("fields", "document", "expected"),
    [
        ({}, {"a": "x"}, "x"),
        ({"from": "b.c"}, {"b": {"c": "deep"}}, "deep"),
        ({"from": "query.a || json.a || a"}, {"query": {}, "json": {"a": "j"}}, "j"),
        ({"from": "@", "type": "object"}, {"k": 1}, {"k": 1}),
        ({"default": "d"}, {}, "d"),
        ({"required": False}, {}, None),
        ({"type": "integer"}, {"a": 42}, 42),
        ({"type": "integer"}, {"a": "-42"}, -42),
        ({"type": "integer"}, {"a": 3.0}, 3),
        ({"type": "number"}, {"a": "1.5"}, 1.5),
        ({"type": "number"}, {"a": "2"}, 2),
        ({"type": "number"}, {"a": 2.5e3}, 2500.0),
        ({"type": "boolean"}, {"a": "true"}, True),
        ({"type": "boolean"}, {"a": False}, False),
        ({"type": "list"}, {"a": ["x", "y"]}, ["x", "y"]),
        ({"type": "list", "items": "integer"}, {"a": ["1", 2]}, [1, 2]),
        ({"type": "object"}, {"a": {"b": [1]}}, {"b": [1]}),
        ({"enum": ["x", "y"]}, {"a": "y"}, "y"),
        ({"pattern": "[a-z]+"}, {"a": "abc"}, "abc"),
        ({"type": "integer", "min": 1, "max": 3}, {"a": 3}, 3),
        ({"min_length": 2, "max_length": 3}, {"a": "abc"}, "abc"),
        ({"type": "list", "max_items": 2, "pattern": "[0-9]+"}, {"a": ["1", "22"]}, ["1", "22"]),
        ({}, {"a": "-dash is checked by mapping, not here"}, "-dash is checked by mapping, not here"),
        ({}, {"a": "ünïcødé ☃ \n\t"}, "ünïcødé ☃ \n\t"),
    ],
    ids=[
        "own-name", "path", "or-chain", "whole-doc", "default", "optional-null", "int", "int-text", "int-float",
        "number-text", "number-int-text", "number-float", "bool-text", "bool", "list", "list-int-items", "object",
        "enum", "pattern", "min-max", "lengths", "list-checks", "dash-passes", "unicode",
    ],
)
def test_extracts_value(fields, document, expected):
    assert extract_inputs(document, {"a": spec(**fields)}) == {"a": expected}


@pytest.mark.parametrize(
    ("fields", "document", "reason"),
    [
        ({}, {}, "inputs.a: is required"),
        ({}, {"a": None}, "inputs.a: is required"),
        ({"required": True, "default": "x"}, {}, "is required"),
        ({}, {"a": 5}, "must be a string, got a number"),
        ({}, {"a": ["x"]}, "must be a string, got a list"),
        ({"type": "integer"}, {"a": "4.5"}, "must be an integer"),
        ({"type": "integer"}, {"a": True}, "must be an integer"),
        ({"type": "integer"}, {"a": "042"}, "must be an integer"),
        ({"type": "number"}, {"a": "nan"}, "must be a number"),
        ({"type": "boolean"}, {"a": "yes"}, "must be a boolean"),
        ({"type": "boolean"}, {"a": 1}, "must be a boolean"),
        ({"type": "list"}, {"a": "x"}, "must be a list"),
        ({"type": "list", "items": "integer"}, {"a": [1, "x"]}, "item 1: must be an integer"),
        ({"type": "object"}, {"a": []}, "must be an object"),
        ({"enum": ["x", "y"]}, {"a": "z"}, "'z' is not one of 'x', 'y'"),
        ({"type": "integer", "enum": [1]}, {"a": True}, "must be an integer"),
        ({"pattern": "[a-z]+"}, {"a": "abc1"}, "does not match pattern"),
        ({"pattern": "[a-z]+"}, {"a": "abc\n"}, "does not match pattern"),
        ({"type": "integer", "min": 1}, {"a": 0}, "0 is less than min 1"),
        ({"type": "number", "max": 1.5}, {"a": 2}, "2 is greater than max 1.5"),
        ({"max_length": 3}, {"a": "abcd"}, "is 4 characters, longer than max_length 3"),
        ({"min_length": 2}, {"a": "a"}, "shorter than min_length 2"),
        ({}, {"a": "x" * 4097}, "longer than max_length 4096"),
        ({"type": "list", "max_items": 1}, {"a": ["x", "y"]}, "has 2 items, more than max_items 1"),
        ({"type": "list"}, {"a": ["ok", "nul\x00"]}, "item 1: contains a NUL byte"),
        ({}, {"a": "nul\x00byte"}, "contains a NUL byte"),
        ({}, {"a": "\ud800"}, "lone surrogate"),
        ({"from": "abs(a)", "type": "number"}, {"a": "x"}, "cannot evaluate"),
    ],
    ids=[
        "missing", "null", "required-beats-default", "string-number", "string-list", "int-fraction", "int-bool",
        "int-leading-zero", "number-nan", "bool-yes", "bool-one", "list-scalar", "list-item", "object-list",
        "enum", "enum-bool-is-not-int", "pattern-full-match", "pattern-no-trailing-newline", "min", "max",
        "max-length", "min-length", "default-max-length", "max-items", "list-nul", "nul", "surrogate",
        "jmespath-runtime-error",
    ],
)
def test_rejects_value(fields, document, reason):
    with pytest.raises(InvalidEventError) as caught:
        extract_inputs(document, {"a": spec(**fields)})
    assert reason in str(caught.value)
    assert caught.value.error_type == "Function.InvalidEvent"
    assert caught.value.status_code == 400


def test_every_failing_input_is_reported_at_once():
    inputs = {"a": spec(), "b": spec(type="integer"), "c": spec(default="fine")}
    with pytest.raises(InvalidEventError) as caught:
        extract_inputs({"b": "x"}, inputs)
    message = str(caught.value)
    assert "inputs.a: is required" in message
    assert "inputs.b: must be an integer" in message
    assert "inputs.c" not in message


def test_non_dict_document_yields_missing_values():
    assert extract_inputs("just a string", {"a": spec(required=False)}) == {"a": None}
    assert extract_inputs(["x"], {"a": spec(from_="[0]")}) == {"a": "x"}


# destinations


def dest(**destination: Any) -> dict[str, InputConfig]:
    return {"target": spec(destination=destination)}


@pytest.mark.parametrize(
    "value",
    [
        "example.com", "https://example.com/path?q=1", "93.184.216.34", "93.184.216.34:443", "[2606:2800::1]:443",
        "http://[2606:2800::1]/", "no-such-host.invalid", "10.0.0.1", "192.168.1.1:80",
    ],
    ids=["name", "url", "ip", "ip-port", "v6-port", "v6-url", "unresolvable", "private-default", "private-port"],
)
def test_destination_allows_public_and_unresolvable(value):
    assert extract_inputs({"target": value}, dest(resolve=False))["target"] == value


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("169.254.169.254", "a link-local address"),
        ("http://169.254.169.254/latest/meta-data/", "a link-local address"),
        ("169.254.169.254:80", "a link-local address"),
        ("[fd00:ec2::254]:80", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("[::ffff:169.254.169.254]", "a link-local address"),
        ("127.0.0.1", "a loopback address"),
        ("127.1", "a loopback address"),
        ("2130706433", "a loopback address"),
        ("0x7f.0.0.1", "a loopback address"),
        ("0.0.0.0", "a loopback address"),
        ("http://[::1]:9115/metrics", "a loopback address"),
        ("localhost", "a loopback name"),
        ("LOCALHOST.", "a loopback name"),
        ("http://foo.localhost:8080/", "a loopback name"),
    ],
    ids=["metadata", "metadata-url", "metadata-port", "aws-v6-metadata", "v6-link-local", "v4-mapped", "loopback",
         "short-form", "decimal-form", "hex-form", "unspecified", "v6-loopback-url", "localhost", "localhost-dot",
         "sub-localhost"],
)
def test_destination_denies_internal_addresses(value, kind):
    with pytest.raises(InvalidEventError) as caught:
        extract_inputs({"target": value}, dest(resolve=False))
    assert "is denied: " in str(caught.value) and kind in str(caught.value)


def test_destination_message_names_input_and_reason():
    with pytest.raises(InvalidEventError) as caught:
        extract_inputs({"target": "169.254.169.254"}, dest())
    assert str(caught.value) == "inputs.target: '169.254.169.254' is denied: 169.254.169.254 is a link-local address"


@pytest.mark.parametrize(
    ("destination", "value", "allowed"),
    [
        ({"deny_private": True}, "10.1.2.3", False),
        ({"deny_private": True}, "fd12::1", False),
        ({"deny_private": True, "allow": ["10.1.0.0/16"]}, "10.1.2.3", True),
        ({"allow": ["127.0.0.1"]}, "127.0.0.1:9115", True),
        ({"allow": ["localhost"]}, "localhost", True),
        ({"deny_loopback": False}, "127.0.0.1", True),
        ({"deny_link_local": False}, "169.254.169.254", True),
        ({"deny": ["203.0.113.0/24"]}, "203.0.113.9", False),
        ({"deny": ["203.0.113.0/24"]}, "203.0.114.9", True),
    ],
    ids=["private", "private-v6", "allow-cidr", "allow-ip", "allow-name", "loopback-off", "link-local-off",
         "deny-cidr", "deny-cidr-miss"],
)
def test_destination_policy(destination, value, allowed):
    inputs = dest(resolve=False, **destination)
    if allowed:
        assert extract_inputs({"target": value}, inputs)["target"] == value
    else:
        with pytest.raises(InvalidEventError, match="denied"):
            extract_inputs({"target": value}, inputs)


@pytest.mark.parametrize("value", ["http://host:notaport/", "host:99999", "[::1", "", "http:///x", "-oops.example"],
                         ids=["url-port", "port-range", "bracket", "empty", "url-no-host", "dash-name"])
def test_destination_rejects_malformed(value):
    with pytest.raises(InvalidEventError, match="is not a valid destination"):
        extract_inputs({"target": value}, dest(resolve=False))


def test_destination_resolves_names_to_check_them():
    """A name is checked by every address it resolves to (here: this machine's own name, from /etc/hosts)."""
    name = socket.gethostname()
    try:
        address = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)[0][4][0]
    except OSError:
        pytest.skip("this machine's name does not resolve")
    inputs = dest(deny=[address], deny_loopback=False)
    with pytest.raises(InvalidEventError, match=f"resolves to {re.escape(address)}, in a denied range"):
        extract_inputs({"target": name}, inputs)
    assert extract_inputs({"target": name}, dest(deny=[address], resolve=False)) == {"target": name}


def test_destination_checks_each_list_item():
    inputs = {"targets": spec(type="list", destination={"resolve": False})}
    denied = r"item 1: '127\.0\.0\.1' is denied: 127\.0\.0\.1 is a loopback address"
    with pytest.raises(InvalidEventError, match=denied):
        extract_inputs({"targets": ["example.com", "127.0.0.1"]}, inputs)


# properties

any_text = st.text(st.characters(codec="utf-8") | st.sampled_from(["\x00", "\ud800", "-", "\n"]), max_size=300)
any_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4),
    max_leaves=10,
)


@given(value=any_json, kind=st.sampled_from(["string", "integer", "number", "boolean", "list", "object"]))
def test_any_event_value_is_accepted_or_invalid_event(value, kind):
    inputs = {"a": spec(type=kind, max_length=100, pattern="[^;]*" if kind in ("string", "list") else None)}
    try:
        extracted = extract_inputs({"a": value}, inputs)
    except InvalidEventError as error:
        assert error.error_type == "Function.InvalidEvent"
        return
    if kind == "string":
        assert extracted["a"] == value and "\x00" not in value and len(value) <= 100
