"""Event document + `inputs:` → checked values. Pure (except optional DNS resolution for destinations)."""

from __future__ import annotations

import functools
import math
import re

from wrapper import TYPE_CHECKING
from wrapper.errors import InvalidEventError

if TYPE_CHECKING:
    from typing import Any

    from wrapper.config.values import Destination, Input


_INTEGER_TEXT = re.compile(r"-?(0|[1-9][0-9]*)")
_NUMBER_TEXT = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_MAX_SHOWN_CHARS = 60


class _Rejected(Exception):
    """One input failed; the message fragment follows the input's name."""


class _Defaulted(Exception):
    """The event has no value for an input: its configured default is used, unchecked (the config's own value)."""


@functools.lru_cache(maxsize=512)
def _compiled(expression: str) -> Any:
    import jmespath  # only configs with inputs pay for it, and only once

    return jmespath.compile(expression)


def shown(value: Any) -> str:
    """A value for an error message: repr, so control characters are visible, and bounded."""
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN_CHARS else text[: _MAX_SHOWN_CHARS - 5] + "...'"


def extract_inputs(document: Any, inputs: dict[str, Input]) -> dict[str, Any]:
    """Evaluate and check every input; raise one InvalidEventError naming every failing input."""
    values: dict[str, Any] = {}
    failures: dict[str, str] = {}
    defaulted = set()
    for name, spec in inputs.items():
        try:
            values[name] = _extract_one(document, name, spec)
        except _Defaulted:
            values[name] = spec.default
            defaulted.add(name)
        except _Rejected as rejected:
            failures[name] = f"inputs.{name}: {rejected}"
    # destinations last: another input's value may pick how a destination is read (`kind_input`)
    for name, spec in inputs.items():
        if spec.destination is not None and name not in failures and name not in defaulted:
            try:
                values[name] = _destination(values[name], spec.destination, values)
            except _Rejected as rejected:
                failures[name] = f"inputs.{name}: {rejected}"
    if failures:
        raise InvalidEventError("; ".join(failures[name] for name in inputs if name in failures))
    return values


def _destination(value: Any, spec: Destination, values: dict[str, Any]) -> Any:
    """The canonical form of a destination (or of each item of a list of them), as the program will get it."""
    # ipaddress and the policy tables: loaded only by configs that check destinations
    from wrapper.mapping.destination import DestinationRefused, check_destination

    kind = spec.kinds.get(str(values.get(spec.kind_input))) if spec.kind_input is not None else None
    if isinstance(value, list):
        items = []
        for index, item in enumerate(value):
            try:
                items.append(_destination(item, spec, values))
            except _Rejected as rejected:
                raise _Rejected(f"item {index}: {rejected}") from None
        return items
    # ipaddress and the policy's networks load with the first destination, not at every cold start

    try:
        return check_destination(value, spec, kind=kind)
    except DestinationRefused as refused:
        raise _Rejected(f"{shown(value)} is denied: {refused}") from None
    except ValueError as error:
        raise _Rejected(f"{shown(value)} is not a valid destination ({error})") from None


def _extract_one(document: Any, name: str, spec: Input) -> Any:
    import jmespath.exceptions  # loaded by _compiled; a dictionary lookup from here on

    try:
        raw = _compiled(spec.from_ or name).search(document)
    except jmespath.exceptions.JMESPathError as error:
        # runtime type errors (e.g. a function given the wrong type) are the event's fault
        raise _Rejected(f"cannot evaluate {spec.from_ or name!r}: {error}") from None
    if raw is None:
        if spec.required:
            raise _Rejected("is required")
        raise _Defaulted
    value = _coerce(raw, spec.type, spec.items)
    if spec.type == "list":
        if spec.max_items is not None and len(value) > spec.max_items:
            raise _Rejected(f"has {len(value)} items, more than max_items {spec.max_items}")
        for index, item in enumerate(value):
            try:
                _check_scalar(item, spec)
            except _Rejected as rejected:
                raise _Rejected(f"item {index}: {rejected}") from None
    elif spec.type != "object":
        _check_scalar(value, spec)
    return value


def _coerce(raw: Any, kind: str, items: str) -> Any:
    """Convert a JSON value to the input's type; integer/number/boolean also accept their canonical text."""
    if kind == "string":
        if not isinstance(raw, str):
            raise _Rejected(f"must be a string, got {_json_type(raw)}")
        return raw
    if kind == "integer":
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if isinstance(raw, str) and _INTEGER_TEXT.fullmatch(raw) and len(raw) <= 64:
            return int(raw)
        raise _Rejected(f"must be an integer, got {shown(raw) if isinstance(raw, str) else _json_type(raw)}")
    if kind == "number":
        if isinstance(raw, (int, float)) and not isinstance(raw, bool) and math.isfinite(raw):
            return raw
        if isinstance(raw, str) and _NUMBER_TEXT.fullmatch(raw) and len(raw) <= 64:
            number = float(raw) if any(c in raw for c in ".eE") else int(raw)
            if math.isfinite(number):
                return number
        raise _Rejected(f"must be a number, got {shown(raw) if isinstance(raw, str) else _json_type(raw)}")
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
        if raw in ("true", "false"):
            return raw == "true"
        raise _Rejected(f"must be a boolean, got {shown(raw) if isinstance(raw, str) else _json_type(raw)}")
    if kind == "list":
        if not isinstance(raw, list):
            raise _Rejected(f"must be a list, got {_json_type(raw)}")
        coerced = []
        for index, item in enumerate(raw):
            try:
                coerced.append(_coerce(item, items, items))
            except _Rejected as rejected:
                raise _Rejected(f"item {index}: {rejected}") from None
        return coerced
    if not isinstance(raw, dict):
        raise _Rejected(f"must be an object, got {_json_type(raw)}")
    return raw


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def _check_scalar(value: Any, spec: Input) -> None:
    """Checks on one string, number or boolean (the input itself, or one item of a list)."""
    if isinstance(value, str):
        _check_string(value, spec)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if spec.min is not None and value < spec.min:
            raise _Rejected(f"{value} is less than min {_number(spec.min)}")
        if spec.max is not None and value > spec.max:
            raise _Rejected(f"{value} is greater than max {_number(spec.max)}")
    if spec.enum is not None and not any(_same(value, allowed) for allowed in spec.enum):
        raise _Rejected(f"{shown(value)} is not one of {', '.join(shown(e) for e in spec.enum)}")


def _check_string(value: str, spec: Input) -> None:
    if "\x00" in value:
        raise _Rejected("contains a NUL byte")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _Rejected("is not valid Unicode (lone surrogate)") from None
    if len(value) > spec.max_length:
        raise _Rejected(f"is {len(value)} characters, longer than max_length {spec.max_length}")
    if spec.min_length is not None and len(value) < spec.min_length:
        raise _Rejected(f"is {len(value)} characters, shorter than min_length {spec.min_length}")
    if spec.pattern is not None and re.fullmatch(spec.pattern, value) is None:
        raise _Rejected(f"{shown(value)} does not match pattern {spec.pattern!r}")


def _same(value: Any, allowed: Any) -> bool:
    """Enum equality without Python's True == 1."""
    return type(value) is type(allowed) and value == allowed or (
        isinstance(value, (int, float)) and not isinstance(value, bool)
        and isinstance(allowed, (int, float)) and not isinstance(allowed, bool) and value == allowed
    )


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)
