"""`wrapper package`: build deployable artifacts from a config (zip, image build context, SAM template, deploy.sh)."""

from __future__ import annotations

import os
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
    parser.add_argument("--bundle", action="store_true",
                        help="copy command[0] from PATH into the zip's bin/, with the libraries Lambda lacks in lib/")
    parser.add_argument("--bundle-program", action="append", default=[], metavar="NAME",
                        help="also bundle program NAME from PATH (repeatable)")
    parser.add_argument("--compile-with", default=None, metavar="PYTHON",
                        help="the target Python that precompiles .pyc files (default: this one, or pythonX.Y on PATH)")
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
