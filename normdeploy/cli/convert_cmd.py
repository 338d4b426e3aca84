"""normdeploy convert in.onnx -o out.onnx [--to custom|standard] [--strict]"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="rewrite an ONNX file to normdeploy nodes or back to standard ops",
                       description="Rewrite standard GroupNorm/LRN patterns into normdeploy nodes (--to custom, "
                                   "the default) or normdeploy nodes into standard ONNX (--to standard).")
    p.add_argument("input", help="the ONNX file to read")
    p.add_argument("-o", "--output", required=True, help="the ONNX file to write (written atomically)")
    p.add_argument("--to", choices=("custom", "standard"), default="custom")
    p.add_argument("--strict", action="store_true",
                   help="refuse to write a result that onnx.checker rejects anywhere, even for nodes that were in "
                        "the input and left as they were (by default those are reported as warnings)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..convert import convert

    report = convert(args.input, args.output, to=args.to, strict=args.strict)
    print(report.summary())
    print(f"wrote {args.output}")
    return 0
