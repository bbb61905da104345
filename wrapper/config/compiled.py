"""Compiled configs: a validated config saved as JSON, loaded at cold start without pydantic or YAML.

`wrapper package` (or `wrapper check --compile`) validates the YAML once and writes `<name>.compiled.json`
beside it. `wrapper run` uses that file only when it was made from exactly these YAML bytes by this wrapper
version; otherwise it validates the YAML as usual (`read_config`). Either way the runtime gets the same
`values.Config`.

The file format: {"format", "wrapper", "source_sha256", "config"}, where in "config" every JSON object is
{"@": KIND, "f": {...}} and KIND is a class name of wrapper.config.values, "dict", or "intdict" (integer keys).
"""

from __future__ import annotations

import json
import os

from wrapper import TYPE_CHECKING, __version__
from wrapper.config import values
from wrapper.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

SUFFIX = ".compiled.json"
FORMAT = 2  # 2: values classes (1 held the schema's class names)


class StaleError(ValueError):
    """A compiled document this version cannot read as it is (another format, or fields that changed)."""


def compiled_path(config_path: str | os.PathLike[str]) -> Path:
    """Where the compiled form of a config lives: beside it, `wrapper.yaml` → `wrapper.compiled.json`."""
    from pathlib import Path  # for the tools; the runtime uses _compiled_file

    return Path(_compiled_file(config_path))


def _compiled_file(config_path: str | os.PathLike[str]) -> str:
    directory, name = os.path.split(os.fspath(config_path))
    return os.path.join(directory, os.path.splitext(name)[0] + SUFFIX)


def source_digest(source: bytes) -> str:
    """The digest that ties a compiled file to the exact YAML bytes it came from (SHA-256, hex)."""
    return _sha256(source).hexdigest()


def _sha256(data: bytes) -> Any:
    # CPython's built-in SHA-256: hashlib would first load OpenSSL's libcrypto (~4 ms of every cold start)
    try:
        from _sha2 import sha256  # type: ignore[import-not-found]  # Python 3.12+
    except ImportError:
        try:
            from _sha256 import sha256  # type: ignore[import-not-found]  # Python 3.11
        except ImportError:  # an interpreter without them
            from hashlib import sha256
    return sha256(data)


def dump_compiled(config: values.Config, source: bytes) -> str:
    """Serialize a config (unexpanded: `{config_dir}` kept); `source` is the YAML it was loaded from."""
    document = {
        "format": FORMAT, "wrapper": __version__, "source_sha256": source_digest(source), "config": _encode(config)
    }
    return json.dumps(document, separators=(",", ":")) + "\n"


def _encode(value: Any) -> Any:
    if isinstance(value, values.Value):
        return {"@": type(value).__name__, "f": {name: _encode(getattr(value, name)) for name in value.FIELDS}}
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
        cls = values.KINDS.get(kind)
        if cls is None:
            raise StaleError(f"no config class {kind!r}")
        try:
            return cls(**fields)
        except TypeError as exc:  # fields added or removed since it was written
            raise StaleError(str(exc)) from None
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def load_compiled(config_path: str | os.PathLike[str], source: bytes) -> values.Config | None:
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
    if not fresh:
        return None
    try:
        config = _decode(document["config"])
    except (StaleError, KeyError, TypeError, AttributeError):
        return None
    return config if isinstance(config, values.Config) else None


def why_not_compiled(config_path: str | os.PathLike[str], source: bytes) -> str:
    """Why load_compiled gave None for these YAML bytes, in words for an init error."""
    name = os.path.basename(_compiled_file(config_path))
    try:
        with open(_compiled_file(config_path), "rb") as file:
            document = json.loads(file.read())
    except OSError as exc:
        return f"{name} cannot be read ({exc.strerror or exc})"
    except ValueError:
        return f"{name} is not JSON"
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return f"{name} has another format than this wrapper's ({FORMAT})"
    if document.get("wrapper") != __version__:
        return f"{name} was made by wrapper {document.get('wrapper')}, this is wrapper {__version__}"
    return f"{name} was made from other YAML (the config changed after packaging)"


def read_config(config_path: str | os.PathLike[str], *, compiled_only: bool = False) -> values.Config:
    """The config: its compiled form when fresh (no pydantic or YAML at cold start), else the validated YAML.

    Both give the same `wrapper.config.values.Config`. compiled_only (a packaged function, which ships no pydantic
    or YAML): a missing or stale compiled form is a ConfigError that says to re-package.
    """
    try:
        with open(config_path, "rb") as file:
            source = file.read()
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc}", file=str(config_path)) from None
    compiled = load_compiled(config_path, source)
    if compiled is not None:
        return values.expand_config_dir(compiled, config_path)
    if compiled_only:
        raise ConfigError(
            f"{why_not_compiled(config_path, source)}: a packaged function runs only its compiled config; "
            "re-package it with `wrapper package`",
            file=str(config_path),
        )
    from wrapper.config.loader import load_config  # pydantic and YAML: about 150 ms of imports

    return load_config(config_path)
