"""The frozen value classes of wrapper.types (and errors.Problem): what @dataclass(frozen=True) used to give them."""

from __future__ import annotations

import copy
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import wrapper
from wrapper.errors import Problem
from wrapper.types import Command, HttpRequest, HttpResponse, Invocation, ProcessResult

EXAMPLES = [
    Invocation(request_id="r", deadline_ms=5, body=b"{}", trace_id="Root=1"),
    Command(argv=["cat"], stdin=b"x", env={"A": "1"}, files={"/s/f": b"y"}, cwd="/s"),
    ProcessResult(
        exit_code=0, signal=None, timed_out=False, stdout=b"o", stdout_truncated=False, stderr_tail=b"", duration_s=0.1
    ),
    HttpRequest("raw", "GET", "/", {"q": "1"}, {"q": ["1"]}, {"h": "v"}, b"", cookies=["c=1"]),
    HttpResponse(200, {"content-type": "text/plain"}, b"ok"),
    Problem(file="c.yaml", path="args[0]", reason="bad", line=3),
]


def test_positional_and_keyword_construction_with_the_old_defaults():
    invocation = Invocation("r", 5, b"")
    assert invocation == Invocation(request_id="r", deadline_ms=5, body=b"")
    assert (invocation.function_arn, invocation.trace_id, invocation.content_type) == ("", None, None)
    assert Problem("f", "p", "r").line is None
    assert HttpRequest("raw", "GET", "/", {}, {}, {}, b"").multi_value_headers is False


def test_missing_or_unknown_fields_are_refused():
    with pytest.raises(TypeError):
        Invocation(request_id="r", deadline_ms=5)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        HttpResponse(status_code=200, headers={}, body=b"", extra=1)  # type: ignore[call-arg]


def test_mutable_defaults_are_fresh_per_instance():
    first, second = Command(argv=["a"]), Command(argv=["a"])
    first.env["X"] = "1"
    first.files["/f"] = b""
    assert (second.env, second.files) == ({}, {})
    one, two = (HttpRequest("raw", "GET", "/", {}, {}, {}, b"") for _ in range(2))
    one.cookies.append("c=1")
    assert two.cookies == []


@pytest.mark.parametrize("value", EXAMPLES, ids=lambda v: type(v).__name__)
def test_assigning_or_deleting_a_field_raises(value):
    name = value.__slots__[0]
    with pytest.raises(AttributeError):
        setattr(value, name, "changed")
    with pytest.raises(AttributeError):
        delattr(value, name)
    with pytest.raises(AttributeError):
        value.not_a_field = 1  # no __dict__ either


@pytest.mark.parametrize("value", EXAMPLES, ids=lambda v: type(v).__name__)
def test_equality_by_class_and_fields(value):
    twin = copy.deepcopy(value)
    assert twin == value and twin is not value
    assert value != object() and value != tuple(getattr(value, n) for n in value.__slots__)
    changed = type(value)(**{**{n: getattr(value, n) for n in value.__slots__}, value.__slots__[0]: "other"})
    assert changed != value


@pytest.mark.parametrize("value", EXAMPLES, ids=lambda v: type(v).__name__)
def test_copy_and_pickle_round_trip(value):
    assert copy.copy(value) == value
    assert pickle.loads(pickle.dumps(value)) == value


def test_repr_names_the_class_and_every_field_in_order():
    assert repr(HttpResponse(200, {}, b"ok")) == "HttpResponse(status_code=200, headers={}, body=b'ok')"
    assert repr(Problem("f", "p", "r")) == "Problem(file='f', path='p', reason='r', line=None)"


def test_hash_follows_fields_when_they_are_hashable():
    assert hash(Invocation("r", 5, b"")) == hash(Invocation("r", 5, b""))
    assert len({Problem("f", "p", "r"), Problem("f", "p", "r"), Problem("f", "p", "s")}) == 2
    with pytest.raises(TypeError):
        hash(Command(argv=["a"]))  # a list field, as with the dataclass


def test_problem_str_is_unchanged():
    assert str(Problem("c.yaml", "args[0]", "bad", 3)) == "c.yaml:3: args[0]: bad"
    assert str(Problem("c.yaml", "", "bad")) == "c.yaml: bad"


def test_http_request_view_is_unchanged():
    request = HttpRequest("function_url", "POST", "/p", {"a": "1"}, {"a": ["1"]}, {"h": "v"}, b'{"x": 1}', "1.2.3.4")
    view = request.view({"raw": True})
    assert view == {
        "http": True,
        "method": "POST",
        "path": "/p",
        "query": {"a": "1"},
        "query_multi": {"a": ["1"]},
        "headers": {"h": "v"},
        "cookies": [],
        "source_ip": "1.2.3.4",
        "body": '{"x": 1}',
        "json": {"x": 1},
        "event": {"raw": True},
    }


def test_types_and_errors_import_neither_dataclasses_nor_inspect():
    code = "import sys, wrapper.types, wrapper.errors; print(sorted({'dataclasses', 'inspect'} & set(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": str(Path(wrapper.__file__).parent.parent)}
    done = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True, env=env)
    assert done.stdout.strip() == "[]"  # -S: no site, so only these imports count
