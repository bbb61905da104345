"""The zip ships only what the run path imports, runs with a bare interpreter, and carries bytecode compiled by
the target's own Python. Real zips, unpacked and run as Lambda runs them, under the emulator."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from package_helpers import ARCH, PYTHON, ROOT, invoke_zip, make_bare_python, unpack
from wrapper.packaging.build import VENDOR_DIR, package
from wrapper.packaging.vendor import packaging_side_modules

ECHO = ROOT / "configs" / "echo.yaml"
JQ = ROOT / "configs" / "jq.yaml"
HEAVY = ("pydantic", "pydantic_core", "yaml", "requests", "urllib3", "elftools")


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bare_python(tmp_path_factory.mktemp("bare"))


@pytest.fixture(scope="module")
def echo_task(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("echo")
    package(ECHO, out / "out", arch=ARCH, python_version=PYTHON)
    return unpack(out / "out" / "function.zip", out / "task")


@pytest.fixture(scope="module")
def jq_task(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("jq")
    package(JQ, out / "out", arch=ARCH, python_version=PYTHON)
    return unpack(out / "out" / "function.zip", out / "task")


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def test_echo_zip_unpacks_under_1_mb_and_runs_with_a_bare_interpreter(echo_task, bare_python, monkeypatch):
    assert tree_bytes(echo_task) < 1_000_000
    payload = b'{"hello": "world!"}'
    # the bare venv's python3 first; cat from the system
    result = invoke_zip(echo_task, "echo.yaml", payload, path=f"{bare_python}:/usr/bin:/bin", monkeypatch=monkeypatch)
    assert (result.status, result.function_error, result.body) == (200, None, payload)


def test_every_shipped_module_imports_with_only_the_zip_on_the_path(echo_task, jq_task, bare_python):
    """No shipped module needs a packaging-side one or a dependency the zip lacks; none of them is heavy."""
    for task in (echo_task, jq_task):
        vendor = task / VENDOR_DIR
        modules = sorted(
            ".".join(p.relative_to(vendor).with_suffix("").parts).removesuffix(".__init__")
            for p in (vendor / "wrapper").rglob("*.py")
            if p.name != "__main__.py"  # runs the CLI on import
        )
        script = (
            f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"
        )
        done = subprocess.run(
            [str(bare_python / "python3"), "-S", "-P", "-c", script],
            env={"PYTHONPATH": str(vendor), "PATH": "/usr/bin:/bin"},
            cwd=task,
            capture_output=True,
            text=True,
            check=False,
        )
        assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr
        left_out = packaging_side_modules(ROOT / "wrapper")
        assert {"emulator", "packaging", "config/schema.py", "cli/url.py"} <= left_out
        for excluded in left_out:
            assert not (vendor / "wrapper" / excluded).exists(), excluded


def test_jmespath_ships_only_with_configs_that_have_inputs(echo_task, jq_task):
    assert sorted(p.name for p in (echo_task / VENDOR_DIR).iterdir()) == ["wrapper"]
    jq_vendor = sorted(p.name for p in (jq_task / VENDOR_DIR).iterdir())
    assert jq_vendor[0] == "jmespath" and jq_vendor[1].startswith("jmespath-") and jq_vendor[2] == "wrapper"
    assert any("LICENSE" in p.name for p in (jq_task / VENDOR_DIR / jq_vendor[1]).iterdir())


def test_jq_zip_evaluates_its_inputs_with_the_vendored_jmespath(jq_task, bare_python, monkeypatch):
    event = json.dumps({"filter": ".a", "document": {"a": 7}}).encode()
    result = invoke_zip(jq_task, "jq.yaml", event, path=f"{bare_python}:/usr/bin:/bin", monkeypatch=monkeypatch)
    assert (result.status, result.function_error, result.body.strip()) == (200, None, b"7")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("edit", "echo.compiled.json was made from other YAML (the config changed after packaging)"),
        ("delete", "echo.compiled.json cannot be read"),
    ],
)
def test_a_stale_or_missing_compiled_config_is_an_init_error_saying_to_repackage(
    echo_task, bare_python, tmp_path, monkeypatch, change, reason
):
    task = Path(shutil.copytree(echo_task, tmp_path / "task", symlinks=True))
    if change == "edit":
        (task / "echo.yaml").write_text((task / "echo.yaml").read_text().replace("timeout_s: 10", "timeout_s: 9"))
    else:
        (task / "echo.compiled.json").unlink()
    result = invoke_zip(task, "echo.yaml", b"{}", path=f"{bare_python}:/usr/bin:/bin", monkeypatch=monkeypatch)
    error = json.loads(result.body)
    assert (result.function_error, error["errorType"]) == ("Unhandled", "Runtime.ConfigError")
    assert reason in error["errorMessage"] and "re-package it with `wrapper package`" in error["errorMessage"]


def other_python() -> tuple[str, str]:
    """(X.Y, path) of a CPython 3.11+ that is not this one: the target a packager on another version compiles for."""
    candidates = [shutil.which(f"python3.{minor}") for minor in range(11, 16)]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[1-9]*/bin/python3.1[1-9]")))
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True
        )
        version = probe.stdout.strip()
        if probe.returncode == 0 and version != PYTHON and tuple(map(int, version.split("."))) >= (3, 11):
            return version, candidate
    pytest.fail("this test needs a second CPython 3.11+ besides the running one (pythonX.Y on PATH or pyenv)")


def test_pyc_files_come_from_the_target_python_even_when_packaging_with_another(tmp_path, capsys):
    version, interpreter = other_python()
    bin_dir = tmp_path / "bin"  # pythonX.Y on PATH, as the packager finds it
    bin_dir.mkdir()
    (bin_dir / f"python{version}").symlink_to(interpreter)
    package(ECHO, tmp_path / "out", arch=ARCH, python_version=version, search_path=str(bin_dir))
    assert "no .pyc" not in capsys.readouterr().err
    task = unpack(tmp_path / "out" / "function.zip", tmp_path / "task")
    tag = "cpython-" + version.replace(".", "")
    pycs = list((task / VENDOR_DIR).rglob("*.pyc"))
    assert pycs and all(p.name.endswith(f".{tag}.pyc") for p in pycs)
    # the target interpreter loads them rather than compiling (Lambda's /var/task is read-only: no cache there)
    done = subprocess.run(
        [interpreter, "-S", "-P", "-v", "-c", "import wrapper.runtime.loop"],
        env={"PYTHONPATH": str(task / VENDOR_DIR)},
        capture_output=True,
        text=True,
        check=True,
    )
    loop_pyc = task / VENDOR_DIR / "wrapper" / "runtime" / "__pycache__" / f"loop.{tag}.pyc"
    assert f"code object from '{loop_pyc}'" in done.stderr


def test_without_the_target_python_the_zip_ships_without_pyc_and_says_why(tmp_path, capsys):
    package(ECHO, tmp_path / "out", arch=ARCH, python_version="3.19", search_path=str(tmp_path))
    assert "no .pyc files: this is Python" in capsys.readouterr().err
    task = unpack(tmp_path / "out" / "function.zip", tmp_path / "task")
    assert not list(task.rglob("*.pyc"))


def test_a_compile_with_interpreter_of_another_version_is_not_used(tmp_path, capsys):
    package(ECHO, tmp_path / "out", arch=ARCH, python_version="3.19", compile_with=sys.executable)
    assert f"is not a working Python 3.19 ({PYTHON})" in capsys.readouterr().err
    task = unpack(tmp_path / "out" / "function.zip", tmp_path / "task")
    assert not list(task.rglob("*.pyc"))
