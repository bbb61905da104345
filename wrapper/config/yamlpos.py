"""YAML with line numbers: parse once into nodes, then map a pydantic error location to `path` and line."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from wrapper.config.fields import TAG_PREFIX
from wrapper.errors import Problem

Loc = tuple[int | str, ...]


class _Loader(yaml.SafeLoader):
    """A safe loader (no arbitrary objects) over which we keep the node tree."""


def compose_yaml(text: str, file: str) -> tuple[Any, yaml.Node | None, list[Problem]]:
    """Parse text; return (document, root node, duplicate-key problems). Raises yaml.YAMLError."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        # aliases share nodes: a few lines can expand to billions ("billion laughs"); refuse before any walk
        if node is not None and _expanded_size(node, {}) > MAX_EXPANDED_NODES:
            raise yaml.YAMLError(f"the document expands to more than {MAX_EXPANDED_NODES} nodes through aliases")
        document = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return document, node, list(_duplicates(node, "", file, set()))


MAX_EXPANDED_NODES = 100_000  # far above any real config, far below what hurts


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many nodes the document has once every alias is expanded (memoized per shared node)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    size = 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            size += _expanded_size(key, sizes) + _expanded_size(value, sizes)
            if size > MAX_EXPANDED_NODES:
                break
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            size += _expanded_size(item, sizes)
            if size > MAX_EXPANDED_NODES:
                break
    sizes[id(node)] = size
    return size


def _duplicates(node: yaml.Node | None, path: str, file: str, visited: set[int]):
    """PyYAML keeps the last of duplicate keys silently; a config with two `args:` is a mistake to report."""
    if node is None or id(node) in visited:  # an aliased node is checked once, where it is defined
        return
    visited.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = str(key.value)
            child = f"{path}.{name}" if path else name
            if name in seen:
                yield Problem(file=file, path=child, reason="duplicate key", line=key.start_mark.line + 1)
            seen.add(name)
            yield from _duplicates(value, child, file, visited)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicates(item, f"{path}[{index}]", file, visited)


def locate(node: yaml.Node | None, loc: Loc) -> tuple[str, int | None]:
    """Turn a location like ('args', 2, 'value') into ('args[2].value', line of the deepest node found)."""
    path = ""
    line = node.start_mark.line + 1 if node is not None else None
    for element in loc:
        if isinstance(element, str) and element.startswith(TAG_PREFIX):
            continue  # a union tag we added, not a key the user wrote
        if isinstance(node, yaml.SequenceNode) and isinstance(element, int) and 0 <= element < len(node.value):
            path += f"[{element}]"
            node = node.value[element]
            line = node.start_mark.line + 1
            continue
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if str(k.value) == str(element)), None)
            path += f".{element}" if path else str(element)
            if match is None:
                node = None
                continue
            key, node = match
            # a scalar points at its own line; a missing or nested key is easiest found by its key's line
            line = key.start_mark.line + 1 if not isinstance(node, yaml.ScalarNode) else node.start_mark.line + 1
            continue
        path += f"[{element}]" if isinstance(element, int) else (f".{element}" if path else str(element))
        node = None
    return path, line


def _reason(error: ErrorDetails) -> str:
    """A short reason in our voice for one pydantic error."""
    kind = error["type"]
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return "unknown key"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    if kind in ("literal_error", "enum", "string_type", "int_type", "bool_type", "float_type", "int_parsing",
                "float_parsing", "bool_parsing", "list_type", "dict_type", "model_type"):
        message += f" (got {error.get('input')!r})" if not isinstance(error.get("input"), (dict, list)) else ""
    return message


def problems_from_validation(error: ValidationError, node: yaml.Node | None, file: str) -> list[Problem]:
    """One Problem per pydantic error, with the YAML path and line."""
    problems = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        reason = _reason(item)
        if loc and loc[-1] == "[key]":
            # a bad mapping key: pydantic puts "[key]" after the key itself
            loc, reason = loc[:-1], f"key: {reason}"
        path, line = locate(node, loc)
        problems.append(Problem(file=file, path=path, reason=reason, line=line))
    return problems


def problem_at(node: yaml.Node | None, loc: Loc, reason: str, file: str) -> Problem:
    """A Problem for a location found by our own checks."""
    path, line = locate(node, loc)
    return Problem(file=file, path=path, reason=reason, line=line)
