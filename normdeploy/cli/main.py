"""Entry point of the `normdeploy` command. Exit codes: 0 success, 1 failure, 2 usage or input
error (bad arguments, unreadable files, unsupported models)."""

from __future__ import annotations

import argparse
import sys

from . import build_engine_cmd, convert_cmd, export_cmd, inspect_cmd, serve_cmd, triton_cmd, validate_cmd
from .common import EXIT_USAGE, CliError

COMMANDS = (export_cmd, convert_cmd, inspect_cmd, validate_cmd, build_engine_cmd, triton_cmd, serve_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="normdeploy", description="Deploy GroupNorm and LRN models.")
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"normdeploy {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from ..conversion import ConvertError

    try:
        return args.run(args)
    except (CliError, ConvertError, FileNotFoundError) as exc:
        print(f"normdeploy {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"normdeploy {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
