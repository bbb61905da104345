"""`wrapper check`: validate a config and show it, or show what one event would run, without running anything."""

from __future__ import annotations

import os
import sys
import time

from wrapper import TYPE_CHECKING
from wrapper.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from wrapper.cli.invoke import add_event_options, read_event

if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any

    from wrapper.config.schema import WrapperConfig
    from wrapper.config.values import Config


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare `wrapper check`."""
    parser = sub.add_parser(
        "check", help="validate a config; with an event, show exactly what would run",
        epilog="Without an event: the config as wrapper reads it, as YAML (what the file sets; --full: every "
        "setting). With --event or --event-file: argv, stdin, env, files and cwd (or the server request) as JSON. "
        "Nothing runs. A warning on stderr when command[0] would not be found on this machine.",
    )
    parser.add_argument("config", help="config file")
    add_event_options(parser)
    parser.add_argument("--full", action="store_true", help="show every setting, defaults included")
    parser.add_argument("--compile", action="store_true",
                        help="also write CONFIG's compiled form beside it (wrapper package does this for you)")
    parser.set_defaults(main=main)


def main(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Validate a config and print it normalized, or print exactly what an event would run."""
    import json
    from pathlib import Path

    from wrapper.config.loader import from_schema, parse_config
    from wrapper.config.values import expand_config_dir
    from wrapper.errors import ConfigError, InvocationError

    path = Path(args.config)
    try:
        parsed = parse_config(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    if args.compile:
        print(f"wrote {write_compiled(path)}", file=sys.stderr)
    config = expand_config_dir(from_schema(parsed), path)
    warning = path_warning(config, path, environ.get("PATH", os.defpath))
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    event = read_event(args, "check")
    if event is None:
        shown = parsed.model_copy(update={"command": config.command})
        print(normalized_config(shown, full=args.full), end="")
        return EXIT_OK
    try:
        description = describe_event(config, path, event, base_env=dict(environ))
    except InvocationError as exc:
        print(json.dumps({"errorType": exc.error_type, "errorMessage": str(exc)}), file=sys.stderr)
        return EXIT_FAILURE
    print(json.dumps(description, indent=2))
    return EXIT_OK


def normalized_config(config: WrapperConfig, *, full: bool = False) -> str:
    """The config as wrapper reads it, as YAML: what the file sets, normalized; with full=True every default too."""
    import yaml

    document = config.model_dump(mode="json", by_alias=True, exclude_unset=not full)
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def path_warning(config: Config, config_path: Path, path_env: str) -> str | None:
    """Why command[0] would not start here (not found in PATH, missing, not executable), else None."""
    from wrapper.errors import ConfigError
    from wrapper.programs.executable import resolve_executable

    try:
        resolve_executable(config, config_path, path_env)
    except ConfigError as exc:
        return (f"{exc} (looked up with this machine's PATH; Lambda's is /var/lang/bin:/usr/local/bin:/usr/bin:"
                "/bin:/opt/bin, and a program in the config's directory is shipped by wrapper package)")
    return None


def describe_event(config: Config, config_path: Path, event: bytes, *, base_env: dict[str, str]) -> dict[str, Any]:
    """Map one event as an invocation would and return argv, stdin, env, files and cwd (or the server request)."""
    from wrapper.errors import ConfigError
    from wrapper.programs.executable import resolve_executable
    from wrapper.runtime.function import FunctionHandler
    from wrapper.types import Invocation

    try:
        executable = resolve_executable(config, config_path, base_env.get("PATH", os.defpath))
    except ConfigError:
        executable = config.command[0]  # show the mapping even where the program is not installed
    handler = FunctionHandler(config, executable, base_env=base_env, config_dir=str(config_path.resolve().parent))
    invocation = Invocation(
        request_id="00000000-0000-0000-0000-000000000000",
        deadline_ms=int(time.time() * 1000 + config.timeout_s * 1000),
        body=event,
        function_arn="arn:aws:lambda:us-east-1:000000000000:function:check",
    )
    return handler.describe(invocation)


def write_compiled(config_path: Path) -> Path:
    """Validate the config and write its compiled form beside it; return that file's path."""
    from wrapper.config.compiled import compiled_path, dump_compiled
    from wrapper.config.loader import from_schema, parse_config

    source = config_path.read_bytes()
    target = compiled_path(config_path)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(dump_compiled(from_schema(parse_config(config_path)), source), encoding="utf-8")
    os.replace(temporary, target)  # never a half-written file beside the config
    return target
