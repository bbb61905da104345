"""Helpers of the `wrapper package` tests: the target of this machine, unpacking a zip as Lambda does, running
it under the emulator with a bare interpreter."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from wrapper.emulator import Emulator
from wrapper.emulator.results import InvokeResult
from wrapper.packaging.bootstrap import BOOTSTRAP

ROOT = Path(__file__).resolve().parent.parent
ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine().lower()]
OTHER_ARCH = "arm64" if ARCH == "x86_64" else "x86_64"
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
# what Lambda passes to AWS_LAMBDA_EXEC_WRAPPER scripts: the managed runtime's own command line
LAMBDA_RUNTIME_ARGS = [f"/var/lang/bin/python{PYTHON}", "/var/runtime/bootstrap.py"]


def make_bare_python(into: Path) -> Path:
    """A bin/ dir whose python3 has no third-party packages: only the zip's vendored ones can be imported."""
    venv = into / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    probe = subprocess.run([str(venv / "bin" / "python3"), "-c", "import pydantic"], capture_output=True, check=False)
    assert probe.returncode != 0, "the bare venv must not see pydantic, or the test proves nothing"
    return venv / "bin"


def unpack(zip_path: Path, into: Path) -> Path:
    """Extract like Lambda does: every file with the mode its zip entry carries."""
    into.mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            path = Path(archive.extract(info, into))
            path.chmod((info.external_attr >> 16) & 0o777)
    return into


def invoke_zip(
    task_root: Path, handler: str, payload: bytes, *, path: str, monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str] | None = None,
) -> InvokeResult:
    """Run task_root/bootstrap as Lambda would (exec wrapper + runtime args) under the emulator, PATH=path; invoke
    once. Nothing of this process's environment but LANG reaches the runtime."""
    for name in list(os.environ):
        if name != "LANG":
            monkeypatch.delenv(name)
    with Emulator(
        runtime_argv=[str(task_root / BOOTSTRAP), *LAMBDA_RUNTIME_ARGS],
        task_root=str(task_root),
        handler=handler,
        env={"PATH": path, **(env or {})},
        function_timeout_s=20,
    ) as emulator:
        return emulator.invoke(payload, timeout_s=30)
