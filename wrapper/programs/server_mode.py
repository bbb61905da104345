"""Server mode's long-lived program: start, readiness, restart with backoff, and HTTP requests to it on loopback.

Knows nothing of Lambda or YAML: the caller turns the config into plain parameters. States, as plain data:
never started → running (ready) → dead (exited or crashed; `ensure_running` restarts it) → stopped (final).

A running program can also hang (stopped by SIGSTOP, deadlocked): it still accepts TCP connections but never
answers. A request that times out marks its generation *suspect*; the next `ensure_running` (before the next
request, so the timed-out invocation's answer is not delayed and the next one's time left is counted after it)
sends one GET to the ready path with a short timeout. No HTTP answer at all → hung: its group is killed and it is
restarted like a dead one. Any HTTP answer, even 503, → alive: a slow request or an unready dependency is not a
hang, and a restart would not cure it. Without a ready path nothing tells a hang from a slow request (the kernel
completes a stopped program's connections), so a timeout alone never kills it there.
"""

from __future__ import annotations

import http.client
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from wrapper.errors import ProgramTimeoutError, ServerStartError, UpstreamError
from wrapper.programs import loopback
from wrapper.programs.groups import stop_process_group
from wrapper.programs.lines import OutputReader
from wrapper.programs.loopback import HOST
from wrapper.programs.reaper import Reaper
from wrapper.types import HttpResponse

HANG_PROBE_S = 1.0  # how long a suspect program has to answer its ready path before it counts as hung
RESTART_GRACE_S = 0.2  # SIGTERM → SIGKILL grace when replacing a generation that crashed or hung
GONE_S = 0.5  # after SIGKILL, how long a stop waits for the group to be gone (so a restart finds the port free)
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)  # an idle keep-alive was closed


def _describe_exit(returncode: int) -> str:
    """'exited with status N' or 'was killed by signal SIGX'."""
    if returncode >= 0:
        return f"exited with status {returncode}"
    try:
        return f"was killed by signal {signal.Signals(-returncode).name}"
    except ValueError:
        return f"was killed by signal {-returncode}"


def _with_tail(message: str, tail: str) -> str:
    return f"{message}: {tail}" if tail else message


