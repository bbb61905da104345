"""vendor/: what the Lambda run path of one config imports, and nothing else, compiled for the target Python.

The compiled config (wrapper/config/compiled.py) is the contract between packaging and the runtime, so the zip
carries no pydantic and no YAML: only wrapper's own package without its packaging-side parts, plus jmespath when
the config has inputs (the one third-party module the run path imports). jmespath is pure Python, so the copy
installed here serves every platform; nothing is downloaded.

Lambda's /var/task is read-only, so Python cannot cache bytecode there: without .pyc files in the zip, every cold
start compiles every module it imports. The .pyc files must come from the target's own Python (its magic number
and cache tag), so they are compiled by this interpreter when it is the target version, else by a `pythonX.Y`
found on PATH (or given with --compile-with); failing both, the zip ships without them and says why.
"""

from __future__ import annotations

import compileall
import importlib.metadata
import py_compile
import shutil
import subprocess
import sys
from pathlib import Path

import wrapper
from wrapper.packaging import PackageError
from wrapper.packaging.target import Target

# What stays on this machine: the packages of the tools (packaging itself, the emulator), and every module that
# imports a packaging-side dependency at its top level, directly or through another such module (the schema with
# pydantic and YAML, `invoke --url` with requests, ...). tests/test_package_lean.py imports every shipped module with
# only vendor/ on the path, so a module the run path needs cannot be left out unnoticed.
TOOL_PACKAGES = ("emulator", "packaging")
PACKAGING_DEPENDENCIES = ("pydantic", "pydantic_core", "yaml", "elftools", "requests", "urllib3", "jsonschema")
JMESPATH = "jmespath"


def copy_wrapper_package(target_dir: Path) -> None:
    """Copy wrapper's run-path modules (sources only) into target_dir/wrapper."""
    source = Path(wrapper.__file__).resolve().parent
    left_out = packaging_side_modules(source)

    def skip(directory: str, names: list[str]) -> set[str]:
        rel = Path(directory).relative_to(source)
        return _not_source(directory, names) | {n for n in names if (rel / n).as_posix() in left_out}

    shutil.copytree(source, target_dir / "wrapper", ignore=skip, dirs_exist_ok=True)


def packaging_side_modules(source: Path) -> set[str]:
    """Paths (relative to the wrapper package, '/'-separated) of what the zip leaves out: TOOL_PACKAGES, and the
    modules whose top-level imports reach a PACKAGING_DEPENDENCIES module (imports under TYPE_CHECKING excepted)."""
    imports = {
        path.relative_to(source).as_posix(): _top_level_imports(path) for path in source.rglob("*.py")
        if "__pycache__" not in path.parts
    }
    left_out = {rel for rel in imports if rel.split("/")[0] in TOOL_PACKAGES} | set(TOOL_PACKAGES)
    changed = True
    while changed:
        changed = False
        for rel, names in imports.items():
            if rel in left_out:
                continue
            for name in names:
                top = name.split(".")[0]
                inner = name.removeprefix("wrapper.").replace(".", "/")
                if top in PACKAGING_DEPENDENCIES or (top == "wrapper" and {inner + ".py", inner} & left_out):
                    left_out.add(rel)
                    changed = True
                    break
    return left_out


def _top_level_imports(path: Path) -> set[str]:
    """Modules a file imports when it is imported: module-level statements, not function bodies or TYPE_CHECKING."""
    import ast

    names: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.If):
                if "TYPE_CHECKING" not in ast.unparse(node.test):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return names


def needs_jmespath(config: object) -> bool:
    """Whether the run path of this config imports jmespath: every input is a JMESPath expression."""
    return bool(getattr(config, "inputs", None))


def copy_jmespath(target_dir: Path) -> dict[str, str]:
    """Copy the installed jmespath package and its metadata (license included) into target_dir; {name: version}."""
    try:
        dist = importlib.metadata.distribution(JMESPATH)
    except importlib.metadata.PackageNotFoundError:
        raise PackageError(
            "jmespath is not installed here (pip install jmespath): the config's inputs need it"
        ) from None
    for file in dist.files or ():
        parts = Path(file).parts
        if "__pycache__" in parts or file.suffix == ".pyc" or parts[0] not in (JMESPATH, _dist_info_dir(dist)):
            continue
        dest = target_dir / file
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(str(dist.locate_file(file)), dest)
    return {dist.metadata["Name"]: dist.version}


def precompile(directory: Path, target: Target, *, compile_with: str | None, search_path: str) -> str | None:
    """Write .pyc files for the target Python under directory; None when done, else why not (for the user)."""
    if compile_with is None and _this_python() == target.python_version:
        # unchecked hashes: /var/task is read-only and zip timestamps are fixed, so mtime checks would only miss
        compileall.compile_dir(
            directory, quiet=1, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH, workers=1
        )
        return None
    interpreter = compile_with or shutil.which(f"python{target.python_version}", path=search_path)
    if interpreter is None:
        return (
            f"no .pyc files: this is Python {_this_python()} and no python{target.python_version} is on PATH to "
            f"compile for the target, so every cold start compiles wrapper's modules (/var/task is read-only). "
            f"Install Python {target.python_version} or pass --compile-with PYTHON."
        )
    probe = _run(
        [interpreter, "-S", "-c", "import sys, importlib.util as u; print('%d.%d' % sys.version_info[:2], "
         "u.MAGIC_NUMBER.hex(), sys.implementation.cache_tag)"]
    )
    words = probe.stdout.split()
    if probe.returncode != 0 or len(words) != 3 or words[0] != target.python_version:
        found = words[0] if probe.returncode == 0 and words else (probe.stderr.strip().splitlines() or ["failed"])[0]
        return (
            f"no .pyc files: {interpreter} is not a working Python {target.python_version} ({found}), so every cold "
            "start compiles wrapper's modules. Pass --compile-with with the target's interpreter."
        )
    magic, cache_tag = bytes.fromhex(words[1]), words[2]
    done = _run(
        [interpreter, "-S", "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", str(directory)]
    )
    if done.returncode != 0:
        raise PackageError(f"{interpreter} -m compileall failed:\n{done.stdout}{done.stderr}")
    for pyc in directory.rglob("*.pyc"):
        if not pyc.name.endswith(f".{cache_tag}.pyc") or pyc.read_bytes()[:4] != magic:
            raise PackageError(f"{pyc} does not carry {interpreter}'s magic number and cache tag ({cache_tag})")
    return None


def installed_versions(site_dir: Path) -> dict[str, str]:
    """Distribution name → version, from the *.dist-info directories in site_dir."""
    versions = {}
    for metadata in sorted(site_dir.glob("*.dist-info/METADATA")):
        fields = dict(
            line.split(": ", 1) for line in metadata.read_text(encoding="utf-8").splitlines()[:20] if ": " in line
        )
        if "Name" in fields and "Version" in fields:
            versions[fields["Name"]] = fields["Version"]
    return versions


def _dist_info_dir(dist: importlib.metadata.Distribution) -> str:
    return f"{dist.metadata['Name'].replace('-', '_')}-{dist.version}.dist-info"


def _this_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=300, check=False)
    except OSError as exc:
        return subprocess.CompletedProcess(argv, 127, "", str(exc))


def _not_source(directory: str, names: list[str]) -> set[str]:
    return {n for n in names if n == "__pycache__" or n.startswith(".") or n.endswith((".pyc", ".pyo", ".tmp"))}
