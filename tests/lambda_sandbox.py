"""Run `wrapper run` and its programs the way Lambda runs them: the harness of the reliability and security suites.

Lambda runs a runtime and everything it starts as an unprivileged user, with the task root read-only, only /tmp
writable, 1,024 file descriptors and 1,024 processes, and the function's credentials in the runtime's environment
(shared/reference/runtime-and-peers.md §1.4, §1.5, §6). The tests run as root, so this harness builds that world:

- the user: uid and gid 65534, no supplementary groups, no new privileges (`setpriv`), RLIMIT_NOFILE and
  RLIMIT_NPROC at 1,024 (`prlimit`). Both are util-linux and exec the command, so the pid a test starts is the
  runtime's. Switching users takes root: run as anyone else, `prepare()` fails (SandboxError), it never skips;
- an interpreter that user can run: a venv made from the test interpreter's own install when the user can reach
  it, else from the system's `python3.X` of the same version (scripts/install-system-deps installs Debian's; the
  usual interpreter here lives under /root, mode 0700). Copies of `wrapper/`, its runtime dependencies and the
  test programs go in, compiled, owned by root and read-only, as a task root ships: nothing runs from the checkout;
- per test a `Box`: a task dir (root's, read-only to the user) for the config and the runtime's log, and a tmp dir,
  the only place the user may write (Lambda's /tmp), holding the scratch parent; HOME is an empty read-only dir;
- Lambda's environment with fake credentials (the emulator adds the reserved variables it knows).

`writes_outside()` lists, after the run, whatever the user created or changed anywhere but in the boxes' tmp dirs.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAMBDA_UID = LAMBDA_GID = 65534  # nobody: owns nothing on this machine
MAX_FILES = MAX_PROCESSES = 1024  # Lambda's quotas
BASE_PREFIX = "wrapper-lambda-"  # every sandbox's dir under the temp dir starts so (other runs' are left alone)
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "ASIASANDBOXFAKEKEY01",
    "AWS_SECRET_ACCESS_KEY": "sandbox-fake-secret-access-key-0d9c8b7a",
    "AWS_SESSION_TOKEN": "sandbox-fake-session-token-1e2f3a4b5c6d",
}
PROGRAM_DIRS = ("tests/bin", "tests/reliability/programs")
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
_VERSION = f"{sys.version_info[0]}.{sys.version_info[1]}"
# stat(sys.executable) too: a binary under an unreachable dir can still start (found through a path the loader
# falls back to) and then fails every check that looks at its own path
_PRINT_VERSION = "import os, sys; os.stat(sys.executable); print('%d.%d' % sys.version_info[:2])"


class SandboxError(RuntimeError):
    """Lambda's conditions cannot be built on this machine; the message says what is missing."""


@dataclass(frozen=True)
class Box:
    """One test's corner: `task` is read-only to the runtime, `tmp` its only writable dir, `scratch` inside it."""

    task: Path
    tmp: Path
    scratch: Path


