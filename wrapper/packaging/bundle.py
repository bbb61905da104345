"""`wrapper package --bundle`: bring a program from this machine's PATH, and the libraries Lambda lacks, along.

The program goes to the zip's bin/ (the bootstrap puts `$LAMBDA_TASK_ROOT/bin` first on PATH), each shared
library it needs, directly or through another library, to lib/ (`$LAMBDA_TASK_ROOT/lib`, on Lambda's
LD_LIBRARY_PATH), unless Amazon Linux 2023 provides it (al2023.py). Before anything is copied, every file is
checked for what decides whether it loads there: its ELF machine against --arch, its loader, and the symbol
versions it needs from the provided libraries (glibc 2.34, GCC 11). Every problem is reported at once.

Libraries are found as this machine's loader finds them: the file's own DT_RUNPATH / DT_RPATH, then
LD_LIBRARY_PATH, then the loader's cache (`ldconfig -p`), then the usual directories.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from wrapper.packaging import PackageError
from wrapper.packaging.al2023 import LOADERS, describe_limit, is_provided, too_new
from wrapper.packaging.bootstrap import BUNDLED_PROGRAM
from wrapper.packaging.checks import ShipFile
from wrapper.packaging.elf import ElfInfo, elf_machine, is_elf, read_elf
from wrapper.packaging.target import Target

BIN_DIR = "bin"
LIB_DIR = "lib"
_TRIPLETS = {"x86_64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}
_LDCONFIG_ARCH = {"x86_64": "x86-64", "arm64": "AArch64"}  # the flag `ldconfig -p` prints per entry


@dataclass(frozen=True)
class ProgramSource:
    """A program to bundle: its name on the command line and the file it is here."""

    name: str
    path: Path
    in_tree: bool  # already shipped from the project tree: only its libraries are added


def find_program(name: str, search_path: str) -> Path:
    """The program a bare name runs here (first in search_path), or PackageError."""
    if "/" in name:
        raise PackageError(
            f"--bundle: {name!r} is a path, which Lambda runs as it is; name the program bare "
            f"({os.path.basename(name)!r}) so the bundled copy in bin/ is the one found"
        )
    found = shutil.which(name, path=search_path)
    if found is None:
        raise PackageError(f"--bundle: {name!r} is not on this machine's PATH, so there is nothing to bundle")
    return Path(found)


def plan_bundle(
    programs: Iterable[ProgramSource], target: Target, *, library_path: str = ""
) -> tuple[list[ShipFile], list[str]]:
    """The files to add for these programs and notes for the user; PackageError listing every problem."""
    planner = _Planner(target, library_path)
    for program in programs:
        planner.add_program(program)
    if planner.problems:
        names = ", ".join(repr(p.name) for p in planner.programs)
        advice = (
            f"Package with the --arch these files are built for, or bundle a build for {target.arch}."
            if planner.wrong_arch and len(planner.wrong_arch) == len(planner.problems)
            else "Use the image route instead (install the program in image/Dockerfile, e.g. with `dnf install -y`), "
            "or a static build of the program."
        )
        raise PackageError(
            f"Cannot bundle {names} for Lambda ({target.arch}, Amazon Linux 2023):\n"
            + "".join(f"  {line}\n" for line in planner.problems)
            + advice
        )
    return planner.files, planner.notes


class _Planner:
    def __init__(self, target: Target, library_path: str) -> None:
        self.target = target
        self.machine = target.elf_machine
        self.library_path = [d for d in library_path.split(":") if d]
        self.files: list[ShipFile] = []
        self.notes: list[str] = []
        self.problems: list[str] = []
        self.wrong_arch: list[str] = []
        self.programs: list[ProgramSource] = []
        self._libraries: dict[str, Path] = {}  # soname → source, once each
        self._cache: dict[str, str] | None = None

    def add_program(self, program: ProgramSource) -> None:
        self.programs.append(program)
        label = repr(program.name)
        if not program.in_tree:
            self.files.append(ShipFile(program.path, f"{BIN_DIR}/{program.name}", 0o755, BUNDLED_PROGRAM))
        if not is_elf(program.path):
            self.notes.append(
                f"Bundling {label} ({program.path}): not an ELF binary, so its interpreter (its #! line) must "
                "exist on Lambda"
            )
            return
        info = self._read(program.path.resolve(), label)  # $ORIGIN is where the file really is
        if info is None:
            return
        if info.is_static:
            self.notes.append(f"Bundling {label} ({program.path}): statically linked, no libraries needed")
            return
        loader = LOADERS[self.target.arch]
        if info.interpreter not in (None, loader):
            self.problems.append(
                f"{label} needs the loader {info.interpreter}, which Lambda lacks (it has {loader})"
            )
        self._check_versions(info, label)
        self._add_libraries(info, program.name)
        bundled = [f.dest.removeprefix(LIB_DIR + "/") for f in self.files if f.reason == f"library of {program.name}"]
        self.notes.append(
            f"Bundling {label} ({program.path}) with {', '.join(bundled)}"
            if bundled
            else f"Bundling {label} ({program.path}): it needs only libraries Lambda has (glibc, GCC's)"
        )

    def _read(self, path: Path, label: str) -> ElfInfo | None:
        try:
            info = read_elf(path)
        except ValueError as exc:
            self.problems.append(f"{label}: {exc}")
            return None
        if info.machine != self.machine or info.elf_class != 64:
            built = f"{info.machine_name} ({info.elf_class}-bit)"
            problem = f"{label} ({path}) is built for {built}, but --arch is {self.target.arch}"
            self.problems.append(problem)
            self.wrong_arch.append(problem)
            return None
        return info

    def _check_versions(self, info: ElfInfo, label: str) -> None:
        for need in info.version_needs:
            if too_new(need):
                symbols = ", ".join(f"{s}@{need.version}" for s in need.symbols[:3]) or need.version
                more = f" (and {len(need.symbols) - 3} more)" if len(need.symbols) > 3 else ""
                self.problems.append(
                    f"{label} needs {symbols}{more} from {need.library}; {describe_limit(need)}"
                )

    def _add_libraries(self, info: ElfInfo, program: str) -> None:
        pending = [(info, soname) for soname in info.needed]
        while pending:
            parent, soname = pending.pop(0)
            if is_provided(soname) or soname in self._libraries:
                continue
            source = self._find_library(soname, parent)
            if source is None:
                self.problems.append(
                    f"{soname} (needed by {parent.path.name}) is not on this machine for {self.target.arch}"
                )
                self._libraries[soname] = Path()
                continue
            self._libraries[soname] = source
            self.files.append(ShipFile(source, f"{LIB_DIR}/{soname}", 0o644, f"library of {program}"))
            library = self._read(source, f"{soname} (needed by {parent.path.name})")
            if library is not None:
                self._check_versions(library, f"{soname} (needed by {parent.path.name})")
                pending += [(library, name) for name in library.needed]

    def _find_library(self, soname: str, parent: ElfInfo) -> Path | None:
        origin = str(parent.path.parent)
        own = [d.replace("$ORIGIN", origin).replace("${ORIGIN}", origin) for d in parent.search_path]
        cached = self._ldconfig().get(soname)
        triplet = _TRIPLETS[self.target.arch]
        usual = [f"/lib/{triplet}", f"/usr/lib/{triplet}", "/lib64", "/usr/lib64", "/lib", "/usr/lib"]
        candidates = [Path(d, soname) for d in own + self.library_path]
        candidates += [Path(cached)] if cached else []
        candidates += [Path(d, soname) for d in usual]
        for candidate in candidates:
            if candidate.is_file() and elf_machine(candidate) == self.machine:
                return candidate.resolve()  # the content, under the name the loader asks for
        return None

    def _ldconfig(self) -> dict[str, str]:
        """soname → path from the loader's cache, for the target's architecture only."""
        if self._cache is None:
            self._cache = {}
            ldconfig = shutil.which("ldconfig") or shutil.which("ldconfig", path="/sbin:/usr/sbin")
            if ldconfig is not None:
                listing = subprocess.run(
                    [ldconfig, "-p"], capture_output=True, text=True, errors="replace", check=False
                ).stdout
                flag = _LDCONFIG_ARCH[self.target.arch]
                for line in listing.splitlines():
                    name, _, rest = line.strip().partition(" (")
                    flags, _, path = rest.partition(") => ")
                    if path and flag in flags.split(","):
                        self._cache.setdefault(name, path)
        return self._cache
