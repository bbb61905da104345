"""Reading a config file: YAML with line numbers, the schema, then the checks across fields.

`load_config` gives the runtime's typed value (wrapper.config.values), `parse_config` the validated schema object
the tools show and package. A config error lists every problem at once, with file, line and field path.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import ValidationError

from wrapper.config.compiled import expand_config_dir
from wrapper.config.rules import check_config
from wrapper.config.schema import WrapperConfig
from wrapper.config.values import Config, from_schema
from wrapper.config.yamlpos import compose_yaml, problems_from_validation
from wrapper.errors import ConfigError, Problem

__all__ = ["load_config", "parse_config"]


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
