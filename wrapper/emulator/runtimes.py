"""Runtime child processes: each in its own process group, restarted (with backoff) whenever it exits.

Every child gets its own Runtime API listener (its AWS_LAMBDA_RUNTIME_API), so the emulator knows which child
holds which invocation: the one to kill when an invocation passes its deadline, and the invocations to answer
with Runtime.ExitError when a child dies. A child is replaced the way Lambda resets a sandbox: every process
below it dies, grandchildren included, even those in sessions of their own (wrapper starts each program in one).
How the tree is found and killed: wrapper/emulator/tree.py.
"""

from __future__ import annotations

import datetime
import functools
import logging
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Hashable
from dataclasses import dataclass
from typing import IO, Protocol

from wrapper.emulator.results import entrypoint_outcome, exit_outcome
from wrapper.emulator.state import Invocations, Stats
from wrapper.emulator.tree import kill_leftovers, kill_tree, signal_group, track_tree

logger = logging.getLogger("wrapper.emulator")

BACKOFF_MIN_S = 0.1  # after a child that got as far as GET /next
BACKOFF_MAX_S = 2.0  # a child dying in init doubles its wait up to this, so a crash loop cannot spin
STOP_GRACE_S = 1.0  # SIGTERM → SIGKILL
INIT_ERROR_GRACE_S = 0.5  # a child that posted /init/error and lingers is killed after this
POLL_S = 0.05
REGION = "us-east-1"
# Lambda's own PATH and LD_LIBRARY_PATH (the AWS base images' Dockerfiles; runtime-and-peers.md §1.4). Locally the
# runtime also keeps this machine's PATH first (its python3, its programs); /var/task becomes the task root, so a
# zip's lib/ (`wrapper package --bundle`) loads as it does on Lambda.
LAMBDA_PATH = ("/var/lang/bin", "/usr/local/bin", "/usr/bin/", "/bin", "/opt/bin")
LAMBDA_LIBRARY_PATH = ("/var/lang/lib", "/lib64", "/usr/lib64", "/var/runtime", "/var/runtime/lib", "/var/task",
                       "/var/task/lib", "/opt/lib")
SIGNAL_NAMES = {signal.SIGKILL: "killed", signal.SIGTERM: "terminated", signal.SIGSEGV: "segmentation fault",
                signal.SIGABRT: "aborted", signal.SIGINT: "interrupt", signal.SIGHUP: "hangup",
                signal.SIGBUS: "bus error", signal.SIGPIPE: "broken pipe", signal.SIGQUIT: "quit"}


@dataclass(frozen=True)
class Holder:
    """Which child holds an invocation: slot and the generation (restart count) of the process in it."""

    slot: int
    generation: int


def describe_exit(returncode: int) -> str:
    """How a child ended, in the words Lambda's errors use (Go's): "exit status 3", "signal: killed"."""
    if returncode >= 0:
        return f"exit status {returncode}"
    number = -returncode
    try:
        name = SIGNAL_NAMES.get(signal.Signals(number), signal.Signals(number).name)
    except ValueError:
        name = str(number)
    return f"signal: {name}"


def runtime_env(*, api_address: str, function_name: str, memory_mb: int, timeout_s: float, task_root: str,
                handler: str | None, max_concurrency: int | None, extra: dict[str, str],
                parent: dict[str, str]) -> dict[str, str]:
    """The environment Lambda gives a runtime (runtime-and-peers.md §1.4), then `extra` on top."""
    env = {
        "PATH": _join(parent.get("PATH", ""), LAMBDA_PATH),
        "LD_LIBRARY_PATH": _join(
            "", [d.replace("/var/task", task_root, 1) for d in LAMBDA_LIBRARY_PATH], parent.get("LD_LIBRARY_PATH", "")
        ),
    }
    env["LANG"] = parent.get("LANG", "en_US.UTF-8")
    today = datetime.datetime.now(datetime.UTC).strftime("%Y/%m/%d")
    env.update({
        "AWS_LAMBDA_RUNTIME_API": api_address,
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_TIMEOUT": f"{timeout_s:g}",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": f"{today}/[$LATEST]{uuid.uuid4().hex}",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "LAMBDA_TASK_ROOT": task_root,
        "LAMBDA_RUNTIME_DIR": task_root,  # no /var/runtime locally
        "TZ": ":UTC",
    })
    if handler is not None:
        env["_HANDLER"] = handler
    if max_concurrency is not None:
        env["AWS_LAMBDA_MAX_CONCURRENCY"] = str(max_concurrency)
    env.update(extra)
    return env


