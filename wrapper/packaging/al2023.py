"""What Lambda's Amazon Linux 2023 base provides to a bundled program, and which symbol versions it can satisfy.

Lambda's python3.12+ and provided.al2023 runtimes run on the AL2023 minimal image: glibc 2.34 and the GCC 11
runtime libraries (docs.aws.amazon.com/linux/al2023/ug/glibc-gcc-and-binutils.html; the managed images' own
`ldd --version`). `wrapper package --bundle` ships every other library a program needs in the zip's lib/
(`$LAMBDA_TASK_ROOT/lib`, on Lambda's LD_LIBRARY_PATH). The list below is deliberately short: only what every
AL2023 Lambda image has because the image's own tools need it. A library missing from it is bundled even when
the image happens to have a copy, which costs a few hundred kB and never breaks a program; note that such a copy
only serves when the image lacks one, since LD_LIBRARY_PATH puts /lib64 before $LAMBDA_TASK_ROOT/lib.

Provided libraries cannot be bundled (glibc's must match the image's loader; GCC's come first on the path), so
for them the check is the symbol versions: a program or bundled library that needs `GLIBC_2.35`,
`GLIBCXX_3.4.30` (GCC 12) or `GCC_12.0.0` does not load there, and packaging refuses it, naming the symbol.
"""

from __future__ import annotations

import re

from wrapper.packaging.elf import VersionNeed

GLIBC = (2, 34)
GCC = 11  # libgcc_s version nodes are named after the GCC release that added them: GCC_3.0 ... GCC_7.0.0
GLIBCXX = (3, 4, 29)  # the last libstdc++ symbol version of GCC 11
CXXABI = (1, 3, 13)

# glibc 2.34's shared objects (libpthread, libdl, librt and libutil are stubs since 2.34, still present)
GLIBC_LIBRARIES = frozenset(
    {
        "libc.so.6",
        "libm.so.6",
        "libmvec.so.1",
        "libpthread.so.0",
        "libdl.so.2",
        "librt.so.1",
        "libutil.so.1",
        "libresolv.so.2",
        "libanl.so.1",
        "libBrokenLocale.so.1",
        "libthread_db.so.1",
        "libc_malloc_debug.so.0",
        "libnss_files.so.2",
        "libnss_dns.so.2",
        "ld-linux-x86-64.so.2",
        "ld-linux-aarch64.so.1",
    }
)
GCC_LIBRARIES = frozenset({"libgcc_s.so.1", "libstdc++.so.6"})
PROVIDED = GLIBC_LIBRARIES | GCC_LIBRARIES

# the loaders Lambda has, by architecture: a program asking for another (musl's, say) cannot start there
LOADERS = {"x86_64": "/lib64/ld-linux-x86-64.so.2", "arm64": "/lib/ld-linux-aarch64.so.1"}

_VERSION = re.compile(r"(GLIBC|GLIBCXX|CXXABI|GCC)_(\d+(?:\.\d+)*)")


def is_provided(soname: str) -> bool:
    """Whether the AL2023 Lambda image has this library (so it is never bundled)."""
    return soname in PROVIDED


def too_new(need: VersionNeed) -> bool:
    """Whether a symbol version needed from a provided library is newer than what AL2023 has."""
    if need.library not in PROVIDED:
        return False
    match = _VERSION.fullmatch(need.version)
    if match is None:  # GLIBC_PRIVATE, CXXABI_TM_1, CXXABI_FLOAT128: present on both sides
        return False
    family, numbers = match.group(1), tuple(int(n) for n in match.group(2).split("."))
    if family == "GLIBC":
        return numbers > GLIBC
    if family == "GLIBCXX":
        return numbers > GLIBCXX
    if family == "CXXABI":
        return numbers > CXXABI
    return numbers[0] > GCC


def describe_limit(need: VersionNeed) -> str:
    """What AL2023 has instead, for the refusal message."""
    family = need.version.split("_", 1)[0]
    return {
        "GLIBC": "AL2023 has glibc 2.34",
        "GLIBCXX": "AL2023 has GCC 11's libstdc++ (GLIBCXX_3.4.29)",
        "CXXABI": "AL2023 has GCC 11's libstdc++ (CXXABI_1.3.13)",
        "GCC": "AL2023 has GCC 11's libgcc_s",
    }.get(family, "AL2023 has older versions")
