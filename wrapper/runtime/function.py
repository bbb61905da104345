"""Per-invocation glue: event → (HTTP view) → inputs → program (exec or server mode) → response.

Everything here is wiring; the decisions live in the pure modules (inputs, mapping, response, events) and the
I/O in process and server. For HTTP events, failures are answered as HTTP statuses, not Lambda errors.
"""

from __future__ import annotations

import json
import os
import time
TYPE_CHECKING = False  # typing stays off the cold-start path (about 15 ms); annotations are strings

from wrapper.config.compiled import expand_config_dir, load_compiled, why_not_compiled
from wrapper.errors import ConfigError, InvalidEventError, InvocationError, ProgramTimeoutError, UpstreamError
from wrapper.mapping.inputs import extract_inputs
from wrapper.runtime.logs import get_logger, log_program_line
from wrapper.mapping.command import build_command, build_server_argv_env, build_server_request
from wrapper.programs.process import enable_subreaper, kill_running_groups, run_process
from wrapper.programs.scratch import make_scratch, remove_scratch
from wrapper.mapping.response import build_response, content_type_for, is_binary_output
from wrapper.programs.executable import resolve_executable
from wrapper.programs.execlimits import exec_budget_bytes, exec_size_problem
from wrapper.types import HttpRequest, HttpResponse, Invocation, ProcessResult

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from wrapper.config.schema import WrapperConfig
    from wrapper.metrics.emf import Observation
    from wrapper.runtime.streamed import StreamedAnswer

logger = get_logger(__name__)

HTTP_EVENT_MARKER = b'"requestContext"'  # every HTTP event source carries it; cheap to find in raw bytes
DEFAULT_CONTENT_TYPE = "application/json"


