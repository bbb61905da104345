"""`wrapper invoke`: start a local Lambda with the config, send one event, print the response."""

from __future__ import annotations

import sys

from wrapper import TYPE_CHECKING
from wrapper.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from wrapper.cli.local import add_function_options, local_lambda

if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping

NO_EVENT = b"{}"  # what Lambda's console sends for an empty test event, and what invoke sends without one


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare `wrapper invoke`."""
    parser = sub.add_parser(
        "invoke", help="run one event through the config locally and print the response",
        epilog="With no --event, --event-file or -, the event is {}. The response goes to stdout; a function "
        "error's JSON goes to stderr, after the runtime's log lines, and the exit status is 1.",
    )
    parser.add_argument("config", help="config file")
    add_event_options(parser)
    parser.add_argument("stdin_marker", nargs="?", choices=["-"], metavar="-", help="read the event from stdin")
    add_function_options(parser)
    parser.set_defaults(main=main)


def add_event_options(parser: argparse.ArgumentParser) -> None:
    """--event TEXT or --event-file PATH (invoke and check)."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--event", help="the event as JSON text")
    source.add_argument("--event-file", metavar="PATH", help="a file holding the event ('-' for stdin)")


def read_event(args: argparse.Namespace, command: str) -> bytes | None:
    """The event bytes the options give (None when none does); prints why and raises SystemExit on a bad file."""
    if args.event is not None:
        return str(args.event).encode()
    if args.event_file == "-" or getattr(args, "stdin_marker", None) == "-":
        return sys.stdin.buffer.read()
    if args.event_file is not None:
        try:
            with open(args.event_file, "rb") as file:
                return file.read()
        except OSError as exc:
            print(f"wrapper {command}: cannot read --event-file: {exc}", file=sys.stderr)
            raise SystemExit(EXIT_USAGE) from None
    return None


def main(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Invoke once; exit 1 on a function error."""
    payload = read_event(args, "invoke")
    args.runtime_argv = []
    emulator = local_lambda(args, environ, port=0, host="127.0.0.1", runtimes=1, quiet=True)
    if emulator is None:
        return EXIT_USAGE
    with emulator:
        result = emulator.invoke(NO_EVENT if payload is None else payload)
    if result.function_error:
        sys.stderr.buffer.write(result.body + b"\n")
        return EXIT_FAILURE
    sys.stdout.buffer.write(result.body)
    if sys.stdout.isatty() and not result.body.endswith(b"\n"):
        sys.stdout.buffer.write(b"\n")  # so the shell's prompt starts on a line of its own
    return EXIT_OK
