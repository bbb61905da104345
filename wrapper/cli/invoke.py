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
        "invoke", help="run one event through the config locally and print the response; with --url, send it "
        "to a deployed Function URL or a remote emulator instead",
        epilog="With no --event, --event-file or -, the event is {}. The response goes to stdout; a function "
        "error's JSON goes to stderr, after the runtime's log lines, and the exit status is 1. With --url, the "
        "event (if any) is the request's body, and the exit status is 1 on HTTP 400 and above.",
    )
    parser.add_argument("config", nargs="?", help="config file (not with --url)")
    add_event_options(parser)
    parser.add_argument("stdin_marker", nargs="?", choices=["-"], metavar="-", help="read the event from stdin")
    add_function_options(parser)
    add_url_options(parser)
    parser.set_defaults(main=main)


def add_url_options(parser: argparse.ArgumentParser) -> None:
    """--url and what goes with it (wrapper/cli/url.py, which alone imports requests)."""
    remote = parser.add_argument_group("--url: one HTTP request, printed as curl prints it (exit 1 on HTTP >= 400)")
    remote.add_argument("--url", help="a Function URL, or a running emulator's URL (`wrapper serve`)")
    remote.add_argument("-X", "--request", metavar="METHOD", help="HTTP method (default POST with a body, else GET)")
    remote.add_argument("--path", help="appended to the URL, e.g. /probe")
    remote.add_argument("--query", action="append", default=[], metavar="NAME=VALUE",
                        help="query parameter (repeatable)")
    remote.add_argument("-H", "--header", action="append", default=[], metavar="'NAME: VALUE'",
                        help="request header (repeatable)")
    remote.add_argument("--token", help="send Authorization: Bearer TOKEN (a config's auth.bearer_token_env)")
    remote.add_argument("-i", "--include", action="store_true", help="print the status line and headers too")


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
    if args.config == "-":  # `wrapper invoke --url URL -`: the marker, not a config
        args.config, args.stdin_marker = None, "-"
    if args.url is not None:
        from wrapper.cli.url import main as url_main

        return url_main(args, read_event(args, "invoke"))
    if args.config is None:
        print("wrapper invoke: give a config, or --url URL", file=sys.stderr)
        return EXIT_USAGE
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
