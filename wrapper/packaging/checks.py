"""Which files ship with a config, and the checks they must pass before anything is written.

A config's directory is the project tree: it becomes the zip root (Lambda's /var/task), so every relative path in
the config means the same on Lambda as it does locally. Shipped: the config; command[0] when it is a path inside
the tree; files that literal words of `command`/`args` name inside the tree (`--config.file=blackbox.yml`); and
every `--include` path. Bare command names are looked up in PATH on Lambda and are never shipped.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from wrapper.config.schema import WrapperConfig
from wrapper.packaging import PackageError
from wrapper.packaging.elf import elf_machine, machine_name
from wrapper.packaging.target import Target

ZIPPED_LIMIT_BYTES = 50 * 1024 * 1024  # direct upload (create-function --zip-file); above it, go through S3
UNZIPPED_LIMIT_BYTES = 262_144_000  # 250 MB: "Unzipped size must be smaller than 262144000 bytes"
LAMBDA_TASK_ROOT = "/var/task"
# Lambda's Handler is the config's file name; keep it a plain word so it needs no quoting in sh, YAML or the CLI
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class ShipFile:
    """One file of the project tree: where it comes from, where it goes (relative, '/'-separated) and its mode."""

    source: Path
    dest: str
    mode: int
    reason: str  # "config", "program", "named in args[2]", "--include"


def collect_files(
    config: WrapperConfig,
    config_path: Path,
    include: list[str | os.PathLike[str]],
    *,
    reserved: tuple[str, ...],
    bundling: bool = False,
) -> tuple[list[ShipFile], list[str]]:
    """The files to ship and notes for the user; raise PackageError for a missing or outside file."""
    root = Path(
        os.path.abspath(config_path)
    ).parent  # not resolve(): relative paths work as resolve_executable reads them
    if not _SAFE_NAME.fullmatch(config_path.name):
        raise PackageError(
            f"Config file name {config_path.name!r} is not usable as Lambda's Handler: "
            "use letters, digits, '.', '_' and '-'"
        )
    files = {config_path.name: ShipFile(config_path.resolve(), config_path.name, 0o644, "config")}
    notes: list[str] = []

    program = config.command[0]
    # the runtime's own rule (resolve_executable): a bare name is a PATH lookup even if a file of that name is here
    program_rel = _tree_path(program, root) if "/" in program else None
    if program_rel is None:
        if os.path.isabs(program):
            notes.append(
                f"Program {program!r} is an absolute path: not shipped, it must exist on Lambda (e.g. from a layer)"
            )
        elif not bundling:
            notes.append(
                f"Program {program!r} is looked up in PATH on Lambda "
                "(/var/lang/bin:/usr/local/bin:/usr/bin:/bin:/opt/bin): "
                "not shipped; bundle it with --bundle, or put it in a layer's bin/ (zip) or image/Dockerfile (image)"
            )
    else:
        rel = _inside(program_rel, root, what=f"Program {program!r}")
        source = root / rel
        if not source.is_file():
            raise PackageError(f"Program {program!r} not found: {source} does not exist or is not a file")
        if not os.access(source, os.X_OK):
            notes.append(f"Program {program!r} is not executable here; it ships with mode 0755")
        files[rel] = ShipFile(source, rel, 0o755, "program")

    for where, word in _literal_words(config):
        for candidate in _path_candidates(word):
            rel_text = _tree_path(candidate, root)
            if rel_text is None:
                continue
            rel = os.path.normpath(rel_text)
            if rel.startswith("..") or not (root / rel).is_file() or rel in files:
                continue
            files[rel] = ShipFile(root / rel, Path(rel).as_posix(), _mode(root / rel), f"named in {where}")
            notes.append(f"Shipping {Path(rel).as_posix()!r} (named in {where})")

    for item in include:
        rel = _inside(
            os.path.relpath(os.path.abspath(item), root) if os.path.isabs(item) else os.fspath(item),
            root,
            what=f"--include {os.fspath(item)!r}",
        )
        source = root / rel
        if not source.exists():
            raise PackageError(
                f"--include {os.fspath(item)!r} not found: {source} does not exist "
                "(paths are relative to the config's directory)"
            )
        for path in sorted(source.rglob("*")) if source.is_dir() else [source]:
            if path.is_file() and "__pycache__" not in path.parts:
                dest = path.relative_to(root).as_posix()
                files.setdefault(dest, ShipFile(path, dest, _mode(path), "--include"))

    for dest in files:
        top = dest.split("/", 1)[0]
        if top in reserved:
            raise PackageError(f"{dest!r} would overwrite the package's own {top!r}: rename it")
    return sorted(files.values(), key=lambda f: f.dest), notes


def check_architecture(files: list[ShipFile], target: Target) -> None:
    """Raise PackageError naming every ELF file built for another architecture than the target's."""
    problems = []
    for file in files:
        machine = elf_machine(file.source)
        if machine is not None and machine != target.elf_machine:
            kind = "Program" if file.reason == "program" else "File"
            problems.append(
                f"{kind} {file.dest!r} is built for {machine_name(machine)}, but --arch is {target.arch}"
            )
    if problems:
        raise PackageError("\n".join(problems))


