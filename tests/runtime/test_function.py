"""FunctionHandler in-process: one invocation from event to answer, with real programs (exec and server mode)."""

from __future__ import annotations

import base64
import json
import os
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from events.samples import function_url_event
from harness import BIN, free_port
from wrapper.errors import ConfigError, InvalidEventError, ProgramError, UpstreamError
from wrapper.runtime.function import FunctionHandler
from wrapper.types import Invocation

SERVER_HTTP = BIN / "server_http.py"
BASE_ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}


def invocation(event: object, *, left_s: float = 30.0) -> Invocation:
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    return Invocation("req-1", int((time.time() + left_s) * 1000), body, "arn:aws:lambda:us-east-1:0:function:f")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "wrapper.yaml"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def server_handler(tmp_path: Path) -> Iterator:
    """A loaded server-mode handler in front of tests/bin/server_http.py; call it with extra server keys."""
    handlers: list[FunctionHandler] = []

    def load(extra: str = "") -> FunctionHandler:
        port = free_port()
        config = write(tmp_path, f"""\
            mode: server
            command: [{sys.executable}, {SERVER_HTTP}, "{port}"]
            inputs:
              code: {{from: "query.code || code", default: "200"}}
            server:
              port: {port}
              ready: {{path: /-/healthy}}
              request: {{path: /status, query: {{code: "{{code}}"}}}}
              {extra}
            """)
        handler = FunctionHandler.load(config, base_env=BASE_ENV)
        handlers.append(handler)
        return handler

    yield load
    for handler in handlers:
        handler.close()


def url_call(handler: FunctionHandler, code: int) -> dict:
    """The Function URL answer for GET /?code=N, its body decoded as the caller gets it."""
    body, content_type = handler.handle(invocation(function_url_event(raw_path="/", raw_query=f"code={code}")))
    assert content_type == "application/json"
    answer = json.loads(body)
    if answer.get("isBase64Encoded"):
        answer["body"] = base64.b64decode(answer["body"]).decode()
    return answer


# server mode: upstream statuses


def test_pass_status_returns_the_upstream_status_and_body_to_http_callers(server_handler):
    handler = server_handler("pass_status: true")
    answer = url_call(handler, 404)
    assert answer["statusCode"] == 404
    assert answer["body"] == "status 404"


def test_without_pass_status_an_upstream_4xx_is_an_error_answer_with_that_status(server_handler):
    answer = url_call(server_handler(), 404)
    assert answer["statusCode"] == 404
    error = json.loads(answer["body"])
    assert error["errorType"] == "Function.UpstreamError" and "HTTP 404" in error["errorMessage"]


def test_without_pass_status_an_upstream_5xx_is_the_failure_status(server_handler):
    answer = url_call(server_handler(), 503)
    assert answer["statusCode"] == 502  # http.status_codes.failure
    assert json.loads(answer["body"])["errorType"] == "Function.UpstreamError"


def test_pass_status_is_for_http_callers_only_a_direct_call_gets_the_error(server_handler):
    handler = server_handler("pass_status: true")
    with pytest.raises(UpstreamError, match="HTTP 404"):
        handler.handle(invocation({"code": "404"}))


def test_success_status_ranges_decide_what_counts_as_an_answer(server_handler):
    handler = server_handler('success_status: "200-299,404"')
    body, _ = handler.handle(invocation({"code": "404"}))
    assert body == b"status 404"
    with pytest.raises(UpstreamError):
        handler.handle(invocation({"code": "410"}))


# exec mode


def test_exec_answer_and_a_fresh_scratch_dir_removed_afterwards(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    config = write(tmp_path, f"""\
        command: [sh, -c, 'pwd; cat']
        stdin: event
        scratch: {{dir: {scratch}}}
        """)
    handler = FunctionHandler.load(config, base_env=BASE_ENV)
    try:
        body, content_type = handler.handle(invocation(b'{"x": 1}'))
    finally:
        handler.close()
    cwd, echoed = body.decode().split("\n", 1)
    assert echoed == '{"x": 1}' and content_type == "application/octet-stream"
    assert Path(cwd).parent == scratch and list(scratch.iterdir()) == []


def test_exit_status_becomes_the_configured_error(tmp_path):
    config = write(tmp_path, """\
        command: [sh, -c, 'exit 2']
        exit_codes: {2: {error_type: Function.NotFound, message: nothing matched}}
        """)
    handler = FunctionHandler.load(config, base_env=BASE_ENV)
    try:
        with pytest.raises(ProgramError) as raised:
            handler.handle(invocation({}))
    finally:
        handler.close()
    assert (raised.value.error_type, str(raised.value)) == ("Function.NotFound", "nothing matched")


def test_an_event_that_is_not_json_is_an_invalid_event_when_inputs_read_it(tmp_path):
    config = write(tmp_path, "command: [echo]\ninputs: {name: {}}\nargs: [{value: name}]\n")
    handler = FunctionHandler.load(config, base_env=BASE_ENV)
    try:
        with pytest.raises(InvalidEventError, match="not valid JSON"):
            handler.handle(invocation(b"{nope"))
    finally:
        handler.close()


def test_describe_shows_the_command_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    config = write(tmp_path, "command: [touch]\ninputs: {path: {}}\nargs: ['--', {value: path}]\n")
    handler = FunctionHandler.load(config, base_env=BASE_ENV)
    try:
        described = handler.describe(invocation({"path": str(marker)}))
    finally:
        handler.close()
    assert described["argv"][1:] == ["--", str(marker)] and described["argv"][0].endswith("/touch")
    assert not marker.exists()


def test_a_bearer_token_variable_that_is_not_set_fails_at_load(tmp_path):
    config = write(tmp_path, "command: [cat]\nauth: {bearer_token_env: NO_SUCH_TOKEN}\n")
    with pytest.raises(ConfigError, match="NO_SUCH_TOKEN"):
        FunctionHandler.load(config, base_env=BASE_ENV)


def test_http_callers_without_the_bearer_token_get_401_before_anything_runs(tmp_path):
    marker = tmp_path / "ran"
    config = write(tmp_path, f"command: [touch, {marker}]\nauth: {{bearer_token_env: TOKEN}}\n")
    handler = FunctionHandler.load(config, base_env={**BASE_ENV, "TOKEN": "s3cret-token-value"})
    try:
        body, _ = handler.handle(invocation(function_url_event(headers={"authorization": "Bearer wrong"})))
    finally:
        handler.close()
    assert json.loads(body)["statusCode"] == 401
    assert not marker.exists()
