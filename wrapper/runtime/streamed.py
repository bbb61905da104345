"""`output.streaming`: the program's stdout reaches the caller as it is written, through a ResponseStream.

The exit status still decides. The stream opens only when the first byte exists, so:

    failure before any output   a direct caller: posted to /error as in buffered mode (the loop does it);
                                an HTTP caller: the usual HTTP error answer (status, error JSON), streamed
    failure after output began  the stream ends with Lambda's error trailers: the error type, and the error
                                JSON whose message names the exit status, signal, timeout or size cap
    success                     the stream ends without trailers

HTTP callers that can stream get the integration prelude (`wrapper.events.stream`) before the first byte.
Past `output.max_bytes` the program is stopped and the stream ends with Function.OutputTooLarge
(on_overflow error), or the rest of its output is dropped (truncate). SIGTERM, or the connection failing
mid-stream, cuts the stream short: Lambda then sees a truncated response.
"""

from __future__ import annotations

from collections.abc import Callable

from wrapper import TYPE_CHECKING
from wrapper.errors import InvocationError, ProgramError
from wrapper.events import error_http_response, request_view
from wrapper.events.auth import check_bearer
from wrapper.events.stream import HTTP_INTEGRATION_CONTENT_TYPE, stream_prelude
from wrapper.logs import get_logger
from wrapper.mapping.inputs import extract_inputs
from wrapper.mapping.response import check_result
from wrapper.types import HttpResponse, ProcessResult

if TYPE_CHECKING:
    from typing import Any

    from wrapper.metrics.emf import Observation
    from wrapper.runtime.function import FunctionHandler
    from wrapper.runtime.response_stream import ResponseStream
    from wrapper.types import HttpRequest, Invocation

logger = get_logger(__name__)

Run = Callable[[Callable[[bytes], None]], ProcessResult]  # runs the program, stdout to the callback as read


class _CapReached(Exception):
    """Raised from the stdout callback to stop the program at output.max_bytes (on_overflow error)."""


class StreamedAnswer:
    """The handler's answer for a streaming invocation; the loop calls send() with the invocation's stream."""

    def __init__(self, config: Any, run: Run, *, content_type: str, http_head: HttpResponse | None = None,
                 status_codes: dict[str, int] | None = None) -> None:
        self.config = config
        self._run = run
        self._head = http_head  # HTTP callers: the status and headers of the prelude
        self._status_codes = status_codes or {}
        self.content_type = HTTP_INTEGRATION_CONTENT_TYPE if http_head is not None else content_type
        # told at the end the error type (None: success) and how many bytes of output were streamed
        self.on_end: Callable[[str | None, int], None] | None = None

    def record_on_end(self, metrics: Any, seen: Observation, request_id: str) -> None:
        """Record the invocation's metrics once the stream has ended, with its outcome."""

        def record(error_type: str | None, streamed_bytes: int) -> None:
            seen.error_type, seen.output_bytes = error_type, streamed_bytes
            metrics.record(seen, request_id)

        self.on_end = record

    def send(self, stream: ResponseStream) -> None:
        """Run the program into the stream; raise InvocationError only for a direct caller, before any output."""
        prelude = stream_prelude(self._head) if self._head is not None else b""
        sink = _Sink(stream, self.config.output.max_bytes, self.config.output.on_overflow, prelude)
        try:
            error = self._run_into(sink)
            if self.on_end is not None:
                self.on_end(error.error_type if error is not None else None, sink.forwarded)
            if error is None:
                sink.flush()
                stream.finish()
            elif sink.forwarded:
                logger.warning("%s after %d bytes were streamed: %s", error.error_type, sink.forwarded, error)
                stream.finish(error.error_type, str(error))
            elif self._head is None:
                raise error
            else:
                logger.warning("%s: %s", error.error_type, error)
                answer = error_http_response(error, self._status_codes)
                headers = {**answer.headers, **self.config.http.headers}
                stream.write(stream_prelude(HttpResponse(answer.status_code, headers, b"")) + answer.body)
                stream.finish()
        except BaseException:
            stream.abort()  # a no-op once finished; mid-stream, Lambda sees the response cut short
            raise

    def _run_into(self, sink: _Sink) -> InvocationError | None:
        """Run the program; the error that decides the answer, or None for success."""
        try:
            result = self._run(sink.write)
        except _CapReached:
            name = self.config.command[0]
            return ProgramError(
                f"Program {name!r} wrote more than {self.config.output.max_bytes} bytes to stdout (output.max_bytes)",
                error_type="Function.OutputTooLarge",
            )
        except InvocationError as error:  # inputs, auth, no time left, could not start
            return error
        try:
            check_result(result, self.config)
        except InvocationError as error:
            return error
        return None


class _Sink:
    """The stdout callback: the prelude with the first bytes, then bytes up to the cap."""

    def __init__(self, stream: ResponseStream, max_bytes: int, on_overflow: str, prelude: bytes) -> None:
        self.stream, self.room, self.on_overflow, self.prelude = stream, max_bytes, on_overflow, prelude
        self.forwarded = 0

    def write(self, data: bytes) -> None:
        if len(data) > self.room:
            self._send(data[: self.room])
            if self.on_overflow == "error":
                raise _CapReached()
            return  # truncate: the rest is read and dropped, so the program never blocks
        self._send(data)

    def flush(self) -> None:
        """Send the prelude if no output carried it (a successful run that printed nothing)."""
        if self.prelude:
            self.stream.write(self.prelude)
            self.prelude = b""

    def _send(self, data: bytes) -> None:
        if not data:
            return
        self.stream.write(self.prelude + data)
        self.prelude = b""
        self.forwarded += len(data)
        self.room -= len(data)


def streamed_answer(
    handler: FunctionHandler, invocation: Invocation, event: Any, request: HttpRequest | None,
    seen: Observation | None,
) -> StreamedAnswer:
    """The answer for one streaming invocation: the program runs when the loop hands it its stream."""
    config = handler.config

    def run(on_stdout: Callable[[bytes], None]) -> ProcessResult:
        if request is not None and handler.expected_token is not None:
            check_bearer(request, handler.expected_token)
        values = extract_inputs(request_view(request, event) if request is not None else event, config.inputs)
        if seen is not None:
            seen.values = values
        result = handler.run_program(invocation, values, on_stdout)
        if seen is not None:
            seen.ran(result)  # a stream's output is not kept: no Prometheus samples; OutputBytes is counted
        return result

    content_type = handler.content_type or "application/json"
    head = None
    if request is not None:  # the prelude's status and headers; errors before any output get their own
        head = HttpResponse(200, {"content-type": content_type, **config.http.headers}, b"")
    return StreamedAnswer(config, run, content_type=content_type, http_head=head, status_codes=handler.status_codes)
