"""wrapper: turn any executable into an AWS Lambda function with one YAML file.

The public API is re-exported here lazily, so `import wrapper` (which every `wrapper run` cold start does)
loads nothing until a name is used.

`TYPE_CHECKING` is the package's one copy of the cold-start typing idiom. Importing `typing` costs about 15 ms
of every cold start, so no module on the run path imports it; they annotate as usual (annotations are strings
under `from __future__ import annotations`) and import what annotations need like this:

    from wrapper import TYPE_CHECKING

    if TYPE_CHECKING:
        from typing import Any

False at run time. mypy and ruff treat any `if TYPE_CHECKING:` block as seen by the type checker only.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # see above; every module imports this one
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Config": "wrapper.config.values",
    "ConfigError": "wrapper.errors",
    "Emulator": "wrapper.emulator",
    "FunctionHandler": "wrapper.runtime.function",
    "InitError": "wrapper.errors",
    "InvocationError": "wrapper.errors",
    "RuntimeAPIError": "wrapper.errors",
    "RuntimeClient": "wrapper.runtime.client",
    "WrapperConfig": "wrapper.config.schema",
    "WrapperError": "wrapper.errors",
    "load_config": "wrapper.config.loader",
    "run_process": "wrapper.programs.process",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'wrapper' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
