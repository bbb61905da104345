"""The config schema (pydantic v2): `WrapperConfig` and its sections. Every key is documented once, here and in
wrapper.config.parts (how event values become argv, stdin, env and files).

`docs/config-reference.md` is generated from these classes. Reading a file is wrapper.config.loader's job, checks
across fields are wrapper.config.rules', YAML line tracking wrapper.config.yamlpos'.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from wrapper.config.fields import ENV_NAME_PATTERN, TAG_PREFIX, BaseConfig, Name, Word
from wrapper.config.metrics import MetricsConfig
from wrapper.config.modes import HotConfig, ReadyConfig, RequestConfig, ServerConfig
from wrapper.config.network import DestinationConfig, EgressConfig
from wrapper.config.parts import (
    ArgConfig,
    EnvConfig,
    EnvValueConfig,
    FileArgConfig,
    FileConfig,
    FlagArgConfig,
    InputConfig,
    PayloadConfig,
    StdinConfig,
    SwitchArgConfig,
    TemplateArgConfig,
    ValueArgConfig,
)
from wrapper.protocol import ERROR_TYPE_PATTERN

__all__ = [
    "ArgConfig", "AuthConfig", "BaseConfig", "DestinationConfig", "EgressConfig", "EnvConfig", "EnvValueConfig",
    "ExitCodeConfig", "FileArgConfig", "FileConfig", "FlagArgConfig", "HotConfig", "HttpConfig", "InputConfig",
    "OutputConfig",
    "PayloadConfig", "MetricsConfig", "ReadyConfig", "RequestConfig", "ScratchConfig", "ServerConfig",
    "StatusCodesConfig", "StdinConfig", "SwitchArgConfig", "TAG_PREFIX", "TemplateArgConfig", "ValueArgConfig",
    "WrapperConfig",
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
        "`AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_CONTAINER_*` credentials) need `aws_credentials: true`; "
        "`AWS_LAMBDA_RUNTIME_API` is never passed.",
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

