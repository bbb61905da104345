"""Checked values + config → the exact Command (argv, stdin, env, files). Pure: no I/O, no os.environ.

Each value becomes exactly one argv word, byte for byte, or is refused: it is never split, globbed or seen by a
shell. A word that comes from a value and starts with "-" could be read as an option, so it is refused unless its
input says `allow_dash` or it comes after a literal "--".
"""

from __future__ import annotations

import binascii
import json
import os

from wrapper import TYPE_CHECKING
from wrapper.config.values import FileArg, FlagArg, SwitchArg, TemplateArg, ValueArg
from wrapper.errors import InvalidEventError
from wrapper.mapping.template import parse_template, render, to_text
from wrapper.types import Command, HttpRequest, Invocation

if TYPE_CHECKING:
    from typing import Any

    from wrapper.config.values import Arg, Config, Payload

# copied from the runtime's environment when present; everything else must be asked for (env_passthrough)
BASE_ENV_NAMES = (
    "PATH", "LANG", "LC_ALL", "TZ", "LD_LIBRARY_PATH", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "AWS_REGION",
    "AWS_DEFAULT_REGION", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
)
CREDENTIAL_ENV_NAMES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
MAX_WORD_BYTES = 131_071  # Linux MAX_ARG_STRLEN (128 KiB) less the terminating NUL; applies to env entries too


def build_command(
    config: Config,
    values: dict[str, Any],
    *,
    event_body: bytes,
    scratch_dir: str,
    context_env: dict[str, str],
    base_env: dict[str, str],
) -> Command:
    """Everything one invocation runs: argv, stdin, environment, files; cwd is the scratch dir."""
    files = build_files(config, values, scratch_dir)
    file_paths = {name: path for name, path in _file_paths(config, scratch_dir).items() if path in files}
    argv = build_argv(config, values, file_paths)
    stdin = build_payload(config.stdin, values, event_body, file_paths, where="stdin")
    env = _base_env(config, base_env)
    env["HOME"] = scratch_dir
    env.update(context_env)
    env.update(_config_env(config, values, file_paths))
    _check_sizes(argv, env)
    return Command(argv=argv, stdin=stdin, env=env, files=files, cwd=scratch_dir)


def context_env(invocation: Invocation) -> dict[str, str]:
    """The invocation context a program sees in its environment."""
    env = {
        "AWS_LAMBDA_REQUEST_ID": invocation.request_id,
        "AWS_LAMBDA_DEADLINE_MS": str(invocation.deadline_ms),
        "AWS_LAMBDA_FUNCTION_ARN": invocation.function_arn,
    }
    if invocation.trace_id:
        env["_X_AMZN_TRACE_ID"] = invocation.trace_id
    return env


def build_argv(config: Config, values: dict[str, Any], file_paths: dict[str, str]) -> list[str]:
    """command + args; raise InvalidEventError for a value word that looks like an option."""
    argv = list(config.command)
    options_ended = "--" in argv[1:]
    for index, arg in enumerate(config.args):
        if isinstance(arg, str):
            argv.append(arg)
            options_ended = options_ended or arg == "--"
            continue
        if arg.when is not None and not values.get(arg.when):
            continue
        words = _arg_words(config, arg, values, file_paths, options_ended, f"args[{index}]")
        argv.extend(words)
    return argv


def _arg_words(
    config: Config, arg: Arg, values: dict[str, Any], file_paths: dict[str, str], options_ended: bool, at: str
) -> list[str]:
    """The words of one non-literal args item; [] when an optional value it needs is missing."""

    def value_word(name: str, item: Any) -> str:
        word = to_text(item)
        spec = config.inputs.get(name)
        if word.startswith("-") and not options_ended and not (spec is not None and spec.allow_dash):
            raise InvalidEventError(
                f"inputs.{name}: {_shown(word)} starts with '-' and could be read as an option ({at}); "
                f"set allow_dash or put '--' before it"
            )
        return word

    def items_of(name: str) -> list[Any]:
        value = values.get(name)
        if value is None:
            return []
        return value if isinstance(value, list) else [value]

    if isinstance(arg, ValueArg):
        return [value_word(arg.value, item) for item in items_of(arg.value)]
    if isinstance(arg, SwitchArg):
        return [arg.switch] if values.get(arg.value) is True else []
    if isinstance(arg, FileArg):
        return [file_paths[arg.file]] if arg.file in file_paths else []
    if isinstance(arg, FlagArg):
        if arg.file is not None:
            items = [file_paths[arg.file]] if arg.file in file_paths else []
        else:
            name = arg.value or ""  # the schema gives exactly one of value and file
            # `--flag=value` is one word the program cannot mistake for two options
            items = [to_text(i) if arg.style == "equals" else value_word(name, i) for i in items_of(name)]
        if arg.style == "equals":
            return [f"{arg.flag}={item}" for item in items]
        return [word for item in items for word in (arg.flag, item)]
    if isinstance(arg, TemplateArg):
        parts = parse_template(arg.template)
        word = render(parts, values, file_paths)
        if word is None:
            return []
        if parts and parts[0].kind == "input":
            value_word(parts[0].text, word)
        return [word]
    raise TypeError(f"unknown args item {arg!r}")  # the schema admits no other kind


