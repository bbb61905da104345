"""wrapper: turn any executable into an AWS Lambda function with one YAML file.

The public API is re-exported here lazily, so `import wrapper` (which every `wrapper run` cold start does)
loads nothing until a name is used.
"""

from __future__ import annotations

import importlib
TYPE_CHECKING = False  # typing stays off the cold-start path (about 15 ms); annotations are strings
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "ConfigError": "wrapper.errors",
    "Emulator": "wrapper.emulator",
    "FunctionHandler": "wrapper.runtime.function",
    "InitError": "wrapper.errors",
    "InvocationError": "wrapper.errors",
    "RuntimeAPIError": "wrapper.errors",
    "RuntimeClient": "wrapper.runtime.client",
    "WrapperConfig": "wrapper.config.schema",
    "WrapperError": "wrapper.errors",
    "load_config": "wrapper.config.schema",
    "run_process": "wrapper.programs.process",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'wrapper' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
