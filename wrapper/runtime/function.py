"""Per-invocation glue: event → (HTTP view) → inputs → program (exec or server mode) → response.

Everything here is wiring; the decisions live in the pure modules (inputs, mapping, response, events) and the
I/O in process and server. For HTTP events, failures are answered as HTTP statuses, not Lambda errors.
"""

from __future__ import annotations

import json
import os
import time

from wrapper import TYPE_CHECKING
from wrapper.config.compiled import read_config
from wrapper.errors import ConfigError, InvalidEventError, InvocationError, ProgramTimeoutError
from wrapper.logs import get_logger, log_program_line
from wrapper.mapping.command import build_command, build_server_argv_env, context_env
from wrapper.mapping.inputs import extract_inputs
from wrapper.mapping.response import build_response, content_type_for, is_binary_output
from wrapper.programs.execlimits import exec_budget_bytes, exec_size_problem
from wrapper.programs.executable import resolve_executable
from wrapper.programs.process import run_process
from wrapper.programs.reaper import Reaper
from wrapper.programs.scratch import make_scratch, remove_scratch
from wrapper.types import HttpRequest, HttpResponse, Invocation, ProcessResult

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from wrapper.config.values import Config
    from wrapper.egress.proxy import EgressGuard
    from wrapper.metrics.emf import Observation
    from wrapper.programs.server_mode import ServerProcess
    from wrapper.runtime.hot_mode import HotMode
    from wrapper.runtime.streamed import StreamedAnswer

logger = get_logger(__name__)

HTTP_EVENT_MARKER = b'"requestContext"'  # every HTTP event source carries it; cheap to find in raw bytes
DEFAULT_CONTENT_TYPE = "application/json"