def build_server_argv_env(config: Config, *, base_env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """Server mode: the argv and environment of the program started once at init (literal words only)."""
    argv = list(config.command) + [arg for arg in config.args if isinstance(arg, str)]
    env = _base_env(config, base_env)
    env["HOME"] = config.scratch.dir  # no per-invocation scratch dir for a long-lived program
    env.update({name: value for name, value in config.env.items() if isinstance(value, str)})
    return argv, env


def build_server_request(
    config: Config, values: dict[str, Any], *, event_body: bytes, http_request: HttpRequest | None
) -> tuple[str, str, dict[str, str], bytes | None]:
    """Server mode: (method, path with query, headers, body) of the request for one invocation."""
    assert config.server is not None, "server mode is checked at load"
    import urllib.parse  # server mode only: exec-mode cold starts do not load it

    request = config.server.request
    path_parts = parse_template(request.path)
    # placeholders are quoted with no safe characters, so a value stays inside one path segment
    encoded = {name: urllib.parse.quote(to_text(v), safe="") for name, v in values.items() if v is not None}
    path = render(path_parts, encoded, {})
    if path is None:
        missing = sorted(p.text for p in path_parts if p.kind == "input" and p.text not in encoded)
        raise InvalidEventError(f"inputs.{missing[0]}: is required by server.request.path")
    query = []
    for key, template in request.query.items():
        text = render(parse_template(template), values, {})
        if text is not None:
            query.append((key, text))
    if query:
        path += ("&" if "?" in path else "?") + urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
    headers: dict[str, str] = {}
    if http_request is not None:
        wanted = {name.lower() for name in request.forward_headers}
        headers.update({name: value for name, value in http_request.headers.items() if name in wanted})
    for name, template in request.headers.items():
        text = render(parse_template(template), values, {})
        if text is None:
            continue
        if any(c in text for c in "\r\n\x00"):
            raise InvalidEventError(f"server.request.headers.{name}: a value contains a line break or NUL")
        headers[name] = text
    body = build_payload(request.body, values, event_body, {}, where="server.request.body")
    return request.method, path, headers, body


def build_payload(
    payload: Payload, values: dict[str, Any], event_body: bytes, file_paths: dict[str, str], *, where: str
) -> bytes | None:
    """stdin (or a server request body): None, the raw event, a value (text/json/base64) or a template."""
    if payload == "none":
        return None
    if payload == "event":
        return event_body
    assert not isinstance(payload, str)
    if payload.template is not None:
        text = render(parse_template(payload.template), values, file_paths)
        return None if text is None else text.encode("utf-8")
    value = values.get(payload.value or "")
    if value is None:
        return None
    if payload.as_ == "json":
        return _json_bytes(value)
    if payload.as_ == "base64":
        return _decode_base64(payload.value or "", value, where)
    return to_text(value).encode("utf-8")


def build_files(config: Config, values: dict[str, Any], scratch_dir: str) -> dict[str, bytes]:
    """Absolute path (under scratch_dir) → content, for each file whose value is present."""
    files: dict[str, bytes] = {}
    for name, path in _file_paths(config, scratch_dir).items():
        spec = config.files[name]
        value = values.get(spec.value)
        if value is None:
            continue  # an optional input with no value: no file, and items using its path are dropped
        if spec.as_ == "base64":
            files[path] = _decode_base64(spec.value, value, f"files.{name}")
        else:
            files[path] = to_text(value).encode("utf-8")
    return files


def _file_paths(config: Config, scratch_dir: str) -> dict[str, str]:
    return {name: os.path.join(scratch_dir, spec.filename or name) for name, spec in config.files.items()}


def _json_bytes(value: Any) -> bytes:
    text = json.dumps(value, ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value).encode("ascii")  # lone surrogates: escaped, still the same JSON value


def _decode_base64(name: str, value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise InvalidEventError(f"inputs.{name}: must be a base64 string for {where}")
    try:
        # what base64.b64decode(validate=True) does, without importing base64 (and struct) at cold start
        return binascii.a2b_base64(value, strict_mode=True)
    except (binascii.Error, ValueError):
        raise InvalidEventError(f"inputs.{name}: is not valid base64 ({where})") from None


def _base_env(config: Config, base_env: dict[str, str]) -> dict[str, str]:
    """The runtime variables a program may see: the fixed list, env_passthrough, credentials if asked."""
    names = list(BASE_ENV_NAMES) + list(config.env_passthrough)
    if config.aws_credentials:
        names += CREDENTIAL_ENV_NAMES
    return {name: base_env[name] for name in names if name in base_env}


def _config_env(config: Config, values: dict[str, Any], file_paths: dict[str, str]) -> dict[str, str]:
    """`env:` entries; one whose optional input has no value is left out."""
    env: dict[str, str] = {}
    for name, entry in config.env.items():
        if isinstance(entry, str):
            env[name] = entry
            continue
        if entry.template is not None:
            text = render(parse_template(entry.template), values, file_paths)
        else:
            value = values.get(entry.value or "")
            text = None if value is None else to_text(value)
        if text is not None:
            env[name] = text
    return env


def _check_sizes(argv: list[str], env: dict[str, str]) -> None:
    """A word over the kernel's per-string limit would fail at exec; refuse it as the event's fault instead."""
    for index, word in enumerate(argv):
        if len(word.encode("utf-8", "surrogatepass")) > MAX_WORD_BYTES:
            raise InvalidEventError(f"argv[{index}] is longer than {MAX_WORD_BYTES} bytes")
    for name, value in env.items():
        if len(name) + 1 + len(value.encode("utf-8", "surrogatepass")) > MAX_WORD_BYTES:
            raise InvalidEventError(f"env {name} is longer than {MAX_WORD_BYTES} bytes")


def _shown(word: str) -> str:
    return repr(word) if len(word) <= 60 else repr(word[:55]) + "..."
