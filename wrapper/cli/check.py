"""`wrapper check`: the normalized config, and what one event would run, without running anything."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import yaml

from wrapper.config.compiled import compiled_path, dump_compiled
from wrapper.config.schema import WrapperConfig, parse_config, resolve_executable
from wrapper.errors import ConfigError
from wrapper.runtime.function import FunctionHandler
from wrapper.types import Invocation


def normalized_config(config: WrapperConfig) -> str:
    """The config as wrapper reads it, every default filled in, as YAML."""
    return yaml.safe_dump(config.model_dump(mode="json", by_alias=True), sort_keys=False, allow_unicode=True)


def describe_event(config: WrapperConfig, config_path: Path, event: bytes, *, base_env: dict[str, str]) -> dict[str, Any]:
    """Map one event as an invocation would and return argv, stdin, env, files and cwd (or the server request)."""
    try:
        executable = resolve_executable(config, config_path, base_env.get("PATH", os.defpath))
    except ConfigError:
        executable = config.command[0]  # show the mapping even where the program is not installed
    handler = FunctionHandler(config, executable, base_env=base_env, config_dir=str(config_path.resolve().parent))
    invocation = Invocation(
        request_id="00000000-0000-0000-0000-000000000000",
        deadline_ms=int(time.time() * 1000 + config.timeout_s * 1000),
        body=event,
        function_arn="arn:aws:lambda:us-east-1:000000000000:function:check",
    )
    return handler.describe(invocation)


def write_compiled(config_path: Path) -> Path:
    """Validate the config and write its compiled form beside it; return that file's path."""
    source = config_path.read_bytes()
    target = compiled_path(config_path)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(dump_compiled(parse_config(config_path), source), encoding="utf-8")
    os.replace(temporary, target)  # never a half-written file beside the config
    return target
