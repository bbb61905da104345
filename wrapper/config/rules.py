"""Checks across fields of a parsed config: names refer to declared inputs and files, mode fits the keys used."""

from __future__ import annotations

from typing import Any

import yaml

from wrapper.config.envsafety import CREDENTIAL_NAMES, RUNTIME_API_NAME, unsafe_env_reason
from wrapper.config.metrics import check_metrics
from wrapper.config.schema import (
    DestinationConfig,
    EnvValueConfig,
    FileArgConfig,
    FlagArgConfig,
    HotConfig,
    InputConfig,
    StdinConfig,
    SwitchArgConfig,
    TemplateArgConfig,
    ValueArgConfig,
    WrapperConfig,
)
from wrapper.config.yamlpos import Loc, problem_at
from wrapper.errors import Problem
from wrapper.mapping.template import names_in

_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "list": (list,),
    "object": (dict,),
}


def check_config(config: WrapperConfig, node: yaml.Node | None, file: str) -> list[Problem]:
    """Every cross-field problem of a config that passed the schema, in file order where possible."""
    found: list[tuple[Loc, str]] = []
    found += _check_mode(config)
    found += _check_streaming(config)
    found += _check_inputs(config.inputs)
    found += _check_references(config)
    found += check_metrics(config)
    found += _check_env_safety(config)
    return [problem_at(node, loc, reason, file) for loc, reason in found]


def _check_mode(config: WrapperConfig) -> list[tuple[Loc, str]]:
    found: list[tuple[Loc, str]] = []
    if config.mode == "server" and config.server is None:
        found.append((("mode",), "mode 'server' needs a 'server:' section"))
    if config.mode == "exec" and config.server is not None:
        found.append((("server",), "'server:' is only allowed with mode: server"))
    if config.mode != "hot" and config.hot != HotConfig():  # the defaults, as `wrapper check` prints them, are fine
        found.append((("hot",), "'hot:' is only allowed with mode: hot"))
    if config.mode == "hot":
        found += _check_hot(config)
    if config.mode == "exec":
        return found
    mode = config.mode
    for index, arg in enumerate(config.args):
        if not isinstance(arg, str):
            found.append((("args", index), f"{mode} mode: args may only be literal words (the program starts once)"))
    if mode == "server" and config.stdin != "none":
        found.append((("stdin",), "server mode: stdin is not allowed (use server.request.body)"))
    if config.files:
        found.append((("files",), f"{mode} mode: files are not allowed"))
    for name, value in config.env.items():
        if not isinstance(value, str):
            found.append((("env", name), f"{mode} mode: env values must be literal strings (no inputs at init)"))
    return found


def _check_hot(config: WrapperConfig) -> list[tuple[Loc, str]]:
    """Keys that would be silently ignored are errors (their defaults, as `wrapper check` prints them, are fine)."""
    hot, default = config.hot, HotConfig()
    found: list[tuple[Loc, str]] = []
    if hot.framing == "lines":
        for key in ("result_fd", "ack"):
            if getattr(hot, key) != getattr(default, key):
                found.append((("hot", key), f"{key} applies only to framing: actionloop"))
    if not hot.ack and hot.ready_timeout_s != default.ready_timeout_s:
        found.append((("hot", "ready_timeout_s"), "ready_timeout_s applies only with ack: true"))
    return found


def _check_streaming(config: WrapperConfig) -> list[tuple[Loc, str]]:
    if not config.output.streaming:
        return []
    found: list[tuple[Loc, str]] = []
    if config.output.format != "raw":
        found.append((("output", "format"), "output.streaming needs format 'raw' (the other formats need the whole "
                      "output before they can answer)"))
    if config.mode != "exec":
        found.append((("output", "streaming"), "output.streaming is only supported in exec mode (a program started "
                      "once answers each event whole)"))
    return found


def _type_ok(value: Any, kind: str, items: str) -> bool:
    if isinstance(value, bool) and kind in ("integer", "number"):
        return False
    if kind == "list":
        return isinstance(value, list) and all(_type_ok(item, items, items) for item in value)
    return isinstance(value, _PYTHON_TYPES[kind])


def _check_inputs(inputs: dict[str, InputConfig]) -> list[tuple[Loc, str]]:
    found: list[tuple[Loc, str]] = []
    for name, spec in inputs.items():
        at = ("inputs", name)
        if spec.default is not None and not _type_ok(spec.default, spec.type, spec.items):
            found.append(((*at, "default"), f"default {spec.default!r} is not of type {spec.type}"))
        if spec.min is not None and spec.max is not None and spec.min > spec.max:
            found.append(((*at, "min"), f"min {spec.min} is greater than max {spec.max}"))
        if spec.min_length is not None and spec.min_length > spec.max_length:
            found.append(((*at, "min_length"), f"min_length {spec.min_length} is greater than max_length"))
        stringy = spec.type == "string" or (spec.type == "list" and spec.items == "string")
        if spec.pattern is not None and not stringy:
            found.append(((*at, "pattern"), "pattern applies only to strings and lists of strings"))
        if spec.destination is not None and not stringy:
            found.append(((*at, "destination"), "destination applies only to strings and lists of strings"))
        if spec.destination is not None:
            found += _check_destination(spec.destination, (*at, "destination"), name, inputs)
    return found


