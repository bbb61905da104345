"""End to end: examples/unicode-names/ as shipped, a hot-mode actionloop worker under a real `wrapper run`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness import local_lambda
from wrapper.config.loader import load_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "unicode-names"
EVENTS = sorted((EXAMPLE / "events").glob("*.json"))


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    """The example's function, one runtime for the module; yields (emulator, its log file)."""
    log = tmp_path_factory.mktemp("unicode-names") / "runtime.log"
    with local_lambda(EXAMPLE / "wrapper.yaml", timeout_s=10, log=log) as emulator:
        yield emulator, log


def test_the_example_is_what_the_readme_says():
    config = load_config(EXAMPLE / "wrapper.yaml")
    assert (config.mode, config.hot.framing, config.hot.result_fd, config.hot.ack) == ("hot", "actionloop", 3, True)
    for name in ("README.md", "template.yaml", "worker.py"):
        assert (EXAMPLE / name).is_file()
    assert {p.name for p in EVENTS} == {"plain.json", "function-url.json"}


def test_one_worker_answers_every_lookup_after_loading_once(worker):
    emulator, _ = worker
    answers = [emulator.invoke(json.dumps({"q": q}).encode()).json() for q in ("snowman", "black chess king", "zzz")]
    assert [a["query"] for a in answers] == ["snowman", "black chess king", "zzz"]
    assert answers[0]["matches"][0] == {"char": "\u2603", "code": "U+2603", "name": "SNOWMAN"}
    assert answers[1]["matches"][0]["char"] == "\u265a"
    assert answers[2]["matches"] == []
    assert len({a["worker"] for a in answers}) == 1  # the index was built by one process, once


def test_the_workers_stdout_is_its_log_tagged_with_the_request_id(worker):
    emulator, log = worker
    result = emulator.invoke(b'{"q": "smiling cat"}')
    assert result.json()["matches"]
    assert f"\t{result.request_id}\t'smiling cat': " in log.read_text()
    assert "index of" in log.read_text()  # logged once, at init


def test_sample_events(worker):
    emulator, _ = worker
    plain = emulator.invoke((EXAMPLE / "events" / "plain.json").read_bytes()).json()
    assert plain["matches"][0]["name"] == "SNOWMAN"
    http = emulator.invoke((EXAMPLE / "events" / "function-url.json").read_bytes()).json()
    assert http["statusCode"] == 200 and http["headers"]["content-type"] == "application/json"
    assert json.loads(http["body"])["matches"][0]["name"] == "BLACK CHESS KING"


def test_a_query_that_could_break_the_line_never_reaches_the_worker(worker):
    emulator, _ = worker
    before = emulator.invoke(b'{"q": "snowman"}').json()["worker"]
    refused = emulator.invoke(json.dumps({"q": "snow\nman"}).encode())
    assert json.loads(refused.body)["errorType"] == "Function.InvalidEvent"
    assert emulator.invoke(b'{"q": "snowman"}').json()["worker"] == before


def test_check_shows_the_actionloop_line():
    done = subprocess.run(
        [sys.executable, "-m", "wrapper", "check", str(EXAMPLE / "wrapper.yaml"), "--event", '{"q": "snowman"}'],
        capture_output=True, check=False, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    line = json.loads(shown["line"])
    assert line["value"] == "snowman" and line["activation_id"] and shown["answer_on"] == "fd 3"
    assert shown["program"]["env"]["__OW_WAIT_FOR_ACK"] == "1"