class FunctionHandler:
    """Turns invocations into runs of the configured program."""

    def __init__(
        self, config: WrapperConfig, executable: str, *, base_env: dict[str, str], config_dir: str | None = None
    ) -> None:
        self.config = config
        self.config_dir = config_dir
        self.executable = executable
        self.base_env = base_env
        self.server = None
        self.hot = None
        self.egress = None  # the egress guard, when the config asks for one (started by load)
        self.egress_env: dict[str, str] = {}
        self.expected_token: str | None = None
        if config.auth.bearer_token_env:
            self.expected_token = base_env.get(config.auth.bearer_token_env) or None
        self.status_codes = config.http.status_codes.model_dump()
        self.exec_budget_bytes = exec_budget_bytes()
        self.content_type = content_type_for(config)
        self.binary = is_binary_output(config)
        self.metrics = None
        if config.metrics is not None:
            from wrapper.metrics.recorder import MetricsRecorder  # only when asked: nothing more at cold start

            self.metrics = MetricsRecorder.for_environment(config.metrics, base_env, secret=self.expected_token)
        # getattr: a compiled config written before the key existed has no such field
        self.streaming = bool(getattr(config.output, "streaming", False)) and config.mode == "exec"

    @classmethod
    def load(
        cls, config_path: str | os.PathLike[str], *, base_env: dict[str, str], compiled_only: bool = False
    ) -> FunctionHandler:
        """Load and check the config, resolve the program, and start it in server mode (InitError on failure)."""
        config = read_config(config_path, compiled_only=compiled_only)
        executable = resolve_executable(config, config_path, base_env.get("PATH", os.defpath))
        handler = cls(config, executable, base_env=base_env, config_dir=os.path.dirname(os.path.abspath(config_path)))
        if config.auth.bearer_token_env:
            problem = _bearer_token_problem(base_env.get(config.auth.bearer_token_env))
            if problem:
                raise ConfigError(f"auth.bearer_token_env: variable {config.auth.bearer_token_env} {problem}",
                                  file=str(config_path))
        if config.egress.guard:
            handler._start_egress_guard()
        if config.mode == "server":
            handler._start_server()
        elif config.mode == "hot":
            handler._start_hot(_concurrency(base_env))
        else:
            # adopt orphans, so a descendant that left its program's group (setsid) can still be killed
            enable_subreaper()
        return handler

    def close(self) -> None:
        """Stop every program this runtime started: the server-mode program, and exec-mode runs in flight."""
        kill_running_groups()
        if self.server is not None:
            self.server.stop()
        if self.hot is not None:
            self.hot.close()
        if self.egress is not None:
            self.egress.stop()

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
            answer.on_end = lambda error_type: _record_streamed(metrics, seen, invocation.request_id, error_type)
        return answer

    def _answer(self, invocation: Invocation, seen: Observation | None) -> tuple[bytes, str] | StreamedAnswer:
        event, request = self._decode(invocation)
        if seen is not None:
            seen.http = request is not None
        if self.streaming:
            from wrapper.events.stream import can_stream  # only streaming configs pay for it

            if request is None or can_stream(request):
                return self._streamed(invocation, event, request, seen)
        if request is None:
            response = self._run(invocation, event, None, seen)
            return response.body, response.headers.get("content-type", DEFAULT_CONTENT_TYPE)
        from wrapper import events  # loaded by _decode when the first HTTP event arrived

        binary = False
        try:
            if self.expected_token is not None:
                events.check_bearer(request, self.expected_token)
            response = self._run(invocation, request.view(event), request, seen)
            binary = self.binary  # the program's own bytes, never the error JSON below
        except InvocationError as exc:
            logger.warning("%s: %s", exc.error_type, exc)
            if seen is not None:
                seen.error_type = exc.error_type
            response = events.error_http_response(exc, self.status_codes)
        if self.config.http.headers:
            response = HttpResponse(response.status_code, {**response.headers, **self.config.http.headers}, response.body)
        shaped = events.build_http_event_response(request, response, binary=binary)
        return json.dumps(shaped).encode(), "application/json"

    def _streamed(
        self, invocation: Invocation, event: Any, request: HttpRequest | None, seen: Observation | None
    ) -> StreamedAnswer:
        """output.streaming: the program runs when the loop hands the answer its stream."""
        from wrapper.runtime.streamed import StreamedAnswer  # only streaming configs pay for it

        def run(on_stdout: Callable[[bytes], None]) -> ProcessResult:
            if request is not None and self.expected_token is not None:
                from wrapper.events.auth import check_bearer  # hmac: only configs with a bearer token

                check_bearer(request, self.expected_token)
            values = extract_inputs(request.view(event) if request is not None else event, self.config.inputs)
            if seen is not None:
                seen.values = values
            result = self._run_program(invocation, values, on_stdout)
            if seen is not None:
                seen.ran(result)  # a stream's output is not kept: metrics from output have no samples
            return result

        content_type = self.content_type or DEFAULT_CONTENT_TYPE
        head = None
        if request is not None:  # the prelude's status and headers; errors before any output get their own
            head = HttpResponse(200, {"content-type": content_type, **self.config.http.headers}, b"")
        return StreamedAnswer(self.config, run, content_type=content_type, http_head=head,
                              status_codes=self.status_codes)

    def describe(self, invocation: Invocation) -> dict[str, Any]:
        """What the invocation would run (argv, stdin, env, files, cwd, or the server request), without running it."""
        event, request = self._decode(invocation)
        values = extract_inputs(request.view(event) if request else event, self.config.inputs)
        described = self._describe_run(invocation, values, request)
        if self.config.metrics is not None:
            from wrapper.metrics.describe import describe_metrics

            http = request is not None
            described["metrics"] = describe_metrics(self.config.metrics, values, http=http, secret=self.expected_token)
        return described

    def _describe_run(
        self, invocation: Invocation, values: dict[str, Any], request: HttpRequest | None
    ) -> dict[str, Any]:
        if self.config.mode == "hot":
            from wrapper.runtime.hot_mode import describe_hot

            return describe_hot(self.config, values, invocation, self.executable, self.base_env, self.config_dir)
        if self.config.mode == "server":
            method, target, headers, body = build_server_request(
                self.config, values, event_body=invocation.body, http_request=request
            )
            port = self.config.server.port
            return {"request": {"method": method, "url": f"http://127.0.0.1:{port}{target}", "headers": headers,
                                "body": _printable(body)}}
        scratch = os.path.join(self.config.scratch.dir, "wrapper-XXXXXXXX")
        command = build_command(
            self.config, values, event_body=invocation.body, scratch_dir=scratch,
            context_env=context_env(invocation), base_env=self.base_env,
        )
        return {
            "argv": [self.executable, *command.argv[1:]],
            "stdin": _printable(command.stdin),
            "env": command.env,
            "files": {path: _printable(content) for path, content in command.files.items()},
            "cwd": scratch,
        }

    def _decode(self, invocation: Invocation) -> tuple[Any, HttpRequest | None]:
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
        if HTTP_EVENT_MARKER not in body:
            return event, None
        # the HTTP adapters (urllib.parse, base64, http, hmac) load with the first HTTP event, not at every cold start
        from wrapper.events import parse_http_event

        return event, parse_http_event(event)

    def _run(
        self, invocation: Invocation, document: Any, request: HttpRequest | None, seen: Observation | None
    ) -> HttpResponse:
        values = extract_inputs(document, self.config.inputs)
        if seen is not None:
            seen.values = values
        if self.server is not None:
            return self._forward(invocation, values, request, seen)
        if self.hot is not None:
            for_http = request is not None
            body = self.hot.handle(invocation, values, lambda: self._time_left_s(invocation), for_http=for_http,
                                   seen=seen)
            return HttpResponse(200, {"content-type": self.content_type or DEFAULT_CONTENT_TYPE}, body)
        return self._exec(invocation, values, seen, for_http=request is not None)

    def _exec(
        self, invocation: Invocation, values: dict[str, Any], seen: Observation | None, *, for_http: bool
    ) -> HttpResponse:
        result = self._run_program(invocation, values)
        if seen is not None:
            seen.ran(result)
        body = build_response(result, self.config, for_http=for_http)
        return HttpResponse(200, {"content-type": self.content_type or DEFAULT_CONTENT_TYPE}, body)

    def _run_program(
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
                timeout_s=self._time_left_s(invocation),
                grace_s=config.grace_s,
                max_output_bytes=config.output.max_bytes,
                stderr_tail_bytes=config.stderr_tail_bytes,
                on_stderr_line=log_program_line,
                on_stdout=on_stdout,
            )
        finally:
            if not config.scratch.keep:
                remove_scratch(scratch)
        return result

    def _forward(
        self, invocation: Invocation, values: dict[str, Any], request: HttpRequest | None, seen: Observation | None
    ) -> HttpResponse:
        server_config = self.config.server
        method, target, headers, body = build_server_request(
            self.config, values, event_body=invocation.body, http_request=request
        )
        self.server.ensure_running()  # may restart the program: only then is the time left known
        timeout_s = self._time_left_s(invocation)
        if server_config.request.timeout_header:
            # the caller's own scrape timeout (e.g. Prometheus's) wins when it is shorter
            name = server_config.request.timeout_header
            forwarded = [k for k in headers if k.lower() == name.lower()]
            caller_s = min((_float(headers.pop(k)) or timeout_s for k in forwarded), default=timeout_s)
            headers[name] = f"{min(timeout_s, caller_s):.3f}"
        started = time.monotonic()
        upstream = self.server.request(method, target, headers=headers, body=body, timeout_s=timeout_s)
        if seen is not None:
            seen.output = upstream.body
        content_type = self.content_type or upstream.headers.get("content-type") or DEFAULT_CONTENT_TYPE
        if not _status_in(upstream.status_code, server_config.success_status):
            if request is not None and server_config.pass_status:
                return HttpResponse(upstream.status_code, {"content-type": content_type}, upstream.body)
            tail = upstream.body[-self.config.stderr_tail_bytes :].decode("utf-8", "replace").strip()
            status = upstream.status_code if 400 <= upstream.status_code < 500 else None
            raise UpstreamError(f"Program answered HTTP {upstream.status_code}: {tail}", status_code=status)
        max_bytes = self.config.output.max_bytes
        result = ProcessResult(
            exit_code=0,
            signal=None,
            timed_out=False,
            stdout=upstream.body[:max_bytes],
            stdout_truncated=len(upstream.body) > max_bytes,
            stderr_tail=b"",
            duration_s=time.monotonic() - started,
        )
        body = build_response(result, self.config, for_http=request is not None)
        return HttpResponse(200, {"content-type": content_type}, body)

    def _time_left_s(self, invocation: Invocation) -> float:
        left_s = invocation.deadline_ms / 1000 - time.time() - self.config.deadline_margin_s
        if left_s <= 0:
            raise ProgramTimeoutError("No time left before the invocation's deadline")
        return min(self.config.timeout_s, left_s)

    def _start_server(self) -> None:
        from wrapper.programs.server_mode import ServerProcess

        server_config = self.config.server
        argv, env = build_server_argv_env(self.config, base_env=self.base_env)
        self.server = ServerProcess(
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
            on_warning=logger.warning,
            cwd=self.config_dir,  # relative files in the command (a modules file) resolve beside the config
        )
        self.server.start()

    def _start_egress_guard(self) -> None:
        """Start the egress guard on 127.0.0.1 and, if asked, point the program's proxy variables at it."""
        from wrapper.egress.proxy import EgressGuard
        from wrapper.mapping.addresses import Policy
        from wrapper.runtime.logs import forward_logging_package

        forward_logging_package()  # the guard logs through the logging package

        egress = self.config.egress
        policy = Policy(allow=egress.allow, deny=egress.deny, deny_private=egress.deny_private)
        try:
            self.egress = EgressGuard(policy, port=egress.port, connect_timeout_s=egress.connect_timeout_s).start()
        except OSError as error:
            raise ConfigError(f"egress.port: cannot listen on 127.0.0.1:{egress.port}: {error}") from None
        if egress.env:
            url = self.egress.url
            self.egress_env = {"HTTP_PROXY": url, "HTTPS_PROXY": url, "http_proxy": url, "https_proxy": url,
                               "NO_PROXY": "", "no_proxy": ""}


    def _start_hot(self, programs: int) -> None:
        from wrapper.runtime.hot_mode import HotMode

        self.hot = HotMode(self.config, self.executable, base_env=self.base_env, cwd=self.config_dir, programs=programs)
        self.hot.start()