def check_unzipped_size(total_bytes: int, files: list[ShipFile], *, stage: str) -> None:
    """Raise PackageError when the unpacked function exceeds Lambda's 250 MB, naming the largest files."""
    if total_bytes < UNZIPPED_LIMIT_BYTES:
        return
    by_size = sorted(files, key=lambda f: f.source.stat().st_size, reverse=True)
    largest = [f for f in by_size[:3] if f.source.stat().st_size >= 1024 * 1024] or by_size[:1]
    listed = ", ".join(f"{f.dest!r} {format_size(f.source.stat().st_size)}" for f in largest)
    raise PackageError(
        f"The function would be {format_size(total_bytes)} unzipped ({stage}), over Lambda's 250 MB limit for zip "
        f"packages (largest: {listed}). Ship large files in a container image (up to 10 GB) instead."
    )


def format_size(size: int) -> str:
    """Bytes as MB with one decimal, the unit Lambda's limits use."""
    return f"{size / (1024 * 1024):.1f} MB"


def _tree_path(word: str, root: Path) -> str | None:
    """The word as a path relative to the tree: relative with a '/', or under /var/task/; else None."""
    if word.startswith(LAMBDA_TASK_ROOT + "/"):
        return word[len(LAMBDA_TASK_ROOT) + 1 :]
    if os.path.isabs(word) or "://" in word:
        return None
    return word if "/" in word or (root / word).is_file() else None


def _inside(rel: str, root: Path, *, what: str) -> str:
    """The normalized relative path; PackageError when it leaves the tree."""
    normal = os.path.normpath(rel)
    if normal == ".." or normal.startswith(".." + os.sep) or os.path.isabs(normal):
        raise PackageError(
            f"{what} is outside the config's directory {root}: Lambda only gets what is under it; move it there"
        )
    return Path(normal).as_posix()


def _literal_words(config: WrapperConfig) -> list[tuple[str, str]]:
    """Every literal word of the command line, with where it is in the config."""
    words = [(f"command[{i}]", w) for i, w in enumerate(config.command) if i > 0]
    words += [(f"args[{i}]", a) for i, a in enumerate(config.args) if isinstance(a, str)]
    return words


def _path_candidates(word: str) -> list[str]:
    """The word itself and, for --name=VALUE, the value."""
    if word.startswith("-"):
        _, sep, value = word.partition("=")
        return [value] if sep and value else []
    return [word]


def _mode(path: Path) -> int:
    """0755 for files executable here, else 0644: no group/other write bits, no setuid, in any package."""
    return 0o755 if path.stat().st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH) else 0o644
