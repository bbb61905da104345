"""Finding the program a config names. Light on purpose: the runtime's cold start imports it."""

from __future__ import annotations

import os

from wrapper import TYPE_CHECKING
from wrapper.errors import ConfigError, Problem

if TYPE_CHECKING:
    from typing import Any


def resolve_executable(config: Any, config_path: str | os.PathLike[str], path_env: str) -> str:
    """The absolute path of command[0]: absolute as-is, with a '/' relative to the config's dir, else via PATH."""
    name = config.command[0]
    file = str(config_path)
    if os.path.isabs(name):
        candidate = name
    elif "/" in name:
        candidate = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(file)), name))
    else:
        found = _which(name, path_env)
        if found is None:
            raise ConfigError([Problem(file=file, path="command[0]", reason=f"{name!r} not found in PATH")])
        candidate = os.path.abspath(found)
    if not os.path.isfile(candidate):
        reason = f"{candidate!r} does not exist or is not a file"
        raise ConfigError([Problem(file=file, path="command[0]", reason=reason)])
    if not os.access(candidate, os.X_OK):
        raise ConfigError([Problem(file=file, path="command[0]", reason=f"{candidate!r} is not executable")])
    return candidate


def _which(name: str, path_env: str) -> str | None:
    """The first executable file called name in path_env's directories, as shutil.which finds it.

    Not shutil itself: it imports bz2, lzma and fnmatch at every cold start.
    """
    for directory in path_env.split(os.pathsep):
        candidate = os.path.join(directory or os.curdir, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None
