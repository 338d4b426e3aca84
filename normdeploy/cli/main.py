"""Entry point of the `normdeploy` command. Exit codes: 0 success, 1 failure, 2 usage or input
error (bad arguments, unreadable files, unsupported models)."""

from __future__ import annotations

import argparse
import sys

from . import bench_cmd, build_engine_cmd, convert_cmd, export_cmd, inspect_cmd, serve_cmd, triton_cmd, validate_cmd
from ..extras import MissingExtraError, require
from .common import EXIT_USAGE, CliError

COMMANDS = (export_cmd, convert_cmd, inspect_cmd, validate_cmd, bench_cmd, build_engine_cmd, triton_cmd, serve_cmd)

# What each command needs beyond the core install (normdeploy/extras.py), checked before it runs:
# (extra, the option that makes it needed or None for always). Every command must be listed
# (tests/test_packaging.py checks it). build-engine needs TensorRT, which is no pip extra: the
# command says so itself (exit 2).
NEEDS: dict[str, tuple[tuple[str, str | None], ...]] = {
    "export": (("torch", None),),
    "convert": (),
    "inspect": (),
    "validate": (("validate", None), ("torch", "torch")),
    "build-engine": (),
    "triton": (("triton", None),),
    "serve": (("triton", None),),
    "bench": (("validate", None), ("torch", "torch")),
}


def check_extras(args: argparse.Namespace) -> None:
    """Raises MissingExtraError naming the extra when the command (or one of its options) needs a
    package that is not installed."""
    for extra, option in NEEDS.get(args.command, ()):
        if option is None:
            require(extra, f"normdeploy {args.command}")
        elif getattr(args, option, None):
            require(extra, f"normdeploy {args.command} --{option.replace('_', '-')}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="normdeploy", description="Deploy GroupNorm and LRN models.")
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"normdeploy {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


#: Options whose value may start with '-' (a range of negative numbers); argparse would take
#: `--val-range -2,-1` for two options, so such a pair is joined into `--val-range=-2,-1` first.
NEGATIVE_VALUE_OPTIONS = frozenset({"--val-range", "--atol", "--rtol"})


def join_negative_values(argv: list[str]) -> list[str]:
    """`--val-range -2,-1` -> `--val-range=-2,-1` (only for NEGATIVE_VALUE_OPTIONS and a value that
    starts with a minus sign and a digit or a dot)."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        following = argv[i + 1] if i + 1 < len(argv) else ""
        if token in NEGATIVE_VALUE_OPTIONS and len(following) > 1 and following[0] == "-" and following[1] in "0123456789.":
            out.append(f"{token}={following}")
            i += 2
            continue
        out.append(token)
        i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(join_negative_values(list(sys.argv[1:] if argv is None else argv)))
    from ..conversion import ConvertError

    try:
        check_extras(args)
        return args.run(args)
    except MissingExtraError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except (CliError, ConvertError, FileNotFoundError) as exc:
        print(f"normdeploy {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"normdeploy {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
