"""The config schema (pydantic v2) and `load_config`. Every key is documented once, here and in configparts.

`docs/config-reference.md` is generated from these classes. Checks across fields live in `wrapper.config.rules`,
YAML line tracking in `wrapper.config.yamlpos`. A config error lists every problem with file, line and field path.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BeforeValidator, Field, ValidationError, field_validator, model_validator

from wrapper.config.parts import (
    ENV_NAME_PATTERN,
    TAG_PREFIX,
    ArgConfig,
    BaseConfig,
    DestinationConfig,
    EgressConfig,
    EnvConfig,
    EnvValueConfig,
    FileArgConfig,
    FileConfig,
    FlagArgConfig,
    InputConfig,
    Name,
    PayloadConfig,
    StdinConfig,
    SwitchArgConfig,
    TemplateArgConfig,
    TemplateText,
    ValueArgConfig,
    Word,
)
from wrapper.config.compiled import expand_config_dir
from wrapper.config.metrics import MetricsConfig
from wrapper.errors import ConfigError, Problem
from wrapper.programs.executable import resolve_executable  # noqa: F401 - part of this module's API
from wrapper.protocol import ERROR_TYPE_PATTERN
from wrapper.config.yamlpos import compose_yaml, problems_from_validation

__all__ = [
    "ArgConfig", "AuthConfig", "BaseConfig", "DestinationConfig", "EgressConfig", "EnvConfig", "EnvValueConfig",
    "ExitCodeConfig", "FileArgConfig", "FileConfig", "FlagArgConfig", "HotConfig", "HttpConfig", "InputConfig",
    "OutputConfig",
    "PayloadConfig", "MetricsConfig", "ReadyConfig", "RequestConfig", "ScratchConfig", "ServerConfig",
    "StatusCodesConfig", "StdinConfig",
    "SwitchArgConfig", "TAG_PREFIX", "TemplateArgConfig", "ValueArgConfig", "WrapperConfig", "load_config",
    "resolve_executable",
]

class ScratchConfig(BaseConfig):
    """The per-invocation scratch directory (the program's cwd and HOME)."""

    dir: str = Field("/tmp", description="Parent directory of each invocation's scratch dir.")
    keep: bool = Field(False, description="Keep the scratch dir after the invocation (debugging only).")


STREAM_MAX_BYTES = 200 * 1024 * 1024  # Lambda's streamed response limit


class OutputConfig(BaseConfig):
    """How the program's stdout becomes the response."""

    format: Literal["raw", "text", "json", "lines", "base64", "prometheus_json"] = Field(
        "raw",
        description="`raw`: bytes as-is; `text`: the output as text (a JSON string for direct callers); `json`: must "
        "parse as JSON; `lines`: a JSON array of lines; `base64`: binary output (a base64 JSON string for direct "
        "callers, the bytes themselves for HTTP callers); `prometheus_json`: Prometheus exposition converted to JSON.",
    )
    max_bytes: int = Field(
        6_291_000, gt=0,
        description="Cap on stdout: 6,291,000 (just under Lambda's 6 MB response limit), or 209,715,200 (Lambda's "
        "200 MB streamed response limit) with `streaming: true`.",
    )
    on_overflow: Literal["error", "truncate"] = Field(
        "error",
        description="`error`: fail with Function.OutputTooLarge (a stream: stop the program, end with that error); "
        "`truncate`: answer with the first `max_bytes`.",
    )
    content_type: str | None = Field(
        None,
        description="Content-Type for HTTP callers (and streamed answers); default from `format` (json/lines/"
        "prometheus_json: application/json, text: text/plain; charset=utf-8, raw/base64: application/octet-stream). "
        "HTTP callers get a body of a non-text type, or of `base64` format, or that is not UTF-8, base64-encoded "
        "with isBase64Encoded: true, which Function URLs and gateways decode back to the exact bytes.",
    )
    streaming: bool = Field(
        False,
        description="Stream stdout to the caller as the program writes it (Lambda response streaming: Function URLs "
        "with invoke mode RESPONSE_STREAM, InvokeWithResponseStream, API Gateway REST streaming), up to 200 MB. "
        "Needs `format: raw` and exec mode. The exit status still decides: a failure after output began ends the "
        "stream with Lambda's error trailers.",
    )

    @model_validator(mode="before")
    @classmethod
    def _stream_cap(cls, data: object) -> object:
        # a streamed answer may be far larger than a buffered one: its own default cap
        if isinstance(data, dict) and data.get("streaming") is True and "max_bytes" not in data:
            return {**data, "max_bytes": STREAM_MAX_BYTES}
        return data


class ExitCodeConfig(BaseConfig):
    """What one exit status means."""

    success: bool = Field(False, description="Treat this status as success; the output is used as usual.")
    error_type: str | None = Field(
        None,
        description="Error type reported, matching `(Runtime|Function).[A-Z][a-zA-Z]+`; default Function.NonZeroExit.",
    )
    message: str | None = Field(None, description="Error message; default: the exit status and the tail of stderr.")
    status_code: int | None = Field(
        None, ge=100, le=599,
        description="HTTP status for HTTP callers; default from `http.status_codes.failure`.",
    )

    @field_validator("error_type")
    @classmethod
    def _lambda_keeps_it(cls, value: str | None) -> str | None:
        if value is not None and not ERROR_TYPE_PATTERN.fullmatch(value):
            raise ValueError(f"{value!r} must match (Runtime|Function).[A-Z][a-zA-Z]+ (Lambda drops other names)")
        return value

    @model_validator(mode="after")
    def _success_has_no_error(self) -> ExitCodeConfig:
        if self.success and (self.error_type or self.message or self.status_code):
            raise ValueError("a success status takes no error_type, message or status_code")
        return self


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


class StatusCodesConfig(BaseConfig):
    """HTTP statuses for each kind of failure."""

    invalid_event: int = Field(400, ge=100, le=599, description="An event value failed its checks.")
    unauthorized: int = Field(401, ge=100, le=599, description="Missing or wrong bearer token.")
    failure: int = Field(502, ge=100, le=599, description="The program failed (exit status, signal, output).")
    timeout: int = Field(504, ge=100, le=599, description="The program ran out of time.")
    internal: int = Field(500, ge=100, le=599, description="wrapper itself failed.")


class HttpConfig(BaseConfig):
    """How HTTP events (Function URL, API Gateway v1/v2, ALB) are answered."""

    status_codes: StatusCodesConfig = Field(
        default_factory=StatusCodesConfig,
        description="HTTP status per failure kind.",
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Extra response headers.")


class AuthConfig(BaseConfig):
    """Authorization of HTTP callers (direct invocations are IAM-authorized)."""

    bearer_token_env: str | None = Field(
        None,
        description="Name of the runtime env var holding the expected token; when set, HTTP requests must send "
        "`Authorization: Bearer <token>`, else 401 before anything runs.",
    )


class WrapperConfig(BaseConfig):
    """The whole config file."""

    version: Literal[1] = Field(1, description="Schema version; only 1 exists.")
    mode: Literal["exec", "server", "hot"] = Field(
        "exec",
        description="`exec`: one process per invocation; `server`: one long-lived program, started at init, answering "
        "HTTP on loopback; `hot`: one long-lived program, started at init, fed one line per event on stdin and "
        "answering with one line (see `hot`).",
    )
    command: list[Word] = Field(
        min_length=1,
        description="argv prefix (literal words). argv[0]: absolute; containing `/`: relative to the config file's "
        "directory; else looked up in PATH. `{config_dir}` in a word becomes the config file's absolute directory "
        "(on Lambda, $LAMBDA_TASK_ROOT), for files shipped beside the config.",
    )
    inputs: dict[Name, InputConfig] = Field(
        default_factory=dict,
        description="Named values taken from the event and checked.",
    )
    args: list[ArgConfig] = Field(
        default_factory=list,
        description="Words after `command`: literal words or `{value}`, `{flag}`, `{switch}`, `{template}`, `{file}` "
        "items.",
    )
    stdin: PayloadConfig = Field(
        "none",
        description="`none`, `event` (the raw invocation payload), `{value: NAME, as: text|json|base64}` or `{template:"
        " ...}`.",
    )
    env: dict[Annotated[str, Field(pattern=f"^{ENV_NAME_PATTERN.pattern}$")], EnvConfig] = Field(
        default_factory=dict,
        description="Program environment: NAME to a literal string, `{value: NAME}` or `{template: ...}`; wins over "
        "everything else.",
    )
    env_passthrough: list[Annotated[str, Field(pattern=f"^{ENV_NAME_PATTERN.pattern}$")]] = Field(
        default_factory=list,
        description="Names copied from the runtime's own environment. Credential names (`AWS_ACCESS_KEY_ID`, "
        "`AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_CONTAINER_*` credentials) need `aws_credentials: true`.",
    )
    aws_credentials: bool = Field(
        False,
        description="Pass the function's AWS credentials "
        "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN).",
    )
    allow_unsafe_env: list[Annotated[str, Field(pattern=f"^{ENV_NAME_PATTERN.pattern}$")]] = Field(
        default_factory=list,
        description="Names in `env` that may take an event value (`{value}` or `{template}`) although they change "
        "how programs load or start (`LD_*`, `BASH_ENV`, `ENV`, `PATH`, `PYTHON*`, `PERL5*`, `NODE_OPTIONS`, "
        "`GCONV_PATH`, `GLIBC_TUNABLES`, ...; the list: `wrapper/config/envsafety.py`) or are `AWS_*` names. "
        "Without it, such a mapping is a config error.",
    )
    files: dict[Name, FileConfig] = Field(
        default_factory=dict,
        description="Files written into the scratch dir; their paths via `{file:NAME}` or `{file: NAME}`.",
    )
    scratch: ScratchConfig = Field(default_factory=ScratchConfig, description="The per-invocation scratch dir.")
    output: OutputConfig = Field(default_factory=OutputConfig, description="How stdout becomes the response.")
    exit_codes: dict[Annotated[int, Field(ge=0, le=255)], ExitCodeConfig] = Field(
        default_factory=dict,
        description="Exit status to outcome; 0 is success unless listed, any other status an error.",
    )
    timeout_s: float = Field(
        60, gt=0, le=900,
        description="Per-invocation limit; effective: min(timeout_s, deadline - deadline_margin_s).",
    )
    grace_s: float = Field(
        1.0, ge=0,
        description="Time between SIGTERM and SIGKILL, always sent to the whole process group.",
    )
    deadline_margin_s: float = Field(
        0.5, ge=0,
        description="Time kept back before Lambda's deadline to report a structured Function.Timeout.",
    )
    stderr_tail_bytes: int = Field(2048, ge=0, description="How much of stderr goes into error messages.")
    server: ServerConfig | None = Field(None, description="Required when mode is server, forbidden otherwise.")
    hot: HotConfig = Field(
        default_factory=HotConfig, description="Hot mode's program and its supervision; only with mode: hot."
    )
    http: HttpConfig = Field(default_factory=HttpConfig, description="How HTTP events are answered.")
    auth: AuthConfig = Field(default_factory=AuthConfig, description="Authorization of HTTP callers.")
    metrics: MetricsConfig | None = Field(
        None,
        description="CloudWatch metrics: one Embedded Metric Format record per invocation in the log stream; off "
        "when absent.",
    )
    egress: EgressConfig = Field(
        default_factory=EgressConfig,
        description="The egress guard: connect-time destination checks for the program's HTTP(S) traffic.",
    )


def parse_config(path: str | os.PathLike[str]) -> WrapperConfig:
    """Read, parse and validate a config file as written (no placeholder expanded); raise one ConfigError."""
    from wrapper.config.rules import check_config  # it needs the classes above: import at call time

    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config: {error}", file=file) from None
    try:
        document, node, duplicates = compose_yaml(text, file)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = f"invalid YAML: {getattr(error, 'problem', None) or error}"
        raise ConfigError([Problem(file=file, path="", reason=reason, line=line)]) from None
    except RecursionError:
        raise ConfigError([Problem(file=file, path="", reason="invalid YAML: nested too deeply")]) from None
    except ValueError as error:  # PyYAML's own constructors, e.g. an integer longer than Python allows
        raise ConfigError([Problem(file=file, path="", reason=f"invalid YAML: {error}")]) from None
    if not isinstance(document, dict):
        raise ConfigError([Problem(file=file, path="", reason="the config must be a YAML mapping", line=1)])
    problems = list(duplicates)
    try:
        config = WrapperConfig.model_validate(document)
    except ValidationError as error:
        problems += problems_from_validation(error, node, file)
        raise ConfigError(sorted(problems, key=lambda p: p.line or 0)) from None
    problems += check_config(config, node, file)
    if problems:
        raise ConfigError(sorted(problems, key=lambda p: p.line or 0))
    return config


def load_config(path: str | os.PathLike[str]) -> WrapperConfig:
    """Read, parse and validate a config file, with `{config_dir}` expanded; raise ConfigError listing every problem."""
    return expand_config_dir(parse_config(path), path)
