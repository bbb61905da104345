"""The `wrapper` command as a user runs it: `python -m wrapper ...` in a real subprocess, real programs, loopback."""

from __future__ import annotations

import base64
import json
import os
import pty
import re
import shutil
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

import wrapper as wrapper_package
from harness import BIN, ROOT, clean_env, wrapper_serve
from wrapper.cli.local import fixed_ports
from wrapper.config.loader import load_config

CONFIGS = ROOT / "configs"
CURL = shutil.which("curl")
WAIT_S = 20.0  # upper bound of any single wait in this file
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

needs_curl = pytest.mark.skipif(CURL is None, reason="needs curl")


cli_env = clean_env


def wrapper(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `python -m wrapper ARGS` from the repository root, the way the README does."""
    return subprocess.run(
        [sys.executable, "-m", "wrapper", *args],
        cwd=ROOT, env=env or cli_env(), input=stdin if stdin is not None else b"",
        capture_output=True, timeout=60, check=False,
    )


def error_of(done: subprocess.CompletedProcess) -> dict:
    """The error JSON `wrapper invoke` prints as the last line of stderr on a function error."""
    lines = done.stderr.decode().strip().splitlines()
    assert lines, "nothing on stderr"
    return json.loads(lines[-1])


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


# wrapper invoke


def test_quickstart_prints_exactly_the_event():
    done = wrapper("invoke", "configs/echo.yaml", "--event", '{"hello": "world!"}')
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == b'{"hello": "world!"}'


def test_function_error_exits_1_with_the_error_json_on_stderr():
    done = wrapper("invoke", "configs/grep.yaml", "--event", '{"pattern": "(", "text": "a\\n"}')
    assert done.returncode == 1
    assert done.stdout == b""
    error = error_of(done)
    assert error["errorType"] == "Function.BadPattern"
    assert "status 2" in error["errorMessage"] and "grep" in error["errorMessage"]


JQ_EVENT = b'{"filter": ".items | map(. * 2)", "document": {"items": [1, 2, 3]}}'


def test_event_file(tmp_path):
    event = tmp_path / "event.json"
    event.write_bytes(JQ_EVENT)
    done = wrapper("invoke", "configs/jq.yaml", "--event-file", str(event))
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout) == [2, 4, 6]


@pytest.mark.parametrize("args", [["-"], ["--event-file", "-"]], ids=["dash", "event-file-dash"])
def test_event_from_stdin(args):
    done = wrapper("invoke", "configs/jq.yaml", *args, stdin=JQ_EVENT)
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout) == [2, 4, 6]


# each reference config end to end, with the real program


def is_base64_png(stdout: bytes) -> bool:
    return base64.b64decode(json.loads(stdout), validate=True).startswith(PNG_SIGNATURE)


# echo.yaml is the quickstart above
CONFIG_CASES = [
    ("jq.yaml", {"filter": "[.items[] | select(. > 1)]", "document": {"items": [1, 2, 3]}},
     lambda out: json.loads(out) == [2, 3]),
    ("qrencode.yaml", {"text": "-v", "size": 4}, is_base64_png),  # "-v" is data after "--"
    ("grep.yaml", {"pattern": "-v|wor.d", "text": "hello\nworld\nword\na-v\n", "ignore_case": True},
     lambda out: json.loads(out) == ["world", "a-v"]),
    # grep exits 1 on no match: the exit-code table makes it a success with no lines
    ("grep.yaml", {"pattern": "nothing", "text": "hello\n"}, lambda out: json.loads(out) == []),
    # hot mode: the event written as one compact line, the answer the one line the program writes back
    ("echo-hot.yaml", {"hello": "world!", "text": "two\nlines"},
     lambda out: out == b'{"hello":"world!","text":"two\\nlines"}'),
    ("jq-hot.yaml", {"items": [{"name": "a", "price": 2}, {"name": "b", "price": 5}]},
     lambda out: json.loads(out) == {"count": 2, "total": 7, "names": ["a", "b"]}),
    ("jq-hot.yaml", {"items": "not a list"}, lambda out: "Cannot" in json.loads(out)["error"]),
    # a streaming config invoked without streaming: the whole output, buffered, as Lambda's Invoke gives it
    ("stream.yaml", {"last": 3}, lambda out: out == b"1\n2\n3\n"),
]


def test_every_reference_config_is_exercised_through_invoke():
    assert {p.name for p in CONFIGS.glob("*.yaml")} == {"echo.yaml"} | {name for name, _, _ in CONFIG_CASES}


@pytest.mark.parametrize(("name", "event", "check"), CONFIG_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CONFIG_CASES)])
def test_reference_config_end_to_end_through_invoke(name, event, check):
    done = wrapper("invoke", f"configs/{name}", "--event", json.dumps(event))
    assert done.returncode == 0, done.stderr.decode()
    assert check(done.stdout), done.stdout[:500]


def test_invoke_with_a_malformed_config_exits_2_naming_the_problem(tmp_path):
    config = write(tmp_path / "bad.yaml", "command: [cat]\noutput: {format: xml}\n")
    done = wrapper("invoke", str(config), "--event", "{}")
    assert done.returncode == 2
    assert f"{config}:2: output.format" in done.stderr.decode()


def test_invoke_with_a_missing_event_file_is_a_usage_error_not_a_traceback(tmp_path):
    done = wrapper("invoke", "configs/echo.yaml", "--event-file", str(tmp_path / "no-such-event.json"))
    assert done.returncode == 2
    assert "no-such-event.json" in done.stderr.decode()
    assert "Traceback" not in done.stderr.decode()


# wrapper check


def test_check_prints_the_normalized_config():
    done = wrapper("check", "configs/jq.yaml")
    assert done.returncode == 0, done.stderr.decode()
    assert done.stderr == b""  # regression: pydantic's serializer warnings leaked here for args items
    normalized = yaml.safe_load(done.stdout)
    assert normalized["command"] == ["jq", "--compact-output"]
    assert {"command", "inputs", "args", "stdin", "output", "timeout_s"} <= set(normalized)
    assert normalized["inputs"]["filter"]["from"] == "not_null(json.filter, filter)"  # the YAML key `from`
    assert normalized["stdin"]["as"] == "json"
    assert "from_" not in normalized["inputs"]["filter"] and "as_" not in normalized["stdin"]
    # only what the file sets: no default, no null
    assert "mode" not in normalized and "server" not in normalized and "scratch" not in normalized
    assert None not in normalized.values() and "destination" not in normalized["inputs"]["filter"]


def test_check_full_shows_every_default():
    done = wrapper("check", "configs/jq.yaml", "--full")
    assert done.returncode == 0, done.stderr.decode()
    normalized = yaml.safe_load(done.stdout)
    assert normalized["mode"] == "exec" and normalized["version"] == 1 and normalized["server"] is None
    assert normalized["scratch"] == {"dir": "/tmp", "keep": False}


def test_check_warns_when_command_0_is_not_found_here_naming_the_lookup(tmp_path):
    config = write(tmp_path / "wrapper.yaml", "command: [no-such-program-anywhere]\n")
    done = wrapper("check", str(config))
    assert done.returncode == 0, done.stderr.decode()  # a warning: Lambda's PATH is not this machine's
    warning = done.stderr.decode()
    assert warning.startswith("warning: ") and "'no-such-program-anywhere' not found in PATH" in warning
    assert "Lambda's is /var/lang/bin" in warning
    assert yaml.safe_load(done.stdout) == {"command": ["no-such-program-anywhere"]}


def test_check_takes_the_event_from_a_file(tmp_path):
    event = tmp_path / "event.json"
    event.write_text('{"filter": ".a", "document": {"a": 7}}')
    done = wrapper("check", "configs/jq.yaml", "--event-file", str(event))
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout)["argv"][1:] == ["--compact-output", ".a"]


@pytest.mark.parametrize("path", [CONFIGS / "grep.yaml", ROOT / "examples/blackbox-exporter/wrapper.yaml"],
                         ids=["exec", "server"])
def test_check_output_is_itself_a_valid_config_that_normalizes_the_same(path, tmp_path):
    first = wrapper("check", str(path))
    assert first.returncode == 0 and first.stderr == b"", first.stderr.decode()
    # beside the original, so relative paths in the command resolve the same way
    again = tmp_path / "normalized.yaml"
    again.write_bytes(first.stdout)
    second = wrapper("check", str(again))
    assert second.returncode == 0, second.stderr.decode()
    assert second.stdout == first.stdout


def test_check_reports_every_problem_with_file_line_and_field(tmp_path):
    config = write(
        tmp_path / "bad.yaml",
        """\
        version: 1
        command: [cat]
        inputs:
          name:
            type: strnig
        timeout_s: -1
        output:
          format: xml
        surprise: true
        """,
    )
    done = wrapper("check", str(config))
    assert done.returncode == 2
    assert done.stdout == b""
    report = done.stderr.decode()
    for where in (f"{config}:5: inputs.name.type", f"{config}:6: timeout_s", f"{config}:8: output.format",
                  f"{config}:9: surprise"):
        assert where in report, report


def test_check_on_a_missing_file_exits_2(tmp_path):
    done = wrapper("check", str(tmp_path / "nope.yaml"))
    assert done.returncode == 2
    assert "nope.yaml" in done.stderr.decode() and "Traceback" not in done.stderr.decode()


def test_check_with_an_event_shows_what_would_run_without_running_it(tmp_path):
    marker = tmp_path / "ran-marker"
    config = write(
        tmp_path / "touch.yaml",
        """\
        command: [touch]
        inputs:
          path: {type: string}
          greeting: {type: string, default: hi}
        args:
          - "--"
          - {value: path}
        stdin: {template: "{greeting}, world"}
        env:
          GREETING: {value: greeting}
        files:
          note: {value: greeting, filename: note.txt}
        """,
    )
    done = wrapper("check", str(config), "--event", json.dumps({"path": str(marker), "greeting": "hello"}))
    assert done.returncode == 0, done.stderr.decode()
    shown = json.loads(done.stdout)
    assert set(shown) == {"argv", "stdin", "env", "files", "cwd"}
    assert shown["argv"] == [shutil.which("touch"), "--", str(marker)]
    assert shown["stdin"] == "hello, world"
    assert shown["env"]["GREETING"] == "hello" and shown["env"]["HOME"] == shown["cwd"]
    assert shown["files"] == {f"{shown['cwd']}/note.txt": "hello"}
    assert not marker.exists()  # nothing ran
    assert not Path(shown["cwd"]).exists()  # and no scratch dir was made


def test_check_with_an_invalid_event_exits_1_with_the_error(tmp_path):
    done = wrapper("check", "configs/jq.yaml", "--event", '{"filter": ".a"}')
    assert done.returncode == 1
    assert error_of(done)["errorType"] == "Function.InvalidEvent"


# wrapper run, --help


def test_run_without_the_runtime_api_exits_2_with_a_clear_message():
    done = wrapper("run", "configs/echo.yaml")
    assert done.returncode == 2
    message = done.stderr.decode()
    assert "AWS_LAMBDA_RUNTIME_API" in message and "wrapper serve" in message
    assert "Traceback" not in message


def test_help_lists_the_subcommands():
    done = wrapper("--help")
    assert done.returncode == 0
    text = done.stdout.decode()
    for command in ("run", "serve", "invoke", "check", "package"):
        assert f"\n    {command} " in text, text


def test_version_names_the_package_version():
    done = wrapper("--version")
    assert done.returncode == 0
    assert done.stdout.decode().strip() == f"wrapper {wrapper_package.__version__}"


def test_usage_lines_show_invoke_stdin_dash_and_serve_runtime_command():
    invoke_usage = wrapper("invoke", "--help").stdout.decode()
    # config is optional since `invoke --url` takes none
    assert "[config] [-]" in invoke_usage and "{-}" not in invoke_usage
    assert "With no --event, --event-file or -, the event is {}." in " ".join(invoke_usage.split())
    serve_usage = wrapper("serve", "--help").stdout.decode()
    assert "[-- RUNTIME_ARGV ...]" in serve_usage


def test_invoke_ends_its_output_with_a_newline_on_a_terminal():
    controller, terminal = pty.openpty()
    argv = [sys.executable, "-m", "wrapper", "invoke", "configs/echo.yaml", "--event", '{"a": 1}']
    proc = subprocess.Popen(argv, cwd=ROOT, env=cli_env(), stdin=subprocess.DEVNULL, stdout=terminal,
                            stderr=subprocess.DEVNULL)
    os.close(terminal)
    out = b""
    while chunk := _read_terminal(controller):
        out += chunk
    os.close(controller)
    assert proc.wait(WAIT_S) == 0
    assert out == b'{"a": 1}\r\n'  # the terminal's newline, once; piped, the body is unchanged (above)


def _read_terminal(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except OSError:  # EIO: the writer is gone
        return b""


def test_no_subcommand_is_a_usage_error():
    done = wrapper()
    assert done.returncode == 2
    assert "usage: wrapper" in done.stderr.decode()


# wrapper serve


@contextmanager
def serving(config: str | None, log: Path, runtime_argv: list[str] | None = None, *,
            api_prefix: str = "", options: list[str] | None = None) -> Iterator[str]:
    """`wrapper serve [CONFIG] --port N [OPTIONS] [-- RUNTIME_ARGV]` as a subprocess; yields its URL once the port
    accepts."""
    args = [*([config] if config else []), *(["--api-prefix", api_prefix] if api_prefix else []), *(options or []),
            *(["--", *runtime_argv] if runtime_argv else [])]
    with wrapper_serve(args, log=log, env=cli_env()) as url:
        yield url


def curl(*args: str) -> str:
    done = subprocess.run([CURL, "-sS", "--max-time", str(WAIT_S), *args], capture_output=True,
                          timeout=WAIT_S + 5, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


@needs_curl
def test_serve_answers_a_plain_curl_on_the_invoke_endpoint(tmp_path):
    with serving("configs/echo.yaml", tmp_path / "serve.log") as url:
        first = curl("-XPOST", f"{url}/2015-03-31/functions/function/invocations", "-d", '{"a":1}')
        second = curl("-XPOST", f"{url}/2015-03-31/functions/function/invocations", "-d", '{"b":2}')
    assert first == '{"a":1}'
    assert second == '{"b":2}'


@needs_curl
def test_serve_runs_a_hot_config_on_the_invoke_endpoint_and_the_function_url(tmp_path):
    with serving("configs/jq-hot.yaml", tmp_path / "serve.log") as url:
        direct = curl("-XPOST", f"{url}/2015-03-31/functions/function/invocations", "-d", '{"items": []}')
        http = curl("-XPOST", f"{url}/", "-H", "Content-Type: application/json", "-d", '{"items": [{"price": 1}]}')
    assert json.loads(direct) == {"count": 0, "total": None, "names": []}
    assert json.loads(http) == {"count": 1, "total": 1, "names": [None]}


@needs_curl
def test_serve_function_error_carries_the_lambda_header(tmp_path):
    with serving("configs/grep.yaml", tmp_path / "serve.log") as url:
        out = curl("-i", "-XPOST", f"{url}/2015-03-31/functions/function/invocations",
                   "-d", '{"pattern": "(", "text": "x"}')
    head, _, body = out.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200")
    assert "x-amz-function-error: unhandled" in head.lower()
    assert json.loads(body)["errorType"] == "Function.BadPattern"


@needs_curl
def test_serve_in_response_stream_mode_shows_curl_the_first_line_before_the_program_ends(tmp_path):
    gate = tmp_path / "gate"
    config = write(tmp_path / "stream.yaml", f"""\
command: [{sys.executable}, {BIN / "stream_gate.py"}, "first\\n", "{gate}", "last\\n", "0"]
output: {{streaming: true, content_type: text/plain}}
""")
    with serving(str(config), tmp_path / "serve.log", options=["--invoke-mode", "RESPONSE_STREAM"]) as url:
        curl_argv = [CURL, "-sS", "-N", "--max-time", str(WAIT_S), f"{url}/"]
        with subprocess.Popen(curl_argv, stdout=subprocess.PIPE) as proc:
            first = proc.stdout.readline()  # the program waits for the gate until curl has shown this line
            gate.touch()
            rest = proc.stdout.read()
            assert proc.wait(WAIT_S) == 0
    assert (first, rest) == (b"first\n", b"last\n")


BASH_RUNTIME = ["bash", str(BIN / "bash_runtime.sh")]


def run_bash_runtime_check(url: str) -> None:
    answer = json.loads(curl("-XPOST", f"{url}/2015-03-31/functions/function/invocations", "-d", '{"a":1}'))
    assert answer == {"shell": "bash", "event": {"a": 1}}
    again = json.loads(curl("-XPOST", f"{url}/2015-03-31/functions/function/invocations", "-d", '[2]'))
    assert again == {"shell": "bash", "event": [2]}


@needs_curl
def test_serve_runs_a_bash_runtime_given_after_a_config(tmp_path):
    with serving("configs/echo.yaml", tmp_path / "serve.log", BASH_RUNTIME) as url:
        run_bash_runtime_check(url)


@needs_curl
def test_serve_runs_a_bash_runtime_given_after_dashes_without_a_config(tmp_path):
    with serving(None, tmp_path / "serve.log", BASH_RUNTIME) as url:
        run_bash_runtime_check(url)


def test_serve_on_a_busy_port_says_so_in_one_line():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        done = wrapper("serve", "configs/echo.yaml", "--port", str(taken.getsockname()[1]))
    message = done.stderr.decode()
    assert done.returncode == 1
    assert "Traceback" not in message and len(message.strip().splitlines()) == 1, message
    assert "cannot listen on" in message and "in use" in message


@pytest.mark.parametrize("prefix", ["rt", "/a b", "/"])
def test_serve_refuses_an_api_prefix_that_is_not_a_path(prefix):
    done = wrapper("serve", "configs/echo.yaml", "--port", "0", "--api-prefix", prefix)
    assert done.returncode == 2 and "api_prefix" in done.stderr.decode() and b"Traceback" not in done.stderr


def test_serve_with_an_api_prefix_gives_its_runtime_the_prefixed_address(tmp_path):
    with serving("configs/echo.yaml", tmp_path / "serve.log", api_prefix="/.rt") as url:
        answer = subprocess.run(["curl", "-s", "-d", '{"p": 1}', f"{url}/2015-03-31/functions/function/invocations"],
                                capture_output=True, timeout=30, check=True)
        assert answer.stdout == b'{"p": 1}'
        assert re.search(r"AWS_LAMBDA_RUNTIME_API=127\.0\.0\.1:\d+/\.rt$", (tmp_path / "serve.log").read_text(), re.M)


@pytest.mark.parametrize(
    ("yaml", "named"),
    [("mode: server\nserver: {port: 9187, ready: {path: /}}\n", "server.port 9187"),
     ("egress: {guard: true, port: 9188}\n", "egress.port 9188")],
)
def test_serve_refuses_runtimes_that_would_share_a_fixed_loopback_port(tmp_path, yaml, named):
    config = write(tmp_path / "fixed.yaml", f"command: [cat]\n{yaml}")
    done = wrapper("serve", str(config), "--port", "0", "--runtimes", "2")
    assert done.returncode == 2
    message = done.stderr.decode()
    assert f"only one of them can listen on {named}" in message and "--runtimes 1" in message


def test_an_egress_port_chosen_at_init_is_no_fixed_port(tmp_path):
    config = write(tmp_path / "free.yaml", "command: [cat]\negress: {guard: true}\n")  # egress.port 0: chosen at init
    assert fixed_ports(load_config(config)) == ""
