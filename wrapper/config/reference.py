"""Render the config reference (Markdown) from the schema, so the docs cannot drift from the code."""

from __future__ import annotations

import json
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from wrapper.config.schema import WrapperConfig

HEADER = """# Config reference

Generated from the schema in `wrapper/config/` (`schema.py`, `parts.py`, `modes.py`, `metrics.py`) by
`wrapper.config.reference.render_reference()`; `tests/config/test_reference.py` fails when this file and the schema
disagree. The design notes and worked examples are in `docs/config-spec.md` and `configs/`. Unknown keys are
errors everywhere; "required" means the key has no default.
"""


def render_reference() -> str:
    """The whole reference: one section per config class, reachable from WrapperConfig, in first-use order."""
    sections = [HEADER]
    for model in _models(WrapperConfig):
        sections.append(_section(model))
    return "\n".join(sections)


def _models(root: type[BaseModel]) -> list[type[BaseModel]]:
    """Every model class reachable from root, depth-first, each once."""
    seen: list[type[BaseModel]] = []

    def visit(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.append(model)
        for field in model.model_fields.values():
            for inner in _nested_models(field.annotation):
                visit(inner)

    visit(root)
    return seen


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += _nested_models(arg)
    return found


def _section(model: type[BaseModel]) -> str:
    lines = [f"## `{model.__name__}`", "", (model.__doc__ or "").strip(), ""]
    lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        key = field.alias or name
        kind = _type_name(field.annotation) + _bounds(field)
        lines.append(f"| `{key}` | {kind} | {_default(field)} | {_cell(field.description)} |")
    return "\n".join(lines) + "\n"


def _bounds(field: FieldInfo) -> str:
    """Numeric bounds and minimum lengths, e.g. ` (> 0, ≤ 900)`."""
    symbols = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤", "min_length": "at least"}
    found = [f"{symbols[attr]} {getattr(m, attr)}" for m in field.metadata for attr in symbols if hasattr(m, attr)]
    return f" ({', '.join(found)})" if found else ""


def _type_name(annotation: Any) -> str:
    """A reader's name for a type: `string`, `list of ...`, `A` \\| `B`, links to nested sections."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in args if a is not type(None)]
        text = " \\| ".join(dict.fromkeys(names))
        return text + (" \\| null" if type(None) in args else "")
    if origin is typing.Literal:
        return " \\| ".join(f"`{json.dumps(a)}`" if not isinstance(a, str) else f"`{a}`" for a in args)
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"mapping {_type_name(args[0])} → {_type_name(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    simple = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if annotation in simple:
        return simple[annotation]
    return "any"


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            return f"see [{type(value).__name__}](#{type(value).__name__.lower()})"
        return f"`{json.dumps(value)}`"
    if field.default is PydanticUndefined:
        return "required"
    return f"`{json.dumps(field.default)}`"


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


if __name__ == "__main__":
    # regenerate with: python3 -m wrapper.config.reference > docs/config-reference.md
    print(render_reference(), end="")
