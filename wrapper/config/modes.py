"""The config sections of the modes with a long-lived program: `server:` (server mode) and `hot:` (hot mode).

Part of the schema (see wrapper.config.schema); every key documented once, here.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, field_validator

from wrapper.config.fields import BaseConfig, TemplateText
from wrapper.config.parts import PayloadConfig


class ReadyConfig(BaseConfig):
    """Server mode: when the program counts as ready."""

    path: str | None = Field(None, description="HTTP GET path answering 2xx when ready; null: a TCP connect check.")
    timeout_s: float = Field(
        8.0, gt=0, le=10,
        description="How long to wait at init; must fit Lambda's 10 s init budget.",
    )
    interval_s: float = Field(0.02, gt=0, description="Pause between readiness checks.")


class RequestConfig(BaseConfig):
    """Server mode: the HTTP request sent to the program for each invocation."""

    method: str = Field("GET", pattern=r"^[A-Z]+$", description="HTTP method.")
    path: TemplateText = Field("/", description="Path; `{name}` placeholders are URL-path-encoded.")
    query: dict[str, TemplateText] = Field(
        default_factory=dict,
        description="Query parameters; values are templates, URL-encoded; a null optional input drops its key.",
    )
    headers: dict[str, TemplateText] = Field(default_factory=dict, description="Request headers; values are templates.")
    body: PayloadConfig = Field(
        "none",
        description="`none`, `event` (the raw payload), `{value: NAME, as: text|json|base64}` or `{template: ...}`.",
    )
    timeout_header: str | None = Field(
        None,
        description="Header carrying the remaining time in seconds (e.g. X-Prometheus-Scrape-Timeout-Seconds).",
    )
    forward_headers: list[str] = Field(
        default_factory=list,
        description="HTTP events: request headers copied through (lower-case names).",
    )

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value


def _valid_status_ranges(value: str) -> str:
    for chunk in value.split(","):
        if not re.fullmatch(r"\s*[1-5]\d\d\s*(-\s*[1-5]\d\d\s*)?", chunk):
            raise ValueError(f"{value!r} must be statuses or ranges like '200-299,304'")
    return value


class ServerConfig(BaseConfig):
    """Server mode: the long-lived program and how each invocation becomes a request to it."""

    port: int = Field(ge=1, le=65535, description="The program listens on 127.0.0.1:port; requests only ever go there.")
    ready: ReadyConfig = Field(default_factory=ReadyConfig, description="Readiness check at init.")
    request: RequestConfig = Field(default_factory=RequestConfig, description="The request per invocation.")
    success_status: Annotated[str, BeforeValidator(lambda v: _valid_status_ranges(str(v)))] = Field(
        "200-299",
        description="Upstream statuses that count as success; others give Function.UpstreamError (status kept).",
    )
    pass_status: bool = Field(
        False,
        description="HTTP callers: return the upstream status and body as-is instead of an error.",
    )
    restart_backoff_s: float = Field(
        0.1, gt=0,
        description="First delay before restarting a dead program; doubles each time.",
    )
    max_restart_backoff_s: float = Field(5.0, gt=0, description="Upper bound of the restart delay.")


class HotConfig(BaseConfig):
    """Hot mode: the long-lived program fed one event line after another, and when it is replaced."""

    framing: Literal["lines", "actionloop"] = Field(
        "lines",
        description="`lines`: one line in on stdin, the answer is the one line the program then writes on stdout "
        "(stderr is its log); `actionloop`: OpenWhisk's actionloop protocol, each event wrapped as "
        "`{value, activation_id, deadline, function_arn}`, the answer on `result_fd`, stdout and stderr its log.",
    )
    result_fd: int = Field(
        3, ge=3, le=255,
        description="`actionloop`: the descriptor the program writes its answer lines on (3 in OpenWhisk).",
    )
    ack: bool = Field(
        False,
        description="`actionloop`: set `__OW_WAIT_FOR_ACK=1` and wait, at every start, for the program's "
        "`{\"ok\": true}` line on `result_fd` (so an expensive load happens at init, not in the first event).",
    )
    ready_timeout_s: float = Field(
        8.0, gt=0, le=10,
        description="With `ack`: how long init waits for it; must fit Lambda's 10 s init budget.",
    )
    max_events: int | None = Field(
        None, ge=1,
        description="Replace the program after it answered this many events (between events, like gunicorn's "
        "max_requests); null: never.",
    )
    max_rss_mib: int | None = Field(
        None, ge=1,
        description="Replace the program between events once its resident memory (RSS of the process wrapper "
        "started, from /proc) is over this many MiB; null: no ceiling.",
    )
    restart_backoff_s: float = Field(
        0.1, gt=0,
        description="First delay before replacing a program that crashed, timed out or fell out of step; doubles "
        "each time, reset by an answer.",
    )
    max_restart_backoff_s: float = Field(5.0, gt=0, description="Upper bound of the restart delay.")
