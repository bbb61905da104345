"""End to end: the real Debian blackbox_exporter under wrapper, as examples/blackbox-exporter/ ships it.

Each test runs a copy of the example in which only what a test needs is rewritten (free loopback ports for the
exporter and the egress guard, an allow-list with exactly the loopback ports of this file's own servers, a short
`timeout_s`; one test also drops the timeout header). The exporter only ever probes servers this file starts on
127.0.0.1; the internal targets the tests ask for are refused before anything is sent, which the exporter's own
"Recent Probes" page shows, or, for redirects and names, by the egress guard when the exporter connects.
"""

from __future__ import annotations

import html
import http.client
import http.server
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from events.samples import function_url_event
from harness import ROOT, clean_env, free_port, local_lambda, wait_for, wrapper_serve
from wrapper.egress.proxy import EgressGuard
from wrapper.emulator import Emulator
from wrapper.mapping.addresses import Policy

EXAMPLE = ROOT / "examples" / "blackbox-exporter"
EXPORTER = shutil.which("prometheus-blackbox-exporter") or "/usr/bin/prometheus-blackbox-exporter"
CURL = shutil.which("curl")
TOKEN = "test-token-7f3a"
PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PUBLIC_SAMPLE_TARGET = "https://example.com"  # what the sample events name; never probed here
CONFIG_TIMEOUT_S = 2.0  # the copy's timeout_s: a hanging probe must end well before the function's timeout
FUNCTION_TIMEOUT_S = 10.0
WAIT_S = 20.0  # upper bound of any single wait in this file
EXAMPLE_GUARD_PORT = 9116  # egress.port in the example, and the HTTP modules' proxy_url

pytestmark = pytest.mark.skipif(not os.access(EXPORTER, os.X_OK), reason="blackbox_exporter not installed")


# local servers the exporter may probe


class _Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/redirect?to="):  # a probed site that sends the prober elsewhere
            self.send_response(302)
            self.send_header("Location", urllib.parse.unquote(self.path.split("=", 1)[1]))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args: Any) -> None:
        pass


class HangingServer:
    """Accepts TCP connections on 127.0.0.1 and never answers (holds them open until closed)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)  # so the accept loop sees close() promptly
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self._closed.set()
        self._thread.join(5)
        self.sock.close()
        for conn in self.held:
            conn.close()


@dataclass
class Targets:
    ok_url: str  # an HTTP server answering 200
    ok_port: int
    closed: str  # a port bound but not listening: connection refused, and nobody else can take it
    hanging_url: str  # accepts, never answers

    @property
    def allowed(self) -> list[str]:
        """The only loopback destinations a test copy of the example may reach: this file's own servers."""
        urls = (self.ok_url, self.closed, self.hanging_url)
        return [f"127.0.0.1:{urllib.parse.urlsplit(url).port}" for url in urls]


@pytest.fixture(scope="module")
def targets() -> Iterator[Targets]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    hanging = HangingServer()
    ok_port = server.server_address[1]
    try:
        yield Targets(
            ok_url=f"http://127.0.0.1:{ok_port}/",
            ok_port=ok_port,
            closed=f"http://127.0.0.1:{closed.getsockname()[1]}/",
            hanging_url=f"http://127.0.0.1:{hanging.port}/",
        )
    finally:
        server.shutdown()
        server.server_close()
        closed.close()
        hanging.close()
        thread.join(5)


# the example, copied and minimally rewritten


