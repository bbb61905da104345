"""The layout as docs/architecture.md states it: layers import downwards only, no cycle, small modules."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "wrapper"
MAX_LINES = 300

# docs/architecture.md, "Layers": a package may import its own modules and those of lower layers only.
LAYERS = {
    "wrapper": 0,  # errors, types, protocol, and the package itself (TYPE_CHECKING, __version__)
    "config": 1,
    "mapping": 2,
    "events": 2,
    "programs": 2,
    "runtime": 3,
    "metrics": 3,
    "egress": 3,
    "emulator": 3,
    "packaging": 3,
    "cli": 4,
}
# imports upwards, each for a reason: the config validates `{name}` placeholders with the syntax the mapping fills
# them with, metric names and limits with the rules the EMF records obey, and allow-list entries with the parser
# the destination checks use
ALLOWED_UPWARDS = {
    ("config", "wrapper.mapping.template"), ("config", "wrapper.metrics.emf"), ("config", "wrapper.mapping.addresses"),
}
NEVER = {("emulator", "runtime"), ("runtime", "emulator")}  # they meet only in wrapper.protocol


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def package_of(module: str) -> str:
    """`wrapper.config.schema` → config; `wrapper.errors`, `wrapper` → wrapper; `wrapper.__main__` → cli."""
    if module == "wrapper.__main__":
        return "cli"  # `python -m wrapper` is the command line
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and (PACKAGE / parts[1]).is_dir() else "wrapper"


def imports_of(path: Path) -> dict[str, bool]:
    """wrapper modules a module imports → whether at run time (False: only under `if TYPE_CHECKING:`)."""
    found: dict[str, bool] = {}

    def add(name: str, runtime: bool) -> None:
        found[name] = found.get(name, False) or runtime

    def visit(node: ast.AST, runtime: bool) -> None:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for child in node.body:
                visit(child, False)
            for child in node.orelse:
                visit(child, runtime)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "wrapper":
                    add(alias.name, runtime)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "wrapper":
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                add(full if full in MODULES else node.module, runtime)
        for child in ast.iter_child_nodes(node):
            visit(child, runtime)

    visit(ast.parse(path.read_text()), True)
    return found


GRAPH = {name: imports_of(path) for name, path in MODULES.items()}


def test_no_module_is_over_300_lines():
    long = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these modules: {long}"


def test_every_package_has_a_layer():
    assert {package_of(name) for name in MODULES} == set(LAYERS)


def test_packages_import_only_their_own_layer_or_lower():
    wrong = []
    for name, imported in GRAPH.items():
        package = package_of(name)
        for target in imported:
            other = package_of(target)
            if other == package or (package, target) in ALLOWED_UPWARDS:
                continue
            if LAYERS[other] > LAYERS[package] or (package, other) in NEVER:
                wrong.append(f"{name} imports {target}")
    assert not wrong, wrong


def test_no_import_cycle():
    runtime = {name: {t for t, at_run_time in imported.items() if at_run_time and t in GRAPH and t != name}
               for name, imported in GRAPH.items()}
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            raise AssertionError("import cycle: " + " → ".join([*path[path.index(name):], name]))
        if name in done:
            return
        for target in sorted(runtime[name]):
            if target.startswith(name + "."):
                continue  # a package importing its own modules (wrapper.emulator re-exports) is not a cycle
            visit(target, [*path, name])
        done.add(name)

    for name in sorted(runtime):
        visit(name, [])


def test_the_architecture_doc_names_every_module():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    named = [name for name, path in MODULES.items() if name != "wrapper" and path.read_text().strip()]
    missing = [name for name in named if f"`{name.split('.', 1)[1]}`" not in doc]
    assert not missing, f"docs/architecture.md does not mention: {missing}"


def run_time_imports(path: Path) -> tuple[set[str], set[str]]:
    """The wrapper modules a module imports at run time: (at import, only inside a function), names without
    `wrapper.`; `wrapper` itself and imports under `if TYPE_CHECKING:` left out, as the doc's tables have them."""
    at_import: set[str] = set()
    in_function: set[str] = set()

    def visit(node: ast.AST, lazy: bool) -> None:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for child in node.orelse:
                visit(child, lazy)
            return
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names if alias.name.split(".")[0] == "wrapper"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "wrapper":
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                     for a in node.names]
        (in_function if lazy else at_import).update(n.removeprefix("wrapper.") for n in names if n != "wrapper")
        for child in ast.iter_child_nodes(node):
            visit(child, lazy or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(ast.parse(path.read_text()), False)
    return at_import, in_function - at_import


def test_the_architecture_doc_lists_what_each_module_imports():
    # "who imports whom" as built: a module's row names its imports, *italic* when made inside a function
    rows = re.findall(r"^\| `([\w.]+)` \| .* \|([^|]*)\|$", (ROOT / "docs" / "architecture.md").read_text(), re.M)
    wrong = []
    for short, cell in rows:
        name = f"wrapper.{short}"
        if name not in MODULES:
            continue
        italic = set(re.findall(r"\*`([\w.]+)`\*", cell))
        plain = set(re.findall(r"`([\w.]+)`", cell)) - italic
        at_import, in_function = run_time_imports(MODULES[name])
        at_import.discard(short)
        in_function.discard(short)
        if (plain, italic) != (at_import, in_function):
            wrong.append(f"{short}: doc {sorted(plain)} + *{sorted(italic)}*, code {sorted(at_import)} + "
                         f"*{sorted(in_function)}*")
    assert rows and not wrong, "\n".join(wrong)
