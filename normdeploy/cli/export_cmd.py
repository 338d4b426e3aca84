"""normdeploy export --model module:factory --input NAME:[DTYPE:]SHAPE[:LOW..HIGH|=VALUE] ...
[--dynamic NAME:AXES ...] [--kwarg NAME=VALUE ...] -o out.onnx   (or the old --input-shape NxCx...)"""

from __future__ import annotations

import argparse
from typing import Any

from .common import CliError, build_model

EPILOG = """\
inputs (the syntax of --input, --dynamic, --kwarg):
  --input NAME:[DTYPE:]SHAPE[:LOW..HIGH|=VALUE]   one per tensor input of forward(), by parameter name
      SHAPE  [] or scalar (0-d; quote [] in zsh), 5 (1-d), 1x4x64x64 or [1,4,64,64]
      DTYPE  float32 (default), float16, bfloat16, float64, int64, int32, int8, uint8, bool
      LOW..HIGH  random values: integers LOW to HIGH inclusive, floats uniform in [LOW, HIGH)
      =VALUE     every element VALUE; without either: floats standard normal, integers 0, bools true
  --dynamic NAME:AXES   axis numbers (0,2,3) or names (batch,channels,height,width,depth,length by
      rank); AXIS=DIM names a dim yourself (0=batch); the old form AXES alone means the first input
  --kwarg NAME=VALUE    a non-tensor forward() argument baked in as a constant (a Python literal)

example (a diffusers UNet2DConditionModel):
  normdeploy export --model my_models:unet --input sample:1x4x64x64 --input timestep:int64:[]=500 \\
      --input encoder_hidden_states:1x77x768 --dynamic sample:batch,height,width \\
      --dynamic encoder_hidden_states:batch --kwarg return_dict=False -o unet.onnx

The ONNX inputs are named after forward()'s parameters and come in its order; outputs are named
after their keys (dicts, dataclasses, ModelOutput), output_0, output_1, ... for tuples, output for
one tensor; a key equal to an input name gets out_ in front (sample -> out_sample).
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a PyTorch model with normdeploy nodes",
                       description="Export a PyTorch model to ONNX; GroupNorm and LRN become normdeploy nodes "
                                   "(GroupNorm+SiLU fused).",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="module:factory returning a torch.nn.Module, e.g. export.resnet_gn:build")
    p.add_argument("--weights", help="checkpoint: a state_dict, or a dict holding one under 'state_dict'/'model' "
                                     "(loaded with torch.load(weights_only=True))")
    p.add_argument("--input", action="append", default=[], metavar="NAME:[DTYPE:]SHAPE[:LOW..HIGH|=VALUE]",
                   help="an example input of forward(), by parameter name (repeat for each), e.g. sample:1x4x64x64, "
                        "timestep:int64:[]=500, ids:int64:1x77:0..49407")
    p.add_argument("--input-shape", action="append", default=[], metavar="NxCx...",
                   help="the older form: shape of a float32 input, by position (repeat for several)")
    p.add_argument("--dynamic", action="append", default=[], metavar="NAME:AXES",
                   help="dynamic axes of an input, e.g. sample:0,2,3 or sample:batch,height,width (repeatable); "
                        "AXES alone: the first input")
    p.add_argument("--kwarg", action="append", default=[], metavar="NAME=VALUE",
                   help="a non-tensor forward() argument, a Python literal, e.g. return_dict=False (repeatable)")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset, 17 to 21 (default 18)")
    p.add_argument("-o", "--output", required=True, help="the ONNX file to write")
    p.set_defaults(run=run)


def _specs(args: argparse.Namespace, model: Any) -> tuple[list[Any], list[tuple[str, Any]], bool]:
    """The bound input specs (forward() order, named), the --kwarg constants, and whether the
    inputs were given by position (--input-shape)."""
    from .. import inputspec

    if args.input and args.input_shape:
        raise CliError("give the inputs with --input NAME:SHAPE or with --input-shape, not both")
    if not args.input and not args.input_shape:
        raise CliError("no inputs: give each forward() input with --input NAME:[DTYPE:]SHAPE, e.g. --input x:1x3x224x224")
    option = "--input" if args.input else "--input-shape"
    try:
        if args.input:
            specs = [inputspec.parse_input(text) for text in args.input]
        else:
            specs = [inputspec.parse_legacy_shape(text) for text in args.input_shape]
        constants = [inputspec.parse_kwarg(text) for text in args.kwarg]
    except inputspec.InputSpecError as exc:
        raise CliError(str(exc)) from None
    try:
        bound = inputspec.bind_specs(inputspec.forward_signature(model), specs, constants)
    except inputspec.InputSpecError as exc:
        raise CliError(f"{option}: {exc}") from None
    try:
        bound = inputspec.apply_dynamic(bound, args.dynamic)
        inputspec.check_sizes(bound, option=option)
    except inputspec.InputSpecError as exc:
        raise CliError(str(exc)) from None
    return bound, constants, not args.input


def run(args: argparse.Namespace) -> int:
    import torch

    from ..exporter import ExportError, export

    model = build_model(args.model, args.weights)
    specs, constants, by_position = _specs(args, model)
    generator = torch.Generator().manual_seed(0)
    tensors = [spec.torch_tensor(generator) for spec in specs]
    call_args = tuple(tensors) if by_position else ()
    call_kwargs = dict(constants) if by_position else {**{s.name: t for s, t in zip(specs, tensors)}, **dict(constants)}
    try:
        with torch.no_grad():
            model(*call_args, **call_kwargs)
    except Exception as exc:  # noqa: BLE001 - user code
        shown = " ".join(s.describe() for s in specs) + "".join(f" {k}={v!r}" for k, v in constants)
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        what = "this input" if len(specs) == 1 else "these inputs"
        raise CliError(f"the model rejects {what} ({shown}): {type(exc).__name__}: {lines[0] if lines else ''}") from exc
    dynamic = {s.name: dict(s.dynamic) for s in specs if s.dynamic}
    try:
        result = export(model, call_args, args.output, kwargs=call_kwargs, opset=args.opset,
                        dynamic_axes=dynamic or None)
    except ExportError as exc:
        raise CliError(str(exc)) from exc
    print(result.summary())
    print(result.io_summary())
    if result.report.total:
        print(result.report.summary())
    return 0