class LambdaSandbox:
    """Lambda's user, interpreter and file system for `wrapper run`; paths are known at once, prepare() builds."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.python = str(base / "python" / "bin" / "python3")
        self.home = base / "home"
        self.prepared = False
        self._runs = base / "runs"
        self._marker = base / "started"
        self._boxes = 0

    # what tests put in configs and argv

    def program(self, path: str | Path) -> str:
        """The sandbox's copy of a test program (a path in the checkout)."""
        return str(self.base / Path(path).resolve().relative_to(ROOT))

    @staticmethod
    def launcher() -> list[str]:
        """The argv prefix that runs a command as Lambda's user under Lambda's limits."""
        return ["prlimit", f"--nofile={MAX_FILES}:{MAX_FILES}", f"--nproc={MAX_PROCESSES}:{MAX_PROCESSES}",
                "setpriv", f"--reuid={LAMBDA_UID}", f"--regid={LAMBDA_GID}", "--clear-groups", "--no-new-privs",
                "--"]

    def runtime_argv(self) -> list[str]:
        return [*self.launcher(), self.python, "-m", "wrapper", "run"]

    def environment(self, task: Path) -> dict[str, str]:
        """What Lambda puts in a runtime's environment besides the emulator's reserved variables."""
        return {
            "PATH": f"{SYSTEM_PATH}:/opt/bin",
            "LD_LIBRARY_PATH": f"{task}/lib:/opt/lib",
            "HOME": str(self.home),  # there, but not writable
            "LAMBDA_TASK_ROOT": str(task),
            **FAKE_CREDENTIALS,
        }

    def new_box(self, name: str) -> Box:
        """Fresh dirs for one test; `name` only makes them easy to find."""
        self.prepare()
        self._boxes += 1
        top = self._runs / f"{self._boxes:04d}-{re.sub(r'[^A-Za-z0-9_.-]', '_', name)[:80]}"
        box = Box(task=top / "task", tmp=top / "tmp", scratch=top / "tmp" / "scratch")
        for path in (top, box.task):
            path.mkdir(mode=0o755)
        for path in (box.tmp, box.scratch):
            path.mkdir(mode=0o700)
            os.chown(path, LAMBDA_UID, LAMBDA_GID)
        return box

    def remove_box(self, box: Box) -> None:
        shutil.rmtree(box.task.parent, ignore_errors=True)

    # building it

    def prepare(self) -> None:
        """Build the interpreter and the read-only copies, then check the user can run wrapper (SandboxError)."""
        if self.prepared:
            return
        if os.geteuid() != 0:
            raise SandboxError(f"the sandboxed suites run wrapper as uid {LAMBDA_UID}, as Lambda runs code, and "
                               f"switching users takes root: run the tests as root (CI and the dev container do)")
        missing = [tool for tool in ("prlimit", "setpriv", "find") if shutil.which(tool) is None]
        if missing:
            raise SandboxError(f"{', '.join(missing)} not found: run scripts/install-system-deps")
        self.base.chmod(0o755)  # mkdtemp made it 0700
        self.home.mkdir(mode=0o555)
        self._runs.mkdir(mode=0o755)
        interpreter = self._reachable_interpreter()
        venv = self.base / "python"
        subprocess.run([interpreter, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True)
        site = Path(_output([self.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]))
        for dist in _runtime_distributions():
            _copy_distribution(dist, site)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        shutil.copytree(ROOT / "wrapper", site / "wrapper", ignore=ignore)
        for relative in PROGRAM_DIRS:
            shutil.copytree(ROOT / relative, self.base / relative, ignore=ignore)
        _output([self.python, "-m", "compileall", "-q", str(site / "wrapper")])  # the user cannot write .pyc
        _readable(self.base)
        probe = subprocess.run([*self.launcher(), self.python, "-c", "import wrapper.cli.main; " + _PRINT_VERSION],
                               cwd="/", capture_output=True, text=True, check=False)
        if probe.returncode != 0:
            raise SandboxError(f"uid {LAMBDA_UID} cannot import wrapper with {self.python} (a venv of "
                               f"{interpreter}): {probe.stderr.strip()[-800:]}")
        self._marker.touch()
        self.prepared = True

    def _reachable_interpreter(self) -> str:
        """A Python of this version that Lambda's user can run: the tests' own when it can reach it, else the
        system's."""
        candidates = [os.path.realpath(getattr(sys, "_base_executable", sys.executable))]
        system = shutil.which(f"python{_VERSION}", path=SYSTEM_PATH)
        if system:
            candidates.append(os.path.realpath(system))
        tried = []
        for candidate in dict.fromkeys(candidates):
            probe = subprocess.run([*self.launcher(), candidate, "-I", "-c", _PRINT_VERSION], cwd="/",
                                   capture_output=True, text=True, check=False)
            if probe.returncode == 0 and probe.stdout.strip() == _VERSION:
                return candidate
            tried.append(f"{candidate}: {(probe.stderr.strip() or probe.stdout.strip())[-200:]}")
        raise SandboxError(
            f"no Python {_VERSION} that uid {LAMBDA_UID} can run (the sandboxed suites run wrapper as Lambda's "
            f"unprivileged user): install one with scripts/install-system-deps. Tried: {'; '.join(tried)}")

    # after the run

    def writes_outside(self, roots: tuple[str, ...] = ("/", "/dev/shm")) -> list[str]:
        """What Lambda's user created or changed since prepare() outside the boxes' tmp dirs, on the local disks.

        The user owns nothing else, so it can only have made files of its own (found by uid) or changed
        world-writable ones (found by mtime). Other runs' sandboxes on this machine are left out. A full look
        takes seconds (every inode on the root file system): once per session.
        """
        if not self.prepared:
            return []
        others = os.path.join(self.base.parent, BASE_PREFIX + "*")
        command = ["find", *roots, "-xdev",
                   "(", "-path", str(self._runs / "*" / "tmp"),
                   "-o", "-path", others, "!", "-path", str(self.base), "!", "-path", str(self.base / "*"),
                   ")", "-prune",
                   "-o", "-newer", str(self._marker), "(", "-uid", str(LAMBDA_UID), "-o", "-type", "f", "-perm",
                   "-0002", ")", "-print"]
        found = subprocess.run(command, capture_output=True, text=True, check=False).stdout.splitlines()
        return sorted(set(found))

    def remove(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)


_shared: list[LambdaSandbox] = []


def shared_sandbox() -> LambdaSandbox:
    """This process's one sandbox: made (not yet prepared) on the first call, removed when the process exits."""
    if not _shared:
        _shared.append(LambdaSandbox(Path(tempfile.mkdtemp(prefix=BASE_PREFIX))))
        atexit.register(_shared[0].remove)
    return _shared[0]


def used_sandbox() -> LambdaSandbox | None:
    """The shared sandbox if some test prepared it."""
    return _shared[0] if _shared and _shared[0].prepared else None


def _output(argv: list[str]) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()


def _readable(top: Path) -> None:
    """a+rX below top, whatever the checkout's umask was: the user reads, root alone writes."""
    for directory, _, files in os.walk(top):
        if not directory.startswith((str(top / "runs"), str(top / "home"))):
            os.chmod(directory, 0o755)
            for name in files:
                path = os.path.join(directory, name)
                if not os.path.islink(path):
                    os.chmod(path, os.stat(path).st_mode | 0o444)


def _runtime_distributions() -> list[metadata.Distribution]:
    """The installed distributions `wrapper run` needs: pyproject's dependencies and theirs, extras left out."""
    with open(ROOT / "pyproject.toml", "rb") as file:
        todo = list(tomllib.load(file)["project"]["dependencies"])
    found: dict[str, metadata.Distribution] = {}
    while todo:
        requirement = todo.pop()
        if re.search(r"\bextra\s*==", requirement):
            continue
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
        name = re.sub(r"[-_.]+", "-", match.group()).lower() if match else ""
        if not name or name in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # excluded by a marker on this Python; a missing real dependency fails the probe import
        found[name] = dist
        todo += dist.requires or []
    return list(found.values())


def _copy_distribution(dist: metadata.Distribution, site: Path) -> None:
    for file in dist.files or []:
        if file.parts[0] == ".." or file.suffix == ".pth":
            continue  # scripts in bin/, path hooks
        source = Path(str(dist.locate_file(file)))
        if source.is_file():
            target = site / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)  # keeps mtimes: the copied .pyc stay valid
