"""A reproducible zip of a directory that keeps Unix modes, so bootstrap and programs stay executable on Lambda."""

from __future__ import annotations

import os
import shutil
import stat
import zipfile
from pathlib import Path

# zip's epoch: fixed timestamps and sorted entries make the same inputs give the same bytes (and CodeSha256)
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
UNIX_SYSTEM = 3  # ZipInfo.create_system: without it, unzip and Lambda ignore the mode bits in external_attr


def write_zip(source_dir: Path, zip_path: Path) -> None:
    """Zip every file under source_dir, paths relative to it, modes 0755 or 0644 as on disk."""
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in list_files(source_dir):
            info = zipfile.ZipInfo(path.relative_to(source_dir).as_posix(), date_time=FIXED_TIME)
            info.create_system = UNIX_SYSTEM
            mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(path, "rb") as src, archive.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)


def tree_size(directory: Path) -> int:
    """Total size in bytes of the files under directory (what Lambda counts as unzipped size)."""
    return sum(p.stat().st_size for p in list_files(directory))


def list_files(directory: Path) -> list[Path]:
    """Every file under directory, in a stable order."""
    found = []
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames.sort()
        found += [Path(dirpath, name) for name in sorted(filenames)]
    return sorted(found, key=lambda p: p.relative_to(directory).as_posix())
