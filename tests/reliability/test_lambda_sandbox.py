"""The harness (tests/lambda_sandbox.py): the runtime and its programs really run as Lambda runs them, a write
outside the sandbox's tmp dirs is found, and run by anyone but root it fails rather than skip."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from lambda_sandbox import FAKE_CREDENTIALS, LAMBDA_GID, LAMBDA_UID, MAX_FILES, MAX_PROCESSES
from reliability_helpers import (
    LAMBDA,
    PYTHON,
    ROOT,
    WAIT_S,
    program,
    runtime_pid,
    start_emulator,
    write_config,
)

pytestmark = pytest.mark.reliability


def _status(pid: int, name: str) -> list[str]:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.split()[1:]
    raise AssertionError(f"no {name} in /proc/{pid}/status")


def test_runtime_and_programs_run_as_lambdas_user_under_lambdas_limits(sandbox):
    install = Path(PYTHON).parent
    places = [sandbox.dir, LAMBDA.home, install, ROOT, sandbox.tmp, sandbox.scratch]
    config = write_config(sandbox.dir, f"""\
        command: [{PYTHON}, {program("lambda_conditions")}, {", ".join(map(str, places))}]
        scratch: {{dir: {sandbox.scratch}}}
        """)
    with start_emulator(config, log=sandbox.log) as emulator:
        result = emulator.invoke(b"{}", timeout_s=WAIT_S * 3)
        pid = runtime_pid(emulator)
        runtime = {
            "uids": _status(pid, "Uid"), "gids": _status(pid, "Gid"), "groups": _status(pid, "Groups"),
            "limits": Path(f"/proc/{pid}/limits").read_text(),
            "environ": dict(item.split("=", 1) for item in
                            Path(f"/proc/{pid}/environ").read_text().split("\0") if item),  # root may read it
        }
    assert result.function_error is None, result.body[:300]
    seen = json.loads(result.body)
    assert (seen["uid"], seen["gid"], seen["groups"]) == (LAMBDA_UID, LAMBDA_GID, [])
    assert (seen["nofile"], seen["nproc"]) == ([MAX_FILES] * 2, [MAX_PROCESSES] * 2)
    assert seen["writable"] == {str(sandbox.dir): "Permission denied", str(LAMBDA.home): "Permission denied",
                                str(install): "Permission denied", str(ROOT): seen["writable"][str(ROOT)],
                                str(sandbox.tmp): True, str(sandbox.scratch): True}
    assert seen["writable"][str(ROOT)] is not True  # the checkout: unreachable or read-only, never written
    assert not set(FAKE_CREDENTIALS) & set(seen["env"])
    assert runtime["uids"] == runtime["gids"] == [str(LAMBDA_UID)] * 4 and runtime["groups"] == []
    assert f"Max open files            {MAX_FILES}                 {MAX_FILES}" in runtime["limits"]
    assert f"Max processes             {MAX_PROCESSES}                 {MAX_PROCESSES}" in runtime["limits"]
    assert {k: runtime["environ"].get(k) for k in FAKE_CREDENTIALS} == FAKE_CREDENTIALS
    assert runtime["environ"]["HOME"] == str(LAMBDA.home)


def test_a_write_outside_the_tmp_dirs_is_found(sandbox):
    stray = Path(tempfile.gettempdir()) / f"stray-{uuid.uuid4().hex}"
    allowed = sandbox.tmp / "fine"
    write = "import sys\nfor path in sys.argv[1:]: open(path, 'w').close()"
    try:
        subprocess.run([*LAMBDA.launcher(), PYTHON, "-c", write, str(stray), str(allowed)], check=True, cwd="/",
                       timeout=WAIT_S)
        found = LAMBDA.writes_outside(roots=(tempfile.gettempdir(),))
    finally:
        stray.unlink(missing_ok=True)
    assert str(stray) in found
    assert allowed.exists() and not [path for path in found if path.startswith(str(sandbox.tmp))]


def test_run_by_anyone_but_root_the_harness_fails_and_says_why(sandbox):
    """It never falls back to running the suites as root, nor skips them."""
    copy = sandbox.tmp / "lambda_sandbox.py"
    shutil.copy(Path(__file__).resolve().parent.parent / "lambda_sandbox.py", copy)
    base = sandbox.tmp / "base"
    base.mkdir()
    for path in (copy, base):
        os.chown(path, LAMBDA_UID, LAMBDA_GID)
    code = ("import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); import lambda_sandbox as ls\n"
            "try: ls.LambdaSandbox(Path(sys.argv[2])).prepare()\nexcept ls.SandboxError as exc: print(exc)")
    done = subprocess.run([*LAMBDA.launcher(), PYTHON, "-c", code, str(sandbox.tmp), str(base)], cwd="/",
                          capture_output=True, text=True, timeout=WAIT_S, check=False)
    assert done.returncode == 0, done.stderr
    assert "switching users takes root" in done.stdout and os.listdir(base) == []
