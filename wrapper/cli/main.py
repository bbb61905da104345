"""The `wrapper` command: run (the Lambda bootstrap), serve, invoke, check, package.

The only module that reads the environment and the only one that decides exit statuses:
0 success, 1 a runtime or function failure, 2 a config or usage error. Imports are lazy so that
`wrapper run` loads only what the runtime needs.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `wrapper` and `python -m wrapper`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    run_args = [arg for arg in argv[1:] if arg != "--compiled-only"]
    if argv[:1] == ["run"] and len(run_args) <= 1 and not any(arg.startswith("-") for arg in run_args):
        # the bootstrap's path: every cold start, so no argparse (and no other command's imports)
        from types import SimpleNamespace

        config = run_args[0] if run_args else None
        return cmd_run(SimpleNamespace(config=config, compiled_only="--compiled-only" in argv), os.environ)
    # `serve [CONFIG] -- RUNTIME_ARGV...`: split before argparse, which would read the runtime as CONFIG
    runtime_argv: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, runtime_argv = argv[:cut], argv[cut + 1 :]
    parser = _parser()
    args = parser.parse_args(argv)
    if runtime_argv and args.command != "serve":
        parser.error("only `serve` takes a runtime command after --")
    args.runtime_argv = runtime_argv
    return args.func(args, os.environ)


def _parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(prog="wrapper", description="Turn an executable into an AWS Lambda function.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="the Lambda bootstrap: serve the Runtime API loop")
    run.add_argument("config", nargs="?", help="config file (default: $WRAPPER_CONFIG, else $LAMBDA_TASK_ROOT/$_HANDLER)")
    run.add_argument("--compiled-only", action="store_true",
                     help="use only CONFIG's compiled form; missing or stale is an init error (packaged functions)")
    run.set_defaults(func=cmd_run)

    serve = sub.add_parser("serve", help="local Lambda: Runtime API, invoke endpoint and Function URL on one port")
    serve.add_argument("config", nargs="?", help="config file (needed unless a runtime command is given)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=9001, help="port (default 9001; 0 picks a free one)")
    _add_function_options(serve)
    serve.add_argument("--runtimes", type=int, default=1, help="runtime processes serving the queue (default 1)")
    serve.add_argument("--api-prefix", default="", metavar="PATH",
                       help="serve the Runtime API under this path prefix, e.g. /.rt (default: none)")
    serve.add_argument("--invoke-mode", choices=("BUFFERED", "RESPONSE_STREAM"), default="BUFFERED",
                       help="the Function URL's invoke mode: RESPONSE_STREAM streams answers (default BUFFERED)")
    serve.set_defaults(func=cmd_serve)

    invoke = sub.add_parser("invoke", help="run one event through the config locally and print the response; "
                            "with --url, send it to a Function URL or a remote emulator instead")
    invoke.add_argument("config", nargs="?", help="config file (not with --url)")
    source = invoke.add_mutually_exclusive_group()
    source.add_argument("--event", help="the event as JSON text")
    source.add_argument("--event-file", help="a file holding the event ('-' for stdin)")
    invoke.add_argument("stdin_marker", nargs="?", choices=["-"], help="read the event from stdin")
    _add_function_options(invoke)
    remote = invoke.add_argument_group("--url: one HTTP request, printed as curl prints it (exit 1 on HTTP >= 400)")
    remote.add_argument("--url", help="a Function URL, or a running emulator's URL (`wrapper serve`)")
    remote.add_argument("-X", "--request", metavar="METHOD", help="HTTP method (default POST with a body, else GET)")
    remote.add_argument("--path", help="appended to the URL, e.g. /probe")
    remote.add_argument("--query", action="append", default=[], metavar="NAME=VALUE", help="query parameter (repeatable)")
    remote.add_argument("-H", "--header", action="append", default=[], metavar="'NAME: VALUE'",
                        help="request header (repeatable)")
    remote.add_argument("--token", help="send Authorization: Bearer TOKEN (a config's auth.bearer_token_env)")
    remote.add_argument("-i", "--include", action="store_true", help="print the status line and headers too")
    invoke.set_defaults(func=cmd_invoke)

    check = sub.add_parser("check", help="validate a config; with --event, show exactly what would run")
    check.add_argument("config", help="config file")
    check.add_argument("--event", help="an event (JSON) to map without running anything")
    check.add_argument("--compile", action="store_true",
                       help="also write CONFIG's compiled form beside it (wrapper package does this for you)")
    check.set_defaults(func=cmd_check)

    package = sub.add_parser("package", help="build deployable artifacts: zip, image context, SAM template")
    package.add_argument("config", help="config file")
    package.add_argument("--out", required=True, help="output directory")
    package.add_argument("--arch", choices=["x86_64", "arm64"], default=None, help="target architecture (default: this machine's)")
    package.add_argument("--python", default=None, help="target Python version for the zip (default: 3.12)")
    package.add_argument("--include", action="append", default=[], metavar="PATH",
                         help="extra file or directory to ship, relative to the config's directory (repeatable)")
    package.add_argument("--bundle", action="store_true",
                         help="copy command[0] from PATH into the zip's bin/, with the libraries Lambda lacks in lib/")
    package.add_argument("--bundle-program", action="append", default=[], metavar="NAME",
                         help="also bundle program NAME from PATH (repeatable)")
    package.add_argument("--compile-with", default=None, metavar="PYTHON",
                         help="the target Python that precompiles .pyc files (default: this one, or pythonX.Y on PATH)")
    package.set_defaults(func=cmd_package)
    return parser


def _add_function_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=float, default=None, help="function timeout in seconds (default: from the config)")
    parser.add_argument("--memory", type=int, default=128, help="reported memory size in MB (default 128)")
    parser.add_argument("--max-concurrency", type=int, default=None, help="AWS_LAMBDA_MAX_CONCURRENCY for the runtime")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra runtime variable")


def cmd_run(args: argparse.Namespace, environ: os._Environ[str] | dict[str, str]) -> int:
    """The bootstrap: init, then the Runtime API loop until SIGTERM or a fatal platform error."""
    from wrapper.runtime.client import RuntimeClient
    from wrapper.errors import ConfigError, RuntimeAPIError
    from wrapper.runtime.hardening import make_undumpable
    from wrapper.runtime.logs import parse_level, setup_logging
    from wrapper.runtime.loop import run_runtime

    make_undumpable()  # before any program starts: they run as our user, and our environment holds credentials

    log_format = "json" if environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON" else "text"
    setup_logging(log_format, parse_level(environ.get("AWS_LAMBDA_LOG_LEVEL")))
    api = environ.get("AWS_LAMBDA_RUNTIME_API")
    if not api:
        print("wrapper run: AWS_LAMBDA_RUNTIME_API is not set (use `wrapper serve` or `wrapper invoke` locally)", file=sys.stderr)
        return EXIT_USAGE
    config_path = _config_path(args.config, environ)
    base_env = dict(environ)
    fallback_timeout_s = [float(environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT") or 60)]

    def load_handler():
        from wrapper.runtime.function import FunctionHandler

        if config_path is None:
            raise ConfigError("No config given: pass a path, or set WRAPPER_CONFIG, or set the function's handler")
        handler = FunctionHandler.load(config_path, base_env=base_env, compiled_only=args.compiled_only)
        fallback_timeout_s[0] = handler.config.timeout_s
        return handler

    def make_client() -> RuntimeClient:
        return RuntimeClient(api, fallback_timeout_s=fallback_timeout_s[0])

    concurrency = _int(environ.get("AWS_LAMBDA_MAX_CONCURRENCY"), 1)
    try:
        return run_runtime(load_handler, make_client, concurrency=concurrency)
    except RuntimeAPIError as exc:
        print(f"wrapper run: {exc}", file=sys.stderr)
        return EXIT_FAILURE


def cmd_serve(args: argparse.Namespace, environ: os._Environ[str] | dict[str, str]) -> int:
    """Serve a local Lambda until interrupted."""
    import signal
    import threading

    if args.config is None and not args.runtime_argv:
        print("wrapper serve: give a config, or a runtime command after --", file=sys.stderr)
        return EXIT_USAGE
    emulator = _emulator(args, environ, port=args.port, host=args.host, runtimes=args.runtimes,
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


def cmd_invoke(args: argparse.Namespace, environ: os._Environ[str] | dict[str, str]) -> int:
    """Start a local Lambda with the config, send one event, print the response (exit 1 on a function error)."""
    from pathlib import Path

    if args.config == "-":  # `wrapper invoke --url URL -`: the marker, not a config
        args.config, args.stdin_marker = None, "-"
    if args.url is not None:
        return _invoke_url(args)
    if args.config is None:
        print("wrapper invoke: give a config, or --url URL", file=sys.stderr)
        return EXIT_USAGE
    if args.event is not None:
        payload = args.event.encode()
    elif args.event_file not in (None, "-"):
        try:
            payload = Path(args.event_file).read_bytes()
        except OSError as exc:
            print(f"wrapper invoke: cannot read --event-file: {exc}", file=sys.stderr)
            return EXIT_USAGE
    elif args.event_file == "-" or args.stdin_marker == "-":
        payload = sys.stdin.buffer.read()
    else:
        payload = b"{}"
    args.runtime_argv = []
    emulator = _emulator(args, environ, port=0, host="127.0.0.1", runtimes=1, quiet=True)
    if emulator is None:
        return EXIT_USAGE
    with emulator:
        result = emulator.invoke(payload)
    if result.function_error:
        sys.stderr.buffer.write(result.body + b"\n")
        return EXIT_FAILURE
    sys.stdout.buffer.write(result.body)
    if sys.stdout.isatty():
        sys.stdout.buffer.write(b"\n")
    return EXIT_OK


def _invoke_url(args: argparse.Namespace) -> int:
    """`invoke --url`: the event (if any) as the body of one request (wrapper/cli/url.py)."""
    from pathlib import Path

    from wrapper.cli.url import UrlRequest, invoke_url, join_url

    if args.config is not None:
        print("wrapper invoke: --url sends to a deployed function; it takes no config", file=sys.stderr)
        return EXIT_USAGE
    body: bytes | None = None
    if args.event is not None:
        body = args.event.encode()
    elif args.event_file not in (None, "-"):
        try:
            body = Path(args.event_file).read_bytes()
        except OSError as exc:
            print(f"wrapper invoke: cannot read --event-file: {exc}", file=sys.stderr)
            return EXIT_USAGE
    elif args.event_file == "-" or args.stdin_marker == "-":
        body = sys.stdin.buffer.read()
    query, headers = [], []
    for pair in args.query:
        name, sep, value = pair.partition("=")
        if not sep:
            print(f"wrapper invoke: --query takes NAME=VALUE, got {pair!r}", file=sys.stderr)
            return EXIT_USAGE
        query.append((name, value))
    for line in args.header:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            print(f"wrapper invoke: --header takes 'NAME: VALUE', got {line!r}", file=sys.stderr)
            return EXIT_USAGE
        headers.append((name.strip(), value.strip()))
    request = UrlRequest(
        method=(args.request or ("POST" if body is not None else "GET")).upper(),
        url=join_url(args.url, args.path),
        query=query,
        headers=headers,
        body=body,
        token=args.token,
        read_timeout_s=args.timeout or 60.0,
    )
    return invoke_url(request, include=args.include, newline_on_tty=sys.stdout.isatty())


def cmd_check(args: argparse.Namespace, environ: os._Environ[str] | dict[str, str]) -> int:
    """Validate a config and print it normalized, or print exactly what an event would run."""
    import json
    from pathlib import Path

    from wrapper.cli.check import describe_event, normalized_config, write_compiled
    from wrapper.config.schema import load_config
    from wrapper.errors import ConfigError, InvocationError

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    if args.compile:
        print(f"wrote {write_compiled(Path(args.config))}", file=sys.stderr)
    if args.event is None:
        print(normalized_config(config), end="")
        return EXIT_OK
    try:
        description = describe_event(config, Path(args.config), args.event.encode(), base_env=dict(environ))
    except InvocationError as exc:
        print(json.dumps({"errorType": exc.error_type, "errorMessage": str(exc)}), file=sys.stderr)
        return EXIT_FAILURE
    print(json.dumps(description, indent=2))
    return EXIT_OK


def cmd_package(args: argparse.Namespace, environ: os._Environ[str] | dict[str, str]) -> int:
    """Build deployable artifacts from a config."""
    from pathlib import Path

    from wrapper.errors import WrapperError
    from wrapper.packaging.build import package

    try:
        package(
            Path(args.config),
            Path(args.out),
            arch=args.arch,
            python_version=args.python,
            include=args.include,
            bundle=args.bundle,
            bundle_programs=args.bundle_program,
            search_path=environ.get("PATH", os.defpath),
            library_path=environ.get("LD_LIBRARY_PATH", ""),
            compile_with=args.compile_with,
        )
    except WrapperError as exc:
        print(f"wrapper package: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _emulator(args: argparse.Namespace, environ, *, port: int, host: str, runtimes: int, quiet: bool = False,
              invoke_mode: str = "BUFFERED"):
    from pathlib import Path

    from wrapper.config.schema import load_config
    from wrapper.emulator import Emulator
    from wrapper.errors import ConfigError
    from wrapper.runtime.hardening import make_undumpable

    make_undumpable()  # this process holds the caller's environment; the programs below it run as the same user
    extra_env = {k: v for k, v in environ.items() if k.startswith(("WRAPPER_", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"))}
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
        if timeout_s is None:
            try:
                config = load_config(config_path)
            except ConfigError as exc:
                print(exc, file=sys.stderr)
                return None
            # leave room for wrapper's own structured timeout to arrive before the emulator's
            timeout_s = min(900.0, config.timeout_s + config.deadline_margin_s + 1.0)
        if not runtime_argv:
            runtime_argv = [sys.executable, "-m", "wrapper", "run"]
            # the runtime starts in the task root: let it import this very wrapper, installed or not
            package_root = str(Path(__file__).resolve().parents[2])
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


def _config_path(arg: str | None, environ) -> str | None:
    if arg:
        return arg
    if environ.get("WRAPPER_CONFIG"):
        return environ["WRAPPER_CONFIG"]
    if environ.get("_HANDLER"):
        return os.path.join(environ.get("LAMBDA_TASK_ROOT", "."), environ["_HANDLER"])
    return None


def _int(raw: str | None, default: int) -> int:
    try:
        return max(1, int(raw)) if raw else default
    except ValueError:
        return default
