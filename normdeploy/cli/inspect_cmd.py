"""normdeploy inspect model.onnx [--json] [--max-load-mib N]"""

from __future__ import annotations

import argparse
import json


def _mib(text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--max-load-mib: {text!r} is not a number") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"--max-load-mib: {text!r} must be >= 0")
    return int(value * 2**20)


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..inspect import DEFAULT_MAX_LOAD_BYTES

    p = sub.add_parser("inspect", help="show a model's normdeploy nodes, ops of other domains, opsets and which "
                                       "runtimes can run it (ONNX Runtime is asked by loading the model on the CPU)")
    p.add_argument("input", help="the ONNX file")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--max-load-mib", type=_mib, default=DEFAULT_MAX_LOAD_BYTES, metavar="N",
                   help="models larger than N MiB (weights included) are not loaded into an ONNX Runtime session; "
                        f"the answer then rests on its kernel registry (default {DEFAULT_MAX_LOAD_BYTES >> 20})")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..inspect import inspect_model

    info = inspect_model(args.input, max_load_bytes=args.max_load_mib)
    print(json.dumps(info.to_json(), indent=2, default=str) if args.json else info.summary())
    return 0
