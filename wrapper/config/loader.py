"""Reading a config file: YAML with line numbers, the schema, then the checks across fields.

`load_config` gives the runtime's typed value (wrapper.config.values), `parse_config` the validated schema object
the tools show and package. A config error lists every problem at once, with file, line and field path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from wrapper.config import values
from wrapper.config.rules import check_config
from wrapper.config.schema import WrapperConfig
from wrapper.config.values import Config, expand_config_dir
from wrapper.config.yamlpos import compose_yaml, problems_from_validation
from wrapper.errors import ConfigError, Problem

__all__ = ["from_schema", "load_config", "parse_config"]

ROOT_SCHEMA = "WrapperConfig"  # the one schema class whose value class is not its name less "Config"


def parse_config(path: str | os.PathLike[str]) -> WrapperConfig:
    """Read, parse and validate a config file as written (no placeholder expanded); raise one ConfigError."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config: {error}", file=file) from None
    try:
        document, node, duplicates = compose_yaml(text, file)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = f"invalid YAML: {getattr(error, 'problem', None) or error}"
        raise ConfigError([Problem(file=file, path="", reason=reason, line=line)]) from None
    except RecursionError:
        raise ConfigError([Problem(file=file, path="", reason="invalid YAML: nested too deeply")]) from None
    except ValueError as error:  # PyYAML's own constructors, e.g. an integer longer than Python allows
        raise ConfigError([Problem(file=file, path="", reason=f"invalid YAML: {error}")]) from None
    if not isinstance(document, dict):
        raise ConfigError([Problem(file=file, path="", reason="the config must be a YAML mapping", line=1)])
    problems = list(duplicates)
    try:
        config = WrapperConfig.model_validate(document)
    except ValidationError as error:
        problems += problems_from_validation(error, node, file)
        raise ConfigError(sorted(problems, key=lambda p: p.line or 0)) from None
    problems += check_config(config, node, file)
    if problems:
        raise ConfigError(sorted(problems, key=lambda p: p.line or 0))
    return config


def load_config(path: str | os.PathLike[str]) -> Config:
    """The config as the runtime reads it, `{config_dir}` expanded; raise ConfigError listing every problem."""
    return expand_config_dir(from_schema(parse_config(path)), path)


def value_class_name(schema_class_name: str) -> str:
    """The value class for a schema class: `InputConfig` → `Input`, `WrapperConfig` → `Config`."""
    return "Config" if schema_class_name == ROOT_SCHEMA else schema_class_name.removesuffix("Config")


def from_schema(model: Any) -> Any:
    """Convert a validated pydantic config (or any part, list or dict of them) into values, recursively."""
    fields = getattr(type(model), "model_fields", None)
    if fields is not None:
        cls = values.KINDS[value_class_name(type(model).__name__)]
        if set(fields) != set(cls.FIELDS):
            raise TypeError(f"{cls.__name__} and {type(model).__name__} have different fields")
        return cls(**{name: from_schema(getattr(model, name)) for name in cls.FIELDS})
    if isinstance(model, dict):
        return {key: from_schema(item) for key, item in model.items()}
    if isinstance(model, list):
        return [from_schema(item) for item in model]
    return model
