"""The public API: every name in wrapper.__all__ resolves, and importing wrapper loads nothing heavy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import wrapper

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
        "import sys, wrapper, wrapper.cli.main, wrapper.runtime.loop, wrapper.runtime.function, wrapper.runtime.client, wrapper.config.compiled\n"
        "heavy = ('pydantic', 'yaml', 'requests', 'jmespath', 'http.client', 'email', 'ssl', 'dataclasses',\n"
        "         'inspect', 'typing', 'argparse', 'pathlib')\n"
        "print(sorted(m for m in sys.modules if m in heavy or m.split('.')[0] in heavy))"
    )
    env = {"PYTHONPATH": str(ROOT), "PATH": os.environ.get("PATH", "")}
    out = subprocess.run([sys.executable, "-S", "-c", script], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]"
