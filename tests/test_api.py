"""The public API: every name in wrapper.__all__ resolves, and importing wrapper loads nothing heavy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import wrapper
from wrapper.cli.check import write_compiled

ROOT = Path(__file__).resolve().parent.parent


def test_every_exported_name_resolves():
    for name in wrapper.__all__:
        assert getattr(wrapper, name) is not None, name


def test_unknown_names_are_attribute_errors():
    try:
        wrapper.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_importing_wrapper_and_its_run_path_loads_no_heavy_dependency():
    # -S: only what wrapper itself imports counts, not what a machine's site-packages preloads
    script = (
        "import sys, wrapper, wrapper.cli.main, wrapper.runtime.loop, wrapper.runtime.function, "
        "wrapper.runtime.client, wrapper.config.compiled\n"
        "heavy = ('pydantic', 'yaml', 'requests', 'jmespath', 'http.client', 'email', 'ssl', 'dataclasses',\n"
        "         'inspect', 'typing', 'argparse', 'pathlib')\n"
        "print(sorted(m for m in sys.modules if m in heavy or m.split('.')[0] in heavy))"
    )
    env = {"PYTHONPATH": str(ROOT), "PATH": os.environ.get("PATH", "")}
    out = subprocess.run([sys.executable, "-S", "-c", script], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]"


# What a `wrapper run` cold start imports, up to a loaded handler (exec mode, compiled config). Every module costs
# every cold start: the list may change, but never grow (a module in, another out).
COLD_START_MODULES = ROOT / "tests" / "cold_start_modules.txt"
COLD_START_MAX_MODULES = 91  # issue 12 trimmed the run path (129 before it), HTTP adapters load lazily; only lower it
COLD_START = """
import sys
before = set(sys.modules)
from wrapper.cli import main, run  # `wrapper run` goes main → run without argparse
from wrapper import logs
from wrapper.runtime import client, loop  # what run() imports
from wrapper.runtime.function import FunctionHandler
FunctionHandler.load(sys.argv[1], base_env={"PATH": "/usr/bin:/bin"})
print("\\n".join(sorted(set(sys.modules) - before)))
"""


def test_the_cold_start_imports_no_module_beyond_its_list(tmp_path):
    config = tmp_path / "echo.yaml"
    config.write_text((ROOT / "configs" / "echo.yaml").read_text())
    write_compiled(config)  # as `wrapper package` ships it
    env = {"PYTHONPATH": str(ROOT), "PATH": os.environ.get("PATH", "")}
    out = subprocess.run([sys.executable, "-S", "-c", COLD_START, str(config)], capture_output=True, text=True,
                         check=True, env=env)
    imported = set(out.stdout.split())
    allowed = set(COLD_START_MODULES.read_text().split())
    assert len(allowed) <= COLD_START_MAX_MODULES, "the cold start list grew"
    assert {m for m in imported if m.startswith("wrapper")} <= allowed, "new wrapper modules at cold start"
    if sys.version_info[:2] == (3, 11):  # the standard library's own imports differ between versions
        assert imported <= allowed, f"new modules at cold start: {sorted(imported - allowed)}"
