"""A local Lambda running `wrapper run` for a config: the end-to-end set-up many tests share."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from wrapper.emulator import Emulator

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = [sys.executable, "-m", "wrapper", "run"]


def local_lambda(
    config: Path, *, env: dict[str, str] | None = None, timeout_s: float = 10.0, log: Any = None, **kwargs: Any
) -> Emulator:
    """An emulator (not started: use `with`) whose runtime is `wrapper run` with this config, as Lambda runs it.

    The config's directory is the task root and its name the handler; `log` (a path or file) takes the
    runtime's output, else it is inherited.
    """
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
