"""A local Lambda for `wrapper serve` and `wrapper invoke`: the emulator, set up from the command line."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from wrapper import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping
    from typing import Any

    from wrapper.emulator import Emulator

# from the caller's environment to the runtime's: our own settings and the caller's AWS credentials
PASSED_ENV_PREFIXES = ("WRAPPER_", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def add_function_options(parser: argparse.ArgumentParser) -> None:
    """The options that describe the function, shared by serve and invoke."""
    parser.add_argument("--timeout", type=float, default=None,
                        help="function timeout in seconds (default: from the config)")
    parser.add_argument("--memory", type=int, default=128, help="reported memory size in MB (default 128)")
    parser.add_argument("--max-concurrency", type=int, default=None,
                        help="AWS_LAMBDA_MAX_CONCURRENCY for the runtime")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra runtime variable")


def local_lambda(
    args: argparse.Namespace, environ: Mapping[str, str], *, port: int, host: str, runtimes: int, quiet: bool = False,
    invoke_mode: str = "BUFFERED",
) -> Emulator | None:
    """An emulator (not started) running `wrapper run` with args.config, or args.runtime_argv; None after
    printing why not (a usage or config error)."""
    from wrapper.config.loader import load_config
    from wrapper.emulator import Emulator
    from wrapper.errors import ConfigError
    from wrapper.runtime.hardening import make_undumpable

    make_undumpable()  # this process holds the caller's environment; the programs below it run as the same user
    extra_env = {k: v for k, v in environ.items() if k.startswith(PASSED_ENV_PREFIXES)}
    extra_env.pop("WRAPPER_CONFIG", None)
    for pair in args.env:
        name, sep, value = pair.partition("=")
        if not sep:
            print(f"wrapper: --env takes NAME=VALUE, got {pair!r}", file=sys.stderr)
            return None
        extra_env[name] = value
    timeout_s = args.timeout
    task_root = handler = None
    runtime_argv = args.runtime_argv
    if args.config is not None:
        config_path = Path(args.config).resolve()
        task_root, handler = str(config_path.parent), config_path.name
        if timeout_s is None or runtimes > 1:  # only then is the config read here: the runtime reads it anyway
            try:
                config = load_config(config_path)
            except ConfigError as exc:
                print(exc, file=sys.stderr)
                return None
            if timeout_s is None:  # leave room for wrapper's own structured timeout to arrive before the emulator's
                timeout_s = min(900.0, config.timeout_s + config.deadline_margin_s + 1.0)
            taken = fixed_ports(config)
            if runtimes > 1 and taken:
                print(f"wrapper: --runtimes {runtimes} cannot run {config_path.name} here: its runtimes would share "
                      f"this machine's loopback, where only one of them can listen on {taken}. On Lambda each "
                      "execution environment has a loopback of its own. Use --runtimes 1 (and --max-concurrency for "
                      "concurrent invocations in one runtime).", file=sys.stderr)
                return None
        if not runtime_argv:
            runtime_argv = [sys.executable, "-m", "wrapper", "run"]
            # the runtime starts in the task root: let it import this very wrapper, installed or not
            package_root = str(Path(__file__).resolve().parent.parent.parent)
            extra_env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, environ.get("PYTHONPATH")]))
    output = sys.stderr if quiet else None
    try:
        return Emulator(
            runtime_argv=runtime_argv,
            host=host,
            port=port,
            function_timeout_s=timeout_s or 3.0,
            memory_mb=args.memory,
            runtimes=runtimes,
            env=extra_env,
            task_root=task_root,
            handler=handler,
            runtime_stdout=output,
            runtime_stderr=output,
            max_concurrency=args.max_concurrency,
            api_prefix=getattr(args, "api_prefix", ""),
            invoke_mode=invoke_mode,
        )
    except ValueError as exc:  # e.g. an --api-prefix that is not a path
        print(f"wrapper: {exc}", file=sys.stderr)
        return None


def fixed_ports(config: Any) -> str:
    """The fixed loopback ports a config's runtime listens on (server mode's program, the egress guard), as text."""
    ports = []
    if config.mode == "server" and config.server is not None:
        ports.append(f"server.port {config.server.port}")
    if config.egress.guard and config.egress.port:
        ports.append(f"egress.port {config.egress.port}")
    return " and ".join(ports)