class FunctionHandler:
    """Turns invocations into runs of the configured program."""

    def __init__(self, config: Config, executable: str, *, base_env: dict[str, str], config_dir: str | None = None,
                 reaper: Reaper | None = None) -> None:
        self.config = config
        self.config_dir = config_dir
        self.executable = executable
        self.base_env = base_env
        self.reaper = reaper if reaper is not None else Reaper()  # every program this handler starts
        self.server: ServerProcess | None = None  # server mode's program, once started
        self.hot: HotMode | None = None  # hot mode's programs, once started
        self.egress: EgressGuard | None = None  # the egress guard, when the config asks for one (started by load)
        self.egress_env: dict[str, str] = {}
        self.expected_token: str | None = None
        if config.auth.bearer_token_env:
            self.expected_token = base_env.get(config.auth.bearer_token_env) or None
        self.status_codes = config.http.status_codes.as_dict()
        self.exec_budget_bytes = exec_budget_bytes()
        self.content_type = content_type_for(config)
        self.binary = is_binary_output(config)
        self.metrics = None
        if config.metrics is not None:
            from wrapper.metrics.recorder import MetricsRecorder  # only when asked: nothing more at cold start

            self.metrics = MetricsRecorder.for_environment(config.metrics, base_env, secret=self.expected_token)
        self.streaming = config.output.streaming and config.mode == "exec"

    @classmethod
    def load(
        cls, config_path: str | os.PathLike[str], *, base_env: dict[str, str], compiled_only: bool = False
    ) -> FunctionHandler:
        """Load and check the config, resolve the program, and start it in server mode (InitError on failure)."""
        config = read_config(config_path, compiled_only=compiled_only)
        executable = resolve_executable(config, config_path, base_env.get("PATH", os.defpath))
        handler = cls(config, executable, base_env=base_env, config_dir=os.path.dirname(os.path.abspath(config_path)))
        if config.auth.bearer_token_env:
            from wrapper.events.auth import bearer_token_problem

            problem = bearer_token_problem(base_env.get(config.auth.bearer_token_env))
            if problem:
                raise ConfigError(f"auth.bearer_token_env: variable {config.auth.bearer_token_env} {problem}",
                                  file=str(config_path))
        if config.egress.guard:
            from wrapper.egress.proxy import start_egress_guard

            handler.egress, handler.egress_env = start_egress_guard(config.egress, file=str(config_path))
        if config.mode == "server":
            handler._start_server()
        elif config.mode == "hot":
            handler._start_hot()
        else:
            # adopt orphans, so a descendant that left its program's group (setsid) can still be killed
            handler.reaper.adopt_orphans()
        return handler

    def close(self) -> None:
        """Stop every program this runtime started: the server-mode program, and exec-mode runs in flight."""
        self.reaper.kill_running()
        if self.server is not None:
            self.server.stop()
        if self.hot is not None:
            self.hot.close()
        if self.egress is not None:
            self.egress.stop()
        self.reaper.close()  # orphans go to init again: this process no longer sweeps them

    def handle(self, invocation: Invocation) -> tuple[bytes, str] | StreamedAnswer:
        """Return (body, content type) for one invocation, or a streamed answer, or raise InvocationError."""
        if self.metrics is None:
            return self._answer(invocation, None)
        metrics = self.metrics
        seen = metrics.observe()
        try:
            answer = self._answer(invocation, seen)
        except Exception as exc:
            seen.error_type = getattr(exc, "error_type", "Runtime.InternalError")
            metrics.record(seen, invocation.request_id)
            raise
        if isinstance(answer, tuple):
            metrics.record(seen, invocation.request_id)  # logs its own failures: never changes the answer
        else:  # a streamed answer is recorded once the stream has ended
            answer.record_on_end(metrics, seen, invocation.request_id)
        return answer

    def _answer(self, invocation: Invocation, seen: Observation | None) -> tuple[bytes, str] | StreamedAnswer:
        event, request = self.decode(invocation)
        if seen is not None:
            seen.http = request is not None
        if self.streaming:
            from wrapper.events.stream import can_stream  # only streaming configs pay for it

            if request is None or can_stream(request):  # the program runs when the loop hands over the stream
                from wrapper.runtime.streamed import streamed_answer

                return streamed_answer(self, invocation, event, request, seen)
        if request is None:
            response = self._run(invocation, event, None, seen)
            return response.body, response.headers.get("content-type", DEFAULT_CONTENT_TYPE)
        from wrapper import events  # already loaded by decode, which met an HTTP event

        binary = False
        try:
            if self.expected_token is not None:
                from wrapper.events.auth import check_bearer  # hmac: only configs with a bearer token

                check_bearer(request, self.expected_token)
            response = self._run(invocation, events.request_view(request, event), request, seen)
            binary = self.binary  # the program's own bytes, never the error JSON below
        except InvocationError as exc:
            logger.warning("%s: %s", exc.error_type, exc)
            if seen is not None:
                seen.error_type = exc.error_type
            response = events.error_http_response(exc, self.status_codes)
        if self.config.http.headers:
            headers = {**response.headers, **self.config.http.headers}
            response = HttpResponse(response.status_code, headers, response.body)
        shaped = events.build_http_event_response(request, response, binary=binary)
        return json.dumps(shaped).encode(), "application/json"

    def describe(self, invocation: Invocation) -> dict[str, Any]:
        """What the invocation would run (argv, stdin, env, files, cwd, or the server request), without running it."""
        from wrapper.runtime.describe import describe_invocation  # `wrapper check`'s, never the runtime's

        return describe_invocation(self, invocation)

    def decode(self, invocation: Invocation) -> tuple[Any, HttpRequest | None]:
        body = invocation.body
        # Skip parsing a large payload nobody reads: no inputs and not an HTTP event.
        if not self.config.inputs and HTTP_EVENT_MARKER not in body:
            return None, None
        try:
            event = json.loads(body) if body else None
        except ValueError as exc:
            raise InvalidEventError(f"Event is not valid JSON: {exc}") from exc
        except RecursionError:
            raise InvalidEventError("Event is nested too deeply") from None
        if HTTP_EVENT_MARKER not in body:  # no HTTP source without it: the adapters need not load
            return event, None
        # the HTTP adapters (urllib.parse, base64, http) load with the first HTTP event, not at every cold start
        from wrapper.events import parse_http_event

        return event, parse_http_event(event)

    def _run(
        self, invocation: Invocation, document: Any, request: HttpRequest | None, seen: Observation | None
    ) -> HttpResponse:
        values = extract_inputs(document, self.config.inputs)
        if seen is not None:
            seen.values = values
        if self.server is not None:
            from wrapper.runtime.forward import forward  # server mode only

            return forward(self, invocation, values, request, seen)
        if self.hot is not None:
            for_http = request is not None
            body = self.hot.handle(invocation, values, lambda: self.time_left_s(invocation), for_http=for_http,
                                   seen=seen)
            return HttpResponse(200, {"content-type": self.content_type or DEFAULT_CONTENT_TYPE}, body)
        return self._exec(invocation, values, seen, for_http=request is not None)

    def _exec(
        self, invocation: Invocation, values: dict[str, Any], seen: Observation | None, *, for_http: bool
    ) -> HttpResponse:
        result = self.run_program(invocation, values)
        if seen is not None:
            seen.ran(result)
        body = build_response(result, self.config, for_http=for_http)
        return HttpResponse(200, {"content-type": self.content_type or DEFAULT_CONTENT_TYPE}, body)

    def run_program(
        self, invocation: Invocation, values: dict[str, Any], on_stdout: Callable[[bytes], None] | None = None
    ) -> ProcessResult:
        """Run the program once in a fresh scratch dir; stdout is collected, or passed to on_stdout as read."""
        config = self.config
        scratch = make_scratch(config.scratch.dir)
        try:
            command = build_command(
                config,
                values,
                event_body=invocation.body,
                scratch_dir=scratch,
                context_env=context_env(invocation),
                base_env=self.base_env,
            )
            argv = [self.executable, *command.argv[1:]]
            too_large = exec_size_problem(self.executable, argv, command.env, self.exec_budget_bytes)
            if too_large:  # the kernel would refuse it (E2BIG): the event made it so, not the config
                raise InvalidEventError(f"The command is too large to start: {too_large}")
            for path, content in command.files.items():
                with open(path, "wb", opener=_private_opener) as file:
                    file.write(content)
            result = run_process(
                argv,
                stdin=command.stdin,
                env={**command.env, **self.egress_env},
                cwd=scratch,
                timeout_s=self.time_left_s(invocation),
                grace_s=config.grace_s,
                max_output_bytes=config.output.max_bytes,
                stderr_tail_bytes=config.stderr_tail_bytes,
                on_stderr_line=log_program_line,
                reaper=self.reaper,
                on_stdout=on_stdout,
            )
        finally:
            if not config.scratch.keep:
                remove_scratch(scratch)
        return result

    def time_left_s(self, invocation: Invocation) -> float:
        left_s = invocation.deadline_ms / 1000 - time.time() - self.config.deadline_margin_s
        if left_s <= 0:
            raise ProgramTimeoutError("No time left before the invocation's deadline")
        return min(self.config.timeout_s, left_s)

    def _start_server(self) -> None:
        from wrapper.programs.server_mode import ServerProcess

        server_config = self.config.server
        assert server_config is not None  # mode: server requires the section
        argv, env = build_server_argv_env(self.config, base_env=self.base_env)
        server = self.server = ServerProcess(
            [self.executable, *argv[1:]],
            {**env, **self.egress_env},
            port=server_config.port,
            ready_path=server_config.ready.path,
            ready_timeout_s=server_config.ready.timeout_s,
            ready_interval_s=server_config.ready.interval_s,
            restart_backoff_s=server_config.restart_backoff_s,
            max_restart_backoff_s=server_config.max_restart_backoff_s,
            stderr_tail_bytes=self.config.stderr_tail_bytes,
            on_output_line=log_program_line,
            cwd=self.config_dir,  # relative files in the command (a modules file) resolve beside the config
            reaper=self.reaper,
        )
        server.start()

    def _start_hot(self) -> None:
        from wrapper.runtime.hot_mode import HotMode, hot_programs

        programs = hot_programs(self.base_env)
        self.hot = HotMode(self.config, self.executable, base_env=self.base_env, cwd=self.config_dir, programs=programs,
                           extra_env=self.egress_env)
        self.hot.start()


def _private_opener(path: str, flags: int) -> int:
    # 0600 and O_EXCL: the payload is the caller's data, and the scratch dir is fresh
    return os.open(path, flags | os.O_EXCL, 0o600)


__all__ = ["FunctionHandler"]