def _join(first: str, entries: list[str] | tuple[str, ...], last: str = "") -> str:
    """first as it is, then the directories of entries and last that it lacks, ':'-separated."""
    present = {os.path.normpath(d) for d in first.split(":") if d}
    added: list[str] = []
    for directory in [*entries, *last.split(":")]:
        if directory and os.path.normpath(directory) not in present:
            present.add(os.path.normpath(directory))
            added.append(directory)
    return ":".join(filter(None, [first, *added]))


class RuntimeHook(Protocol):
    """What the server needs from whoever runs the runtimes behind it."""

    def holder(self) -> Hashable | None: ...

    def on_ready(self) -> None: ...

    def on_init_error(self) -> None: ...


class ExternalRuntimes:
    """Runtimes the emulator did not start: no holder to track, nothing to replace."""

    def holder(self) -> Hashable | None:
        return None

    def on_ready(self) -> None:
        pass

    def on_init_error(self) -> None:
        pass


class RuntimeSlot:
    """One runtime child, supervised: started, watched, replaced. Also the RuntimeHook of its listener."""

    def __init__(self, index: int, *, argv: list[str], env: dict[str, str], cwd: str | None,
                 stdout: IO[bytes] | None, stderr: IO[bytes] | None, invocations: Invocations,
                 stats: Stats) -> None:
        self.index = index
        self._argv, self._env, self._cwd = list(argv), dict(env), cwd
        self._stdout, self._stderr = stdout, stderr
        self._invocations, self._stats = invocations, stats
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._generation = 0
        self._ready = False
        self._init_error_at: float | None = None
        self._kill_reason: str | None = None
        self._tree: dict[int, int] = {}  # every process seen below the child and still alive → its start time
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name=f"emulator-runtime-{index}", daemon=True)

    # RuntimeHook

    def holder(self) -> Hashable | None:
        with self._lock:
            return Holder(self.index, self._generation)

    def on_ready(self) -> None:
        with self._lock:
            if not self._ready:  # what it started during init is known before any invocation can kill it
                self._track()
            self._ready = True

    def on_init_error(self) -> None:
        with self._lock:
            self._init_error_at = time.monotonic()

    # control

    @property
    def pid(self) -> int | None:
        with self._lock:
            return self._process.pid if self._process is not None else None

    def start(self) -> None:
        self._thread.start()

    def kill(self, holder: Hashable | None, reason: str) -> None:
        """Kill the child's tree if `holder` is still the running child (Lambda resets the sandbox)."""
        with self._lock:  # the child is reaped only under the lock, so its pid is still its own here
            if holder != Holder(self.index, self._generation) or self._process is None:
                return
            self._kill_reason = reason
            logger.info("runtime %d (pid %d): killing, %s", self.index, self._process.pid, reason)
            kill_tree(self._process.pid)

    def stop(self) -> None:
        """No more restarts; SIGTERM the group, a grace period, then SIGKILL to the whole tree."""
        self._stopping.set()
        with self._lock:
            process = self._process
        if process is not None:
            signal_group(process.pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_S
            while not _exited(process) and time.monotonic() < deadline:
                time.sleep(0.01)
            with self._lock:
                if self._process is process:  # not reaped yet: the pid is still its own
                    kill_tree(process.pid)
        if self._thread.is_alive():
            self._thread.join(STOP_GRACE_S + 5)

    # supervision

    def _supervise(self) -> None:
        backoff_s = BACKOFF_MIN_S
        while True:
            with self._lock:
                if self._stopping.is_set():
                    return
                self._generation += 1
                self._ready, self._init_error_at, self._kill_reason, self._tree = False, None, None, {}
                holder = Holder(self.index, self._generation)
                process = self._spawn()
                self._process = process if isinstance(process, subprocess.Popen) else None
            if isinstance(process, str):
                logger.error("runtime %d could not start: %s", self.index, process)
                self._invocations.fail_oldest_queued(functools.partial(entrypoint_outcome, reason=process))
                ready, reason = False, None
            else:
                ready, reason = self._watch(process, holder)
            if self._stopping.is_set():
                return
            if reason == "timeout":
                pause_s = 0.0  # Lambda replaces a timed-out sandbox at once
            elif ready:
                backoff_s = pause_s = BACKOFF_MIN_S
            else:  # it never got as far as /next: failing init, so each restart waits twice as long
                pause_s, backoff_s = backoff_s, min(backoff_s * 2, BACKOFF_MAX_S)
                logger.info("runtime %d failed before /next; restarting in %.1f s", self.index, pause_s)
            self._stopping.wait(pause_s)

    def _spawn(self) -> subprocess.Popen[bytes] | str:
        try:
            # own session, so killpg reaches grandchildren
            return subprocess.Popen(self._argv, env=self._env, cwd=self._cwd, stdin=subprocess.DEVNULL,
                                    stdout=self._stdout, stderr=self._stderr, start_new_session=True)
        except OSError as exc:
            return f"fork/exec {self._argv[0]}: {exc.strerror or exc}"

    def _watch(self, process: subprocess.Popen[bytes], holder: Holder) -> tuple[bool, str | None]:
        """Wait for the child to end and answer what it held; return (it got to /next, why we killed it)."""
        self._stats.count("runtime_starts")
        logger.info("runtime %d started: pid %d", self.index, process.pid)
        self._wait(process)
        with self._lock:
            kill_tree(process.pid)  # while it is a zombie: whatever is left of it dies, as in a reset sandbox
            kill_leftovers(self._tree)  # and what it had below it, handed to init when it exited
            returncode = process.wait()
            self._process = None
            ready, reason, init_error = self._ready, self._kill_reason, self._init_error_at is not None
        self._stats.count("runtime_exits")
        how = describe_exit(returncode)
        held = self._invocations.fail_held_by(holder, lambda rid: exit_outcome(rid, how))
        if not (ready or init_error or reason or self._stopping.is_set()):
            # died in init without reporting it: Lambda gives the invoke that was waiting a Runtime.ExitError
            held += self._invocations.fail_oldest_queued(lambda rid: exit_outcome(rid, how))
        level = logging.INFO if reason or self._stopping.is_set() else logging.WARNING
        logger.log(level, "runtime %d (pid %d) ended: %s; %d invocation(s) answered with Runtime.ExitError",
                   self.index, process.pid, how, held)
        return ready, reason

    def _wait(self, process: subprocess.Popen[bytes]) -> None:
        """Wait for the child to exit, without reaping it (kill and stop need its pid to stay its own)."""
        while not _exited(process):
            time.sleep(POLL_S)
            with self._lock:
                self._track()
                lingering = (self._init_error_at is not None and self._kill_reason is None
                             and time.monotonic() - self._init_error_at > INIT_ERROR_GRACE_S)
                if lingering:
                    self._kill_reason = "init_error"
            if lingering:
                logger.info("runtime %d posted /init/error and did not exit: killing it", self.index)
                with self._lock:
                    kill_tree(process.pid)


    def _track(self) -> None:
        """Add the child's current descendants to those it is known to have (call with the lock held)."""
        if self._process is not None:  # not reaped: the pid is still its own
            self._tree = track_tree(self._process.pid, self._tree)


def _exited(process: subprocess.Popen[bytes]) -> bool:
    """Whether our child has exited, without reaping it."""
    if process.returncode is not None:
        return True
    try:
        return os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True

