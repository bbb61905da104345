"""Security: no shell, no option injection or argv splitting, no credentials unless asked, no shared scratch dirs,
server-mode requests only to 127.0.0.1:port, and no secret from the environment in wrapper's own messages."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reliability_helpers import (
    PYTHON,
    ROOT,
    WAIT_S,
    error_type,
    free_port,
    function_url_event,
    http_body,
    program,
    runtime_pid,
    start_emulator,
    survivors,
    write_config,
)

pytestmark = pytest.mark.reliability

SHELL_CALLS = re.compile(r"shell\s*=\s*True|os\.system\s*\(|os\.popen\s*\(|subprocess\.getoutput|"
                         r"subprocess\.getstatusoutput|os\.exec[lv]p?e?\s*\(\s*['\"]/bin/(ba)?sh")
SECRETS = {
    "AWS_ACCESS_KEY_ID": "AKIARELIABILITY0001",
    "AWS_SECRET_ACCESS_KEY": "secret-access-key-4f9c1d2e7b",
    "AWS_SESSION_TOKEN": "session-token-8a7b6c5d4e3f",
    "BEARER_TOKEN": "bearer-token-0e1d2c3b4a59",
    "DATABASE_PASSWORD": "db-password-77aa66bb55cc",
}


def test_no_shell_anywhere_in_the_package():
    found = []
    for path in sorted((ROOT / "wrapper").rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if SHELL_CALLS.search(line) and not line.lstrip().startswith("#"):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []


# option injection and argv splitting


def argv_config(sandbox):
    return write_config(
        sandbox.dir,
        f"""\
        command: [{PYTHON}, {program("echo_args")}, --fixed]
        inputs:
          word: {{max_length: 300}}
          flagged: {{max_length: 300}}
          words: {{type: list, max_items: 4}}
          tail: {{max_length: 300, allow_dash: true}}
        args:
          - {{value: word}}
          - {{flag: --opt, value: flagged}}
          - {{flag: --eq, value: flagged, style: equals}}
          - {{template: "prefix={{word}}"}}
          - {{value: words}}
          - "--"
          - {{value: tail}}
        env: {{RELIABILITY_TAG: {sandbox.tag}}}
        scratch: {{dir: {sandbox.scratch}}}
        """,
    )


HOSTILE = ["a b", "$(id)", "`id`", "; rm -rf /", "| cat /etc/passwd", "*", "~", "$HOME", "a\nb", "'\"", "\\",
           "--help", "-", "-x", "--", "--opt=1", " -x", "\t", "${IFS}", "&&", "> /tmp/x", "%s%n", "\u202e", "é"]
words = st.sampled_from(HOSTILE) | st.text(min_size=1, max_size=40)


def test_event_values_are_single_words_and_never_options(sandbox):
    config = argv_config(sandbox)
    with start_emulator(config, log=sandbox.log) as emulator:
        pid = runtime_pid(emulator)

        @settings(max_examples=100, deadline=None, database=None)
        @given(word=words, flagged=words, items=st.lists(words, min_size=1, max_size=4), tail=words)
        def check(word, flagged, items, tail):
            event = {"word": word, "flagged": flagged, "words": items, "tail": tail}
            result = emulator.invoke(json.dumps(event).encode(), timeout_s=WAIT_S * 3)
            values = [word, flagged, *items]  # values in option position (tail comes after "--")
            if any(v.startswith("-") for v in values) or any("\0" in v for v in [*values, tail]):
                assert error_type(result) == "Function.InvalidEvent", result.body[:300]
                return
            assert result.function_error is None, result.body[:300]
            argv = json.loads(result.body)["argv"]
            assert argv == ["--fixed", word, "--opt", flagged, f"--eq={flagged}", f"prefix={word}", *items, "--",
                            tail]

        check()
        assert emulator.runtime_pids == [pid]
    assert survivors(sandbox.tag) == []


# credentials


def test_credentials_never_reach_the_program_unless_asked(sandbox):
    config = write_config(sandbox.dir, f"""\
        command: [{PYTHON}, {program("echo_args")}]
        env_passthrough: [LANG]
        scratch: {{dir: {sandbox.scratch}}}
        """)
    with start_emulator(config, log=sandbox.log, env=SECRETS) as emulator:
        env = json.loads(emulator.invoke(b"{}", timeout_s=WAIT_S * 3).body)["env"]
    assert not set(SECRETS) & set(env)
    assert not any(secret in json.dumps(env) for secret in SECRETS.values())


def test_credentials_never_reach_the_server_mode_program_unless_asked(sandbox):
    port = free_port()
    config = write_config(sandbox.dir, f"""\
        mode: server
        command: [{PYTHON}, {program("server_http")}, "{port}"]
        server: {{port: {port}, ready: {{path: /-/healthy}}, request: {{path: /env}}}}
        """)
    with start_emulator(config, log=sandbox.log, env=SECRETS) as emulator:
        result = emulator.invoke(b"{}", timeout_s=WAIT_S * 3)
    assert result.function_error is None, result.body[:300]
    env = json.loads(result.body)
    assert "PATH" in env and not set(SECRETS) & set(env)
    assert not any(secret in result.body.decode() for secret in SECRETS.values())


def test_credentials_reach_the_program_when_the_config_asks(sandbox):
    config = write_config(sandbox.dir, f"""\
        command: [{PYTHON}, {program("echo_args")}]
        aws_credentials: true
        scratch: {{dir: {sandbox.scratch}}}
        """)
    with start_emulator(config, log=sandbox.log, env=SECRETS) as emulator:
        env = json.loads(emulator.invoke(b"{}", timeout_s=WAIT_S * 3).body)["env"]
    assert env["AWS_SECRET_ACCESS_KEY"] == SECRETS["AWS_SECRET_ACCESS_KEY"]
    assert "BEARER_TOKEN" not in env and "DATABASE_PASSWORD" not in env


# scratch dirs


def test_scratch_dirs_are_private_fresh_and_never_shared(sandbox):
    config = write_config(sandbox.dir, f"""\
        command: [{PYTHON}, {program("scratch_probe")}]
        env: {{RELIABILITY_TAG: {sandbox.tag}}}
        scratch: {{dir: {sandbox.scratch}}}
        """)
    with start_emulator(config, log=sandbox.log, max_concurrency=4) as emulator, ThreadPoolExecutor(4) as pool:
        sequential = [emulator.invoke(b"{}", timeout_s=WAIT_S * 3) for _ in range(10)]
        concurrent = list(pool.map(lambda _: emulator.invoke(b"{}", timeout_s=WAIT_S * 3), range(20)))
    seen = [json.loads(r.body) for r in sequential + concurrent]
    cwds = [s["cwd"] for s in seen]
    assert len(set(cwds)) == len(cwds), "two invocations shared a scratch dir"
    assert all(s["entries"] == [] for s in seen), "an invocation found files it did not create"
    assert all(s["mode"] == "0o700" and s["home"] == s["cwd"] for s in seen)
    assert all(Path(c).parent == sandbox.scratch for c in cwds)
    assert sandbox.scratch_entries() == []


# server mode: only 127.0.0.1 and the configured port


STEERING = ["http://evil:1/", "//169.254.169.254/latest/meta-data/", "\r\nHost: x", "@evil", "http://127.0.0.1:{canary}/",
            "/../../etc/passwd", "?x=1#frag", "%0d%0aHost:%20x", "https://evil/", "127.0.0.1:{canary}",
            "\\\\evil\\share", " HTTP/1.1\r\nX: y", "//evil", "#", "%2F%2Fevil"]


def test_server_mode_requests_go_only_to_loopback_and_the_configured_port(sandbox):
    port = free_port()
    canary = socket.socket()
    canary.bind(("127.0.0.1", 0))
    canary.listen(16)
    canary.setblocking(False)
    canary_port = canary.getsockname()[1]
    log = sandbox.tmp / "requests.log"
    config = write_config(sandbox.dir, f"""\
        mode: server
        command: [{PYTHON}, {program("fault_server")}, "{port}", --log, {log}]
        inputs:
          a: {{from: "a || path", max_length: 200}}
          b: {{from: "b || query.b", default: "", max_length: 200}}
          c: {{from: "c || headers.\\"x-c\\"", default: "", max_length: 200}}
        env: {{RELIABILITY_TAG: {sandbox.tag}}}
        server:
          port: {port}
          ready: {{path: /health}}
          success_status: "200-499"
          request:
            path: "/p/{{a}}"
            query: {{kind: ok, b: "{{b}}"}}
            headers: {{X-Value: "{{b}}"}}
            forward_headers: [x-c]
        """)
    values = [v.replace("{canary}", str(canary_port)) for v in STEERING]
    results = []
    try:
        with start_emulator(config, log=sandbox.log) as emulator:
            for value in values:
                results.append(emulator.invoke(json.dumps({"a": value, "b": value, "c": value}).encode(),
                                               timeout_s=WAIT_S * 3))
                event = function_url_event(path="/" + value.lstrip("/"), query="b=" + value,
                                           headers={"x-c": value, "host": f"127.0.0.1:{canary_port}"})
                results.append(emulator.invoke(json.dumps(event).encode(), timeout_s=WAIT_S * 3))
        try:
            canary.accept()
            reached_canary = True
        except BlockingIOError:
            reached_canary = False
    finally:
        canary.close()
    assert not reached_canary
    for result in results:  # each answered, or refused as a bad event; never an internal error
        assert error_type(result) in (None, "Function.InvalidEvent", "Function.UpstreamError"), result.body[:300]
        assert b"Runtime.InternalError" not in result.body, result.body[:300]
    requests_seen = [json.loads(line) for line in log.read_text().splitlines()]
    assert requests_seen, "the program saw no request at all"
    for seen in requests_seen:
        _, target, version = seen["requestline"].split(" ")
        assert version == "HTTP/1.1"
        assert target == "/health" or target.startswith("/p/"), seen
        assert "://" not in target.split("?")[0] and not target.startswith("//"), seen
        assert seen["host"] == f"127.0.0.1:{port}", seen
        assert all("\r" not in v and "\n" not in v for v in seen["headers"].values())
    assert survivors(sandbox.tag) == []


def test_regression_non_latin1_header_value_is_an_internal_error(sandbox):
    port = free_port()
    config = write_config(sandbox.dir, f"""\
        mode: server
        command: [{PYTHON}, {program("fault_server")}, "{port}"]
        inputs: {{b: {{}}}}
        server:
          port: {port}
          ready: {{path: /health}}
          request: {{path: /fault, headers: {{X-Value: "{{b}}"}}}}
        """)
    with start_emulator(config, log=sandbox.log) as emulator:
        result = emulator.invoke(json.dumps({"b": "\u2028evil"}).encode(), timeout_s=WAIT_S * 3)
    assert error_type(result) == "Function.InvalidEvent", result.body[:300]


# secrets in wrapper's own messages


def _no_secrets(text: str) -> list[str]:
    return [name for name, secret in SECRETS.items() if secret in text]


def test_wrapper_messages_never_echo_environment_secrets(sandbox):
    gone = sandbox.dir / "gone.py"
    gone.write_text("print('hi')\n")
    gone.chmod(0o755)
    texts: list[str] = []
    # a spawn error at invocation time (the program vanished after init), timeouts, exit statuses, bad events
    config = write_config(sandbox.dir, f"""\
        command: [{gone}]
        inputs: {{n: {{type: integer, max: 3}}}}
        args: [{{value: n}}]
        env_passthrough: [DATABASE_PASSWORD]
        timeout_s: 5
        scratch: {{dir: {sandbox.scratch}}}
        """, name="spawn.yaml")
    with start_emulator(config, log=sandbox.log, env=SECRETS) as emulator:
        runtime_pid(emulator)
        emulator.invoke(b'{"n": 1}', timeout_s=WAIT_S * 3)
        gone.unlink()
        spawn = emulator.invoke(b'{"n": 1}', timeout_s=WAIT_S * 3)
        bad = emulator.invoke(b'{"n": 99}', timeout_s=WAIT_S * 3)
    assert error_type(spawn) == "Runtime.SpawnError", spawn.body
    texts += [spawn.body.decode(), bad.body.decode()]
    # config errors: a bad value, and the bearer variable missing
    for name, text in {"bad.yaml": "command: [cat]\ntimeout_s: soon\nenv: {X: {value: nope}}\n",
                       "nobearer.yaml": "command: [cat]\nauth: {bearer_token_env: NOT_SET_ANYWHERE}\n"}.items():
        config = write_config(sandbox.dir, text, name=name)
        with start_emulator(config, log=sandbox.log, env=SECRETS) as emulator:
            texts.append(emulator.invoke(b"{}", timeout_s=WAIT_S * 3).body.decode())
    # bearer failures
    config = write_config(sandbox.dir, f"""\
        command: [{PYTHON}, {program("echo_args")}]
        auth: {{bearer_token_env: BEARER_TOKEN}}
        scratch: {{dir: {sandbox.scratch}}}
        """, name="bearer.yaml")
    tokens = [None, "Bearer wrong", "Bearer " + SECRETS["BEARER_TOKEN"][:-1], "Basic abc", "Bearer", "bearer  x"]
    with start_emulator(config, log=sandbox.log, env=SECRETS) as emulator:
        for token in tokens:
            headers = {"authorization": token} if token is not None else {}
            result = emulator.invoke(json.dumps(function_url_event(headers=headers)).encode(), timeout_s=WAIT_S * 3)
            assert http_body(result)[0] == 401
            texts.append(result.body.decode())
        right = emulator.invoke(json.dumps(function_url_event(
            headers={"authorization": "Bearer " + SECRETS["BEARER_TOKEN"]})).encode(), timeout_s=WAIT_S * 3)
        assert http_body(right)[0] == 200
    leaks = [(_no_secrets(t), t[:200]) for t in texts]
    assert [leak for leak in leaks if leak[0]] == []
    assert _no_secrets(sandbox.log_text()) == []
    assert os.environ.get("AWS_SECRET_ACCESS_KEY") is None  # the suite itself ran with a clean environment


def test_scratch_dir_mode_is_private(sandbox):
    """The parent given in the config may be shared (/tmp): each invocation's own dir must be 0700."""
    config = write_config(sandbox.dir, f"""\
        command: [{PYTHON}, {program("scratch_probe")}]
        scratch: {{dir: {sandbox.scratch}}}
        """)
    sandbox.scratch.chmod(0o1777)
    with start_emulator(config, log=sandbox.log) as emulator:
        seen = json.loads(emulator.invoke(b"{}", timeout_s=WAIT_S * 3).body)
    assert stat.S_IMODE(int(seen["mode"], 8)) == 0o700
