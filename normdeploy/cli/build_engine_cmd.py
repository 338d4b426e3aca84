"""normdeploy build-engine model.onnx -o model.plan [--fp16 | --bf16] [--shapes NAME:MIN/OPT/MAX]
[--plugin-library PATH] [--workspace MiB] [--print-commands]"""

from __future__ import annotations

import argparse

from .common import EXIT_USAGE, CliError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "build-engine",
        help="build a TensorRT engine from an ONNX model with normdeploy nodes (plugins loaded)",
        description="Build a TensorRT engine (plan) with the normdeploy plugin library loaded, through the "
                    "TensorRT Python API. --print-commands prints the equivalent trtexec and polygraphy "
                    "command lines instead (no TensorRT needed).")
    p.add_argument("input", help="the ONNX file")
    p.add_argument("-o", "--output", help="engine file to write (default: the input with .plan)")
    precision = p.add_mutually_exclusive_group()
    precision.add_argument("--fp16", action="store_const", const="fp16", dest="precision",
                           help="allow float16 kernels (TensorRT <= 10 builder flag)")
    precision.add_argument("--bf16", action="store_const", const="bf16", dest="precision",
                           help="allow bfloat16 kernels (TensorRT <= 10 builder flag)")
    p.set_defaults(precision="fp32")
    p.add_argument("--shapes", action="append", metavar="NAME:MIN/OPT/MAX",
                   help="optimization profile of a dynamic input, e.g. input:1x3x224x224/4x3x224x224/8x3x224x224 "
                        "(repeat or separate inputs with commas; NAME:SHAPE fixes a shape)")
    p.add_argument("--plugin-library", metavar="PATH",
                   help="libnormdeploy_trt.so to load (default: the installed one, or $NORMDEPLOY_TRT_LIBRARY)")
    p.add_argument("--workspace", type=int, metavar="MiB", help="workspace memory pool limit in MiB (default 1024)")
    p.add_argument("--print-commands", action="store_true",
                   help="print the equivalent trtexec and polygraphy commands and exit")
    p.add_argument("--verbose", action="store_true", help="print TensorRT's info messages too")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .. import tensorrt as ndtrt
    from ..runtime import LibraryNotFoundError

    output = args.output or (args.input[:-5] if args.input.endswith(".onnx") else args.input) + ".plan"
    try:
        shapes = ndtrt.parse_shapes(args.shapes)
    except ndtrt.ShapeSpecError as exc:
        raise CliError(str(exc)) from None
    if args.workspace is not None and args.workspace <= 0:
        raise CliError(f"--workspace {args.workspace}: must be a positive number of MiB")

    if args.print_commands:
        print(ndtrt.engine_commands(args.input, output, plugin_library=args.plugin_library, shapes=shapes,
                                    precision=args.precision, workspace_mib=args.workspace))
        return 0

    try:
        path = ndtrt.build_engine(args.input, output, shapes=shapes, precision=args.precision,
                                  workspace_mib=args.workspace or ndtrt.DEFAULT_WORKSPACE_MIB,
                                  plugin_library=args.plugin_library, verbose=args.verbose)
    except (ndtrt.TensorRTUnavailableError, ndtrt.ShapeSpecError, LibraryNotFoundError) as exc:
        raise CliError(str(exc)) from None
    except ndtrt.TensorRTError as exc:
        import sys

        print(f"normdeploy build-engine: failed: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


__all__ = ["add_parser", "run", "EXIT_USAGE"]
