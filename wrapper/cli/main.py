"""The `wrapper` command: its entry point, the fast path of `run`, and the argparse parser of every subcommand.

Each subcommand lives in its own module (`wrapper.cli.run`, `serve`, `invoke`, `check`, `package`) with an
`add_parser(subparsers)` that declares its arguments and a `main(args, environ)` that carries it out. Imports are
lazy so that `wrapper run`, the Lambda bootstrap of every cold start, loads neither argparse nor another command.
"""

from __future__ import annotations

import os
import sys

from wrapper import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `wrapper` and `python -m wrapper`: the exit status (see wrapper.cli)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    run_args = [arg for arg in argv[1:] if arg != "--compiled-only"]
    if argv[:1] == ["run"] and len(run_args) <= 1 and not any(arg.startswith("-") for arg in run_args):
        # the bootstrap's path: every cold start, so no argparse (and no other command's imports)
        from wrapper.cli import run

        config = run_args[0] if run_args else None
        return run.run(config, os.environ, compiled_only="--compiled-only" in argv)
    # `serve [CONFIG] -- RUNTIME_ARGV...`: split before argparse, which would read the runtime as CONFIG
    runtime_argv: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, runtime_argv = argv[:cut], argv[cut + 1 :]
    parser = build_parser()
    args = parser.parse_args(argv)
    if runtime_argv and args.command != "serve":
        parser.error("only `serve` takes a runtime command after --")
    args.runtime_argv = runtime_argv
    return int(args.main(args, os.environ))


def build_parser() -> argparse.ArgumentParser:
    """The parser of `wrapper` and every subcommand."""
    import argparse

    from wrapper import __version__
    from wrapper.cli import check, invoke, package, run, serve

    parser = argparse.ArgumentParser(prog="wrapper", description="Turn an executable into an AWS Lambda function.")
    parser.add_argument("--version", action="version", version=f"wrapper {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (run, serve, invoke, check, package):
        command.add_parser(sub)
    return parser
