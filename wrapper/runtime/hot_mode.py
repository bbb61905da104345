"""Hot mode's per-event glue: one long-lived program per runtime loop, each event one line in and one line out.

The decisions live elsewhere: the line in wrapper.mapping.hotline, the supervision in wrapper.programs.hot, the
answer's shape in wrapper.mapping.response. `hot_response` is the policy that turns an exchange's outcome into the
response or an error.
"""

from __future__ import annotations

import threading

from wrapper import TYPE_CHECKING
from wrapper.errors import HotStartError, InvocationError, ProgramError, ProgramTimeoutError
from wrapper.logs import log_program_line, request_id_var
from wrapper.mapping.command import build_server_argv_env
from wrapper.mapping.hotline import build_hot_line
from wrapper.mapping.response import build_response
from wrapper.programs.hot import HotOutcome, HotProgram
from wrapper.programs.hot_process import describe_exit
from wrapper.types import Invocation, ProcessResult

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from wrapper.config.values import Config
    from wrapper.metrics.emf import Observation


ACK_ENV = "__OW_WAIT_FOR_ACK"  # actionloop: the program sends {"ok": true} on its result fd once it is ready



class HotMode:
    """A pool of hot programs, one per concurrent loop, started at init and kept running."""

    def __init__(self, config: Config, executable: str, *, base_env: dict[str, str], cwd: str | None,
                 programs: int = 1, extra_env: dict[str, str] | None = None) -> None:
        self.config = config
        argv, env = build_server_argv_env(config, base_env=base_env)  # the argv and env of a program started once
        env.update(extra_env or {})  # the egress guard's proxy variables, as exec and server mode pass them
        self.argv, self.env, self.cwd = [executable, *argv[1:]], env, cwd
        if config.hot.ack:
            env[ACK_ENV] = "1"
        self._idle = [self._new_program() for _ in range(max(1, programs))]
        self._all = list(self._idle)
        self._lock = threading.Lock()

    def _new_program(self) -> HotProgram:
        config, hot = self.config, self.config.hot
        return HotProgram(
            self.argv, self.env, cwd=self.cwd,
            result_fd=hot.result_fd if hot.framing == "actionloop" else None,
            ack=hot.ack,
            grace_s=config.grace_s,
            restart_backoff_s=hot.restart_backoff_s,
            max_restart_backoff_s=hot.max_restart_backoff_s,
            max_events=hot.max_events,
            max_rss_bytes=hot.max_rss_mib << 20 if hot.max_rss_mib else None,
            max_answer_bytes=config.output.max_bytes,
            log_tail_bytes=config.stderr_tail_bytes,
            on_log_line=_log_line,
        )

    def start(self) -> None:
        """Start every program at init, then wait for their acks; HotStartError (all stopped) if one fails."""
        try:
            for program in self._all:
                program.spawn()
            for program in self._all:
                program.await_ack(self.config.hot.ready_timeout_s)
        except InvocationError as exc:
            self.close()
            raise HotStartError(str(exc)) from None

    def handle(self, invocation: Invocation, values: dict[str, Any], time_left_s: Callable[[], float], *,
               for_http: bool = False, seen: Observation | None = None) -> bytes:
        """The response body for one event (its line written, its answer read), or an InvocationError.

        `seen` (metrics) gets the answer line as the program's output, and its exit status if it ended mid-event.
        """
        line = build_hot_line(self.config, values, invocation)  # a bad event never reaches the program
        program = self._take()
        try:
            program.prepare(time_left_s())  # may replace the program: only then is the time left known
            outcome = program.exchange(
                line, timeout_s=time_left_s(), tag=invocation.request_id,
                truncate=self.config.output.on_overflow == "truncate",
            )
        finally:
            self._give(program)
        if seen is not None:
            seen.output = outcome.answer
            if outcome.exit_code is not None or outcome.signal is not None:
                seen.exit_status = outcome.exit_code if outcome.exit_code is not None else 128 + (outcome.signal or 0)
        return hot_response(outcome, self.config, for_http=for_http)

    def close(self, grace_s: float = 1.0) -> None:
        """SIGTERM every program at once, then wait up to grace_s for each before its group gets SIGKILL."""
        for program in self._all:
            program.terminate()
        for program in self._all:
            program.close(grace_s)

    def _take(self) -> HotProgram:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            program = self._new_program()  # more loops than programs: started by its first prepare()
            self._all.append(program)
            return program

    def _give(self, program: HotProgram) -> None:
        with self._lock:
            self._idle.append(program)