def copy_example(dest: Path, targets: Targets, *, timeout_header: bool = True) -> tuple[Path, int]:
    """Copy the example to dest and rewrite its wrapper.yaml for a test; return (config path, exporter port)."""
    shutil.copytree(EXAMPLE, dest)
    config_path = dest / "wrapper.yaml"
    config = yaml.safe_load(config_path.read_text())
    port = free_port()
    listen = [i for i, word in enumerate(config["command"]) if word.startswith("--web.listen-address=")]
    assert len(listen) == 1, f"the example's command changed shape: {config['command']}"
    config["command"][listen[0]] = f"--web.listen-address=127.0.0.1:{port}"
    config["server"]["port"] = port
    # the tests' own servers are on 127.0.0.1: exactly their ports are allowed, every other loopback destination
    # stays denied, both before the probe and at connect time (the egress guard)
    destination = config["inputs"]["target"]["destination"]
    assert destination.get("deny_loopback", True) and destination.get("deny_link_local", True)
    destination["allow"] = targets.allowed
    guard_port = free_port()
    assert config["egress"]["guard"] is True and not config["egress"].get("allow")
    config["egress"].update(port=guard_port, allow=targets.allowed)
    modules = dest / "blackbox.yml"
    shipped = f"proxy_url: http://127.0.0.1:{EXAMPLE_GUARD_PORT}"
    assert modules.read_text().count(shipped) == 2, "the example's HTTP modules should both use the egress guard"
    modules.write_text(modules.read_text().replace(shipped, f"proxy_url: http://127.0.0.1:{guard_port}"))
    config["timeout_s"] = CONFIG_TIMEOUT_S
    if not timeout_header:
        del config["server"]["request"]["timeout_header"]
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return config_path, port


def start_emulator(config: Path, log: Path) -> Emulator:
    return local_lambda(config, env={"WRAPPER_BEARER_TOKEN": TOKEN}, timeout_s=FUNCTION_TIMEOUT_S, log=str(log))


@dataclass
class Deployed:
    emulator: Emulator
    exporter_port: int
    log: Path


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory, targets: Targets) -> Iterator[Deployed]:
    """The example running under the emulator, `wrapper run` as its child and the exporter as the runtime's."""
    base = tmp_path_factory.mktemp("blackbox")
    config, port = copy_example(base / "example", targets)
    log = base / "runtime.log"
    with start_emulator(config, log) as emulator:
        deployed = Deployed(emulator, port, log)
        warm_up(deployed, targets)
        yield deployed


def warm_up(deployed: Deployed, targets: Targets) -> None:
    """One invocation: the runtime's init (and so the exporter's start) is over when it returns."""
    result = deployed.emulator.invoke(json.dumps({"target": targets.ok_url}).encode(), timeout_s=WAIT_S)
    assert result.function_error is None, (result.body, deployed.log.read_text()[-3000:])


# helpers


