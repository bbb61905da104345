"""The Emulator: a local Lambda that runs any runtime speaking the Runtime API, and takes invokes from anyone.

    caller ──POST /2015-03-31/functions/NAME/invocations──┐
    caller ──POST /2021-11-15/functions/NAME/response-streaming-invocations (an event stream back)
    browser ──any other path (Function URL front)─────────┤  (invoke_mode RESPONSE_STREAM: streamed back)
    Emulator.invoke() ────────────────────────────────────┴─▶ queue ◀── GET /next ── runtime(s)

Lifecycle: start() binds the port and starts the runtime children (if any); stop() answers waiting callers,
stops the children (SIGTERM, grace, SIGKILL to each group) and closes the server.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from typing import IO, Any, Self

from wrapper.emulator.faults import Endpoint, Faults
from wrapper.emulator.listener import EmulatorHTTPServer, Shared
from wrapper.emulator.results import InvokeResult, invoke_result
from wrapper.emulator.runtimes import ExternalRuntimes, RuntimeSlot, runtime_env
from wrapper.emulator.state import EmulatorStats, Invocations, Stats

logger = logging.getLogger("wrapper.emulator")

ACCOUNT_ID = "000000000000"
REGION = "us-east-1"
WATCH_INTERVAL_S = 0.02
SHUTDOWN_POLL_S = 0.05  # how often serve_forever looks at shutdown()
STOP_ANSWER_GRACE_S = 2.0  # stop(): time for handlers to write the answers close() gave them
INVOKE_MODES = ("BUFFERED", "RESPONSE_STREAM")  # the Function URL's, as Lambda's InvokeMode

Output = IO[Any] | str | os.PathLike[str] | None


class Emulator:
    """A local Lambda: Runtime API, invoke API and Function URL front on one HTTP/1.1 port."""

    def __init__(self, *, runtime_argv: list[str] | None = None, host: str = "127.0.0.1", port: int = 0,
                 function_name: str = "function", function_timeout_s: float = 3.0, memory_mb: int = 128,
                 runtimes: int = 1, env: dict[str, str] | None = None, task_root: str | None = None,
                 handler: str | None = None, runtime_stdout: Output = None, runtime_stderr: Output = None,
                 max_concurrency: int | None = None, api_prefix: str = "",
                 invoke_mode: str = "BUFFERED") -> None:
        if function_timeout_s <= 0:
            raise ValueError(f"function_timeout_s must be positive, not {function_timeout_s}")
        if runtimes < 1:
            raise ValueError(f"runtimes must be at least 1, not {runtimes}")
        if api_prefix and not re.fullmatch(r"(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+", api_prefix):
            raise ValueError(f"api_prefix must be a path such as /.rt, not {api_prefix!r}")
        if runtime_argv is not None and not runtime_argv:
            raise ValueError("runtime_argv must name a program (or be None to run no runtime)")
        self.function_name = function_name
        self.function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}"
        self.function_timeout_s = function_timeout_s
        self._host, self._port = host, port
        self._runtime_argv = list(runtime_argv) if runtime_argv is not None else None
        self._runtimes, self._memory_mb, self._max_concurrency = runtimes, memory_mb, max_concurrency
        self._env, self._task_root, self._handler = dict(env or {}), task_root, handler
        self._outputs = (runtime_stdout, runtime_stderr)
        self._opened: list[IO[Any]] = []
        self._stats = Stats()
        self._faults = Faults()
        self._invocations = Invocations(timeout_s=function_timeout_s, stats=self._stats)
        if invoke_mode not in INVOKE_MODES:
            raise ValueError(f"invoke_mode must be one of {', '.join(INVOKE_MODES)}, not {invoke_mode!r}")
        self.invoke_mode = invoke_mode
        self._shared = Shared(self._invocations, self._faults, self._stats, function_name, self.function_arn,
                              api_prefix, invoke_mode)
        self._servers: list[EmulatorHTTPServer] = []
        self._slots: list[RuntimeSlot] = []
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._started = False

    # lifecycle

    def start(self) -> Self:
        """Bind the port, start serving, start the runtime children; returns self."""
        if self._started:
            raise RuntimeError("Emulator.start() called twice")
        self._started = True
        try:
            self._serve(EmulatorHTTPServer((self._host, self._port), self._shared, ExternalRuntimes()))
            if self._runtime_argv is not None:
                self._start_runtimes(self._runtime_argv)
            self._spawn_thread(self._watch_deadlines, "emulator-deadlines")
        except BaseException:
            self.stop()
            raise
        logger.info("emulator for %s listening on %s (%d runtime(s))", self.function_name, self.address,
                    len(self._slots))
        return self

    def stop(self) -> None:
        """Answer waiting callers, stop the children, close every listener. Safe to call twice."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._invocations.close()
        for slot in self._slots:
            slot.stop()
        for server in self._servers:
            server.shutdown()
            server.close_connections(STOP_ANSWER_GRACE_S)
            server.server_close()
        for thread in self._threads:
            thread.join(5)
        for stream in self._opened:
            stream.close()
        logger.info("emulator for %s stopped", self.function_name)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # public API

    @property
    def address(self) -> str:
        """host:port (and api_prefix) of the main listener: AWS_LAMBDA_RUNTIME_API for a runtime you run yourself."""
        if not self._servers:
            raise RuntimeError("the emulator is not started")
        return self._servers[0].api_address

    @property
    def url(self) -> str:
        """http://host:port, the base of the invoke API and of the Function URL front."""
        if not self._servers:
            raise RuntimeError("the emulator is not started")
        return f"http://{self._servers[0].address}"

    @property
    def runtime_addresses(self) -> list[str]:
        """host:port (and api_prefix) of each child's own Runtime API listener (its AWS_LAMBDA_RUNTIME_API)."""
        return [server.api_address for server in self._servers[1:]]

    @property
    def runtime_pids(self) -> list[int | None]:
        """The pid of each child now running (None while one is being restarted)."""
        return [slot.pid for slot in self._slots]

    @property
    def stats(self) -> EmulatorStats:
        """A snapshot of the counters."""
        return self._stats.snapshot()

    def invoke(self, payload: bytes, *, timeout_s: float | None = None, client_context: str | None = None,
               cognito_identity: str | None = None) -> InvokeResult:
        """Invoke through the same queue as HTTP callers; wait at most timeout_s (TimeoutError), None = forever.

        client_context and cognito_identity are JSON texts, passed to the runtime in their headers.
        """
        if not self._started:
            raise RuntimeError("the emulator is not started")
        record = self._invocations.submit(payload, client_context=client_context,
                                          cognito_identity=cognito_identity)
        finished = record.finished.wait(timeout_s)
        if not finished and (self._invocations.abandon(record) or not record.finished.is_set()):
            raise TimeoutError(f"invocation {record.request_id} did not finish within {timeout_s} s")
        return invoke_result(record)

    def inject_fault(self, endpoint: Endpoint, *, status: int | None = None, drop: bool = False,
                     lose_answer: bool = False, count: int = 1) -> None:
        """Make the next `count` calls to a Runtime API endpoint answer `status` or lose their connection.

        drop: the connection closes before the call does anything. lose_answer: the call is carried out (/next
        hands an invocation out, a post is recorded), then the connection closes unanswered.
        A /response or /error answered 413 or 403 ends that invocation for the caller (Function.ResponseSizeTooLarge,
        Runtime.InvalidStateTransition), as those statuses tell the runtime it is over; any other status or a
        drop leaves it running, to be answered by a later post, its runtime's exit or its deadline.
        """
        self._faults.add(endpoint, status=status, drop=drop, lose_answer=lose_answer, count=count)

    # internals

    def _serve(self, server: EmulatorHTTPServer) -> None:
        self._servers.append(server)
        name = f"emulator-http-{server.address}"
        self._spawn_thread(lambda: server.serve_forever(poll_interval=SHUTDOWN_POLL_S), name)

    def _spawn_thread(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _start_runtimes(self, argv: list[str]) -> None:
        stdout, stderr = (self._open_output(o) for o in self._outputs)
        task_root = self._task_root or os.getcwd()
        for index in range(self._runtimes):
            server = EmulatorHTTPServer((self._host, 0), self._shared, ExternalRuntimes())
            env = runtime_env(api_address=server.api_address, function_name=self.function_name,
                              memory_mb=self._memory_mb, timeout_s=self.function_timeout_s, task_root=task_root,
                              handler=self._handler, max_concurrency=self._max_concurrency, extra=self._env,
                              parent=dict(os.environ))
            slot = RuntimeSlot(index, argv=argv, env=env, cwd=self._task_root, stdout=stdout, stderr=stderr,
                               invocations=self._invocations, stats=self._stats)
            server.hook = slot
            self._slots.append(slot)
            self._serve(server)
            slot.start()

    def _open_output(self, output: Output) -> IO[Any] | None:
        if output is None or hasattr(output, "write"):
            return output  # type: ignore[return-value]
        stream = open(output, "ab")  # noqa: SIM115 - closed in stop()
        self._opened.append(stream)
        return stream

    def _watch_deadlines(self) -> None:
        while not self._stopping.wait(WATCH_INTERVAL_S):
            for record in self._invocations.expire(int(time.time() * 1000)):
                logger.warning("invocation %s timed out after %.2f s", record.request_id, self.function_timeout_s)
                for slot in self._slots:
                    slot.kill(record.holder, "timeout")
