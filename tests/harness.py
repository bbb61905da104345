"""A local Lambda running `wrapper run` for a config: the end-to-end set-up many tests share."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from wrapper.cli.check import write_compiled
from wrapper.config.compiled import compiled_path
from wrapper.emulator import Emulator
from wrapper.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = [sys.executable, "-m", "wrapper", "run"]
# How `wrapper run` reads the config: "compiled", as `wrapper package` ships it, or "yaml", validated at cold start.
SOURCES = ("compiled", "yaml")


def local_lambda(
    config: Path,
    *,
    source: str = "compiled",
    env: dict[str, str] | None = None,
    timeout_s: float = 10.0,
    log: Any = None,
    **kwargs: Any,
) -> Emulator:
    """An emulator (not started: use `with`) whose runtime is `wrapper run` with this config, as Lambda runs it.

    The config's directory is the task root and its name the handler; `log` (a path or file) takes the
    runtime's output, else it is inherited. With source "compiled" the config's compiled form is written beside
    it first (unless the config is invalid: then there is none, as `wrapper package` would refuse it); with
    "yaml" any compiled form is removed.
    """
    use_source(config, source)
    return Emulator(
        runtime_argv=RUNTIME,
        port=0,
        function_timeout_s=timeout_s,
        task_root=str(config.parent),
        handler=config.name,
        env={"PYTHONPATH": str(ROOT), **(env or {})},
        runtime_stdout=log,
        runtime_stderr=log,
        **kwargs,
    )


def use_source(config: Path, source: str) -> None:
    """Make `wrapper run` read this config from `source` (see SOURCES)."""
    if source == "yaml":
        compiled_path(config).unlink(missing_ok=True)
        return
    assert source == "compiled", source
    try:
        write_compiled(config)
    except ConfigError:
        compiled_path(config).unlink(missing_ok=True)
