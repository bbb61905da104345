"""`wrapper package`: build deployable artifacts from a config (zip, image build context, SAM template, deploy.sh)."""

from __future__ import annotations

import sys

from wrapper import TYPE_CHECKING
from wrapper.cli import EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare `wrapper package`."""
    parser = sub.add_parser("package", help="build deployable artifacts: zip, image context, SAM template")
    parser.add_argument("config", help="config file")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--arch", choices=["x86_64", "arm64"], default=None,
                        help="target architecture (default: this machine's)")
    parser.add_argument("--python", default=None, help="target Python version for the zip (default: 3.12)")
    parser.add_argument("--include", action="append", default=[], metavar="PATH",
                        help="extra file or directory to ship, relative to the config's directory (repeatable)")
    parser.add_argument("--deps-cache", default=None, metavar="DIR", help="reuse downloaded dependencies from DIR")
    parser.set_defaults(main=main)


def main(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Build the artifacts; a config or packaging problem is a usage error."""
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
            deps_cache=Path(args.deps_cache) if args.deps_cache else None,
        )
    except WrapperError as exc:
        print(f"wrapper package: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK
