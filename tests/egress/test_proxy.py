"""The egress guard: a real proxy on 127.0.0.1, real clients (http.client, urllib, curl), servers on loopback.

The guard is given the tests' own resolver (a fixed map, never the machine's DNS) and an explicit allow-list with
the one loopback address and port a test server listens on; every other loopback destination stays refused.
"""

from __future__ import annotations

import http.client
import http.server
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wrapper.egress.proxy import ERROR_HEADER, EgressGuard
from wrapper.mapping.addresses import Policy
from wrapper.mapping.destination import check_destination

ROOT = Path(__file__).resolve().parents[2]
CURL = shutil.which("curl")
WAIT_S = 20.0


class _Origin(http.server.BaseHTTPRequestHandler):
    """Answers with what it was asked (path, Host); /redirect?to=URL redirects there."""

    def do_GET(self) -> None:
        if self.path.startswith("/redirect?to="):
            self.send_response(302)
            self.send_header("Location", self.path.split("=", 1)[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps({"path": self.path, "host": self.headers["Host"],
                           "connection": self.headers["Connection"], "proxy": self.headers["Proxy-Connection"]})
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def origin() -> Iterator[int]:
    """An HTTP server on 127.0.0.1; yields its port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Origin)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(5)


class Resolver:
    """The tests' resolver: a name → addresses map that can change between calls (rebinding); counts lookups."""

    def __init__(self, hosts: dict[str, list[str]]) -> None:
        self.hosts = hosts
        self.lookups: list[str] = []

    def __call__(self, name: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        self.lookups.append(name)
        if name not in self.hosts:
            raise OSError(f"{name}: name does not resolve")
        return [ipaddress.ip_address(a) for a in self.hosts[name]]


@pytest.fixture
def resolver() -> Resolver:
    return Resolver({"probe.example.net": ["127.0.0.1"], "internal.example.net": ["127.0.0.3"],
                     "metadata.example.net": ["169.254.169.254"], "split.example.net": ["127.0.0.1", "127.0.0.2"]})


@pytest.fixture
def guard(origin: int, resolver: Resolver) -> Iterator[EgressGuard]:
    """The guard, allowed to reach exactly 127.0.0.1:<origin port>."""
    guard = EgressGuard(Policy(allow=[f"127.0.0.1:{origin}"]), resolver=resolver, connect_timeout_s=5).start()
    yield guard
    guard.stop()


def through(guard: EgressGuard, url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """GET url through the guard as a forward proxy (absolute-form request)."""
    conn = http.client.HTTPConnection("127.0.0.1", guard.port, timeout=WAIT_S)
    try:
        conn.putrequest("GET", url, skip_host=True)  # http.client cannot derive a Host from every test URL
        for name, value in {"Host": "proxied", **headers}.items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def tunnel(guard: EgressGuard, host: str, port: int) -> tuple[int, bytes]:
    """CONNECT host:port through the guard, then GET / over the tunnel; (CONNECT status, body or refusal)."""
    conn = http.client.HTTPConnection("127.0.0.1", guard.port, timeout=WAIT_S)
    conn.set_tunnel(host, port)
    try:
        conn.request("GET", "/tunnelled")
        return 200, conn.getresponse().read()
    except OSError as error:
        return int(str(error).split()[-2]) if "failed" in str(error) else 0, str(error).encode()
    finally:
        conn.close()


# plain HTTP (absolute form)


def test_allowed_name_is_resolved_by_the_guard_and_reached_with_origin_form_and_host(guard, origin, resolver):
    status, _, body = through(guard, f"http://probe.example.net:{origin}/x?y=1", **{"Proxy-Connection": "keep-alive"})
    assert status == 200, body
    seen = json.loads(body)
    assert seen == {"path": "/x?y=1", "host": f"probe.example.net:{origin}", "connection": "close", "proxy": None}
    assert resolver.lookups == ["probe.example.net"]  # resolved once, by the guard; the connection used that answer


def test_a_name_that_resolves_to_loopback_is_refused_with_403_and_a_reason(guard, origin):
    status, headers, body = through(guard, f"http://internal.example.net:{origin}/")
    assert status == 403
    assert headers[ERROR_HEADER.lower()] == "internal.example.net resolves to 127.0.0.3, a loopback address"
    assert b"internal.example.net resolves to 127.0.0.3" in body


def test_one_internal_address_among_several_refuses_the_name(guard, origin):
    status, headers, _ = through(guard, f"http://split.example.net:{origin}/")
    assert status == 403 and "127.0.0.2" in headers[ERROR_HEADER.lower()]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.2:{port}/",  # the allowed port on another loopback address
        "http://127.0.0.1:{other}/",  # the allowed address on another port
        "http://127.1:{other}/",
        "http://localhost:{port}/",
        "http://[::1]:{port}/",
        "http://[::ffff:127.0.0.1]:{other}/",
        "http://0.0.0.0:{port}/",
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.example.net/",
    ],
)
def test_other_internal_destinations_are_refused(guard, origin, url):
    status, headers, _ = through(guard, url.format(port=origin, other=origin + 1 if origin < 65535 else origin - 1))
    assert status == 403, headers
    assert headers[ERROR_HEADER.lower()]


def test_the_allowed_address_and_port_is_reached_by_any_spelling(guard, origin):
    assert through(guard, f"http://0x7f.1:{origin}/")[0] == 200


@pytest.mark.parametrize(
    ("request_target", "status"),
    [
        ("/origin-form", 400),  # the guard is not a web server
        ("https://probe.example.net/", 400),  # HTTPS goes through CONNECT
        ("http://user@probe.example.net/", 400),
        ("http://exa%6dple.com/", 400),
        ("http://unknown.example.net/", 502),
    ],
)
def test_malformed_or_unresolvable_requests_are_answered_with_a_reason(guard, request_target, status):
    got, headers, _ = through(guard, request_target)
    assert got == status and headers[ERROR_HEADER.lower()]


def test_the_guard_does_not_connect_to_itself():
    guard = EgressGuard(Policy(allow=["127.0.0.1"]), resolver=Resolver({})).start()
    try:
        status, headers, _ = through(guard, f"http://127.0.0.1:{guard.port}/")
    finally:
        guard.stop()
    assert status == 403 and "itself" in headers[ERROR_HEADER.lower()]


# redirects and rebinding: judged at connect time


def test_a_redirect_to_loopback_is_refused_at_the_second_hop(guard, origin):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": guard.url}))
    with opener.open(f"http://probe.example.net:{origin}/", timeout=WAIT_S) as first:
        assert first.status == 200  # the first hop is fine
    with pytest.raises(urllib.error.HTTPError) as caught:
        opener.open(f"http://probe.example.net:{origin}/redirect?to=http://127.0.0.1:9001/2018-06-01/runtime/"
                    "invocation/next", timeout=WAIT_S)
    assert caught.value.code == 403
    assert caught.value.headers[ERROR_HEADER] == "127.0.0.1 is a loopback address"


def test_rebinding_a_name_after_the_input_check_is_refused_at_connect_time(guard, origin, resolver):
    resolver.hosts["rebind.example.net"] = ["93.184.215.14"]
    checked = check_destination(f"rebind.example.net:{origin}/", BLACKBOX_HTTP, resolver=resolver)
    assert checked == f"http://rebind.example.net:{origin}/"  # public when the input was checked
    resolver.hosts["rebind.example.net"] = ["127.0.0.1", "127.0.0.2"]  # ... loopback when the program connects
    status, headers, _ = through(guard, checked)
    assert status == 403 and "rebind.example.net resolves to 127.0.0.2" in headers[ERROR_HEADER.lower()]


class _Spec:
    kind, default_scheme, resolve = "url", "http", True
    allow: list[str] = []
    deny: list[str] = []
    deny_loopback = deny_link_local = deny_reserved = True
    deny_private = False


BLACKBOX_HTTP = _Spec()


# CONNECT (HTTPS)


def test_connect_to_an_allowed_destination_is_tunnelled(guard, origin):
    status, body = tunnel(guard, "probe.example.net", origin)
    assert status == 200 and json.loads(body)["path"] == "/tunnelled"


@pytest.mark.parametrize("host", ["internal.example.net", "127.0.0.2", "169.254.169.254", "[::1]"])
def test_connect_to_an_internal_destination_is_refused(guard, origin, host):
    status, detail = tunnel(guard, host, origin)
    assert status == 403, detail


def test_connect_without_a_port_is_refused(guard):
    with socket.create_connection(("127.0.0.1", guard.port), timeout=WAIT_S) as sock:
        sock.sendall(b"CONNECT probe.example.net HTTP/1.1\r\nHost: probe.example.net\r\n\r\n")
        answer = sock.makefile("rb").readline()
    assert answer.startswith(b"HTTP/1.1 400 ")


def test_refusals_are_logged(guard, origin, wrapper_log):
    through(guard, f"http://127.0.0.2:{origin}/")
    line = f"GET 'http://127.0.0.2:{origin}/' refused: 127.0.0.2 is a loopback address"
    assert any(entry.startswith("[WARN]") and line in entry for entry in wrapper_log.getvalue().splitlines())


def test_connections_beyond_the_limit_get_503(origin, resolver):
    guard = EgressGuard(Policy(allow=[f"127.0.0.1:{origin}"]), resolver=resolver, max_connections=1).start()
    held = socket.create_connection(("127.0.0.1", guard.port), timeout=WAIT_S)
    try:
        held.sendall(f"CONNECT 127.0.0.1:{origin} HTTP/1.1\r\n\r\n".encode())
        assert held.makefile("rb").readline().startswith(b"HTTP/1.1 200 ")  # the one slot is taken
        assert through(guard, f"http://127.0.0.1:{origin}/")[0] == 503
    finally:
        held.close()
        guard.stop()


def test_a_stopped_guard_accepts_nothing(origin, resolver):
    guard = EgressGuard(Policy(), resolver=resolver).start()
    port = guard.port
    guard.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


# the runtime starts the guard for a config that asks for it; programs find it through HTTP(S)_PROXY


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAMBDA_", "WRAPPER_", "_HANDLER"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return {**env, **extra}


@pytest.mark.skipif(CURL is None, reason="needs curl")
def test_exec_mode_program_reaches_the_internet_only_through_the_guard(tmp_path, origin):
    # curl honours http_proxy; the guard (allowed: the origin's port only) judges where it connects
    config = tmp_path / "fetch.yaml"
    config.write_text(
        "version: 1\n"
        f"command: [{CURL}, -sS, -L, -o, /dev/null, -w, '%{{http_code}}']\n"
        "inputs: {url: {}}\n"
        "args: [{value: url}]\n"
        f"egress: {{guard: true, allow: ['127.0.0.1:{origin}']}}\n"
    )
    codes = {}
    for name, url in {"allowed": f"http://127.0.0.1:{origin}/", "loopback": f"http://127.0.0.2:{origin}/",
                      "redirected": f"http://127.0.0.1:{origin}/redirect?to=http://127.0.0.1:1/"}.items():
        done = subprocess.run([sys.executable, "-m", "wrapper", "invoke", str(config), "--event",
                               json.dumps({"url": url})], cwd=ROOT, env=cli_env(), capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        codes[name] = done.stdout.decode().strip()
    assert codes == {"allowed": "200", "loopback": "403", "redirected": "403"}  # curl -L followed to the refusal


def test_exec_mode_program_environment_names_the_guard(tmp_path, program):
    config = tmp_path / "env.yaml"
    config.write_text(f"version: 1\ncommand: {json.dumps(program('echo_args'))}\negress: {{guard: true}}\n")
    done = subprocess.run([sys.executable, "-m", "wrapper", "invoke", str(config), "--event", "{}"], cwd=ROOT,
                          env=cli_env(NO_PROXY="internal.example.net"), capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    env = json.loads(done.stdout)["env"]
    assert env["HTTP_PROXY"].startswith("http://127.0.0.1:") and env["HTTP_PROXY"] != "http://127.0.0.1:0"
    assert env["HTTP_PROXY"] == env["HTTPS_PROXY"] == env["http_proxy"] == env["https_proxy"]
    assert env["NO_PROXY"] == env["no_proxy"] == ""


def test_without_the_guard_no_proxy_variable_is_set_and_nothing_is_imported(tmp_path, program):
    config = tmp_path / "env.yaml"
    config.write_text(f"version: 1\ncommand: {json.dumps(program('echo_args'))}\n")
    done = subprocess.run([sys.executable, "-m", "wrapper", "invoke", str(config), "--event", "{}"], cwd=ROOT,
                          env=cli_env(), capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert not {"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} & set(json.loads(done.stdout)["env"])
    script = ("import sys, wrapper.runtime.function as f\n"
              "print([m for m in sys.modules if m.startswith('wrapper.egress')])")
    out = subprocess.run([sys.executable, "-S", "-c", script], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "[]"


def test_a_fixed_port_in_use_fails_init_with_a_clear_message(tmp_path, program):
    taken = socket.create_server(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    config = tmp_path / "busy.yaml"
    command = json.dumps(program("echo_args"))
    config.write_text(f"version: 1\ncommand: {command}\negress: {{guard: true, port: {port}}}\n")
    try:
        done = subprocess.run([sys.executable, "-m", "wrapper", "invoke", str(config), "--event", "{}"], cwd=ROOT,
                              env=cli_env(), capture_output=True, timeout=60)
    finally:
        taken.close()
    assert done.returncode != 0
    assert f"{config}: egress.port: cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr.decode()
