"""Runtimes set up as Lambda would run them: wrapper from its packaged zip, awslambdaric from a plain site-packages.

wrapper: `wrapper package configs/echo.yaml` for this interpreter's Python version (so its .pyc files are compiled),
unpacked with the modes its entries carry, started through the zip's own bootstrap with the arguments Lambda's
managed runtime passes an exec wrapper (python3 first on PATH is this interpreter).

awslambdaric: in a venv of its own that holds only awslambdaric and its dependencies, copied from this environment.
The development venv would start it with the editable install's .pth hook of wrapper (which imports pathlib, re,
urllib and more at every interpreter start), a cost Lambda's managed runtime does not have.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from benchmarks.runtimes import REPO, RuntimeSpec

ECHO_CONFIG = REPO / "configs" / "echo.yaml"
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
LAMBDA_ARGS = [f"/var/lang/bin/python{PYTHON}", "/var/runtime/bootstrap.py"]  # what Lambda passes; ignored
RIC_DISTRIBUTIONS = ("awslambdaric", "simplejson", "snapshot-restore-py")


def package_echo(scratch: Path) -> Path:
    """configs/echo.yaml packaged and unpacked under scratch; returns the task root (raises on failure)."""
    out = scratch / "package-echo"
    done = subprocess.run(
        [sys.executable, "-m", "wrapper", "package", str(ECHO_CONFIG), "--out", str(out), "--python", PYTHON],
        env={"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrapper package failed: {done.stderr.strip()[-400:]}")
    task = scratch / "task-echo"
    with zipfile.ZipFile(out / "function.zip") as archive:
        for info in archive.infolist():
            Path(archive.extract(info, task)).chmod((info.external_attr >> 16) & 0o777)
    return task


def zip_runtime(scratch: Path, label: str) -> tuple[RuntimeSpec | None, str | None]:
    """(the packaged echo's runtime, None), or (None, "error: ...") when packaging failed."""
    try:
        task = package_echo(scratch)
    except Exception as exc:  # noqa: BLE001 - shown on the row
        return None, f"error: {exc}"
    path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"  # python3: this interpreter
    return RuntimeSpec(label, [str(task / "bootstrap"), *LAMBDA_ARGS], cwd=task, env={"PATH": path}), None


def ric_python(scratch: Path) -> str | None:
    """A python3 whose site-packages holds awslambdaric and its dependencies only; None when they are missing."""
    venv = scratch / "ric-venv"
    try:
        dists = [importlib.metadata.distribution(name) for name in RIC_DISTRIBUTIONS]
    except importlib.metadata.PackageNotFoundError:
        return None
    if not venv.exists():
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
        site = next((venv / "lib").glob("python3*/site-packages"))
        for dist in dists:
            for file in dist.files or ():
                if "__pycache__" in file.parts or file.parts[0].endswith(".pth") or ".." in file.parts:
                    continue
                dest = site / file
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(Path(dist.locate_file(file)), dest)
        # bytecode cached once, as a managed runtime ships it: no trial pays for compiling
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(site)], check=True, timeout=300)
    return str(venv / "bin" / "python3")
