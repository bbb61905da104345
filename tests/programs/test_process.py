"""The process supervisor against real child processes: outcomes, the kill sequence, caps, and no leaks."""

from __future__ import annotations

import concurrent.futures
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from harness import is_live
from wrapper.errors import SpawnError
from wrapper.programs.groups import kill_process_group, stop_process_group
from wrapper.programs.process import STDERR_LINE_BYTES, ProcessRun, run_process
from wrapper.programs.reaper import Reaper

ENV = {"LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin"}  # LC_ALL set, so Python does not add LC_CTYPE to the child
PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h
PROGRAMS = Path(__file__).resolve().parents[1] / "reliability" / "programs"
NON_UTF8 = b"\xff\xfe\x00\x80 not utf-8 \xc3\x28 \xed\xa0\x80\n"  # tests/bin/non_utf8.py DATA


def run(argv: list[str], *, stdin: bytes | None = None, **overrides):
    """run_process with small test defaults."""
    options = dict(env=ENV, cwd=None, timeout_s=1.0, grace_s=0.2, max_output_bytes=1 << 24)
    options.update(overrides)
    return run_process(argv, stdin=stdin, **options)


def lines_of_x(size: int) -> bytes:
    """The first size bytes tests/bin/write_bytes.py writes."""
    return ((b"x" * 63 + b"\n") * (size // 64 + 1))[:size]


def first_pid(stdout: bytes) -> int:
    """The pid a test program printed first (its pgid: run_process starts a new session)."""
    return int(stdout.split()[0])


def assert_group_gone(pgid: int) -> None:
    """No process, not even a zombie, is left in group pgid."""
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)


def live_members(pgid: int) -> list[int]:
    """Pids in group pgid that can still run code: not zombies and without a SIGKILL pending (dying)."""
    pids = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
            if int(stat[stat.rindex(b")") + 2 :].split()[2]) != pgid:
                continue
            with open(f"/proc/{entry}/status") as f:
                status = dict(line.split(":", 1) for line in f)
        except OSError:
            continue  # gone meanwhile
        pending = int(status["SigPnd"], 16) | int(status["ShdPnd"], 16)
        if status["State"].split()[0] not in ("Z", "X") and not pending & (1 << (signal.SIGKILL - 1)):
            pids.append(int(entry))
    return pids


def open_fds() -> int:
    """How many fds this process has open."""
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def subreaper():
    """Make this test process adopt orphans, so run_process itself reaps killed grandchildren."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        pytest.skip("prctl(PR_SET_CHILD_SUBREAPER) unavailable")
    yield
    libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


@pytest.mark.parametrize("code", [0, 1, 3, 42, 255])
def test_exit_code_is_returned(program, code):
    result = run(program("exit_code") + [str(code)])
    assert (result.exit_code, result.signal, result.timed_out) == (code, None, False)
    assert result.duration_s > 0


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGSEGV, signal.SIGABRT], ids=lambda s: s.name)
def test_death_by_signal_is_returned(program, sig):
    result = run(program("die_by_signal") + [sig.name])
    assert (result.exit_code, result.signal, result.timed_out) == (None, sig, False)


def test_hanging_program_is_terminated_with_its_group(program):
    result = run(program("sleep_forever"), timeout_s=1.0)
    assert result.timed_out
    assert result.signal == signal.SIGTERM
    assert_group_gone(first_pid(result.stdout))


def test_timeout_terminates_descendants_too(subreaper):
    result = run(["sh", "-c", "echo $$; sleep 30 & sleep 30"], timeout_s=0.3)
    assert result.timed_out
    assert result.signal == signal.SIGTERM
    assert_group_gone(first_pid(result.stdout))


def test_program_ignoring_sigterm_is_killed_after_grace(program):
    result = run(program("ignore_term"), timeout_s=1.0, grace_s=0.2)
    assert result.timed_out
    assert result.signal == signal.SIGKILL
    assert_group_gone(first_pid(result.stdout))


def test_program_closing_its_pipes_still_meets_the_deadline(program):
    result = run(program("hang_after_close"), timeout_s=1.0)
    assert result.timed_out
    assert result.signal == signal.SIGTERM
    assert_group_gone(first_pid(result.stdout))


def test_grandchild_holding_stdout_does_not_hold_the_caller(program):
    result = run(program("spawn_grandchild") + ["3600"], timeout_s=1.0)
    assert (result.exit_code, result.timed_out) == (0, False)  # waiting for the grandchild would time out
    assert live_members(first_pid(result.stdout)) == []  # the grandchild is in the group: dead or dying


def test_grandchild_is_reaped_when_we_adopt_orphans(program, subreaper):
    result = run(program("spawn_grandchild") + ["3600"], timeout_s=1.0)
    assert (result.exit_code, result.timed_out) == (0, False)
    assert_group_gone(first_pid(result.stdout))


@pytest.mark.parametrize(
    ("written", "cap", "truncated"),
    [(0, 0, False), (10, 0, True), (1000, 1000, False), (1001, 1000, True), (5_000_000, 1000, True)],
)
def test_stdout_is_capped_and_the_program_never_blocks(program, written, cap, truncated):
    result = run(program("write_bytes") + [str(written)], max_output_bytes=cap)
    assert (result.exit_code, result.timed_out) == (0, False)  # it wrote everything: reading never stopped
    assert result.stdout_truncated is truncated
    assert result.stdout == lines_of_x(min(written, cap))


def test_stderr_lines_are_delivered_and_the_tail_kept(program):
    lines: list[bytes] = []
    result = run(program("write_bytes") + ["100000", "stderr"], on_stderr_line=lines.append, stderr_tail_bytes=100)
    assert result.exit_code == 0
    assert lines == [b"x" * 63] * (100000 // 64) + [b"x" * (100000 % 64)]  # the unterminated last line too
    assert result.stderr_tail == lines_of_x(100000)[-100:]
    assert result.stdout == b""


def test_stderr_flood_without_newlines_stays_bounded(program):
    pieces: list[bytes] = []
    result = run(program("stderr_flood") + [str(3 << 20)], on_stderr_line=pieces.append)
    assert (result.exit_code, result.stdout) == (0, b"END")
    assert result.stderr_tail == b"e" * 2048
    assert max(map(len, pieces)) == STDERR_LINE_BYTES
    assert b"".join(pieces) == b"e" * (3 << 20)


def test_callback_error_propagates_and_leaves_nothing_behind(program):
    fds = open_fds()

    def explode(line: bytes) -> None:
        raise RuntimeError("logger broke")

    with pytest.raises(RuntimeError, match="logger broke"):
        run(program("write_bytes") + ["1000", "stderr"], on_stderr_line=explode)
    assert open_fds() == fds


def test_program_not_reading_a_large_stdin_is_fine(program):
    result = run(program("no_read_stdin"), stdin=b"x" * 10_000_000)
    assert (result.exit_code, result.stdout, result.timed_out) == (0, b"done\n", False)


def test_non_utf8_output_is_returned_byte_for_byte(program):
    result = run(program("non_utf8"))
    assert (result.stdout, result.stderr_tail) == (NON_UTF8, NON_UTF8)


def test_large_stdin_round_trips_through_cat():
    data = os.urandom(5 * 1024 * 1024)
    result = run(["cat"], stdin=data, max_output_bytes=len(data))
    assert (result.exit_code, result.stdout_truncated) == (0, False)
    assert result.stdout == data


def test_no_stdin_reads_as_empty():
    result = run(["cat"], stdin=None)
    assert (result.exit_code, result.stdout) == (0, b"")


def test_argv_stdin_and_cwd_reach_the_program(program, tmp_path):
    args = ["; rm -rf /", "$HOME", "two words", "", "--flag=x"]
    result = run(program("echo_args") + args, stdin="héllo".encode(), cwd=str(tmp_path))
    seen = json.loads(result.stdout)
    assert seen["argv"] == args
    assert seen["stdin"] == "héllo"
    assert seen["cwd"] == str(tmp_path)


def test_env_is_exactly_what_was_passed(monkeypatch):
    monkeypatch.setenv("PROCESS_TEST_SECRET", "must not leak")
    result = run(["/usr/bin/env"], env={"A": "1", "B": "two words", "EMPTY": ""})
    assert sorted(result.stdout.decode().splitlines()) == ["A=1", "B=two words", "EMPTY="]


def test_missing_executable_raises_spawn_error():
    fds = open_fds()
    with pytest.raises(SpawnError, match=r"^Program '/nonexistent/prog' could not be started: not found$"):
        run(["/nonexistent/prog"])
    assert open_fds() == fds


@pytest.mark.parametrize(
    ("mode", "content", "reason"),
    [(0o644, b"#!/bin/sh\n", "permission denied"), (0o755, b"\x00\x01garbage", "exec format error")],
)
def test_unrunnable_file_raises_spawn_error(tmp_path, mode, content, reason):
    path = tmp_path / "prog"
    path.write_bytes(content)
    path.chmod(mode)
    with pytest.raises(SpawnError, match=f"^Program '{path}' could not be started: {reason}"):
        run([str(path)])


def test_missing_cwd_raises_spawn_error_naming_it(tmp_path):
    with pytest.raises(SpawnError, match="working directory .*nowhere"):
        run(["/bin/true"], cwd=str(tmp_path / "nowhere"))


def test_empty_argv_raises_spawn_error():
    with pytest.raises(SpawnError, match="empty"):
        run([])


@pytest.mark.parametrize("name", ["cat", "sleep_forever", "spawn_grandchild"])
def test_works_without_pidfd(program, subreaper, name):
    def run(argv: list[str], *, stdin: bytes | None = None, **overrides):
        options = dict(env=ENV, cwd=None, timeout_s=1.0, grace_s=0.2, max_output_bytes=1 << 24)
        return ProcessRun(argv, stdin=stdin, **{**options, **overrides}, open_exit_fd=no_pidfd).wait()

    def no_pidfd(pid: int) -> None:  # as on kernels before Linux 5.3
        return None

    if name == "cat":
        assert run(["cat"], stdin=b"abc").stdout == b"abc"
        return
    result = run(program(name), timeout_s=1.0)
    assert result.timed_out is (name == "sleep_forever")
    assert_group_gone(first_pid(result.stdout))


def test_no_fd_or_process_left_after_200_runs(subreaper):
    scripts = [
        (["sh", "-c", "echo $$; cat"], b"abc"),
        (["sh", "-c", "echo $$; exit 3"], None),
        (["sh", "-c", "echo $$; kill -9 $$"], None),
        (["sh", "-c", "echo $$; sleep 30 &"], b""),  # a grandchild holding stdout
    ]
    fds = open_fds()
    for i in range(200):
        argv, stdin = scripts[i % len(scripts)]
        result = run(argv, stdin=stdin)
        assert not result.timed_out
        assert_group_gone(first_pid(result.stdout))
    assert open_fds() == fds


@pytest.mark.parametrize(
    ("name", "sig"), [("sleep_forever", signal.SIGTERM), ("ignore_term", signal.SIGKILL)], ids=["term", "kill"]
)
def test_stop_process_group(program, name, sig):
    proc = subprocess.Popen(program(name), stdout=subprocess.PIPE, start_new_session=True)
    assert proc.stdout.readline()  # started and, for ignore_term, ignoring SIGTERM
    stop_process_group(proc, grace_s=0.2)
    proc.stdout.close()
    assert proc.returncode == -sig
    assert_group_gone(proc.pid)


def test_kill_process_group_of_no_group_is_fine():
    proc = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    proc.wait()
    assert kill_process_group(proc.pid) is False


# the orphan sweep (Reaper.sweep, wrapper/programs/reaper.py)

ESCAPE_SESSION = [sys.executable, str(PROGRAMS / "escape_session.py")]
# a daemon's double fork: an intermediate forks a setsid() helper, writes its pid to us and exits; then writes
# "PID HELPER" to argv[1], waits until argv[2] (a FIFO) is opened for writing, and says if the helper still runs
DAEMONIZE_AND_WAIT = """
import os, sys
read_end, write_end = os.pipe()
if os.fork() == 0:
    helper = os.fork()
    if helper == 0:
        os.setsid()
        os.execvp("sleep", ["sleep", "3600"])
    os.write(write_end, str(helper).encode())
    os._exit(0)
os.close(write_end)
helper = int(os.read(read_end, 100))
os.wait()
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(f"{os.getpid()} {helper}")
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
open(sys.argv[2]).close()
with open(f"/proc/{helper}/stat") as f:
    print("alive" if f.read().rsplit(")", 1)[1].split()[0] not in "ZX" else "dead")
"""


def our_children() -> list[int]:
    """Pids of this test process's children, zombies included."""
    found = []
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as f:
            found += map(int, f.read().split())
    return found


@pytest.fixture
def adopting():
    """A reaper that adopts orphans, for one test; children this process already had are protected from its sweeps."""
    reaper = Reaper()
    if not reaper.adopt_orphans():
        pytest.skip("prctl(PR_SET_CHILD_SUBREAPER) unavailable")
    for pid in our_children():
        reaper.protect(pid)
    yield reaper
    reaper.close()


def test_setsid_grandchild_is_killed_and_reaped_by_the_sweep(adopting):
    result = run(ESCAPE_SESSION + ["3600"], timeout_s=30.0, reaper=adopting)
    assert (result.exit_code, result.timed_out) == (0, False)
    escaped = int(result.stdout.split()[1])
    with pytest.raises(ProcessLookupError):  # not even a zombie: killed and reaped
        os.kill(escaped, 0)
    assert our_children() == []


# an escapee (own session) that forks a worker into its group and exits at once; prints the worker's pid
ESCAPEE_LEAVES_A_WORKER = """
import os, time
read_end, write_end = os.pipe()
if os.fork() == 0:
    os.setsid()
    worker = os.fork()
    if worker == 0:
        time.sleep(3600)
    os.write(write_end, str(worker).encode())
    os._exit(0)
os.wait()
print(int(os.read(read_end, 100)))
"""


def test_sweep_kills_the_worker_an_exited_escapee_left_in_its_group(adopting):
    result = run([sys.executable, "-c", ESCAPEE_LEAVES_A_WORKER], timeout_s=30.0, reaper=adopting)
    assert (result.exit_code, result.timed_out) == (0, False)
    with pytest.raises(ProcessLookupError):
        os.kill(int(result.stdout), 0)
    assert our_children() == []


def test_without_the_subreaper_nothing_is_swept(program):
    result = run(ESCAPE_SESSION + ["3600"], timeout_s=30.0)
    escaped = int(result.stdout.split()[1])
    try:
        assert is_live(escaped)  # reparented to init, out of reach: what Reaper.adopt_orphans() is for
    finally:
        os.kill(escaped, signal.SIGKILL)


def test_protected_long_lived_group_is_untouched_by_the_sweep(adopting):
    # a server-like leader that stays, with a member orphaned to us (its parent exited)
    server = subprocess.Popen(["sh", "-c", 'sh -c "sleep 3600 & echo \\$!"; exec sleep 3600'],
                              stdout=subprocess.PIPE, start_new_session=True)
    try:
        orphan = int(server.stdout.readline())
        adopting.protect(server.pid)
        result = run(ESCAPE_SESSION + ["3600"], timeout_s=30.0, reaper=adopting)
        assert (result.exit_code, result.timed_out) == (0, False)
        with pytest.raises(ProcessLookupError):  # the escapee is swept all the same
            os.kill(int(result.stdout.split()[1]), 0)
        assert server.poll() is None and is_live(orphan)
    finally:
        kill_process_group(server.pid)
        server.wait()
        adopting.unprotect(server.pid)
        server.stdout.close()
    assert_group_gone(server.pid)  # unprotect reaped the orphan


def test_concurrent_runs_do_not_kill_each_others_programs(adopting, tmp_path):
    pids, release = tmp_path / "pids", tmp_path / "release"
    os.mkfifo(release)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(run, [sys.executable, "-c", DAEMONIZE_AND_WAIT, str(pids), str(release)],
                              timeout_s=60.0, reaper=adopting)
        while not pids.exists() and not waiting.done():
            time.sleep(0.01)
        program_pid, helper = map(int, pids.read_text().split())
        # another run ends meanwhile: its sweep must spare the running program and the helper it daemonized
        escaped = run(ESCAPE_SESSION + ["3600"], timeout_s=30.0, reaper=adopting)
        assert (escaped.exit_code, escaped.timed_out) == (0, False)
        assert is_live(program_pid) and is_live(helper)
        with open(release, "w"):
            pass
        result = waiting.result()
    assert (result.exit_code, result.signal, result.stdout) == (0, None, b"alive\n")
    # the last run to end swept both leftovers: the helper and the other run's escapee
    for pid in (helper, int(escaped.stdout.split()[1])):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_large_output_is_held_once_not_twice(program):
    # 5 MiB of stdout, counted by tracemalloc: collected chunks joined at the end held it twice (10 MiB)
    size = 5 << 20
    tracemalloc.start()
    try:
        result = run(program("write_bytes") + [str(size)], timeout_s=20.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.stdout == lines_of_x(size)
    assert peak < 1.5 * size, f"{peak / size:.2f} times the output at the peak"
