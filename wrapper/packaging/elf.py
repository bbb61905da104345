"""What `wrapper package` needs to know of an ELF file, read with pyelftools (a packaging-side dependency only).

The facts that decide whether a Linux program runs in Lambda: the machine it is built for, its program
interpreter (the dynamic loader; none for a static binary), the shared libraries it names (DT_NEEDED), where it
asks to find them (DT_RUNPATH / DT_RPATH), and the symbol versions it needs from each library (.gnu.version_r),
with the symbols that need them, so a refusal can name `hypot@GLIBC_2.35` rather than just a version.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection, GNUVerSymSection
from elftools.elf.sections import SymbolTableSection
from elftools.elf.segments import InterpSegment

ELF_MAGIC = b"\x7fELF"
_MACHINE_NAMES = {
    "EM_X86_64": "x86_64",
    "EM_AARCH64": "aarch64",
    "EM_386": "i386",
    "EM_ARM": "arm (32-bit)",
    "EM_MIPS": "mips",
    "EM_PPC": "ppc",
    "EM_PPC64": "ppc64",
    "EM_S390": "s390",
    "EM_RISCV": "riscv",
}


@dataclass(frozen=True)
class VersionNeed:
    """One symbol version a file needs from a library, and the undefined symbols that carry it."""

    library: str  # "libm.so.6"
    version: str  # "GLIBC_2.35"
    symbols: tuple[str, ...]  # ("hypot",)


@dataclass(frozen=True)
class ElfInfo:
    """The loading facts of one ELF file."""

    path: Path
    machine: str  # pyelftools' e_machine name, e.g. "EM_X86_64"
    elf_class: int  # 32 or 64
    interpreter: str | None  # PT_INTERP, e.g. /lib64/ld-linux-x86-64.so.2; None for static binaries and libraries
    needed: tuple[str, ...]  # DT_NEEDED, in order
    search_path: tuple[str, ...]  # DT_RUNPATH, else DT_RPATH, split on ':' (may hold $ORIGIN)
    version_needs: tuple[VersionNeed, ...]

    @property
    def machine_name(self) -> str:
        """The architecture as ELF tools print it: x86_64, aarch64, ..."""
        return machine_name(self.machine)

    @property
    def is_static(self) -> bool:
        """No loader and no libraries: runs on any Linux kernel of its architecture."""
        return self.interpreter is None and not self.needed


def machine_name(machine: str) -> str:
    """A readable name for pyelftools' e_machine value."""
    return _MACHINE_NAMES.get(machine, machine.removeprefix("EM_").lower())


def is_elf(path: Path) -> bool:
    """Whether the file starts with the ELF magic number."""
    with open(path, "rb") as file:
        return file.read(4) == ELF_MAGIC


def elf_machine(path: Path) -> str | None:
    """The e_machine of an ELF file (header only, so a truncated file still answers), or None when not ELF."""
    if not is_elf(path):
        return None
    with open(path, "rb") as file:
        try:
            return ELFFile(file)["e_machine"]
        except ELFError:
            return None


def read_elf(path: Path) -> ElfInfo:
    """Read the loading facts of an ELF file; raise ValueError when it is not one or cannot be parsed."""
    with open(path, "rb") as file:
        try:
            elf = ELFFile(file)
            return _read(path, elf)
        except ELFError as exc:
            raise ValueError(f"{path} is not a readable ELF file: {exc}") from None


def _read(path: Path, elf: ELFFile) -> ElfInfo:
    interpreter = None
    for segment in elf.iter_segments():
        if isinstance(segment, InterpSegment):
            interpreter = segment.get_interp_name()
    needed: list[str] = []
    runpath: list[str] = []
    rpath: list[str] = []
    version_index: dict[int, tuple[str, str]] = {}
    versym: GNUVerSymSection | None = None
    dynsym: SymbolTableSection | None = None
    for section in elf.iter_sections():
        if isinstance(section, DynamicSection):
            for tag in section.iter_tags():
                kind = tag.entry.d_tag
                # pyelftools sets the string of these tags as an attribute named after them
                value: Any = tag
                if kind == "DT_NEEDED":
                    needed.append(value.needed)
                elif kind == "DT_RUNPATH":
                    runpath += value.runpath.split(":")
                elif kind == "DT_RPATH":
                    rpath += value.rpath.split(":")
        elif isinstance(section, GNUVerNeedSection):
            for verneed, auxiliaries in section.iter_versions():
                for aux in auxiliaries:
                    version_index[aux["vna_other"]] = (str(verneed.name), str(aux.name))
        elif isinstance(section, GNUVerSymSection):
            versym = section
        elif isinstance(section, SymbolTableSection) and section.name == ".dynsym":
            dynsym = section
    symbols: dict[tuple[str, str], list[str]] = {need: [] for need in version_index.values()}
    if versym is not None and dynsym is not None:
        for index, symbol in enumerate(dynsym.iter_symbols()):
            ndx = versym.get_symbol(index)["ndx"]
            if isinstance(ndx, int) and ndx in version_index and symbol["st_shndx"] == "SHN_UNDEF":
                symbols[version_index[ndx]].append(symbol.name)
    needs = tuple(
        VersionNeed(library, version, tuple(sorted(set(names))))
        for (library, version), names in sorted(symbols.items())
    )
    return ElfInfo(
        path=path,
        machine=elf["e_machine"],
        elf_class=elf.elfclass,
        interpreter=interpreter,
        needed=tuple(needed),
        search_path=tuple(p for p in (runpath or rpath) if p),  # the loader ignores RPATH when RUNPATH is set
        version_needs=needs,
    )
