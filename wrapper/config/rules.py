"""Checks across fields of a parsed config: names refer to declared inputs and files, mode fits the keys used."""

from __future__ import annotations

from typing import Any

import yaml

from wrapper.config.metrics import check_metrics
from wrapper.config.schema import (
    EnvValueConfig,
    FileArgConfig,
    FlagArgConfig,
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
    found += _check_inputs(config.inputs)
    found += _check_references(config)
    found += check_metrics(config)
    return [problem_at(node, loc, reason, file) for loc, reason in found]


def _check_mode(config: WrapperConfig) -> list[tuple[Loc, str]]:
    found: list[tuple[Loc, str]] = []
    if config.mode == "server" and config.server is None:
        found.append((("mode",), "mode 'server' needs a 'server:' section"))
    if config.mode == "exec" and config.server is not None:
        found.append((("server",), "'server:' is only allowed with mode: server"))
    if config.mode != "server":
        return found
    for index, arg in enumerate(config.args):
        if not isinstance(arg, str):
            found.append((("args", index), "server mode: args may only be literal words (the program starts once)"))
    if config.stdin != "none":
        found.append((("stdin",), "server mode: stdin is not allowed (use server.request.body)"))
    if config.files:
        found.append((("files",), "server mode: files are not allowed"))
    for name, value in config.env.items():
        if not isinstance(value, str):
            found.append((("env", name), "server mode: env values must be literal strings (no inputs at init)"))
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