def probe_event(query: dict[str, str], *, token: str | None = TOKEN) -> bytes:
    headers = {"host": "abc.lambda-url.us-east-1.on.aws", "user-agent": "Prometheus/3.0.1"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return json.dumps(function_url_event(raw_query=urllib.parse.urlencode(query), headers=headers)).encode()


def invoke_http(deployed: Deployed, event: bytes) -> dict[str, Any]:
    """Invoke with an HTTP event through the invoke path; return the shaped HTTP answer."""
    result = deployed.emulator.invoke(event, timeout_s=WAIT_S)
    assert result.function_error is None, (result.body, deployed.log.read_text()[-3000:])
    return result.json()


def probe_success(exposition: str) -> int:
    values = re.findall(r"^probe_success (\d)$", exposition, re.MULTILINE)
    assert len(values) == 1, exposition[-1500:]
    return int(values[0])


def exporter_page(exporter_port: int, path: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", exporter_port, timeout=WAIT_S)
    try:
        conn.request("GET", path)
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def recent_probes(exporter_port: int) -> list[tuple[str, str]]:
    """(module, target) of every probe the exporter ran, newest first, from its own status page."""
    return [(module, target) for module, target, _ in _history(exporter_port)]


def probe_log(exporter_port: int, target: str) -> str:
    """The exporter's own log of its newest probe of target."""
    ids = [probe_id for _, probed, probe_id in _history(exporter_port) if probed == target]
    assert ids, f"the exporter never probed {target!r}"
    return exporter_page(exporter_port, f"/logs?id={ids[0]}")


def _history(exporter_port: int) -> list[tuple[str, str, str]]:
    page = exporter_page(exporter_port, "/")
    assert "Recent Probes" in page, page
    rows = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>.*?logs\?id=(\d+)", page)
    return [(html.unescape(module), html.unescape(target), probe_id) for module, target, probe_id in rows]


def http_request(url: str, *, method: str = "GET", headers: dict[str, str] | None = None,
                 body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=WAIT_S)
    try:
        conn.request(method, f"{parts.path}?{parts.query}" if parts.query else parts.path, body=body,
                     headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def exporter_pids(runtime_pid: int) -> list[int]:
    """The runtime's children that are the blackbox exporter."""
    found = []
    for task in Path(f"/proc/{runtime_pid}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            try:
                argv0 = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[0]
            except OSError:
                continue
            if os.path.basename(argv0) == b"prometheus-blackbox-exporter":
                found.append(int(child))
    return found


def exited(pid: int) -> bool:
    """Whether a process has fully exited: gone, or a zombie its parent can reap.

    A killed multi-threaded program (the exporter is Go) shows its leader as a zombie while other threads are
    still being torn down; until they are, waitpid() does not report it, so the leader's state alone is not enough.
    """
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return True
    return state in ("Z", "X") and threads in ([], [str(pid)])


# through the emulator's invoke path and its Function URL front


def test_probe_of_a_local_server_is_200_with_probe_success_1_and_the_prometheus_content_type(deployed, targets):
    answer = invoke_http(deployed, probe_event({"target": targets.ok_url, "module": "http_2xx"}))
    assert answer["statusCode"] == 200
    assert answer["headers"]["content-type"] == PROMETHEUS_TYPE
    assert answer["headers"]["cache-control"] == "no-store"
    assert answer["isBase64Encoded"] is False
    assert probe_success(answer["body"]) == 1
    assert "probe_http_status_code 200" in answer["body"]
    assert ("http_2xx", targets.ok_url) in recent_probes(deployed.exporter_port)


def test_module_defaults_to_http_2xx_and_tcp_connect_works(deployed, targets):
    default = invoke_http(deployed, probe_event({"target": targets.ok_url}))
    tcp = invoke_http(deployed, probe_event({"target": f"127.0.0.1:{targets.ok_port}", "module": "tcp_connect"}))
    assert probe_success(default["body"]) == 1 and "probe_http_status_code 200" in default["body"]
    assert tcp["statusCode"] == 200 and probe_success(tcp["body"]) == 1


def test_target_with_its_own_query_string_stays_one_parameter(deployed, targets):
    # the naive bash bootstrap pasted the target into the probe URL unescaped: "&module=" would rewrite the query
    target = f"{targets.ok_url}?x=1&module=tcp_connect&debug=true"
    answer = invoke_http(deployed, probe_event({"target": target, "module": "http_2xx"}))
    assert answer["statusCode"] == 200 and probe_success(answer["body"]) == 1
    assert recent_probes(deployed.exporter_port)[0] == ("http_2xx", target)


def test_probe_through_the_function_url_front(deployed, targets):
    query = urllib.parse.urlencode({"target": targets.ok_url, "module": "http_2xx"})
    status, headers, body = http_request(f"{deployed.emulator.url}/probe?{query}",
                                         headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200, body
    assert headers["content-type"] == PROMETHEUS_TYPE
    assert probe_success(body.decode()) == 1


def test_target_in_a_json_body_through_the_function_url_front(deployed, targets):
    status, headers, body = http_request(
        f"{deployed.emulator.url}/probe", method="POST", body=json.dumps({"target": targets.ok_url}).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    assert status == 200, body
    assert headers["content-type"] == PROMETHEUS_TYPE
    assert probe_success(body.decode()) == 1


def redirect_to(targets: Targets, location: str) -> str:
    return f"{targets.ok_url}redirect?to={urllib.parse.quote(location, safe='')}"


def test_redirect_to_an_allowed_destination_is_followed_through_the_egress_guard(deployed, targets):
    answer = invoke_http(deployed, probe_event({"target": redirect_to(targets, targets.ok_url), "module": "http_2xx"}))
    assert probe_success(answer["body"]) == 1
    assert "probe_http_redirects 1" in answer["body"]


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next",  # where the Lambda Runtime API listens
        "http://127.0.0.2:{ok_port}/",  # the allowed port, another loopback address
        "http://localhost:{exporter_port}/metrics",  # the exporter itself
        "http://169.254.169.254/latest/meta-data/",
        "https://127.0.0.2:{ok_port}/",  # HTTPS: the CONNECT is refused
    ],
)
def test_redirect_to_an_internal_destination_is_refused_at_connect_time(deployed, targets, location):
    # the target passes the input check (an allowed test server); only its answer points inside
    location = location.format(ok_port=targets.ok_port, exporter_port=deployed.exporter_port)
    target = redirect_to(targets, location)
    answer = invoke_http(deployed, probe_event({"target": target, "module": "http_2xx"}))
    assert answer["statusCode"] == 200, answer
    assert probe_success(answer["body"]) == 0
    log = probe_log(deployed.exporter_port, target)
    assert "Received redirect" in log
    if location.startswith("http:"):
        assert "probe_http_status_code 403" in answer["body"]  # the egress guard's refusal, as the exporter saw it
    else:
        assert "Forbidden" in log, log  # the refused CONNECT


def test_closed_port_is_200_with_probe_success_0(deployed, targets):
    answer = invoke_http(deployed, probe_event({"target": targets.closed, "module": "http_2xx"}))
    assert answer["statusCode"] == 200
    assert answer["headers"]["content-type"] == PROMETHEUS_TYPE
    assert probe_success(answer["body"]) == 0


def test_unknown_module_is_400_before_the_exporter_is_called(deployed, targets):
    before = recent_probes(deployed.exporter_port)
    answer = invoke_http(deployed, probe_event({"target": targets.ok_url, "module": "icmp"}))
    assert answer["statusCode"] == 400
    error = json.loads(answer["body"])
    assert error["errorType"] == "Function.InvalidEvent" and "inputs.module" in error["errorMessage"]
    assert recent_probes(deployed.exporter_port) == before


@pytest.mark.parametrize(
    "target",
    [
        "169.254.169.254",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://127.0.0.2:{ok_port}/",  # loopback, but not the allowed 127.0.0.1
        "http://[::1]:{ok_port}/",
        "http://localhost:{ok_port}/",
        "http://0.0.0.0:{ok_port}/",  # Linux dials loopback for 0.0.0.0
        "127.2:{ok_port}",  # short form of 127.0.0.2
        "http://[::ffff:127.0.0.2]:{ok_port}/",
        # issue 10: the exporter reads these as URLs of internal hosts; the old check let them through
        "127.0.0.1/x",
        "127.0.0.1?x",
        "169.254.169.254/latest/meta-data/",
        "user@169.254.169.254",
        "example.com@127.0.0.1",
        "x:y@127.0.0.1:9001/2018-06-01/runtime/invocation/next",
        "0/",
        "127.0.0.1:{ok_port}@127.0.0.1:9001/",  # an allowed host:port as user info
    ],
)
def test_internal_target_is_refused_with_400_before_the_exporter_is_called(deployed, targets, target):
    target = target.format(ok_port=targets.ok_port)
    before = recent_probes(deployed.exporter_port)
    answer = invoke_http(deployed, probe_event({"target": target, "module": "http_2xx"}))
    assert answer["statusCode"] == 400, answer
    error = json.loads(answer["body"])
    assert error["errorType"] == "Function.InvalidEvent"
    message = error["errorMessage"]
    assert "inputs.target" in message and ("denied" in message or "user info" in message)
    after = recent_probes(deployed.exporter_port)
    assert after == before
    assert all(probed != target for _, probed in after)


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN, "Bearer"],
    ids=["missing", "wrong", "longer", "basic-scheme", "no-scheme", "empty"],
)
def test_missing_or_wrong_token_is_401_before_the_exporter_is_called(deployed, targets, authorization):
    event = json.loads(probe_event({"target": targets.ok_url}, token=None))
    if authorization is not None:
        event["headers"]["authorization"] = authorization
    before = recent_probes(deployed.exporter_port)
    answer = invoke_http(deployed, json.dumps(event).encode())
    assert answer["statusCode"] == 401
    assert answer["headers"].get("www-authenticate") == "Bearer"
    assert json.loads(answer["body"])["errorType"] == "Function.Unauthorized"
    assert recent_probes(deployed.exporter_port) == before


def test_missing_token_through_the_function_url_front_is_401(deployed, targets):
    query = urllib.parse.urlencode({"target": targets.ok_url})
    status, headers, _ = http_request(f"{deployed.emulator.url}/probe?{query}")
    assert status == 401
    assert headers.get("www-authenticate") == "Bearer"


def test_scheduled_event_returns_the_exposition_text(deployed, targets):
    payload = json.dumps({"target": targets.ok_url, "module": "http_2xx"}).encode()
    result = deployed.emulator.invoke(payload, timeout_s=WAIT_S)
    assert result.function_error is None, result.body
    text = result.body.decode()
    assert text.startswith("# HELP ")
    assert probe_success(text) == 1


def test_scheduled_event_needs_no_token_but_is_still_checked(deployed):
    result = deployed.emulator.invoke(b'{"target": "169.254.169.254"}', timeout_s=WAIT_S)
    assert result.function_error == "Unhandled"
    assert result.json()["errorType"] == "Function.InvalidEvent"


def test_exporter_killed_between_invocations_is_restarted_and_the_next_invocation_succeeds(deployed, targets):
    event = probe_event({"target": targets.ok_url, "module": "http_2xx"})
    assert probe_success(invoke_http(deployed, event)["body"]) == 1
    (runtime_pid,) = deployed.emulator.runtime_pids
    (old,) = exporter_pids(runtime_pid)
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: exited(old), "the killed exporter to exit")

    answer = invoke_http(deployed, event)

    assert answer["statusCode"] == 200, answer["body"]
    assert probe_success(answer["body"]) == 1
    assert deployed.emulator.runtime_pids == [runtime_pid]  # the runtime itself lived on
    (new,) = exporter_pids(runtime_pid)
    assert new != old


def test_hanging_target_ends_before_the_deadline_with_probe_success_0(deployed, targets):
    # The shipped config sends the time left in X-Prometheus-Scrape-Timeout-Seconds; the exporter subtracts its
    # 0.5 s offset and gives up first, so a hanging target is a failed probe (200, probe_success 0), answered by
    # the exporter itself, well before the emulator's Sandbox.Timedout.
    answer = invoke_http(deployed, probe_event({"target": targets.hanging_url, "module": "http_2xx"}))
    assert answer["statusCode"] == 200, answer
    assert probe_success(answer["body"]) == 0
    # the exporter's own limit came from wrapper's header: timeout_s (2, less than the time left) minus 0.5
    assert "timeout_seconds=1.5" in probe_log(deployed.exporter_port, targets.hanging_url)


def test_prometheus_shorter_scrape_timeout_limits_the_probe(deployed, targets):
    # Prometheus's default scrape_timeout (10 s) is below the example's timeout_s (15 s): the exporter must give up
    # before Prometheus does, or a slow target is a failed scrape instead of probe_success 0
    event = json.loads(probe_event({"target": targets.closed, "module": "http_2xx"}))
    event["headers"]["x-prometheus-scrape-timeout-seconds"] = "1"
    answer = invoke_http(deployed, json.dumps(event).encode())
    assert answer["statusCode"] == 200  # a failed probe, not a failed scrape (its body: the closed-port test)
    assert "timeout_seconds=0.5" in probe_log(deployed.exporter_port, targets.closed)


def test_hanging_target_is_504_from_wrapper_before_the_deadline(tmp_path, targets):
    # Without the timeout header the exporter would wait its module's 10 s; wrapper's timeout_s (2 s) ends the
    # request first, with its own 504, long before the emulator's deadline (10 s) would answer Sandbox.Timedout.
    config, _ = copy_example(tmp_path / "example", targets, timeout_header=False)
    log = tmp_path / "runtime.log"
    with start_emulator(config, log) as emulator:
        deployed = Deployed(emulator, 0, log)
        hung = invoke_http(deployed, probe_event({"target": targets.hanging_url, "module": "http_2xx"}))
        after = invoke_http(deployed, probe_event({"target": targets.ok_url, "module": "http_2xx"}))
    assert hung["statusCode"] == 504, hung
    error = json.loads(hung["body"])
    assert error["errorType"] == "Function.Timeout"
    assert after["statusCode"] == 200 and probe_success(after["body"]) == 1


def test_wedged_exporter_is_504_from_wrapper_before_the_deadline_and_the_next_invocation_works(deployed, targets):
    # the shipped config unchanged but for timeout_s: the exporter itself stops answering (SIGSTOP) and stays so
    event = probe_event({"target": targets.ok_url, "module": "http_2xx"})
    (runtime_pid,) = deployed.emulator.runtime_pids
    (exporter,) = exporter_pids(runtime_pid)
    os.kill(exporter, signal.SIGSTOP)
    wedged = invoke_http(deployed, event)
    assert wedged["statusCode"] == 504, wedged
    assert json.loads(wedged["body"])["errorType"] == "Function.Timeout"

    # the next invocation finds /-/healthy silent too: wrapper kills the wedged exporter and starts a new one
    after = invoke_http(deployed, event)

    assert after["statusCode"] == 200 and probe_success(after["body"]) == 1
    assert deployed.emulator.runtime_pids == [runtime_pid]  # the runtime itself lived on
    assert exited(exporter)
    (new,) = exporter_pids(runtime_pid)
    assert new != exporter


def test_stopping_the_function_stops_the_exporter(tmp_path, targets):
    config, port = copy_example(tmp_path / "example", targets)
    with start_emulator(config, tmp_path / "runtime.log") as emulator:
        deployed = Deployed(emulator, port, tmp_path / "runtime.log")
        assert invoke_http(deployed, probe_event({"target": targets.ok_url}))["statusCode"] == 200
        (runtime_pid,) = emulator.runtime_pids
        (exporter,) = exporter_pids(runtime_pid)
    # the emulator's stop() sends the runtime SIGTERM; wrapper stops the exporter's group before exiting
    wait_for(lambda: exited(exporter), "the exporter to exit")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


# the exporter and the egress guard alone: host names resolved only by the tests' resolver, never by DNS


@dataclass
class Guarded:
    exporter_port: int
    hosts: dict[str, list[str]]  # the resolver's map; a test may change it (rebinding)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, targets: Targets) -> Iterator[Guarded]:
    """The example's blackbox.yml, the exporter, and a guard in this process whose resolver is a map."""
    directory = tmp_path_factory.mktemp("guarded")
    hosts = {"probe.example.net": ["127.0.0.1"], "internal.example.net": ["127.0.0.3"],
             "metadata.example.net": ["169.254.169.254"]}

    def resolve(name: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        if name not in hosts:
            raise OSError(f"{name}: name does not resolve")
        return [ipaddress.ip_address(address) for address in hosts[name]]

    guard = EgressGuard(Policy(allow=targets.allowed), resolver=resolve, connect_timeout_s=5).start()
    shipped = f"proxy_url: http://127.0.0.1:{EXAMPLE_GUARD_PORT}"
    (directory / "blackbox.yml").write_text(
        (EXAMPLE / "blackbox.yml").read_text().replace(shipped, f"proxy_url: {guard.url}")
    )
    port = free_port()
    with open(directory / "exporter.log", "wb") as out:
        exporter = subprocess.Popen(
            [EXPORTER, f"--config.file={directory / 'blackbox.yml'}", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=out, stderr=out,
        )
    try:
        def healthy() -> bool:
            assert exporter.poll() is None, (directory / "exporter.log").read_text()
            try:
                return exporter_page(port, "/-/healthy") != ""
            except OSError:
                return False

        wait_for(healthy, "the exporter to be ready")
        yield Guarded(port, hosts)
    finally:
        exporter.terminate()
        exporter.wait(WAIT_S)
        guard.stop()


def probe_directly(guarded: Guarded, target: str) -> str:
    return exporter_page(guarded.exporter_port, "/probe?" + urllib.parse.urlencode({"target": target,
                                                                                    "module": "http_2xx"}))


def test_a_public_looking_name_the_guard_resolves_to_an_allowed_address_is_probed(guarded, targets):
    # probe.example.net exists only in the tests' resolver: the exporter left resolution to the guard
    exposition = probe_directly(guarded, f"http://probe.example.net:{targets.ok_port}/")
    assert probe_success(exposition) == 1 and "probe_http_status_code 200" in exposition


def test_a_name_that_resolves_to_loopback_is_refused_at_connect_time(guarded, targets):
    exposition = probe_directly(guarded, f"http://internal.example.net:{targets.ok_port}/")
    assert probe_success(exposition) == 0 and "probe_http_status_code 403" in exposition


def test_an_https_name_that_resolves_to_the_metadata_address_is_refused_at_connect_time(guarded):
    target = "https://metadata.example.net/latest/meta-data/"
    assert probe_success(probe_directly(guarded, target)) == 0
    assert "Forbidden" in probe_log(guarded.exporter_port, target)  # the guard refused the CONNECT


def test_a_redirect_to_a_name_that_resolves_to_loopback_is_refused(guarded, targets):
    target = f"http://probe.example.net:{targets.ok_port}/redirect?to=" + urllib.parse.quote(
        f"http://internal.example.net:{targets.ok_port}/", safe="")
    exposition = probe_directly(guarded, target)
    assert probe_success(exposition) == 0 and "probe_http_status_code 403" in exposition


def test_a_name_rebound_to_loopback_between_probes_is_refused(guarded, targets):
    guarded.hosts["rebind.example.net"] = ["127.0.0.1"]
    target = f"http://rebind.example.net:{targets.ok_port}/"
    assert probe_success(probe_directly(guarded, target)) == 1
    guarded.hosts["rebind.example.net"] = ["127.0.0.2"]  # same name and port, another loopback address
    exposition = probe_directly(guarded, target)
    assert probe_success(exposition) == 0 and "probe_http_status_code 403" in exposition


# through `wrapper serve` with plain curl, and through `wrapper invoke` with the sample events


@dataclass
class Served:
    url: str
    exporter_port: int
    log: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, targets: Targets) -> Iterator[Served]:
    """`wrapper serve <copy>/wrapper.yaml --port N` as a real subprocess."""
    base = tmp_path_factory.mktemp("serve")
    config, exporter_port = copy_example(base / "example", targets)
    log = base / "serve.log"
    with wrapper_serve([str(config)], log=log, env=clean_env(WRAPPER_BEARER_TOKEN=TOKEN)) as url:
        # one invocation: the runtime's init (and so the exporter's start) is over when it returns
        status, _, body = http_request(f"{url}/2015-03-31/functions/function/invocations",
                                       method="POST", body=json.dumps({"target": targets.ok_url}).encode())
        assert status == 200 and probe_success(body.decode()) == 1, (body, log.read_text()[-3000:])
        yield Served(url, exporter_port, log)


def curl(url: str, *args: str) -> tuple[int, dict[str, str], str]:
    """Plain curl; returns (status, lower-cased headers, body)."""
    done = subprocess.run([CURL, "-sS", "-i", "--max-time", str(WAIT_S), *args, url],
                          capture_output=True, timeout=WAIT_S + 5, check=True)
    head, _, body = done.stdout.decode().partition("\r\n\r\n")
    status_line, *lines = head.split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


needs_curl = pytest.mark.skipif(CURL is None, reason="needs curl")


def probe_url(base: str, **query: str) -> str:
    return f"{base}/probe?{urllib.parse.urlencode(query)}"


@needs_curl
def test_serve_with_curl_probe_of_a_local_server(served, targets):
    status, headers, body = curl(probe_url(served.url, target=targets.ok_url, module="http_2xx"),
                                 "-H", f"Authorization: Bearer {TOKEN}")
    assert status == 200, (body, served.log.read_text()[-3000:])
    assert headers["content-type"] == PROMETHEUS_TYPE
    assert probe_success(body) == 1


@needs_curl
def test_serve_with_curl_closed_port_is_200_with_probe_success_0(served, targets):
    closed = targets.closed.removeprefix("http://").rstrip("/")  # tcp_connect reads host:port
    status, headers, body = curl(probe_url(served.url, target=closed, module="tcp_connect"),
                                 "-H", f"Authorization: Bearer {TOKEN}")
    assert status == 200
    assert headers["content-type"] == PROMETHEUS_TYPE
    assert probe_success(body) == 0


@needs_curl
@pytest.mark.parametrize(
    ("query", "token", "status"),
    [
        ({"target": "{ok}", "module": "icmp"}, TOKEN, 400),
        ({"target": "169.254.169.254"}, TOKEN, 400),
        ({"target": "http://127.0.0.2:{port}/"}, TOKEN, 400),
        ({"target": "{ok}"}, None, 401),
        ({"target": "{ok}"}, "wrong", 401),
    ],
    ids=["unknown-module", "metadata", "other-loopback", "no-token", "wrong-token"],
)
def test_serve_with_curl_refusals(served, targets, query, token, status):
    query = {k: v.format(ok=targets.ok_url, port=targets.ok_port) for k, v in query.items()}
    before = recent_probes(served.exporter_port)
    args = ["-H", f"Authorization: Bearer {token}"] if token else []
    got, _, body = curl(probe_url(served.url, **query), *args)
    assert got == status, body
    assert recent_probes(served.exporter_port) == before


SAMPLE_EVENTS = sorted(p.name for p in (EXAMPLE / "events").glob("*.json"))


def local_copy_of_sample(name: str, dest: Path, target: str) -> tuple[Path, str | None]:
    """The sample event with its public target replaced by the local one; returns (path, its bearer token)."""
    text = (EXAMPLE / "events" / name).read_text()
    assert PUBLIC_SAMPLE_TARGET in text, f"{name} should keep naming a public example target"
    quoted = urllib.parse.quote(PUBLIC_SAMPLE_TARGET, safe="")
    event = json.loads(text)

    def rewrite(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(quoted, urllib.parse.quote(target, safe="")).replace(PUBLIC_SAMPLE_TARGET, target)
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        if isinstance(value, dict):
            return {k: rewrite(v) for k, v in value.items()}
        return value

    local = rewrite(event)
    assert "example.com" not in json.dumps(local)  # nothing public is ever probed
    headers = {k.lower(): v for k, v in (local.get("headers") or {}).items()}
    token = headers["authorization"].removeprefix("Bearer ") if "authorization" in headers else None
    path = dest / name
    path.write_text(json.dumps(local))
    return path, token


def answer_header(answer: dict[str, Any], name: str) -> str:
    """A header of a shaped HTTP answer, from `headers` or (API Gateway REST) `multiValueHeaders`."""
    if "multiValueHeaders" in answer:
        (value,) = {k.lower(): v for k, v in answer["multiValueHeaders"].items()}[name]
        return value
    return {k.lower(): v for k, v in answer["headers"].items()}[name]


def test_there_are_sample_events_for_every_caller():
    assert SAMPLE_EVENTS == ["apigw-v1-probe.json", "function-url-probe.json", "scheduled-probe.json"]


@pytest.fixture(scope="module")
def invoke_copy(tmp_path_factory: pytest.TempPathFactory, targets: Targets) -> Path:
    config, _ = copy_example(tmp_path_factory.mktemp("invoke") / "example", targets)
    return config


@pytest.mark.parametrize("name", SAMPLE_EVENTS)
def test_invoke_with_each_sample_event(invoke_copy, targets, tmp_path, name):
    event_path, token = local_copy_of_sample(name, tmp_path, targets.ok_url)
    env = clean_env(WRAPPER_BEARER_TOKEN=token or TOKEN)
    done = subprocess.run(
        [sys.executable, "-m", "wrapper", "invoke", str(invoke_copy), "--event-file", str(event_path)],
        cwd=ROOT, env=env, capture_output=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    output = done.stdout.decode()
    if "requestContext" in event_path.read_text():  # an HTTP caller: the shaped HTTP answer
        answer = json.loads(output)
        assert answer["statusCode"] == 200, answer
        assert answer_header(answer, "content-type") == PROMETHEUS_TYPE
        assert probe_success(answer["body"]) == 1
    else:  # a scheduled probe: the exposition text itself
        assert output.startswith("# HELP ")
        assert probe_success(output) == 1
