"""`wrapper invoke --url`: one request to a Function URL (here the local emulator's), printed as curl prints it,
exit 1 on HTTP errors. Real emulator, real `wrapper run`, real HTTP on loopback."""

from __future__ import annotations

import io
import json
import socket
import threading

import pytest

from harness import local_lambda
from wrapper.cli.main import main
from wrapper.cli.url import UrlRequest, invoke_url

TOKEN = "s3cret-token"
CONFIG = """\
version: 1
command: [cat]
inputs:
  name: {from: "not_null(query.name, json.name, name)", type: string, max_length: 40}
args: []
stdin: {template: "hello {name}"}
output: {format: raw, content_type: text/plain}
auth: {bearer_token_env: WRAPPER_BEARER_TOKEN}
timeout_s: 10
"""


@pytest.fixture(scope="module")
def function(tmp_path_factory: pytest.TempPathFactory):
    config = tmp_path_factory.mktemp("url") / "hello.yaml"
    config.write_text(CONFIG)
    with local_lambda(config, env={"WRAPPER_BEARER_TOKEN": TOKEN}) as emulator:
        yield emulator


def run(capsysbinary, *argv: str) -> tuple[int, bytes, str]:
    status = main(["invoke", *argv])
    captured = capsysbinary.readouterr()
    return status, captured.out, captured.err.decode()


def test_with_the_token_the_function_answers(function, capsysbinary):
    status, out, err = run(capsysbinary, "--url", function.url, "--path", "/greet", "--query", "name=world",
                           "--token", TOKEN)
    assert (status, out) == (0, b"hello world"), err


def test_without_the_token_it_is_401_and_exit_1(function, capsysbinary):
    status, out, err = run(capsysbinary, "--url", function.url + "/greet?name=world")
    assert status == 1
    assert "answered HTTP 401 Unauthorized" in err
    assert json.loads(out)["errorType"] == "Function.Unauthorized"  # the body is shown, as curl --fail-with-body


def test_a_json_body_and_include_prints_status_and_headers_like_curl_i(function, capsysbinary):
    status, out, err = run(capsysbinary, "--url", function.url, "--event", '{"name": "body"}', "-i",
                           "-H", f"Authorization: Bearer {TOKEN}", "-H", "Content-Type: application/json")
    head, _, body = out.partition(b"\r\n\r\n")
    assert status == 0, err
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\ncontent-type: text/plain\r\n" in head  # as the server sent it
    assert body == b"hello body"


def test_the_emulators_invoke_endpoint_takes_the_event_as_is(function, capsysbinary):
    status, out, err = run(capsysbinary, "--url", function.url, "--path", "/2015-03-31/functions/function/invocations",
                           "--event", '{"name": "direct"}')
    assert (status, out) == (0, b"hello direct"), err


def test_no_answer_is_exit_1_with_the_reason(capsysbinary):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    request = UrlRequest("GET", f"http://127.0.0.1:{port}/", retries=0)
    err = io.StringIO()
    assert invoke_url(request, include=False, stdout=io.BytesIO(), stderr=err) == 1
    assert f"no answer from http://127.0.0.1:{port}/" in err.getvalue()


def test_a_refused_connection_is_retried_until_the_server_is_up():
    """The first tries find nothing listening; the server comes up during the backoff and answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    answered = threading.Event()

    def serve_later() -> None:
        threading.Event().wait(0.3)  # after the first try, before the last
        with socket.create_server(("127.0.0.1", port)) as server:
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                answered.set()

    thread = threading.Thread(target=serve_later, daemon=True)
    thread.start()
    out = io.BytesIO()
    assert invoke_url(UrlRequest("GET", f"http://127.0.0.1:{port}/", retries=5), include=False, stdout=out) == 0
    assert out.getvalue() == b"ok" and answered.is_set()
    thread.join(5)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--url", "http://127.0.0.1:1/", "some.yaml"], "--url sends to a deployed function; it takes no config"),
        (["--url", "http://127.0.0.1:1/", "--query", "novalue"], "--query takes NAME=VALUE"),
        (["--url", "http://127.0.0.1:1/", "-H", "no colon"], "--header takes 'NAME: VALUE'"),
        ([], "give a config, or --url URL"),
    ],
)
def test_usage_errors_exit_2(capsysbinary, argv, message):
    status, _, err = run(capsysbinary, *argv)
    assert status == 2 and message in err