def hot_response(outcome: HotOutcome, config: Config, *, for_http: bool = False) -> bytes:
    """The response for an exchange's outcome, shaped by `output`; raise the matching InvocationError.

    In order: out of step → Function.OutOfStep; timed out → Function.Timeout; an answer line over
    output.max_bytes → Function.OutputTooLarge; the program ended before a whole line → exec mode's exit policy
    (Function.Signaled, `exit_codes`, Function.NonZeroExit), and Function.ProgramExited where that sees success.
    Each of these replaces the program before the next event.
    """
    name = config.command[0]
    restarted = "; it is restarted before the next event"
    if outcome.out_of_step is not None:
        raise ProgramError(f"Program {name!r} is out of step: {outcome.out_of_step}{restarted}",
                           error_type="Function.OutOfStep")
    if outcome.timed_out:
        tail = _tail(outcome, config)
        raise ProgramTimeoutError(f"Program {name!r} gave no answer within {outcome.duration_s:.1f} s{restarted}"
                                  + (f": {tail}" if tail else ""))
    if outcome.too_large:
        raise ProgramError(f"Program {name!r} wrote an answer line over {config.output.max_bytes} bytes "
                           f"(output.max_bytes){restarted}", error_type="Function.OutputTooLarge")
    if outcome.answer is None:  # it ended before a whole line: exec mode's exit policy, with the same keys
        code = outcome.exit_code if outcome.signal is None else -outcome.signal
        tail = _tail(outcome, config)
        what = f" after an unterminated line of {len(outcome.partial)} bytes" if outcome.partial else ""
        message = f"Program {name!r} {describe_exit(code)} while handling the event{what}{restarted}"
        message += f": {tail}" if tail else ""
        listed = config.exit_codes.get(outcome.exit_code) if outcome.exit_code is not None else None
        if outcome.signal is not None:
            raise ProgramError(message, error_type="Function.Signaled")
        if listed is not None and not listed.success:
            raise ProgramError(listed.message or message, error_type=listed.error_type or "Function.NonZeroExit",
                               status_code=listed.status_code)
        if listed is None and outcome.exit_code:
            raise ProgramError(message)
        raise ProgramError(message, error_type="Function.ProgramExited")  # a success status, but no answer
    result = ProcessResult(exit_code=0, signal=None, timed_out=False, stdout=outcome.answer,
                           stdout_truncated=outcome.truncated, stderr_tail=b"", duration_s=outcome.duration_s)
    return build_response(result, config, for_http=for_http)


def describe_hot(config: Config, values: dict[str, Any], invocation: Invocation, executable: str,
                 base_env: dict[str, str], cwd: str | None) -> dict[str, Any]:
    """What hot mode would do: the program started once (argv, env, cwd) and the exact line for this event."""
    argv, env = build_server_argv_env(config, base_env=base_env)
    if config.hot.ack:
        env[ACK_ENV] = "1"
    line = build_hot_line(config, values, invocation)
    answers = f"fd {config.hot.result_fd}" if config.hot.framing == "actionloop" else "stdout"
    try:
        shown: Any = line.decode("utf-8")
    except UnicodeDecodeError:
        import base64

        shown = {"base64": base64.b64encode(line).decode()}
    return {"program": {"argv": [executable, *argv[1:]], "env": env, "cwd": cwd}, "line": shown,
            "answer_on": answers}


def _tail(outcome: HotOutcome, config: Config) -> str:
    if config.stderr_tail_bytes <= 0:
        return ""
    return outcome.log_tail[-config.stderr_tail_bytes :].decode("utf-8", "replace").strip()


def _log_line(line: bytes, request_id: str | None) -> None:
    """A program's log line, tagged with the event it came during (read on another thread, so set it here)."""
    token = request_id_var.set(request_id)
    try:
        log_program_line(line)
    finally:
        request_id_var.reset(token)


def hot_programs(base_env: dict[str, str]) -> int:
    """AWS_LAMBDA_MAX_CONCURRENCY as the CLI reads it: the number of runtime loops, so of hot programs."""
    try:
        return max(1, int(base_env.get("AWS_LAMBDA_MAX_CONCURRENCY") or 1))
    except ValueError:
        return 1
