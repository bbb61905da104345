"""Metrics as a user meets them locally: `wrapper invoke` and `wrapper serve` show the records, `check` lists them."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from emf_rules import assert_valid_emf, emf_lines
from test_cli import ROOT, WAIT_S, serving, wrapper, write

BLACKBOX = ROOT / "examples" / "blackbox-exporter" / "wrapper.yaml"
ECHO_WITH_METRICS = """\
command: [cat]
stdin: event
metrics:
  namespace: WrapperEcho
  dimensions: {service: echo}
"""


def test_invoke_shows_the_record_in_the_log_on_stderr_and_the_answer_alone_on_stdout(tmp_path):
    config = write(tmp_path / "echo.yaml", ECHO_WITH_METRICS)
    done = wrapper("invoke", str(config), "--event", '{"a": 1}')
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == b'{"a": 1}'
    (record,) = emf_lines(done.stderr.decode())
    assert_valid_emf(record)
    assert record["service"] == "echo" and record["Success"] == 1 and record["OutputBytes"] == 8


def test_serve_shows_each_invocations_record_in_its_output(tmp_path):
    config = write(tmp_path / "echo.yaml", ECHO_WITH_METRICS)
    log = tmp_path / "serve.log"
    with serving(str(config), log) as url:
        for body in (b'{"n": 1}', b'{"n": 2}'):
            request = urllib.request.Request(f"{url}/2015-03-31/functions/function/invocations", data=body)
            with urllib.request.urlopen(request, timeout=WAIT_S) as answer:
                assert answer.read() == body
                request_id = answer.headers["X-Amzn-RequestId"]
    records = emf_lines(log.read_text())
    assert len(records) == 2 and records[-1]["requestId"] == request_id
    for record in records:
        assert_valid_emf(record)


def check_event(config: Path, event: dict) -> dict:
    done = wrapper("check", str(config), "--event", json.dumps(event))
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)["metrics"]


def test_check_says_which_metrics_a_scheduled_probe_would_emit():
    # a URL target goes with an http module: tcp_connect reads host:port and would refuse it (issue 10)
    described = check_event(BLACKBOX, {"target": "https://example.com/?token=s3cret", "module": "http_2xx"})
    assert described["emitted"] is True and described["namespace"] == "Blackbox"
    assert described["dimensions"] == {"target": "https://example.com/", "module": "http_2xx"}  # no query string
    assert described["prometheus"]["probe_success"] == {"unit": "None", "sample": "probe_success"}
    assert described["prometheus"]["probe_duration_seconds"]["unit"] == "Seconds"
    assert described["invocation"] == {"Duration": "Milliseconds", "Success": "Count", "Error": "Count"}
    assert "ErrorType" in described["on_error"]


def test_check_says_an_http_probe_emits_nothing_in_the_example():
    event = json.loads((BLACKBOX.parent / "events" / "function-url-probe.json").read_text())
    described = check_event(BLACKBOX, event)
    assert described == {"emitted": False,
                         "reason": "metrics.events is 'direct': an HTTP invocation emits no record"}


def test_check_without_metrics_shows_no_metrics_key(tmp_path):
    config = write(tmp_path / "plain.yaml", "command: [cat]\nstdin: event\n")
    done = wrapper("check", str(config), "--event", "{}")
    assert done.returncode == 0 and "metrics" not in json.loads(done.stdout)
