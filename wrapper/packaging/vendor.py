"""Vendoring: wrapper's dependencies pip-installed for the target platform, and wrapper's own package copied."""

from __future__ import annotations

import collections
import compileall
import hashlib
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import wrapper
from wrapper.packaging import PackageError
from wrapper.packaging.target import Target

# the runtime dependencies, as in pyproject.toml's [project] dependencies (a test keeps the two equal)
DEPENDENCIES = ("pydantic>=2.5,<3", "PyYAML>=6.0", "requests>=2.31", "jmespath>=1.0")


def vendor_dependencies(
    target_dir: Path, target: Target, *, cache_dir: Path | None = None, echo: Callable[[str], None] = print
) -> None:
    """Install DEPENDENCIES for the target into target_dir (with .pyc when possible), reusing cache_dir/<key>."""
    if cache_dir is None:
        _pip_install(target_dir, target, echo)
        precompile(target_dir, target)
        return
    cached = cache_dir / _cache_key(target)
    if not cached.is_dir():
        cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".partial-") as partial:
            _pip_install(Path(partial) / "site", target, echo)
            precompile(Path(partial) / "site", target)  # once here, not on every copy
            # rename is atomic: a concurrent or interrupted build never sees half a cache entry
            try:
                (Path(partial) / "site").rename(cached)
            except OSError:
                if not cached.is_dir():
                    raise
    else:
        echo(f"Using cached dependencies from {cached}")
    shutil.copytree(cached, target_dir, dirs_exist_ok=True)


def copy_wrapper_package(target_dir: Path) -> None:
    """Copy wrapper's own package (sources only) into target_dir/wrapper."""
    source = Path(wrapper.__file__).resolve().parent
    shutil.copytree(source, target_dir / "wrapper", ignore=_not_source, dirs_exist_ok=True)


def precompile(directory: Path, target: Target) -> bool:
    """Write .pyc files when this interpreter is the target's version; True if it did."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" != target.python_version:
        return False
    # unchecked hashes: /var/task is read-only and zip timestamps are fixed, so mtime checks would only miss
    compileall.compile_dir(
        directory, quiet=1, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH, workers=0
    )
    return True


def installed_versions(site_dir: Path) -> dict[str, str]:
    """Distribution name → version, from the *.dist-info directories pip left in site_dir."""
    versions = {}
    for metadata in sorted(site_dir.glob("*.dist-info/METADATA")):
        fields = dict(
            line.split(": ", 1) for line in metadata.read_text(encoding="utf-8").splitlines()[:20] if ": " in line
        )
        if "Name" in fields and "Version" in fields:
            versions[fields["Name"]] = fields["Version"]
    return versions


def _pip_install(target_dir: Path, target: Target, echo: Callable[[str], None]) -> None:
    argv = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--target",
        str(target_dir),
        "--platform",
        target.pip_platform,
        "--implementation",
        "cp",
        "--python-version",
        target.python_version,
        "--only-binary=:all:",
        "--no-compile",
        "--disable-pip-version-check",
        "--no-input",
        "--no-warn-conflicts",
        *DEPENDENCIES,
    ]
    echo(f"Downloading dependencies for CPython {target.python_version} on {target.pip_platform} (pip, from PyPI)...")
    tail: collections.deque[str] = collections.deque(maxlen=30)
    try:
        # the env var, not the option: older pips ignore unknown variables but reject unknown options
        env = {**os.environ, "PIP_ROOT_USER_ACTION": "ignore"}
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            env=env,
        )
    except OSError as exc:
        raise PackageError(f"Cannot run pip ({sys.executable} -m pip): {exc}") from None
    with proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line.rstrip())
            echo("  " + line.rstrip())
    if proc.returncode != 0:
        details = "\n".join(tail)
        raise PackageError(
            f"pip could not install {' '.join(DEPENDENCIES)} for {target.pip_platform} / "
            f"CPython {target.python_version} (exit status {proc.returncode}):\n{details}"
        )
    # console scripts carry this machine's interpreter path in their #! line: useless on Lambda
    shutil.rmtree(target_dir / "bin", ignore_errors=True)


def _cache_key(target: Target) -> str:
    digest = hashlib.sha256("\n".join(DEPENDENCIES).encode()).hexdigest()[:12]
    compiled = "-pyc" if f"{sys.version_info.major}.{sys.version_info.minor}" == target.python_version else ""
    return f"cp{target.python_version.replace('.', '')}-{target.pip_platform}-{digest}{compiled}"


def _not_source(directory: str, names: list[str]) -> set[str]:
    return {n for n in names if n == "__pycache__" or n.startswith(".") or n.endswith((".pyc", ".pyo", ".tmp"))}
