"""Hot mode end to end: `wrapper run` under the emulator with real long-lived programs; the line and the policy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from events.samples import function_url_event
from harness import local_lambda
from wrapper.config.loader import load_config
from wrapper.errors import InvalidEventError, ProgramError, ProgramTimeoutError
from wrapper.mapping.hotline import build_hot_line
from wrapper.programs.hot_process import HotOutcome
from wrapper.runtime.hot_mode import hot_response
from wrapper.types import Invocation

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
PROGRAM = str(ROOT / "tests" / "bin" / "hot_program.py")
INVOCATION = Invocation("req-1", 1_700_000_000_000, b"", function_arn="arn:aws:lambda:us-east-1:1:function:f")


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "wrapper.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def program_config(tmp_path: Path, extra: str = "", *, args: str = "", hot: str = "restart_backoff_s: 0.01",
                   stdin: str = "event") -> Path:
    lines = [f"mode: hot\ncommand: [{PYTHON}, {PROGRAM}{args}]\nstdin: {stdin}\noutput: {{format: json}}",
             f"timeout_s: 5\ngrace_s: 0.2\nhot: {{{hot}}}\n{extra}\n"]
    return write_config(tmp_path, "\n".join(lines))


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def error_of(result) -> str | None:
    return None if result.function_error is None else json.loads(result.body)["errorType"]


# the line


def line_for(tmp_path: Path, yaml: str, body: bytes, values: dict | None = None) -> bytes:
    config = load_config(write_config(tmp_path, "mode: hot\ncommand: [cat]\n" + yaml))
    invocation = Invocation(INVOCATION.request_id, INVOCATION.deadline_ms, body, INVOCATION.function_arn)
    return build_hot_line(config, values or {}, invocation)


@pytest.mark.parametrize(
    ("yaml", "body", "values", "line"),
    [
        ("stdin: event", b'{\n  "a": [1, 2],\n  "t": "x\\ny"\n}', {}, b'{"a":[1,2],"t":"x\\ny"}\n'),
        ("stdin: event", '"caf\u00e9"'.encode(), {}, '"caf\u00e9"\n'.encode()),
        ("inputs: {q: {}}\nstdin: {value: q}", b"{}", {"q": "plain text"}, b"plain text\n"),
        ("inputs: {q: {type: object}}\nstdin: {value: q, as: json}", b"{}", {"q": {"k": [1, None]}},
         b'{"k":[1,null]}\n'),
        ("inputs: {q: {}}\nstdin: {template: 'find {q}'}", b"{}", {"q": "x"}, b"find x\n"),
        ("stdin: none", b"{}", {}, b"\n"),
        ("stdin: event\nhot: {framing: actionloop}", b'{"k": 1}', {},
         b'{"value":{"k":1},"activation_id":"req-1","deadline":"1700000000000",'
         b'"function_arn":"arn:aws:lambda:us-east-1:1:function:f"}\n'),
        ("inputs: {q: {}}\nstdin: {value: q}\nhot: {framing: actionloop}", b"{}", {"q": "a\nb"},
         b'{"value":"a\\nb","activation_id":"req-1","deadline":"1700000000000",'
         b'"function_arn":"arn:aws:lambda:us-east-1:1:function:f"}\n'),
    ],
    ids=["event-compacted", "event-utf8", "text", "value-json", "template", "none", "actionloop", "actionloop-text"],
)
def test_each_event_is_exactly_one_line(tmp_path, yaml, body, values, line):
    assert line_for(tmp_path, yaml, body, values) == line


@pytest.mark.parametrize(
    ("yaml", "body", "values", "reason"),
    [
        ("inputs: {q: {}}\nstdin: {value: q}", b"{}", {"q": "two\nlines"}, "line break"),
        ("inputs: {q: {}}\nstdin: {value: q}", b"{}", {"q": "carriage\rreturn"}, "line break"),
        ("inputs: {q: {}}\nstdin: {value: q, as: base64}", b"{}", {"q": "YQpi"}, "line break"),  # "a\nb"
        ("stdin: event", b'{"a": NaN}', {}, "not valid JSON"),
        ("stdin: event", b"not json", {}, "not valid JSON"),
    ],
    ids=["lf", "cr", "base64-lf", "nan", "not-json"],
)
def test_a_payload_that_cannot_be_one_line_is_an_invalid_event(tmp_path, yaml, body, values, reason):
    with pytest.raises(InvalidEventError, match=reason):
        line_for(tmp_path, yaml, body, values)


# the policy


@pytest.mark.parametrize(
    ("outcome", "error_type", "message"),
    [
        (HotOutcome(out_of_step="it wrote more than one line for one event"), "Function.OutOfStep",
         "more than one line"),
        (HotOutcome(timed_out=True, duration_s=2.0), "Function.Timeout", "no answer within 2.0 s"),
        (HotOutcome(too_large=True), "Function.OutputTooLarge", "output.max_bytes"),
        (HotOutcome(exit_code=3, log_tail=b"bad input"), "Function.BadInput", "listed"),
        (HotOutcome(exit_code=4, log_tail=b"oops"), "Function.NonZeroExit", "exited with status 4 while handling"),
        (HotOutcome(signal=9), "Function.Signaled", "SIGKILL"),
        (HotOutcome(exit_code=0, partial=b'{"half'), "Function.ProgramExited", "unterminated line of 6 bytes"),
        (HotOutcome(exit_code=5), "Function.ProgramExited", "status 5 while handling the event"),
    ],
    ids=["out-of-step", "timeout", "too-large", "mapped-exit", "exit", "signal", "partial", "success-exit"],
)
def test_outcome_policy(tmp_path, outcome, error_type, message):
    config = load_config(write_config(tmp_path, """\
        mode: hot
        command: [prog]
        exit_codes:
          3: {error_type: Function.BadInput, message: listed}
          5: {success: true}
        """))
    with pytest.raises((ProgramError, ProgramTimeoutError)) as caught:
        hot_response(outcome, config)
    assert caught.value.error_type == error_type and message in str(caught.value)
    assert "restarted" in str(caught.value) or error_type == "Function.BadInput"


def test_answer_is_shaped_by_output_format(tmp_path):
    config = load_config(write_config(tmp_path, "mode: hot\ncommand: [prog]\noutput: {format: json}\n"))
    assert hot_response(HotOutcome(answer=b'{"a": 1}'), config) == b'{"a": 1}'
    with pytest.raises(ProgramError, match="valid JSON"):
        hot_response(HotOutcome(answer=b"{half"), config)


# end to end


def test_echo_hot_answers_every_event_from_one_program():
    with local_lambda(ROOT / "configs" / "echo-hot.yaml") as emulator:
        results = [emulator.invoke(json.dumps({"n": n, "text": "a\nb"}).encode()) for n in range(20)]
        [runtime] = emulator.runtime_pids
        [cat] = children(runtime)
        more = emulator.invoke(b'{"n": "last"}')
        assert children(runtime) == [cat]  # the same cat answered all of them
    assert [r.body for r in results] == [json.dumps({"n": n, "text": "a\nb"}, separators=(",", ":")).encode()
                                         for n in range(20)]
    assert more.body == b'{"n":"last"}'


def test_crash_timeout_and_out_of_step_each_get_an_error_and_the_next_event_works(tmp_path):
    config = program_config(tmp_path, "exit_codes: {7: {error_type: Function.Refused, message: refused}}")
    kinds = [("exit", 7, "Function.Refused"), ("exit", 4, "Function.NonZeroExit"), ("hang", "", "Function.Timeout"),
             ("extra", "", "Function.OutOfStep"), ("partial", "", "Function.ProgramExited"),
             ("signal", "SIGKILL", "Function.Signaled")]
    with local_lambda(config, timeout_s=10) as emulator:
        first = emulator.invoke(b'{"kind": "ok"}').json()["pid"]
        for kind, arg, expected in kinds:
            failed = emulator.invoke(json.dumps({"kind": kind, "arg": arg}).encode())
            after = emulator.invoke(b'{"kind": "ok"}')
            assert error_of(failed) == expected, failed.body
            assert after.function_error is None and after.json()["n"] == 1, after.body  # a fresh program
            assert after.json()["pid"] != first
            posts = emulator.stats.posts
            assert posts[failed.request_id] == 1 and posts[after.request_id] == 1


def test_http_events_and_bearer_auth_work_as_in_exec_mode(tmp_path):
    config = program_config(tmp_path, "inputs: {kind: {from: query.kind}}\nauth: {bearer_token_env: TOKEN}",
                            stdin="{value: kind, as: json}")
    with local_lambda(config, env={"TOKEN": "s3cret"}) as emulator:
        denied = emulator.invoke(json.dumps(function_url_event(raw_query="kind=ok")).encode()).json()
        event = function_url_event(raw_query="kind=ok", headers={"authorization": "Bearer s3cret"})
        allowed = emulator.invoke(json.dumps(event).encode()).json()
    assert denied["statusCode"] == 401
    assert allowed["statusCode"] == 200 and json.loads(allowed["body"])["ok"] is True


def test_the_egress_guard_reaches_a_hot_program_through_its_proxy_variables(tmp_path):
    config = program_config(tmp_path, "egress: {guard: true}")
    with local_lambda(config) as emulator:
        proxies = {name: emulator.invoke(json.dumps({"kind": "env", "arg": name}).encode()).json()["env"]
                   for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")}
    assert proxies["HTTP_PROXY"].startswith("http://127.0.0.1:") and proxies["HTTPS_PROXY"] == proxies["HTTP_PROXY"]
    assert proxies["NO_PROXY"] == ""  # nothing bypasses the guard


def test_one_program_per_loop_with_max_concurrency(tmp_path):
    config = program_config(tmp_path)
    with local_lambda(config, max_concurrency=3) as emulator:
        emulator.invoke(b"{}")  # init is over
        [runtime] = emulator.runtime_pids
        assert len(children(runtime)) == 3  # all started at init
        with ThreadPoolExecutor(3) as pool:
            results = list(pool.map(lambda _: emulator.invoke(b'{"kind": "slow", "arg": 0.3}'), range(9)))
        assert len(children(runtime)) == 3
    assert all(r.function_error is None for r in results)
    assert len({r.json()["pid"] for r in results}) == 3


def test_sigterm_stops_every_program_and_its_group(tmp_path):
    config = program_config(tmp_path)
    with local_lambda(config, max_concurrency=2) as emulator:
        grandchild = emulator.invoke(b'{"kind": "grandchild"}').json()["grandchild"]
        [runtime] = emulator.runtime_pids
        programs = children(runtime)
    # the emulator stopped its runtime with SIGTERM; the runtime stopped both programs' groups
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") for p in [*programs, grandchild]):
        time.sleep(0.02)
    assert not any(_live(p) for p in [*programs, grandchild])


def test_actionloop_program_that_never_acks_fails_init(tmp_path):
    config = program_config(tmp_path, args=", --actionloop, --no-ack",
                            hot="framing: actionloop, ack: true, ready_timeout_s: 0.5")
    with local_lambda(config) as emulator:
        result = emulator.invoke(b"{}")
    assert error_of(result) == "Runtime.HotStartError"
    assert "did not acknowledge its start" in json.loads(result.body)["errorMessage"]


def test_check_shows_the_exact_line(tmp_path):
    done = subprocess.run(
        [PYTHON, "-m", "wrapper", "check", str(ROOT / "configs" / "echo-hot.yaml"), "--event", '{"a":\n 1}'],
        capture_output=True, check=False, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["line"] == '{"a":1}\n' and shown["answer_on"] == "stdout"
    assert shown["program"]["argv"][-1].endswith("cat") and shown["program"]["cwd"] == str(ROOT / "configs")


def _live(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_metrics_records_count_the_answer_and_a_crash_mid_event(tmp_path):
    from emf_rules import assert_valid_emf, emf_lines

    config = program_config(tmp_path, "metrics: {namespace: WrapperHot, dimensions: {service: hot}}")
    log = tmp_path / "runtime.log"
    with local_lambda(config, log=str(log)) as emulator:
        ok = emulator.invoke(b'{"kind": "ok"}')
        crashed = emulator.invoke(b'{"kind": "exit", "arg": 3}')
    records = {r["requestId"]: r for r in emf_lines(log.read_text())}
    for record in records.values():
        assert_valid_emf(record)
    good, bad = records[ok.request_id], records[crashed.request_id]
    assert good["Success"] == 1 and good["OutputBytes"] == len(ok.body)
    assert bad["Error"] == 1 and bad["ExitStatus"] == 3 and bad["ErrorType"] == "Function.NonZeroExit"
