"""The platform a package is built for: Lambda architecture and Python version, and their spellings elsewhere."""

from __future__ import annotations

import platform
import re
from dataclasses import dataclass
from typing import Literal

from wrapper.packaging import PackageError

Arch = Literal["x86_64", "arm64"]
ARCHES: tuple[Arch, ...] = ("x86_64", "arm64")
DEFAULT_PYTHON = "3.12"
MIN_PYTHON = (3, 11)  # wrapper's own requires-python

_MACHINE_TO_ARCH: dict[str, Arch] = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}
_ELF_MACHINE = {"x86_64": "EM_X86_64", "arm64": "EM_AARCH64"}  # pyelftools' e_machine names


@dataclass(frozen=True)
class Target:
    """A Lambda architecture and a managed Python runtime version."""

    arch: Arch
    python_version: str  # "3.12"

    @property
    def runtime(self) -> str:
        """Lambda's runtime identifier, e.g. python3.12."""
        return f"python{self.python_version}"

    @property
    def docker_platform(self) -> str:
        """docker buildx's --platform value."""
        return "linux/" + ("arm64" if self.arch == "arm64" else "amd64")

    @property
    def elf_machine(self) -> str:
        """ELF e_machine of programs that run on this architecture, as pyelftools names it."""
        return _ELF_MACHINE[self.arch]


def resolve_target(arch: str | None, python_version: str | None) -> Target:
    """Validate --arch and --python; default to this machine's architecture and Python 3.12."""
    if arch is None:
        machine = platform.machine().lower()
        if machine not in _MACHINE_TO_ARCH:
            raise PackageError(
                f"Cannot tell the Lambda architecture of this machine ({machine!r}): pass --arch x86_64 or arm64"
            )
        arch = _MACHINE_TO_ARCH[machine]
    if arch not in ARCHES:
        raise PackageError(f"--arch must be x86_64 or arm64, not {arch!r}")
    version = python_version or DEFAULT_PYTHON
    match = re.fullmatch(r"3\.(\d{1,2})", version)
    if match is None:
        raise PackageError(f"--python must look like 3.12, not {version!r}")
    if (3, int(match.group(1))) < MIN_PYTHON:
        raise PackageError(f"--python {version}: wrapper needs Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer")
    return Target(arch=arch, python_version=version)