def _concurrency(base_env: dict[str, str]) -> int:
    """AWS_LAMBDA_MAX_CONCURRENCY as the CLI reads it: the number of runtime loops, so of hot programs."""
    try:
        return max(1, int(base_env.get("AWS_LAMBDA_MAX_CONCURRENCY") or 1))
    except ValueError:
        return 1


def read_config(config_path: str | os.PathLike[str], *, compiled_only: bool = False) -> Any:
    """The config: its compiled form when fresh (no pydantic or YAML at cold start), else the validated YAML.

    compiled_only (a packaged function, which ships no pydantic or YAML): a missing or stale compiled form is a
    ConfigError that says to re-package.
    """
    try:
        with open(config_path, "rb") as file:
            source = file.read()
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc}", file=str(config_path)) from None
    compiled = load_compiled(config_path, source)
    if compiled is not None:
        return expand_config_dir(compiled, config_path)
    if compiled_only:
        raise ConfigError(
            f"{why_not_compiled(config_path, source)}: a packaged function runs only its compiled config; "
            "re-package it with `wrapper package`",
            file=str(config_path),
        )
    from wrapper.config.schema import load_config  # pydantic and YAML: about 150 ms of imports

    return load_config(config_path)


def context_env(invocation: Invocation) -> dict[str, str]:
    """The invocation context a program sees in its environment."""
    env = {
        "AWS_LAMBDA_REQUEST_ID": invocation.request_id,
        "AWS_LAMBDA_DEADLINE_MS": str(invocation.deadline_ms),
        "AWS_LAMBDA_FUNCTION_ARN": invocation.function_arn,
    }
    if invocation.trace_id:
        env["_X_AMZN_TRACE_ID"] = invocation.trace_id
    return env


def _record_streamed(metrics: Any, seen: Observation, request_id: str, error_type: str | None) -> None:
    seen.error_type = error_type
    metrics.record(seen, request_id)


def _bearer_token_problem(token: str | None) -> str | None:
    """Why a bearer token cannot be used, or None."""
    if token is None:
        return "is not set"
    if not token.strip():
        return "is blank"
    if token != token.strip():
        # HTTP strips a header value's surrounding whitespace: no caller could ever send this token
        return "has leading or trailing whitespace (HTTP strips it from headers, so no request could match)"
    return None


def _float(raw: str | None) -> float | None:
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


def _printable(data: bytes | None) -> str | dict[str, str] | None:
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        import base64

        return {"base64": base64.b64encode(data).decode()}


def _status_in(status: int, ranges: str) -> bool:
    for part in ranges.split(","):
        low, _, high = part.strip().partition("-")
        if int(low) <= status <= int(high or low):
            return True
    return False


def _private_opener(path: str, flags: int) -> int:
    # 0600 and O_EXCL: the payload is the caller's data, and the scratch dir is fresh
    return os.open(path, flags | os.O_EXCL, 0o600)


__all__ = ["FunctionHandler", "context_env", "read_config"]
