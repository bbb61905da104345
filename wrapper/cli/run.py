"""`wrapper run`: the Lambda bootstrap. Init, then the Runtime API loop until SIGTERM or a fatal platform error.

On the path of every cold start: `wrapper.cli.main` calls `run()` without argparse, and this module imports
only what the runtime needs.
"""

from __future__ import annotations

import os
import sys

from wrapper import TYPE_CHECKING
from wrapper.cli import EXIT_FAILURE, EXIT_USAGE

if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping

    from wrapper.runtime.client import RuntimeClient
    from wrapper.runtime.function import FunctionHandler


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare `wrapper run` (only `wrapper --help` and `wrapper run --help` get here)."""
    parser = sub.add_parser("run", help="the Lambda bootstrap: serve the Runtime API loop")
    parser.add_argument(
        "config", nargs="?", help="config file (default: $WRAPPER_CONFIG, else $LAMBDA_TASK_ROOT/$_HANDLER)"
    )
    parser.add_argument(
        "--compiled-only", action="store_true",
        help="use only CONFIG's compiled form; missing or stale is an init error (what a packaged function runs)",
    )
    parser.set_defaults(main=lambda args, environ: run(args.config, environ, compiled_only=args.compiled_only))


def run(config: str | None, environ: Mapping[str, str], *, compiled_only: bool = False) -> int:
    """The bootstrap: init, then the Runtime API loop; the exit status. compiled_only: see read_config."""
    from wrapper.errors import ConfigError, RuntimeAPIError
    from wrapper.logs import parse_level, setup_logging
    from wrapper.runtime.client import RuntimeClient
    from wrapper.runtime.hardening import make_undumpable
    from wrapper.runtime.loop import run_runtime

    make_undumpable()  # before any program starts: they run as our user, and our environment holds credentials

    setup_logging("json" if environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON" else "text",
                  parse_level(environ.get("AWS_LAMBDA_LOG_LEVEL")))
    api = environ.get("AWS_LAMBDA_RUNTIME_API")
    if not api:
        print("wrapper run: AWS_LAMBDA_RUNTIME_API is not set (use `wrapper serve` or `wrapper invoke` locally)",
              file=sys.stderr)
        return EXIT_USAGE
    config_path = config_path_from(config, environ)
    base_env = dict(environ)
    fallback_timeout_s = [float(environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT") or 60)]

    def load_function() -> FunctionHandler:
        from wrapper.runtime.function import FunctionHandler

        if config_path is None:
            raise ConfigError("No config given: pass a path, or set WRAPPER_CONFIG, or set the function's handler")
        handler = FunctionHandler.load(config_path, base_env=base_env, compiled_only=compiled_only)
        fallback_timeout_s[0] = handler.config.timeout_s
        return handler

    def make_client() -> RuntimeClient:
        return RuntimeClient(api, fallback_timeout_s=fallback_timeout_s[0])

    try:
        return run_runtime(load_function, make_client, concurrency=_positive(environ.get("AWS_LAMBDA_MAX_CONCURRENCY")))
    except RuntimeAPIError as exc:
        print(f"wrapper run: {exc}", file=sys.stderr)
        return EXIT_FAILURE


def config_path_from(arg: str | None, environ: Mapping[str, str]) -> str | None:
    """The config to run: the argument, else $WRAPPER_CONFIG, else $LAMBDA_TASK_ROOT/$_HANDLER (as Lambda sets)."""
    if arg:
        return arg
    if environ.get("WRAPPER_CONFIG"):
        return environ["WRAPPER_CONFIG"]
    if environ.get("_HANDLER"):
        return os.path.join(environ.get("LAMBDA_TASK_ROOT", "."), environ["_HANDLER"])
    return None


def _positive(raw: str | None, default: int = 1) -> int:
    try:
        return max(1, int(raw)) if raw else default
    except ValueError:
        return default
