"""Logging as Lambda expects it: one line per record, text or JSON, the request id on every record.

Text: `[LEVEL]\\t<timestamp>Z\\t<request id>\\t<message>` (awslambdaric's layout). JSON (AWS_LAMBDA_LOG_FORMAT=JSON):
`{"timestamp", "level", "message", "logger", "requestId"}` on one line, so Lambda can filter by level.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time

from wrapper import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import IO, Literal

    LogFormat = Literal["text", "json"]
else:
    LogFormat = str  # "text" or "json"

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
program_logger = logging.getLogger("wrapper.program")

# Lambda's levels; TRACE is below DEBUG and FATAL above ERROR.
LEVELS = {"TRACE": 5, "DEBUG": 10, "INFO": 20, "WARN": 30, "WARNING": 30, "ERROR": 40, "FATAL": 50, "CRITICAL": 50}
LEVEL_NAMES = {5: "TRACE", 10: "DEBUG", 20: "INFO", 30: "WARN", 40: "ERROR", 50: "FATAL"}


def _timestamp(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


def _message(record: logging.LogRecord) -> str:
    message = record.getMessage()
    if record.exc_info:
        message += "\n" + logging.Formatter().formatException(record.exc_info)
    return message


class TextFormatter(logging.Formatter):
    """awslambdaric's text layout; newlines become \\r so a record stays one CloudWatch event."""

    def format(self, record: logging.LogRecord) -> str:
        level = LEVEL_NAMES.get(record.levelno, record.levelname)
        request_id = request_id_var.get() or ""
        return f"[{level}]\t{_timestamp(record)}\t{request_id}\t{_message(record)}".replace("\n", "\r")


class JsonFormatter(logging.Formatter):
    """One JSON object per line with awslambdaric's keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "timestamp": _timestamp(record),
            "level": LEVEL_NAMES.get(record.levelno, record.levelname),
            "message": _message(record),
            "logger": record.name,
        }
        request_id = request_id_var.get()
        if request_id:
            entry["requestId"] = request_id
        return json.dumps(entry, ensure_ascii=False)


def parse_level(name: str | None) -> int:
    """Map AWS_LAMBDA_LOG_LEVEL (TRACE..FATAL) to a logging level; unknown or unset means INFO."""
    return LEVELS.get((name or "INFO").upper(), logging.INFO)


def setup_logging(log_format: LogFormat = "text", level: int = logging.INFO, stream: IO[str] | None = None) -> None:
    """Send wrapper's records to stderr, one line each, in the given format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger("wrapper")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def log_program_line(line: bytes) -> None:
    """Forward one line of the program's stderr as a record tagged with the current request id."""
    program_logger.info("%s", line.rstrip(b"\r\n").decode("utf-8", "replace"))
