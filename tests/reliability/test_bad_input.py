"""Bad input: fuzzed config files (never a traceback, always a ConfigError naming the field) and hostile events
through a real runtime (always Function.InvalidEvent or HTTP 400, and the same runtime process goes on)."""

from __future__ import annotations

import json
import string
import subprocess
import sys

import pytest
import requests
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reliability_helpers import (
    PYTHON,
    ROOT,
    WAIT_S,
    error_type,
    function_url_event,
    http_body,
    program,
    runtime_pid,
    start_emulator,
    survivors,
    write_config,
)
from wrapper.config.loader import load_config
from wrapper.errors import ConfigError

pytestmark = pytest.mark.reliability

MIB = 1 << 20

# config fuzzing

TOP_KEYS = ["version", "mode", "command", "inputs", "args", "stdin", "env", "env_passthrough", "aws_credentials",
            "files", "scratch", "output", "exit_codes", "timeout_s", "grace_s", "deadline_margin_s",
            "stderr_tail_bytes", "server", "http", "auth", "egress"]
INNER_KEYS = ["from", "type", "required", "default", "enum", "pattern", "min", "max", "min_length", "max_length",
              "max_items", "items", "allow_dash", "destination", "when", "flag", "value", "style", "switch",
              "template", "file", "as", "filename", "dir", "keep", "format", "max_bytes", "on_overflow",
              "content_type", "success", "error_type", "message", "status_code", "port", "ready", "request",
              "path", "method", "query", "headers", "body", "timeout_header", "forward_headers", "success_status",
              "pass_status", "status_codes", "bearer_token_env", "allow", "deny", "timeout_s", "interval_s",
              "kind", "default_scheme", "kind_input", "kinds", "deny_reserved", "guard", "connect_timeout_s"]
WORDS = ["cat", "exec", "server", "event", "none", "string", "integer", "list", "object", "json", "raw", "{x}",
         "{file:f}", "--x", "-", "x", "f", "200-299", "/", "GET", "error", "truncate", "{config_dir}/p", "equals",
         "Function.Bad", "Runtime.Ok", "127.0.0.1", "[a-z]+", "a.b[0]", "@", "{", "}", "{{x}}"]

scalars = (st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=True)
           | st.sampled_from(WORDS) | st.text(max_size=12))
keys = st.sampled_from(INNER_KEYS + WORDS) | st.text(string.ascii_lowercase + "_", min_size=1, max_size=8) \
    | st.integers(-3, 300)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
                      max_leaves=20)
base = st.sampled_from([
    {"command": ["cat"]},
    {"command": ["cat"], "inputs": {"x": {}}, "args": [{"value": "x"}]},
    {"mode": "server", "command": ["srv"], "server": {"port": 8080}},
    {"command": ["cat"], "inputs": {"x": {"type": "string"}}, "files": {"f": {"value": "x"}},
     "args": [{"file": "f"}]},
])
documents = st.builds(lambda b, extra: {**b, **extra}, base,
                      st.dictionaries(st.sampled_from(TOP_KEYS) | keys, values, max_size=4))


def _check_load(tmp_path, text: str) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(text)
    try:
        load_config(path)
    except ConfigError as error:
        assert error.problems, "a ConfigError with no problem in it"
        for problem in error.problems:
            assert problem.file == str(path)
            # a problem inside the mapping names its field; only whole-file problems have no field path
            assert problem.path or problem.reason.startswith(("invalid YAML", "the config must be", "cannot read")), \
                f"problem without a field: {problem}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])
@given(document=documents)
def test_fuzzed_config_documents_give_a_config_error_naming_the_field(tmp_path, document):
    _check_load(tmp_path, yaml.safe_dump(document, allow_unicode=True))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)
       | st.lists(st.sampled_from(["command: [cat]\n", "inputs:\n", "  x: {}\n", "- a\n", ": b\n", "&a [1]\n",
                                   "*a\n", "!!binary aGk=\n", "!!python/name:os.system\n", "? x\n", "---\n",
                                   "{a: [}\n", "'\n", "\t\n", "%YAML 1.1\n", "<<: *a\n", "args: [{value: x}]\n"]),
                  max_size=8).map("".join))
def test_fuzzed_config_text_gives_a_config_error(tmp_path, text):
    _check_load(tmp_path, text)


def test_regression_deeply_nested_yaml_is_a_traceback(tmp_path):
    _check_load(tmp_path, "command: [cat]\ninputs: {a: {default: " + "[" * 5000 + "]" * 5000 + "}}\n")


def test_regression_huge_yaml_integer_is_a_traceback(tmp_path):
    _check_load(tmp_path, "command: [cat]\nstderr_tail_bytes: 1" + "0" * 5000 + "\n")


