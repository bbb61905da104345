"""ServerProcess with real programs: the real blackbox_exporter and tiny servers from tests/bin/."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import pytest
import yaml

from harness import free_port
from wrapper.errors import InvalidEventError, ProgramTimeoutError, ServerStartError, UpstreamError
from wrapper.programs.server_mode import ServerProcess

EXPORTER = shutil.which("prometheus-blackbox-exporter") or "/usr/bin/prometheus-blackbox-exporter"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "blackbox-exporter"
needs_exporter = pytest.mark.skipif(not os.access(EXPORTER, os.X_OK), reason="blackbox_exporter not installed")
BASE_ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in a process group, read from /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "(comm)": state, ppid, pgrp, ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry))
    return members


def peer_closed(sock: socket.socket) -> bool:
    """Whether the other end closed this connection (EOF waiting), without consuming anything."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False


def wait_dead(server: ServerProcess) -> None:
    """Wait until the server's process has exited (after a SIGKILL, so soon)."""
    while server.returncode is None:
        time.sleep(0.01)


@pytest.fixture
def target_site():
    """A tiny HTTP site on 127.0.0.1:0 for the exporter to probe; yields its URL."""

    class Site(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def make_server():
    """Build ServerProcess objects and stop every one of them after the test."""
    created: list[ServerProcess] = []

    def _make(argv: list[str], **kwargs) -> ServerProcess:
        kwargs.setdefault("ready_timeout_s", 10.0)
        kwargs.setdefault("env", BASE_ENV)
        server = ServerProcess(argv, **kwargs)
        created.append(server)
        return server

    yield _make
    for server in created:
        server.stop(grace_s=0.5)


@pytest.fixture
def http_server(make_server, program):
    """A started tests/bin/server_http.py; extra args via the returned factory."""

    def _start(*extra: str, **kwargs) -> ServerProcess:
        port = free_port()
        server = make_server([*program("server_http"), str(port), *extra], port=port, ready_path="/-/healthy", **kwargs)
        server.start()
        return server

    return _start


@pytest.fixture
def exporter(make_server, tmp_path):
    """The real blackbox_exporter with the example's modules, ready on a free loopback port.

    The HTTP modules' egress guard (`proxy_url`) is the runtime's, not part of ServerProcess: dropped here
    (tests/test_blackbox_example.py and tests/test_egress.py test it).
    """
    port = free_port()
    modules = tmp_path / "blackbox.yml"
    modules.write_text("".join(
        line for line in (EXAMPLE / "blackbox.yml").read_text().splitlines(keepends=True)
        if line.strip().split(":")[0] not in ("proxy_url", "skip_resolve_phase_with_proxy")
    ))
    server = make_server(
        [EXPORTER, f"--config.file={modules}", f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        port=port,
        ready_path="/-/healthy",
    )
    server.start()
    return server


def probe(server: ServerProcess, target: str, module: str = "http_2xx"):
    """GET /probe the way server mode sends it."""
    query = urlencode({"target": target, "module": module})
    return server.request("GET", f"/probe?{query}", headers={"X-Prometheus-Scrape-Timeout-Seconds": "5"},
                          body=None, timeout_s=10.0)


# the real exporter


@needs_exporter
def test_exporter_probe_of_a_live_site_succeeds(exporter, target_site):
    response = probe(exporter, target_site)
    assert response.status_code == 200
    assert b"probe_success 1" in response.body
    assert response.headers["content-type"].startswith("text/plain")


@needs_exporter
def test_exporter_unknown_module_is_400(exporter, target_site):
    response = probe(exporter, target_site, module="no_such_module")
    assert response.status_code == 400
    assert b"Unknown module" in response.body


@needs_exporter
def test_exporter_tcp_connect_module(exporter, target_site):
    response = probe(exporter, target_site.removeprefix("http://").rstrip("/"), module="tcp_connect")
    assert b"probe_success 1" in response.body


@needs_exporter
def test_exporter_keeps_one_connection_across_requests(exporter, target_site):
    for _ in range(3):
        assert b"probe_success 1" in probe(exporter, target_site).body
    assert len(exporter.connections.idle) == 1


@needs_exporter
def test_exporter_killed_between_requests_is_restarted_by_ensure_running(exporter, target_site):
    first_pid = exporter.pid
    os.killpg(first_pid, signal.SIGKILL)
    wait_dead(exporter)
    exporter.ensure_running()
    assert exporter.pid != first_pid
    assert exporter.returncode is None
    assert b"probe_success 1" in probe(exporter, target_site).body


@needs_exporter
def test_exporter_request_after_a_kill_is_server_crashed_then_recovers(exporter, target_site):
    probe(exporter, target_site)  # leaves a kept-alive connection to a process about to die
    os.killpg(exporter.pid, signal.SIGKILL)
    wait_dead(exporter)
    with pytest.raises(UpstreamError) as caught:
        probe(exporter, target_site)
    assert caught.value.error_type == "Function.ServerCrashed"
    assert "killed by signal SIGKILL" in str(caught.value)
    exporter.ensure_running()
    assert b"probe_success 1" in probe(exporter, target_site).body


@needs_exporter
def test_exporter_with_a_bad_modules_file_fails_to_start_with_its_log(make_server, tmp_path):
    modules = tmp_path / "blackbox.yml"
    modules.write_text("modules:\n  broken:\n    prober: http\n    http:\n      nonsense_key: 1\n")
    port = free_port()
    server = make_server([EXPORTER, f"--config.file={modules}", f"--web.listen-address=127.0.0.1:{port}"],
                         port=port, ready_path="/-/healthy")
    with pytest.raises(ServerStartError) as caught:
        server.start()
    assert "exited with status 1" in str(caught.value)
    assert "nonsense_key" in str(caught.value)


# start-up failures


def test_never_ready_raises_server_start_error_with_stderr_tail(make_server, program):
    port = free_port()
    # Long enough for the interpreter to start even on a loaded machine; the 503 check below proves it did.
    server = make_server([*program("server_never_ready"), str(port)], port=port, ready_path="/-/healthy",
                         ready_timeout_s=2.0)
    with pytest.raises(ServerStartError) as caught:
        server.start()
    message = str(caught.value)
    assert "was not ready on 127.0.0.1:" in message
    assert "last status 503" in message
    assert "waiting for a database that never comes" in message
    assert group_members(server.pid) == []


def test_exit_at_start_raises_server_start_error_with_status_and_stderr(make_server, program):
    server = make_server(program("server_exit_at_start"), port=free_port(), ready_path=None)
    with pytest.raises(ServerStartError) as caught:
        server.start()
    assert "exited with status 3" in str(caught.value)
    assert "error loading config: no such module" in str(caught.value)
    assert server.returncode == 3


def test_missing_program_raises_server_start_error(make_server, tmp_path):
    server = make_server([str(tmp_path / "no-such-program")], port=free_port(), ready_path=None)
    with pytest.raises(ServerStartError, match="could not be started"):
        server.start()


def test_port_already_in_use_is_a_start_error_not_a_false_ready(make_server, program):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        server = make_server([*program("server_http"), str(port)], port=port, ready_path=None)
        with pytest.raises(ServerStartError, match="already in use"):
            server.start()
    assert server.pid is None  # nothing was spawned


def test_tcp_readiness_when_ready_path_is_none(http_server, make_server, program):
    port = free_port()
    server = make_server([*program("server_http"), str(port)], port=port, ready_path=None)
    server.start()
    assert server.request("GET", "/echo", headers={}, body=None, timeout_s=5).status_code == 200


def test_output_is_drained_and_passed_on_line_by_line(http_server):
    lines: list[bytes] = []
    server = http_server("--noise", "1000000", on_output_line=lines.append)  # far above a 64 KiB pipe buffer
    assert server.request("GET", "/echo", headers={}, body=None, timeout_s=5).status_code == 200
    assert b"x" * 99 in lines
    assert any(line.startswith(b"server_http: listening") for line in lines)


def test_env_is_exactly_as_given(http_server):
    server = http_server(env={**BASE_ENV, "ONLY_THIS": "yes"})
    env = json.loads(server.request("GET", "/env", headers={}, body=None, timeout_s=5).body)
    assert env["ONLY_THIS"] == "yes"
    assert "HOME" not in env


# requests


def test_request_sends_method_headers_and_body(http_server):
    server = http_server()
    response = server.request("POST", "/echo?a=1", headers={"X-Thing": "v", "Transfer-Encoding": "chunked"},
                              body=b'{"k": 1}', timeout_s=5)
    echoed = json.loads(response.body)
    assert echoed["method"] == "POST"
    assert echoed["path"] == "/echo?a=1"
    assert echoed["body"] == '{"k": 1}'
    assert echoed["headers"]["X-Thing"] == "v"
    assert "Transfer-Encoding" not in echoed["headers"]  # framing is ours, never the caller's
    assert response.headers["x-multi"] == "a, b"
    assert "content-length" not in response.headers


@pytest.mark.parametrize(
    "path",
    ["http://169.254.169.254/latest/meta-data/", "/redirect?to=http://example.com/", "//example.com/x", "probe",
     "", "/a b", "/a\r\nHost: x"],
)
def test_request_paths_that_could_leave_loopback_are_rejected(http_server, path):
    server = http_server()
    with pytest.raises(InvalidEventError):
        server.request("GET", path, headers={}, body=None, timeout_s=5)


@pytest.mark.parametrize("headers", [{"X-A": "v\r\nX-Injected: 1"}, {"X-A": "v\n"}, {"Bad Name": "v"}, {"X-A": "\x00"}])
def test_request_headers_with_cr_lf_or_bad_names_are_rejected(http_server, headers):
    server = http_server()
    with pytest.raises(InvalidEventError):
        server.request("GET", "/echo", headers=headers, body=None, timeout_s=5)


def test_request_method_must_be_a_token(http_server):
    server = http_server()
    with pytest.raises(InvalidEventError):
        server.request("GET /x HTTP/1.1\r\n", "/echo", headers={}, body=None, timeout_s=5)


def test_kept_alive_connection_closed_by_the_server_while_idle_is_retried_once(http_server):
    server = http_server("--idle-close", "0.05")
    assert server.request("GET", "/echo", headers={}, body=None, timeout_s=5).status_code == 200
    while not peer_closed(server.connections.idle[0].sock):
        time.sleep(0.01)
    assert server.request("GET", "/echo", headers={}, body=None, timeout_s=5).status_code == 200


def test_hanging_handler_raises_program_timeout_and_the_server_stays_usable(http_server):
    server = http_server()
    with pytest.raises(ProgramTimeoutError) as caught:
        server.request("GET", "/sleep?s=30", headers={}, body=None, timeout_s=0.2)
    assert caught.value.error_type == "Function.Timeout"
    assert server.request("GET", "/echo", headers={}, body=None, timeout_s=5).status_code == 200


# hangs: a timed-out request makes the server suspect; the next ensure_running asks its ready path

# /-/healthy answers 200 at start-up, then 503: alive but unready; /sleep never answers in time
UNREADY_AFTER_START = """
import sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    checks = 0
    def do_GET(self):
        if self.path == "/sleep":
            time.sleep(30)
        status = 200
        if self.path == "/-/healthy":
            Handler.checks += 1
            status = 200 if Handler.checks == 1 else 503
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def test_regression_hung_server_is_restarted_on_the_next_ensure_running(http_server):
    server = http_server()
    old = server.pid
    os.kill(old, signal.SIGSTOP)  # stops answering entirely, yet the kernel still accepts its connections
    with pytest.raises(ProgramTimeoutError):
        server.request("GET", "/echo", headers={}, body=None, timeout_s=0.3)
    assert server.pid == old  # the timed-out invocation is answered at once; the check waits for the next one
    server.ensure_running()
    assert server.pid != old
    assert group_members(old) == []  # the stopped group was killed, not left behind
    assert server.request("GET", "/echo", headers={}, body=None, timeout_s=5).status_code == 200


def test_slow_request_with_a_healthy_server_does_not_restart_it(http_server):
    server = http_server()
    pid = server.pid
    with pytest.raises(ProgramTimeoutError):
        server.request("GET", "/sleep?s=30", headers={}, body=None, timeout_s=0.2)
    server.ensure_running()  # the ready path answers: slow, not hung
    assert server.pid == pid
    assert server.request("GET", "/echo", headers={}, body=None, timeout_s=5).status_code == 200
    assert server.pid == pid


def test_unready_but_answering_server_is_not_restarted_after_a_timeout(make_server):
    port = free_port()
    server = make_server([sys.executable, "-c", UNREADY_AFTER_START, str(port)], port=port, ready_path="/-/healthy")
    server.start()
    pid = server.pid
    with pytest.raises(ProgramTimeoutError):
        server.request("GET", "/sleep", headers={}, body=None, timeout_s=0.2)
    server.ensure_running()  # its ready path answers 503: an HTTP answer, so alive; a restart would not cure it
    assert server.pid == pid
    assert server.request("GET", "/other", headers={}, body=None, timeout_s=5).status_code == 200


def test_hung_server_without_a_ready_path_is_not_restarted_by_a_timeout(make_server, program):
    # Documented limit: with TCP readiness only, a timeout cannot tell a hang from a slow request.
    port = free_port()
    server = make_server([*program("server_http"), str(port)], port=port, ready_path=None)
    server.start()
    pid = server.pid
    os.kill(pid, signal.SIGSTOP)
    with pytest.raises(ProgramTimeoutError):
        server.request("GET", "/echo", headers={}, body=None, timeout_s=0.3)
    server.ensure_running()
    assert server.pid == pid
    server.stop()  # a stopped program is still stopped for good: SIGTERM, SIGCONT, then SIGKILL
    assert group_members(pid) == []


def test_crash_during_a_request_is_server_crashed_with_status_and_stderr(http_server):
    server = http_server()
    with pytest.raises(UpstreamError) as caught:
        server.request("GET", "/exit?code=7", headers={}, body=None, timeout_s=5)
    assert caught.value.error_type == "Function.ServerCrashed"
    assert "exited with status 7" in str(caught.value)
    assert "crashing on purpose" in str(caught.value)
    server.ensure_running()
    assert server.request("GET", "/echo", headers={}, body=None, timeout_s=5).status_code == 200


def test_ensure_running_raises_upstream_error_when_the_program_cannot_come_back(http_server, tmp_path):
    server = http_server("--once", str(tmp_path / "started"), restart_backoff_s=0.01)
    with pytest.raises(UpstreamError):
        server.request("GET", "/exit?code=7", headers={}, body=None, timeout_s=5)
    for _ in range(2):  # each call is one attempt, after a growing backoff
        with pytest.raises(UpstreamError) as caught:
            server.ensure_running()
        assert "exited with status 4" in str(caught.value)
        assert "refusing to start again" in str(caught.value)


def test_ensure_running_is_a_no_op_while_the_program_runs(http_server):
    server = http_server()
    pid = server.pid
    server.ensure_running()
    assert server.pid == pid


# stopping


def test_stop_leaves_no_process_of_the_group(http_server):
    server = http_server("--grandchild")
    pgid = server.pid
    assert len(group_members(pgid)) == 2
    server.stop()
    assert group_members(pgid) == []
    assert server.returncode is not None


def test_stop_is_idempotent_and_later_ensure_running_refuses(http_server):
    server = http_server()
    server.stop()
    server.stop()
    with pytest.raises(UpstreamError, match="stopped"):
        server.ensure_running()


def test_stop_before_start_is_harmless(make_server, program):
    server = make_server(program("server_never_ready"), port=free_port(), ready_path=None)
    server.stop()
    assert server.pid is None and server.returncode is None


# the example's files agree with each other and with the exporter


@needs_exporter
def test_example_modules_file_passes_the_exporters_own_check():
    result = subprocess.run([EXPORTER, "--config.check", f"--config.file={EXAMPLE / 'blackbox.yml'}"],
                            capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr


def test_example_module_enum_lists_exactly_the_modules_in_blackbox_yml():
    modules = yaml.safe_load((EXAMPLE / "blackbox.yml").read_text())["modules"]
    config = yaml.safe_load((EXAMPLE / "wrapper.yaml").read_text())
    assert sorted(config["inputs"]["module"]["enum"]) == sorted(modules)
    assert config["inputs"]["module"]["default"] in modules
    assert all(module["prober"] != "icmp" for module in modules.values())  # no raw sockets on Lambda
