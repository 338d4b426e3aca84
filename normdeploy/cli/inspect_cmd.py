"""normdeploy inspect model.onnx [--json]"""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="show a model's normdeploy nodes, opsets and which runtimes can run it")
    p.add_argument("input", help="the ONNX file")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..inspect import inspect_model

    info = inspect_model(args.input)
    print(json.dumps(info.to_json(), indent=2, default=str) if args.json else info.summary())
    return 0
