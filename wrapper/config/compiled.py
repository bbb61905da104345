"""Compiled configs: a validated config saved as JSON, loaded at cold start without pydantic or YAML.

`wrapper package` (or `wrapper check --compile`) validates the YAML once and writes `<name>.compiled.json`
beside it. `wrapper run` uses that file only when it was made from exactly these YAML bytes by this wrapper
version; otherwise it validates the YAML as usual. Loaded nodes keep the schema's class names and fields, so
the runtime reads them like the pydantic models. The file format: every JSON object is {"@": KIND, "f": {...}}
where KIND is a schema class name, "dict" or "intdict" (integer keys).
"""

from __future__ import annotations

import hashlib
import json
import os

from wrapper import TYPE_CHECKING, __version__

if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

SUFFIX = ".compiled.json"
CONFIG_DIR_PLACEHOLDER = "{config_dir}"
FORMAT = 1
COMPUTED_FIELDS = {"InputConfig": ("is_required",)}  # properties the runtime reads, stored as values


class Node:
    """A loaded schema object: read-only attributes named like the pydantic model's fields."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.__dict__.update(fields)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def model_dump(self) -> dict[str, Any]:
        """The fields as plain data, like pydantic's model_dump()."""
        return {name: _plain(value) for name, value in self.__dict__.items() if name not in _computed(self)}

    def model_copy(self, *, update: dict[str, Any]) -> Node:
        """A copy with some fields replaced, like pydantic's model_copy()."""
        return type(self)({**self.__dict__, **update})


_node_classes: dict[str, type[Node]] = {}


def _computed(node: Node) -> tuple[str, ...]:
    return COMPUTED_FIELDS.get(type(node).__name__, ())


def _plain(value: Any) -> Any:
    if isinstance(value, Node):
        return value.model_dump()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def compiled_path(config_path: str | os.PathLike[str]) -> Path:
    """Where the compiled form of a config lives: beside it, `wrapper.yaml` → `wrapper.config.compiled.json`."""
    from pathlib import Path  # for the tools; the runtime uses _compiled_file

    return Path(_compiled_file(config_path))


def _compiled_file(config_path: str | os.PathLike[str]) -> str:
    directory, name = os.path.split(os.fspath(config_path))
    return os.path.join(directory, os.path.splitext(name)[0] + SUFFIX)


def source_digest(source: bytes) -> str:
    """The digest that ties a compiled file to the exact YAML bytes it came from."""
    return hashlib.sha256(source).hexdigest()


def dump_compiled(config: Any, source: bytes) -> str:
    """Serialize a validated (unexpanded) pydantic config; `source` is the YAML it was loaded from."""
    document = {
        "format": FORMAT, "wrapper": __version__, "source_sha256": source_digest(source), "config": _encode(config)
    }
    return json.dumps(document, separators=(",", ":")) + "\n"


def _encode(value: Any) -> Any:
    fields = getattr(type(value), "model_fields", None)
    if fields is not None:
        name = type(value).__name__
        encoded = {field: _encode(getattr(value, field)) for field in fields}
        encoded.update({field: getattr(value, field) for field in COMPUTED_FIELDS.get(name, ())})
        return {"@": name, "f": encoded}
    if isinstance(value, dict):
        # JSON keys are strings; exit_codes is keyed by integers and must stay so
        kind = "intdict" if value and all(isinstance(k, int) for k in value) else "dict"
        return {"@": kind, "f": {str(k): _encode(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        kind, fields = value["@"], {k: _decode(v) for k, v in value["f"].items()}
        if kind == "dict":
            return fields
        if kind == "intdict":
            return {int(k): v for k, v in fields.items()}
        cls = _node_classes.get(kind)
        if cls is None:
            cls = _node_classes[kind] = type(kind, (Node,), {"__slots__": ()})
        return cls(fields)
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def load_compiled(config_path: str | os.PathLike[str], source: bytes) -> Any | None:
    """The compiled config for these YAML bytes, or None when there is none or it is stale or foreign."""
    try:
        with open(_compiled_file(config_path), "rb") as file:
            document = json.loads(file.read())
    except (OSError, ValueError):
        return None
    fresh = (
        isinstance(document, dict)
        and document.get("format") == FORMAT
        and document.get("wrapper") == __version__
        and document.get("source_sha256") == source_digest(source)
    )
    return _decode(document["config"]) if fresh else None


def expand_config_dir(config: Any, config_path: str | os.PathLike[str]) -> Any:
    """Replace `{config_dir}` in command words with the config file's absolute directory."""
    config_dir = os.path.dirname(os.path.abspath(config_path))
    command = [word.replace(CONFIG_DIR_PLACEHOLDER, config_dir) for word in config.command]
    return config if command == config.command else config.model_copy(update={"command": command})
