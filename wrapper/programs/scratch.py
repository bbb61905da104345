"""Per-invocation scratch directories: made fresh and private, removed whatever the program left in them.

On Lambda the program runs as the runtime's own unprivileged user, so a directory it left without write or search
permission (`mkdir ro && chmod 500 ro`; `tar` does it with the modes in a caller's archive) cannot be emptied as it
stands, where root would not have noticed. The owner may always change the modes back: remove_scratch does, on
real directories only (a symlink the program left is removed, never followed), and tries again.
"""

from __future__ import annotations

import os
import stat

from wrapper.logs import get_logger

logger = get_logger(__name__)


def make_scratch(parent: str) -> str:
    """A new empty directory under parent, mode 0700, as tempfile.mkdtemp makes one.

    Not tempfile itself: it imports shutil, random and, through shutil, bz2 and lzma, at every cold start.
    """
    for _ in range(100):
        path = os.path.join(os.path.abspath(parent), "wrapper-" + os.urandom(6).hex())
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"No free scratch directory name under {parent}")


def remove_scratch(path: str) -> bool:
    """Remove path and everything in it; say whether it is gone (a failure is logged, never raised)."""
    try:
        os.rmdir(path)  # the common case: the program left nothing behind, one syscall
        return True
    except FileNotFoundError:
        return True
    except OSError:
        pass
    import shutil  # only when the program left something behind

    shutil.rmtree(path, ignore_errors=True)
    if not os.path.lexists(path):
        return True
    _grant_owner(path)  # something refused: modes the program left, ours to change back
    try:
        shutil.rmtree(path)
    except OSError as exc:
        logger.warning("Scratch dir %s could not be removed: %s", path, exc)
        return False
    return True


def _grant_owner(top: str) -> None:
    """u+rwx on top and every directory below it; symlinks are skipped, failures left for rmtree to report."""
    todo = [] if os.path.islink(top) else [top]
    while todo:
        directory = todo.pop()
        try:
            os.chmod(directory, stat.S_IRWXU)
            with os.scandir(directory) as entries:
                todo += [entry.path for entry in entries if entry.is_dir(follow_symlinks=False)]
        except OSError:
            continue