def test_regression_yaml_alias_bomb_never_finishes_loading(tmp_path):
    lines = ["command: [cat]", "x0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    (tmp_path / "bomb.yaml").write_text("\n".join(lines) + "\n")
    code = f"from wrapper.config.loader import load_config\ntry: load_config({str(tmp_path / 'bomb.yaml')!r})\n" \
           "except Exception as e: print(type(e).__name__)"
    try:
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, timeout=WAIT_S / 2,
                              check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("loading a 600-byte config did not finish within the generous wait")
    assert done.stdout.strip() == b"ConfigError"


# events through a real runtime


def events_config(sandbox):
    return write_config(
        sandbox.dir,
        f"""\
        command: [{PYTHON}, {program("echo_args")}]
        inputs:
          name: {{type: string, max_length: 64}}
          count: {{type: integer, min: 0, max: 10, default: 1}}
          tags: {{type: list, items: string, max_items: 5, required: false}}
          flag: {{type: boolean, default: false}}
          opts: {{type: object, required: false}}
          body_name: {{from: json.name, required: false}}
        args:
          - {{value: name}}
          - {{flag: --count, value: count}}
          - {{value: tags}}
          - {{switch: --flag, value: flag}}
        env: {{RELIABILITY_TAG: {sandbox.tag}}}
        timeout_s: 10
        scratch: {{dir: {sandbox.scratch}}}
        """,
    )


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


DIRECT_BAD = {
    "missing_field": b"{}",
    "null": b"null",
    "top_level_array": b"[1, 2]",
    "top_level_string": b'"name"',
    "empty_payload": b"",
    "wrong_type_number": b'{"name": 5}',
    "wrong_type_list": b'{"name": ["a"]}',
    "wrong_type_object": b'{"name": {"a": 1}}',
    "integer_as_text": b'{"name": "a", "count": "x"}',
    "integer_float": b'{"name": "a", "count": 1.5}',
    "integer_huge": b'{"name": "a", "count": 1' + b"0" * 5000 + b"}",
    "number_overflow": b'{"name": "a", "count": 1e400}',
    "boolean_as_number": b'{"name": "a", "flag": 1}',
    "list_of_objects": b'{"name": "a", "tags": [{}]}',
    "list_too_long": json.dumps({"name": "a", "tags": ["t"] * 500_000}).encode(),
    "huge_string": json.dumps({"name": "a" * (5 * MIB)}).encode(),
    "nul_byte": b'{"name": "a\\u0000b"}',
    "lone_surrogate": b'{"name": "\\ud800"}',
    "leading_dash": b'{"name": "--help"}',
    "invalid_utf8": b'{"name": "\xff\xfe"}',
    "not_json": b"name=a",
    "truncated_json": b'{"name": "a"',
    "nan_literal": b'{"name": "a", "count": NaN}',
    "deep_nesting_200": b'{"name": "a", "opts": {"x": ' + nested(200).encode() + b"}, \"count\": -1}",
    "deep_nesting_100000": b'{"name": "a", "opts": ' + nested(100_000).encode() + b"}",
}


def test_regression_deeply_nested_event_is_an_internal_error(sandbox):
    config = events_config(sandbox)
    with start_emulator(config, log=sandbox.log) as emulator:
        result = emulator.invoke(DIRECT_BAD["deep_nesting_100000"], timeout_s=WAIT_S * 3)
    assert error_type(result) == "Function.InvalidEvent", result.body[:300]


def test_bad_direct_events_are_invalid_event_and_the_runtime_stays_up(sandbox):
    config = events_config(sandbox)
    cases = {name: payload for name, payload in DIRECT_BAD.items() if name != "deep_nesting_100000"}
    with start_emulator(config, log=sandbox.log) as emulator:
        pid = runtime_pid(emulator)
        results = {name: emulator.invoke(payload, timeout_s=WAIT_S * 3) for name, payload in cases.items()}
        good = emulator.invoke(b'{"name": "ok", "tags": ["a b", "c"]}', timeout_s=WAIT_S * 3)
        posts = emulator.stats.posts
        assert emulator.runtime_pids == [pid]
    wrong = {name: r.body[:200] for name, r in results.items() if error_type(r) != "Function.InvalidEvent"}
    assert wrong == {}
    assert all(posts[r.request_id] == 1 for r in results.values())
    assert json.loads(good.body)["argv"] == ["ok", "--count", "1", "a b", "c"]
    assert survivors(sandbox.tag) == []


def _http(name: str, **changes) -> bytes:
    event = function_url_event(path="/", method="POST", body='{"name": "a"}')
    for dotted, value in changes.items():
        target = event
        *parents, last = dotted.split("__")
        for key in parents:
            target = target[key]
        if value is _DELETE:
            target.pop(last, None)
        else:
            target[last] = value
    return json.dumps(event).encode()


_DELETE = object()
HTTP_BAD = {
    "body_not_json": _http("", body="name=a"),
    "body_json_but_wrong_type": _http("", body='{"name": 5}'),
    "body_bad_base64": _http("", body="%%%", isBase64Encoded=True),
    "body_base64_invalid_utf8": _http("", body="//79", isBase64Encoded=True),
    "body_not_a_string": _http("", body={"name": "a"}),
    "method_not_a_string": _http("", requestContext__http__method=5),
    "raw_path_not_a_string": _http("", rawPath=["/"]),
    "raw_query_not_a_string": _http("", rawQueryString=7),
    "headers_not_an_object": _http("", headers=["a", "b"]),
    "header_values_nested": _http("", headers={"x": {"y": [1, {"z": None}]}}),
    "cookies_of_objects": _http("", cookies=[{"a": 1}]),
    "http_not_an_object": _http("", requestContext__http=5),
    "nul_in_body": _http("", body='{"name": "a\\u0000"}'),
    "huge_body": _http("", body=json.dumps({"name": "n" * (4 * MIB)})),
    "body_nested_deeply": _http("", body=nested(100_000)),  # was Runtime.InternalError with a stack trace
}


# odd but harmless shapes the adapters read leniently (a non-object header map is no headers): answered normally
HTTP_TOLERATED = ["headers_not_an_object", "header_values_nested", "cookies_of_objects"]
# bad values inside a well-formed envelope: these must be answered as HTTP 400
HTTP_BAD_SHAPED_400 = [
    "body_not_json", "body_json_but_wrong_type", "nul_in_body", "huge_body", "body_base64_invalid_utf8",
    "body_nested_deeply",
]


def _invalid_event_kind(result) -> str | None:
    """'lambda_error' or 'http_400' when the answer is a structured Function.InvalidEvent, else None."""
    if result.function_error is not None:
        return "lambda_error" if error_type(result) == "Function.InvalidEvent" else None
    status, body = http_body(result)
    if status == 400 and isinstance(body, dict) and body.get("errorType") == "Function.InvalidEvent":
        return "http_400"
    return None


def test_bad_http_events_are_http_400_and_the_runtime_stays_up(sandbox):
    config = write_config(sandbox.dir, f"""\
        command: [{PYTHON}, {program("echo_args")}]
        inputs:
          name: {{from: json.name, max_length: 64}}
        args: [{{value: name}}]
        env: {{RELIABILITY_TAG: {sandbox.tag}}}
        scratch: {{dir: {sandbox.scratch}}}
        """)
    with start_emulator(config, log=sandbox.log) as emulator:
        pid = runtime_pid(emulator)
        results = {name: emulator.invoke(payload, timeout_s=WAIT_S * 3) for name, payload in HTTP_BAD.items()}
        good = emulator.invoke(_http(""), timeout_s=WAIT_S * 3)
        # and through the Function URL front: a real HTTP request with a body that is not JSON
        front = requests.post(emulator.url + "/anything?x=1", data=b"\xff\xfenot json", timeout=WAIT_S * 3)
        front_ok = requests.post(emulator.url + "/", json={"name": "fine"}, timeout=WAIT_S * 3)
        posts = emulator.stats.posts
        assert emulator.runtime_pids == [pid]
    # a well-formed envelope with a bad value is HTTP 400; a broken envelope (no request to answer) may be the
    # structured Lambda error instead. Both are Function.InvalidEvent; nothing else (Runtime.InternalError) is.
    wrong = {name: r.body[:200] for name, r in results.items()
             if _invalid_event_kind(r) is None and not (name in HTTP_TOLERATED and http_body(r)[0] == 200)}
    assert wrong == {}
    assert all(_invalid_event_kind(results[name]) == "http_400" for name in HTTP_BAD_SHAPED_400)
    assert all(posts[r.request_id] == 1 for r in results.values())
    assert http_body(good)[0] == 200 and http_body(good)[1]["argv"] == ["a"]
    assert front.status_code == 400 and front.json()["errorType"] == "Function.InvalidEvent"
    assert front_ok.status_code == 200 and front_ok.json()["argv"] == ["fine"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=25,
)
events = st.one_of(
    json_values,
    st.fixed_dictionaries({"name": json_values}, optional={"count": json_values, "tags": json_values,
                                                           "flag": json_values, "opts": json_values}),
)


def test_fuzzed_events_are_answered_or_refused_as_invalid_and_the_runtime_stays_up(sandbox):
    config = events_config(sandbox)
    seen: list[tuple[object, str | None, str]] = []
    with start_emulator(config, log=sandbox.log) as emulator:
        pid = runtime_pid(emulator)

        @settings(max_examples=120, deadline=None, database=None)
        @given(event=events)
        def check(event):
            result = emulator.invoke(json.dumps(event).encode(), timeout_s=WAIT_S * 3)
            seen.append((event, error_type(result), result.request_id))
            assert error_type(result) in (None, "Function.InvalidEvent"), (event, result.body[:300])

        check()
        posts = emulator.stats.posts
        assert emulator.runtime_pids == [pid]
    assert all(posts[request_id] == 1 for _, _, request_id in seen)
    assert survivors(sandbox.tag) == []


def test_regression_http_event_cookies_not_a_list_is_an_internal_error(sandbox):
    config = write_config(sandbox.dir, f"""\
        command: [{PYTHON}, {program("echo_args")}]
        inputs:
          name: {{from: json.name, max_length: 64}}
        args: [{{value: name}}]
        """)
    with start_emulator(config, log=sandbox.log) as emulator:
        result = emulator.invoke(_http("", cookies=5), timeout_s=WAIT_S * 3)
    assert _invalid_event_kind(result) is not None, result.body[:300]
