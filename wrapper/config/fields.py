"""Building blocks of the config schema: the base class and the field types every schema module shares.

Single-field checks (NUL bytes, name patterns, template syntax) run inside pydantic, so they are reported together
with every other schema problem.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

from wrapper.mapping.template import NAME_PATTERN, parse_template

ENV_NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TAG_PREFIX = "~"  # marks union tags in pydantic error locations, so yamlmap can drop them from paths


def _number_to_word(value: Any) -> Any:
    """Let YAML numbers stand for literal words (`PORT: 8080`); booleans stay errors, they are rarely meant."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def _word(value: Any) -> Any:
    value = _number_to_word(value)
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("contains a NUL byte, which cannot reach a program")
    return value


def _template(value: Any) -> Any:
    value = _word(value)
    if isinstance(value, str):
        parse_template(value)
    return value


def _name(value: Any) -> Any:
    if isinstance(value, str) and not NAME_PATTERN.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid name ([a-z_][a-z0-9_]*)")
    return value


Word = Annotated[str, BeforeValidator(_word)]  # a literal argv word or env value
TemplateText = Annotated[str, BeforeValidator(_template)]  # text with {name} / {file:NAME} placeholders
Name = Annotated[str, BeforeValidator(_name)]  # an input or file name


def shape(value: Any) -> str | None:
    """Discriminate `word | {mapping}` unions by shape, so errors describe one branch, not all of them."""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return f"{TAG_PREFIX}word"
    if isinstance(value, (dict, BaseModel)):  # a model when pydantic serializes a parsed config
        return f"{TAG_PREFIX}mapping"
    return None


class BaseConfig(BaseModel):
    """Common settings: unknown keys are errors, parsed configs never change."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
