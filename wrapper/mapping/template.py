"""Templates: literal text with `{name}` (an input), `{file:NAME}` (a file's path) and `{{`/`}}` escapes. Pure."""

from __future__ import annotations

import json
import re

from wrapper import TYPE_CHECKING
from wrapper.types import Frozen

if TYPE_CHECKING:
    from typing import Any, Literal

NAME_PATTERN = re.compile(r"[a-z_][a-z0-9_]*")
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


class Part(Frozen):
    """One piece of a parsed template: literal text, an input reference or a file reference."""

    __slots__ = ("kind", "text")  # noqa: RUF023 - slot order is field order
    kind: Literal["text", "input", "file"]
    text: str

    def __init__(self, kind: Literal["text", "input", "file"], text: str) -> None:
        self._store(locals())


def parse_template(template: str) -> list[Part]:
    """Split a template into parts; raise ValueError naming the first malformed placeholder."""
    parts: list[Part] = []
    position = 0
    for match in _TOKEN.finditer(template):
        if match.start() > position:
            parts.append(Part("text", template[position : match.start()]))
        position = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            parts.append(Part("text", token[0]))
            continue
        inner = match.group(1)
        if inner is None:
            raise ValueError(f"unbalanced {token!r} at offset {match.start()} (write {token * 2} for a literal brace)")
        kind: Literal["input", "file"] = "input"
        name = inner.strip()
        if name.startswith("file:"):
            kind, name = "file", name[len("file:") :].strip()
        if not NAME_PATTERN.fullmatch(name):
            raise ValueError(f"placeholder {{{inner}}} must name an input or file:NAME ([a-z_][a-z0-9_]*)")
        parts.append(Part(kind, name))
    if position < len(template):
        parts.append(Part("text", template[position:]))
    return _merge_text(parts)


def _merge_text(parts: list[Part]) -> list[Part]:
    """Join adjacent literal parts so a template starts with text exactly when its first part is text."""
    merged: list[Part] = []
    for part in parts:
        if merged and part.kind == "text" and merged[-1].kind == "text":
            merged[-1] = Part("text", merged[-1].text + part.text)
        else:
            merged.append(part)
    return merged


def names_in(template: str) -> tuple[set[str], set[str]]:
    """Return (input names, file names) a well-formed template refers to."""
    parts = parse_template(template)
    return {p.text for p in parts if p.kind == "input"}, {p.text for p in parts if p.kind == "file"}


def to_text(value: Any) -> str:
    """The text form of a value: strings as-is, booleans as true/false, everything else JSON (compact)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # lone surrogates inside an object: ASCII escapes keep the JSON valid and encodable
        text = json.dumps(value, separators=(",", ":"))
    return text


def render(parts: list[Part], values: dict[str, Any], file_paths: dict[str, str]) -> str | None:
    """Fill a parsed template; None when a referenced input or file has no value (the item is dropped)."""
    out: list[str] = []
    for part in parts:
        if part.kind == "text":
            out.append(part.text)
            continue
        source = values if part.kind == "input" else file_paths
        value = source.get(part.text)
        if value is None:
            return None
        out.append(to_text(value))
    return "".join(out)
