"""`wrapper serve`: a local Lambda (Runtime API, invoke endpoint, Function URL) on one port until interrupted."""

from __future__ import annotations

import sys

from wrapper import TYPE_CHECKING
from wrapper.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from wrapper.cli.local import add_function_options, local_lambda

if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare `wrapper serve`."""
    parser = sub.add_parser(
        "serve", help="local Lambda: Runtime API, invoke endpoint and Function URL on one port",
        epilog="After --, a runtime command to run instead of `wrapper run` (e.g. a bash bootstrap); "
        "CONFIG is then optional.",
    )
    parser.add_argument("config", nargs="?", help="config file (needed unless a runtime command is given)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9001, help="port (default 9001; 0 picks a free one)")
    add_function_options(parser)
    parser.add_argument("--runtimes", type=int, default=1, help="runtime processes serving the queue (default 1)")
    parser.add_argument("--api-prefix", default="", metavar="PATH",
                        help="serve the Runtime API under this path prefix, e.g. /.rt (default: none)")
    parser.add_argument("--invoke-mode", choices=("BUFFERED", "RESPONSE_STREAM"), default="BUFFERED",
                        help="the Function URL's invoke mode: RESPONSE_STREAM streams answers (default BUFFERED)")
    # main() takes the runtime command off before argparse; the usage line still shows where it goes
    parser.usage = parser.format_usage().removeprefix("usage: ").strip() + " [-- RUNTIME_ARGV ...]"
    parser.set_defaults(main=main)


def main(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Serve a local Lambda until SIGTERM or Ctrl-C."""
    import signal
    import threading

    if args.config is None and not args.runtime_argv:
        print("wrapper serve: give a config, or a runtime command after --", file=sys.stderr)
        return EXIT_USAGE
    emulator = local_lambda(args, environ, port=args.port, host=args.host, runtimes=args.runtimes,
                            invoke_mode=args.invoke_mode)
    if emulator is None:
        return EXIT_USAGE
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        emulator.start()
    except OSError as exc:  # the port is taken, or the address is not ours
        print(f"wrapper serve: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILURE
    try:
        print(
            f"wrapper: local Lambda at {emulator.url}\n"
            f"  invoke:       POST {emulator.url}/2015-03-31/functions/function/invocations\n"
            f"  streaming:    POST {emulator.url}/2021-11-15/functions/function/response-streaming-invocations\n"
            f"  Function URL: any other path, e.g. {emulator.url}/ (invoke mode {emulator.invoke_mode})\n"
            f"  Runtime API:  AWS_LAMBDA_RUNTIME_API={emulator.address}",
            file=sys.stderr,
            flush=True,
        )
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    finally:
        emulator.stop()
    return EXIT_OK