def _check_destination(
    spec: DestinationConfig, at: Loc, name: str, inputs: dict[str, InputConfig]
) -> list[tuple[Loc, str]]:
    found: list[tuple[Loc, str]] = []
    if spec.kind_input is not None and spec.kind_input not in inputs:
        found.append(((*at, "kind_input"), f"{spec.kind_input!r} is not a declared input"))
    if spec.kind_input == name:
        found.append(((*at, "kind_input"), "an input cannot pick its own kind"))
    if spec.kinds and spec.kind_input is None:
        found.append(((*at, "kinds"), "kinds needs kind_input (the input whose value picks the kind)"))
    kinds = {spec.kind, *spec.kinds.values()}
    if spec.default_scheme is not None and "url" not in kinds:
        found.append(((*at, "default_scheme"), "default_scheme applies only to the url kind"))
    return found


def _check_references(config: WrapperConfig) -> list[tuple[Loc, str]]:
    """Every name used in args, stdin, env, files and the server request is declared."""
    inputs, files = set(config.inputs), set(config.files)
    found: list[tuple[Loc, str]] = []

    def need_input(loc: Loc, name: str | None) -> None:
        if name is not None and name not in inputs:
            found.append((loc, f"{name!r} is not a declared input"))

    def need_file(loc: Loc, name: str | None) -> None:
        if name is not None and name not in files:
            found.append((loc, f"{name!r} is not a declared file (files.{name})"))

    def need_template(loc: Loc, template: str, *, files_allowed: bool = True) -> None:
        used_inputs, used_files = names_in(template)
        for name in sorted(used_inputs):
            need_input(loc, name)
        for name in sorted(used_files):
            if not files_allowed:
                found.append((loc, f"{{file:{name}}} cannot be used here"))
            else:
                need_file(loc, name)

    for index, arg in enumerate(config.args):
        at: Loc = ("args", index)
        if isinstance(arg, str):
            continue
        need_input((*at, "when"), arg.when)
        if isinstance(arg, (ValueArgConfig, FlagArgConfig)):
            need_input((*at, "value"), arg.value)
        if isinstance(arg, (FileArgConfig, FlagArgConfig)):
            need_file((*at, "file"), arg.file)
        if isinstance(arg, SwitchArgConfig):
            need_input((*at, "value"), arg.value)
            kind = config.inputs[arg.value].type if arg.value in config.inputs else "boolean"
            if kind != "boolean":
                found.append(((*at, "value"), f"switch needs a boolean input; {arg.value!r} is {kind}"))
        if isinstance(arg, TemplateArgConfig):
            need_template((*at, "template"), arg.template)
    if isinstance(config.stdin, StdinConfig):
        need_input(("stdin", "value"), config.stdin.value)
        if config.stdin.template is not None:
            need_template(("stdin", "template"), config.stdin.template)
    for name, value in config.env.items():
        if isinstance(value, EnvValueConfig):
            need_input(("env", name, "value"), value.value)
            if value.template is not None:
                need_template(("env", name, "template"), value.template)
    filenames: dict[str, str] = {}
    for name, spec in config.files.items():
        need_input(("files", name, "value"), spec.value)
        filename = spec.filename or name
        if filename in filenames:
            found.append((("files", name), f"file name {filename!r} is also used by files.{filenames[filename]}"))
        filenames[filename] = name
    if config.server is not None:
        request = config.server.request
        need_template(("server", "request", "path"), request.path, files_allowed=False)
        for key, template in request.query.items():
            need_template(("server", "request", "query", key), template, files_allowed=False)
        for key, template in request.headers.items():
            need_template(("server", "request", "headers", key), template, files_allowed=False)
        if isinstance(request.body, StdinConfig):
            need_input(("server", "request", "body", "value"), request.body.value)
            if request.body.template is not None:
                need_template(("server", "request", "body", "template"), request.body.template, files_allowed=False)
    return found


def _check_env_safety(config: WrapperConfig) -> list[tuple[Loc, str]]:
    """No event value chooses a name that changes how programs start, unless allowed; credentials only if asked."""
    found: list[tuple[Loc, str]] = []
    from_event = {name for name, value in config.env.items() if isinstance(value, EnvValueConfig)}
    for name in sorted(from_event - set(config.allow_unsafe_env)):
        reason = unsafe_env_reason(name)
        if reason is not None:
            found.append((("env", name), (f"an event value must not choose {name} ({reason}); "
                                          "list it in allow_unsafe_env if the program reads it as plain data")))
    for index, name in enumerate(config.allow_unsafe_env):
        if name not in from_event:
            found.append((("allow_unsafe_env", index), f"{name} is not an env entry that takes an event value"))
    for index, name in enumerate(config.env_passthrough):
        if name.upper() == RUNTIME_API_NAME:
            found.append((("env_passthrough", index),
                          f"{name} is the Runtime API's address: a program that has it can take or answer other "
                          "invocations, so it is never passed"))
    if not config.aws_credentials:
        for index, name in enumerate(config.env_passthrough):
            if name.upper() in CREDENTIAL_NAMES:
                found.append((("env_passthrough", index),
                              f"{name} is a credential: pass the function's credentials with aws_credentials: true"))
    return found
