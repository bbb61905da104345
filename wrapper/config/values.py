"""The config as the runtime reads it: frozen values, one class per schema class, the same whatever the source
(`loader.from_schema` converts the validated YAML; `compiled` decodes the JSON `wrapper package` wrote from it).

Schema class `XConfig` has value class `X` here (`WrapperConfig`: `Config`), same field names. A new config key:
its Field, with a description, in the schema class, then `name: type` in the value class below."""

from __future__ import annotations

import os

from wrapper import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, Literal, TypeVar

    V = TypeVar("V", bound="Value")
    Mode = Literal["exec", "server", "hot"]
    ItemType = Literal["string", "integer", "number", "boolean"]

CONFIG_DIR_PLACEHOLDER = "{config_dir}"  # in command words: the config file's absolute directory, at load
KINDS: dict[str, type[Value]] = {}  # value class name → class, for decoding compiled JSON


class Value:
    """Base of config values: fields from the class annotations, set once by keyword, compared by value."""

    FIELDS: tuple[str, ...] = ()

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        # own annotations only: value classes do not inherit fields from each other
        cls.FIELDS = tuple(cls.__annotations__)
        KINDS[cls.__name__] = cls

    def __init__(self, **fields: Any) -> None:
        if fields.keys() != set(self.FIELDS):
            missing = sorted(set(self.FIELDS) - fields.keys())
            unknown = sorted(fields.keys() - set(self.FIELDS))
            raise TypeError(f"{type(self).__name__}: missing fields {missing}, unknown fields {unknown}")
        for name in self.FIELDS:
            object.__setattr__(self, name, fields[name])

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.FIELDS)

    __hash__ = None  # type: ignore[assignment]  # values hold lists and dicts

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.FIELDS)
        return f"{type(self).__name__}({fields})"

    def as_dict(self) -> dict[str, Any]:
        """The fields as plain data (values become dicts), e.g. to print or compare."""
        return {name: _plain(getattr(self, name)) for name in self.FIELDS}


def replace(value: V, **changes: Any) -> V:
    """A copy of value with some fields replaced."""
    return type(value)(**{**{name: getattr(value, name) for name in value.FIELDS}, **changes})


def _plain(value: Any) -> Any:
    if isinstance(value, Value):
        return value.as_dict()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def expand_config_dir(config: Config, config_path: str | os.PathLike[str]) -> Config:
    """Replace `{config_dir}` in command words with the config file's absolute directory."""
    config_dir = os.path.dirname(os.path.abspath(config_path))
    command = [word.replace(CONFIG_DIR_PLACEHOLDER, config_dir) for word in config.command]
    return config if command == config.command else replace(config, command=command)


class Destination(Value):
    kind: Literal["auto", "url", "host_port", "host"]
    default_scheme: Literal["http", "https"] | None
    kind_input: str | None
    kinds: dict[str, str]
    allow: list[str]
    deny_loopback: bool
    deny_link_local: bool
    deny_private: bool
    deny_reserved: bool
    deny: list[str]
    resolve: bool


class Egress(Value):
    guard: bool
    port: int
    env: bool
    allow: list[str]
    deny_private: bool
    deny: list[str]
    connect_timeout_s: float


class Input(Value):
    from_: str | None
    type: ItemType | Literal["list", "object"]
    required: bool  # resolved by the schema: explicit, else true when no default is given
    default: Any
    enum: list[Any] | None
    pattern: str | None
    min: float | None
    max: float | None
    min_length: int | None
    max_length: int
    max_items: int | None
    items: ItemType
    allow_dash: bool
    destination: Destination | None


class ValueArg(Value):
    when: str | None
    value: str


class FlagArg(Value):
    when: str | None
    flag: str
    value: str | None
    file: str | None
    style: Literal["separate", "equals"]


class SwitchArg(Value):
    when: str | None
    switch: str
    value: str


class TemplateArg(Value):
    when: str | None
    template: str


class FileArg(Value):
    when: str | None
    file: str


Arg = str | ValueArg | FlagArg | SwitchArg | TemplateArg | FileArg  # a literal word, or one of the items


class Stdin(Value):
    value: str | None
    as_: Literal["text", "json", "base64"]
    template: str | None


if TYPE_CHECKING:
    Payload = Literal["none", "event"] | Stdin  # stdin, or a server request's body


class EnvValue(Value):
    value: str | None
    template: str | None


class File(Value):
    value: str
    as_: Literal["text", "base64"]
    filename: str | None


class Scratch(Value):
    dir: str
    keep: bool


class Output(Value):
    format: Literal["raw", "text", "json", "lines", "base64", "prometheus_json"]
    max_bytes: int
    on_overflow: Literal["error", "truncate"]
    content_type: str | None
    streaming: bool


class ExitCode(Value):
    success: bool
    error_type: str | None
    message: str | None
    status_code: int | None


class Ready(Value):
    path: str | None
    timeout_s: float
    interval_s: float


class Request(Value):
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Payload
    timeout_header: str | None
    forward_headers: list[str]


class Server(Value):
    port: int
    ready: Ready
    request: Request
    success_status: str
    pass_status: bool
    restart_backoff_s: float
    max_restart_backoff_s: float


class Hot(Value):
    framing: Literal["lines", "actionloop"]
    result_fd: int
    ack: bool
    ready_timeout_s: float
    max_events: int | None
    max_rss_mib: int | None
    restart_backoff_s: float
    max_restart_backoff_s: float


class StatusCodes(Value):
    invalid_event: int
    unauthorized: int
    failure: int
    timeout: int
    internal: int


class Http(Value):
    status_codes: StatusCodes
    headers: dict[str, str]


class Auth(Value):
    bearer_token_env: str | None


class InputDimension(Value):
    input: str
    keep_query: bool


class Series(Value):
    series: str
    name: str | None
    unit: str
    match: dict[str, str]
    dimensions: list[str]


class Metrics(Value):
    namespace: str
    dimensions: dict[str, str | InputDimension]
    events: Literal["all", "direct", "http"]
    invocation: list[str]
    prometheus: list[Series]


class Config(Value):
    version: int
    mode: Mode
    command: list[str]
    inputs: dict[str, Input]
    args: list[Arg]
    stdin: Payload
    env: dict[str, str | EnvValue]
    env_passthrough: list[str]
    aws_credentials: bool
    allow_unsafe_env: list[str]
    files: dict[str, File]
    scratch: Scratch
    output: Output
    exit_codes: dict[int, ExitCode]
    timeout_s: float
    grace_s: float
    deadline_margin_s: float
    stderr_tail_bytes: int
    server: Server | None
    hot: Hot
    http: Http
    auth: Auth
    metrics: Metrics | None
    egress: Egress
