"""normdeploy export --model module:factory --input-shape 1x3x224x224 -o out.onnx"""

from __future__ import annotations

import argparse

from .common import CliError, build_model, parse_dynamic, parse_shape


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a PyTorch model with normdeploy nodes",
                       description="Export a PyTorch model to ONNX; GroupNorm and LRN become normdeploy nodes "
                                   "(GroupNorm+SiLU fused).")
    p.add_argument("--model", required=True, help="module:factory returning a torch.nn.Module, e.g. export.resnet_gn:build")
    p.add_argument("--weights", help="checkpoint: a state_dict, or a dict holding one under 'state_dict'/'model' "
                                     "(loaded with torch.load(weights_only=True))")
    p.add_argument("--input-shape", action="append", required=True, metavar="NxCx...",
                   help="shape of an example input, e.g. 1x3x224x224 (repeat for several inputs)")
    p.add_argument("--dynamic", help="dynamic axes of the first input: names (batch,channels,height,width,"
                                     "depth,length) or axis numbers, e.g. batch,height,width")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset, 17 to 21 (default 18)")
    p.add_argument("-o", "--output", required=True, help="the ONNX file to write")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..exporter import ExportError, export

    model = build_model(args.model, args.weights)
    shapes = [parse_shape(s) for s in args.input_shape]
    inputs = tuple(torch.randn(*s) for s in shapes)
    try:
        with torch.no_grad():
            model(*inputs)
    except Exception as exc:  # noqa: BLE001 - user code
        shown = ", ".join("x".join(map(str, s)) for s in shapes)
        raise CliError(f"--input-shape {shown}: the model rejects this input: {type(exc).__name__}: {exc}") from exc
    names = ["input"] if len(inputs) == 1 else [f"input_{i}" for i in range(len(inputs))]
    dynamic = parse_dynamic(args.dynamic, len(shapes[0]))
    try:
        result = export(model, inputs, args.output, opset=args.opset, input_names=names,
                        dynamic_axes={names[0]: dynamic} if dynamic else None)
    except ExportError as exc:
        raise CliError(str(exc)) from exc
    print(result.summary())
    if result.report.total:
        print(result.report.summary())
    return 0
