"""Logging as Lambda expects it: one line per record, text or JSON, the request id on every record.

Text: `[LEVEL]\\t<timestamp>Z\\t<request id>\\t<message>` (awslambdaric's layout). JSON (AWS_LAMBDA_LOG_FORMAT=JSON):
`{"timestamp", "level", "message", "logger", "requestId"}` on one line, so Lambda can filter by level.

Not the `logging` package: with what it pulls in (traceback, linecache, tokenize, string, weakref) it was the
largest import of every cold start, for a runtime that writes a handful of lines to one stream. A `Logger` has the
methods callers of `logging` know (debug, info, warning, error, exception, with %-style arguments).
"""

from __future__ import annotations

import _thread
import contextvars
import json
import sys
import time

from wrapper import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import IO, Literal

    LogFormat = Literal["text", "json"]
else:
    LogFormat = str  # "text" or "json"

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# Lambda's levels; TRACE is below DEBUG and FATAL above ERROR.
TRACE, DEBUG, INFO, WARN, ERROR, FATAL = 5, 10, 20, 30, 40, 50
LEVELS = {"TRACE": 5, "DEBUG": 10, "INFO": 20, "WARN": 30, "WARNING": 30, "ERROR": 40, "FATAL": 50, "CRITICAL": 50}
LEVEL_NAMES = {5: "TRACE", 10: "DEBUG", 20: "INFO", 30: "WARN", 40: "ERROR", 50: "FATAL"}


class _Sink:
    """Where every logger writes: one stream, one format, one level (set by setup_logging)."""

    def __init__(self) -> None:
        self.stream: IO[str] | None = None  # None: sys.stderr at the time of writing
        self.json = False
        self.level = INFO
        self.lock = _thread.allocate_lock()  # lines from the loop's threads never interleave


_sink = _Sink()


class Logger:
    """A named source of records (the `logger` key of JSON lines)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def debug(self, message: str, *args: object) -> None:
        _emit(DEBUG, self.name, message, args)

    def info(self, message: str, *args: object) -> None:
        _emit(INFO, self.name, message, args)

    def warning(self, message: str, *args: object) -> None:
        _emit(WARN, self.name, message, args)

    def error(self, message: str, *args: object) -> None:
        _emit(ERROR, self.name, message, args)

    def exception(self, message: str, *args: object) -> None:
        """An ERROR record with the traceback of the exception being handled."""
        _emit(ERROR, self.name, message, args, with_traceback=True)


def get_logger(name: str) -> Logger:
    """The logger for a module (`get_logger(__name__)`)."""
    return Logger(name)


program_logger = Logger("wrapper.program")


def parse_level(name: str | None) -> int:
    """Map AWS_LAMBDA_LOG_LEVEL (TRACE..FATAL) to a level; unknown or unset means INFO."""
    return LEVELS.get((name or "INFO").upper(), INFO)


def setup_logging(log_format: LogFormat = "text", level: int = INFO, stream: IO[str] | None = None) -> None:
    """Send every record to stream (default: stderr), one line each, in the given format, from level up."""
    with _sink.lock:
        _sink.stream, _sink.json, _sink.level = stream, log_format == "json", level


def log_program_line(line: bytes) -> None:
    """Forward one line of the program's stderr as a record tagged with the current request id."""
    _emit(INFO, program_logger.name, "%s", (line.rstrip(b"\r\n").decode("utf-8", "replace"),))


def format_record(level: int, name: str, message: str, created_s: float, *, as_json: bool) -> str:
    """One record as its line (without the newline)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created_s)) + f".{int(created_s % 1 * 1000):03d}Z"
    level_name = LEVEL_NAMES.get(level, str(level))
    request_id = request_id_var.get()
    if as_json:
        entry = {"timestamp": stamp, "level": level_name, "message": message, "logger": name}
        if request_id:
            entry["requestId"] = request_id
        return json.dumps(entry, ensure_ascii=False)
    # newlines become \r so a record stays one CloudWatch event
    return f"[{level_name}]\t{stamp}\t{request_id or ''}\t{message}".replace("\n", "\r")


def _emit(level: int, name: str, message: str, args: tuple[object, ...], *, with_traceback: bool = False) -> None:
    if level < _sink.level:
        return
    text = message % args if args else message
    if with_traceback and sys.exc_info()[0] is not None:
        import traceback  # only when there is an exception to show

        text += "\n" + traceback.format_exc().rstrip("\n")
    line = format_record(level, name, text, time.time(), as_json=_sink.json) + "\n"
    with _sink.lock:
        stream = _sink.stream or sys.stderr
        try:
            stream.write(line)
            stream.flush()
        except (OSError, ValueError):  # a closed stderr must not take the runtime down
            pass