class ServerProcess:
    """A program started once, listening on 127.0.0.1:port, restarted when it dies."""

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        *,
        port: int,
        ready_path: str | None,
        ready_timeout_s: float,
        ready_interval_s: float = 0.02,
        restart_backoff_s: float = 0.1,
        max_restart_backoff_s: float = 5.0,
        stderr_tail_bytes: int = 2048,
        on_output_line: Callable[[bytes], None] | None = None,
        on_warning: Callable[[str], None] | None = None,
        cwd: str | None = None,
        reaper: Reaper | None = None,
    ) -> None:
        if not argv:
            raise ValueError("argv must not be empty")
        self._warn = on_warning or (lambda message: print(message, file=sys.stderr, flush=True))
        self.argv = list(argv)
        self.env = dict(env)
        self.port = port
        self.ready_path = ready_path
        self.ready_timeout_s = ready_timeout_s
        self.ready_interval_s = ready_interval_s
        self.restart_backoff_s = restart_backoff_s
        self.max_restart_backoff_s = max_restart_backoff_s
        self.stderr_tail_bytes = stderr_tail_bytes
        self.on_output_line = on_output_line
        self.cwd = cwd
        self.reaper = reaper if reaper is not None else Reaper()  # the owner's, so its sweep spares our group
        self._name = repr(self.argv[0])
        self._proc: subprocess.Popen | None = None
        self._output: OutputReader | None = None
        self._stopped = False
        self._suspect: subprocess.Popen | None = None  # the generation a request timed out on, until checked
        self._delay_s = restart_backoff_s  # least time between starts: doubles per restart, reset by an answer
        self._next_start_at = 0.0  # monotonic time before which no restart may begin
        self._lock = threading.Lock()  # one start/restart/stop at a time
        self.connections = loopback.ConnectionPool(port)  # kept-alive, one per concurrent request

    @property
    def pid(self) -> int | None:
        """The current process id, or None before start."""
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        """The exit status (negative: killed by that signal), or None while running or before start."""
        return self._proc.poll() if self._proc is not None else None

    # lifecycle

    def start(self) -> None:
        """Spawn the program and wait until it is ready; raise ServerStartError (after stopping it) if it is not."""
        with self._lock:
            self._stopped = False
            problem = self._spawn_and_wait()
            self._delay_s = self.restart_backoff_s
            self._next_start_at = time.monotonic() + self._delay_s
        if problem is not None:
            raise ServerStartError(problem)

    def ensure_running(self) -> None:
        """Restart the program if it died or hung (one attempt, after a growing backoff); UpstreamError on failure."""
        with self._lock:
            if self._stopped:
                raise UpstreamError(f"Program {self._name} was stopped")
            proc = self._proc
            if proc is not None and proc.poll() is None:
                if self._suspect is not proc:
                    return
                self._suspect = None
                if not self._is_hung():
                    return
                self._warn(f"Program {self._name} (pid {proc.pid}) gave no answer on {self.ready_path} within "
                           f"{self._hang_probe_s():g} s after a request timed out; restarting it")
                self._kill(grace_s=RESTART_GRACE_S)
            # Starts are spaced by a doubling delay, so a crash loop costs sleep, not CPU.
            time.sleep(max(0.0, self._next_start_at - time.monotonic()))
            problem = self._spawn_and_wait()
            self._delay_s = min(self._delay_s * 2, self.max_restart_backoff_s)
            self._next_start_at = time.monotonic() + self._delay_s
        if problem is not None:
            raise UpstreamError(f"Restart failed: {problem}", error_type="Function.ServerCrashed")

    def stop(self, grace_s: float = 1.0) -> None:
        """SIGTERM the whole group, SIGKILL it after grace_s, reap it; safe to call again."""
        with self._lock:
            self._stopped = True
            self._kill(grace_s)
        self.connections.close_idle()

    def _spawn_and_wait(self) -> str | None:
        """Kill any previous generation, spawn a new one and wait for readiness; the reason it failed, or None."""
        self._kill(grace_s=RESTART_GRACE_S)
        self.connections.close_idle()
        self._suspect = None
        # Someone else answering on the port would pass the readiness check and get our requests.
        if self._connects(timeout_s=1.0):
            return f"Port {HOST}:{self.port} is already in use by another process (an earlier instance?)"
        output = OutputReader(self.stderr_tail_bytes, self.on_output_line)
        try:
            proc = subprocess.Popen(
                self.argv,  # a list, never a shell
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # own session and group, so killpg reaches grandchildren
                close_fds=True,
            )
        except OSError as exc:
            return f"Program {self._name} could not be started: {exc.strerror or exc}"
        self.reaper.protect(proc.pid)  # the exec-mode orphan sweep must never touch the server's group
        self._proc, self._output = proc, output
        output.follow(proc)
        problem = self._wait_ready(proc)
        if problem is not None:
            self._kill(grace_s=RESTART_GRACE_S)
            return _with_tail(problem, output.tail(wait_s=0.5))
        return None

    def _wait_ready(self, proc: subprocess.Popen) -> str | None:
        """Poll readiness until the deadline; the reason it never got ready, or None."""
        where = f"{HOST}:{self.port}{self.ready_path or ''}"
        deadline = time.monotonic() + self.ready_timeout_s
        last = "no answer yet"
        while True:
            if proc.poll() is not None:
                return f"Program {self._name} {_describe_exit(proc.returncode)} before it was ready on {where}"
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return f"Program {self._name} was not ready on {where} within {self.ready_timeout_s:g} s ({last})"
            last = self._probe_ready(min(remaining, 1.0))
            if last == "":
                return None
            try:  # sleeps the interval, but wakes at once if the program exits
                proc.wait(timeout=min(self.ready_interval_s, max(0.0, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                pass

    def _probe_ready(self, timeout_s: float) -> str:
        """One readiness check: '' when ready, else what went wrong."""
        if self.ready_path is None:
            return "" if self._connects(timeout_s) else "no TCP connection yet"
        try:
            status = self._get_ready(timeout_s)
        except (OSError, http.client.HTTPException) as exc:
            return f"last error: {exc}"
        return "" if 200 <= status < 300 else f"last status {status}"

    def _is_hung(self) -> bool:
        """After a request timed out: whether the program gives no HTTP answer at all on its ready path."""
        if self.ready_path is None:
            return False  # a TCP connect proves nothing: the kernel accepts for a stopped program too
        try:
            self._get_ready(self._hang_probe_s())
        except (OSError, http.client.HTTPException):
            return True
        return False

    def _hang_probe_s(self) -> float:
        return min(HANG_PROBE_S, self.ready_timeout_s)

    def _get_ready(self, timeout_s: float) -> int:
        """GET the ready path on a fresh connection; its status (OSError or HTTPException when there is none)."""
        return loopback.get_status(self.port, self.ready_path or "/", timeout_s)

    def _connects(self, timeout_s: float) -> bool:
        """Whether something accepts TCP connections on the port."""
        return loopback.accepts_connections(self.port, timeout_s)

    def _kill(self, grace_s: float) -> None:
        """Stop the current generation's whole group (groups.stop_process_group) and forget it."""
        proc = self._proc
        if proc is None:
            return
        stop_process_group(proc, grace_s, gone_s=GONE_S)
        self.reaper.unprotect(proc.pid)  # forget it, and reap the group members we adopted

    # requests

    def request(
        self, method: str, path_with_query: str, *, headers: dict[str, str], body: bytes | None, timeout_s: float
    ) -> HttpResponse:
        """Send one HTTP request to the program on 127.0.0.1:port and return its full answer."""
        loopback.check_request(method, path_with_query, headers)
        sent = {name: value for name, value in headers.items() if name.lower() not in loopback.HOP_BY_HOP}
        what = f"{method} {path_with_query.split('?', 1)[0]}"
        proc = self._proc
        if proc is None or proc.poll() is not None:
            # Known dead: do not connect, another process may have taken the port.
            raise self._crashed(proc, what)
        restarted = False
        for attempt in (1, 2, 3):
            conn, reused = self.connections.take(timeout_s)
            try:
                conn.request(method, path_with_query, body=body, headers=sent)
                response = conn.getresponse()
                data = response.read()
                break
            except TimeoutError:
                conn.close()  # its answer may still come; this connection can never be reused
                self._suspect = proc  # slow or hung? the next ensure_running asks its ready path
                message = f"Program {self._name} did not answer {what} within {timeout_s:g} s"
                raise ProgramTimeoutError(message) from None
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                # A kept-alive connection the server closed while idle fails at once: retry once on a fresh one.
                if reused and attempt == 1 and proc.poll() is None and isinstance(exc, _STALE):
                    continue
                try:  # a crashing server resets its sockets just before it can be reaped
                    proc.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    reason = str(exc) or type(exc).__name__
                    raise UpstreamError(f"Program {self._name} failed to answer {what}: {reason}") from None
                if isinstance(exc, ConnectionRefusedError) and not restarted:
                    # it died just before we connected (ensure_running saw it alive): nothing was sent, so
                    # restarting it and sending the request again cannot repeat anything
                    restarted = True
                    self.ensure_running()
                    proc = self._proc
                    assert proc is not None  # ensure_running started it, or raised
                    continue
                raise self._crashed(proc, what) from None
        if response.will_close:
            conn.close()
        else:
            self.connections.give_back(conn)
        self._delay_s = self.restart_backoff_s  # it answered: healthy again, so restarts start fast again
        return HttpResponse(status_code=response.status, headers=loopback.response_headers(response), body=data)

    def _crashed(self, proc: subprocess.Popen | None, what: str) -> UpstreamError:
        """The error for a program found dead; the next ensure_running restarts it."""
        if proc is None:
            message = f"Program {self._name} is not running ({what})"
        else:
            message = f"Program {self._name} {_describe_exit(proc.returncode)} while handling {what}"
        tail = self._output.tail(wait_s=0.5) if self._output is not None else ""
        return UpstreamError(_with_tail(message, tail), error_type="Function.ServerCrashed")
