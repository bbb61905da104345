"""Scratch dirs: fresh and private, and removed whatever modes the program left, as Lambda's unprivileged user
(tests/lambda_sandbox.py) and as root; symlinks the program left are never followed."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from lambda_sandbox import LAMBDA_GID, LAMBDA_UID, shared_sandbox
from wrapper.programs.scratch import make_scratch, remove_scratch

# What a program may leave (tar extracts a caller's modes as they are): a 0500 dir with files and a 0500 subdir,
# a 000 dir with a file, a read-only file, a symlink to a dir outside, and the scratch dir itself at 0500.
LOCK = """\
import os, sys
os.chdir(sys.argv[1])
os.makedirs("ro/sub")
for name in ("ro/data", "ro/sub/file", "readonly"):
    open(name, "w").write("x")
os.symlink(sys.argv[2], "ro/link-out")
os.chmod("ro/sub", 0o500); os.chmod("ro", 0o500); os.chmod("readonly", 0o400)
os.mkdir("closed"); open("closed/file", "w").close(); os.chmod("closed", 0)
os.chmod(".", 0o500)
"""
REMOVE = "import sys; from wrapper.programs.scratch import remove_scratch; print(remove_scratch(sys.argv[1]))"


@pytest.fixture
def lambda_box():
    sandbox = shared_sandbox()
    box = sandbox.new_box("test_scratch")
    yield sandbox, box
    sandbox.remove_box(box)


def _as_lambda_user(sandbox, code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*sandbox.launcher(), sandbox.python, "-c", code, *args], capture_output=True, text=True,
                          timeout=30, cwd="/", check=False)


def _outside(box) -> Path:
    outside = box.tmp / "outside"
    outside.mkdir()
    (outside / "keep").write_text("still here")
    os.chown(outside, LAMBDA_UID, LAMBDA_GID)
    outside.chmod(0o500)
    return outside


def test_make_scratch_is_a_new_private_dir(tmp_path):
    first, second = make_scratch(str(tmp_path)), make_scratch(str(tmp_path))
    assert first != second and Path(first).parent == tmp_path
    assert stat.S_IMODE(os.stat(first).st_mode) == 0o700 and os.listdir(first) == []


def test_remove_scratch_removes_locked_dirs_as_lambdas_user(lambda_box):
    """Fails with a plain rmtree: as the owner (not root) nothing below a 0500 or 000 dir can be removed."""
    sandbox, box = lambda_box
    outside = _outside(box)
    scratch = _as_lambda_user(sandbox, "from wrapper.programs.scratch import make_scratch; import sys; "
                                       "print(make_scratch(sys.argv[1]))", str(box.scratch)).stdout.strip()
    locked = _as_lambda_user(sandbox, LOCK, scratch, str(outside))
    assert locked.returncode == 0, locked.stderr
    removed = _as_lambda_user(sandbox, REMOVE, scratch)
    assert (removed.stdout.strip(), removed.stderr) == ("True", "")
    assert os.listdir(box.scratch) == []
    assert stat.S_IMODE(outside.stat().st_mode) == 0o500 and (outside / "keep").read_text() == "still here"


def test_remove_scratch_says_and_logs_what_it_cannot_remove(lambda_box):
    sandbox, box = lambda_box
    scratch = box.scratch / "wrapper-test"
    (scratch / "roots").mkdir(parents=True)
    (scratch / "roots" / "file").write_text("root's")  # root's dir in the user's: nothing the user may change
    os.chown(scratch, LAMBDA_UID, LAMBDA_GID)
    removed = _as_lambda_user(sandbox, REMOVE, str(scratch))
    assert removed.stdout.strip() == "False"
    assert f"Scratch dir {scratch} could not be removed" in removed.stderr
    assert (scratch / "roots" / "file").read_text() == "root's"


def test_remove_scratch_never_follows_a_symlink_as_root(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir(mode=0o500)
    (tmp_path / "scratch").mkdir()
    scratch = make_scratch(str(tmp_path / "scratch"))
    subprocess.run([sys.executable, "-c", LOCK, scratch, str(outside)], check=True)
    assert remove_scratch(scratch) is True
    assert not os.path.lexists(scratch) and stat.S_IMODE(outside.stat().st_mode) == 0o500


@pytest.mark.parametrize("left", ["nothing", "a file", "a symlink in place of the dir"])
def test_remove_scratch_handles_the_ordinary_cases(tmp_path, left):
    scratch = make_scratch(str(tmp_path))
    if left == "a file":
        Path(scratch, "out.txt").write_text("x")
    elif left == "a symlink in place of the dir":
        os.rmdir(scratch)
        os.symlink(tmp_path, scratch)
    gone = remove_scratch(scratch)
    assert gone is (left != "a symlink in place of the dir")
    assert os.path.isdir(tmp_path)  # a symlink is never followed, even at the top
    assert os.listdir(tmp_path) == ([] if gone else [Path(scratch).name])


def test_remove_scratch_of_a_dir_already_gone_is_done(tmp_path):
    assert remove_scratch(str(tmp_path / "never-made")) is True
