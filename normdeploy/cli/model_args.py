"""Argument groups that the commands feeding an ONNX model share (validate, bench): the model and
its references, random or loaded inputs, and the number parsers with one error style."""

from __future__ import annotations

import argparse
import math

from .common import CliError


def add_model_arguments(p: argparse.ArgumentParser, *, reference_help: str, torch_help: str) -> None:
    """The ONNX file, a standard-op reference and a PyTorch model with its checkpoint."""
    p.add_argument("model", help="the ONNX file (with normdeploy nodes, or standard ops to convert)")
    p.add_argument("--reference", metavar="STD.onnx", help=reference_help)
    p.add_argument("--torch", metavar="MODULE:FACTORY", help=torch_help + " (the factory is called with no "
                   "arguments; the current folder is importable)")
    p.add_argument("--weights", metavar="CKPT", help="state_dict checkpoint for --torch (torch.load(weights_only=True))")


def add_random_input_arguments(p: argparse.ArgumentParser, *, seed_help: str) -> None:
    """Shapes for dynamic dims, the seed and value ranges of the random inputs."""
    p.add_argument("--input-shape", action="append", default=[], metavar="[NAME:]DIMS",
                   help="shape of an input, e.g. input:1x3x224x224 (repeatable); dynamic dims default to 2 for the "
                        "batch axis and 32, 48, ... for the others")
    p.add_argument("--seed", default="1", metavar="N", help=seed_help)
    p.add_argument("--val-range", action="append", default=[], metavar="[NAME:]LOW,HIGH",
                   help="value range of the random inputs (default 0,1; repeatable per input; a negative range is "
                        "given as it reads: --val-range -2,-1)")
    p.add_argument("--input", action="append", default=[], metavar="NAME:[DTYPE:]SHAPE[:LOW..HIGH]",
                   help="one input in export's syntax (repeatable): its shape and, optionally, its value range, e.g. "
                        "sample:2x4x32x32:-1..1 or timestep:int64:[]:0..999; the same as --input-shape NAME:SHAPE "
                        "--val-range NAME:LOW,HIGH, and the dtype, when given, must be the model's")


def input_options(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """--input-shape and --val-range, with every --input (export's NAME:[DTYPE:]SHAPE[:LOW..HIGH])
    turned into one of each after checking its name, dtype and rank against the model's inputs.
    Returns (input shapes, value ranges) in the --input-shape / --val-range forms."""
    shapes, ranges = list(args.input_shape), list(args.val_range)
    if not args.input:
        return shapes, ranges
    from ..convert import ConvertError, load_model
    from ..inputspec import InputSpecError, dtype_name, format_shape, parse_input
    from ..validate.inputs import model_inputs

    try:
        inputs = {spec.name: spec for spec in model_inputs(load_model(args.model))}
    except ConvertError as exc:
        raise CliError(str(exc)) from exc
    listing = ", ".join(spec.describe() for spec in inputs.values())
    for text in args.input:
        try:
            spec = parse_input(text)
        except InputSpecError as exc:
            raise CliError(str(exc)) from exc
        model = inputs.get(spec.name or "")
        if model is None:
            raise CliError(f"--input {spec.name}: the model has no input {spec.name!r}; its inputs are: {listing}")
        if spec.value is not None:
            raise CliError(f"--input {spec.name}: a constant (=VALUE) is not taken here; give a range LOW..HIGH "
                           f"or the values in a file (--load-inputs)")
        fields = text.partition("=")[0].split(":")
        explicit = len(fields) > 2 and dtype_name(fields[1]) is not None  # NAME:DTYPE:SHAPE...
        if explicit and spec.dtype != model.dtype.name:
            raise CliError(f"--input {spec.name}: dtype {spec.dtype}, but the model's input is "
                           f"{model.dtype.name}")
        if model.dims is not None and len(model.dims) != spec.rank:
            raise CliError(f"--input {spec.name}: shape {format_shape(spec.shape)} has rank {spec.rank}, but the "
                           f"model's input is {model.describe()}")
        fixed = [(axis, dim, want) for axis, (dim, want) in enumerate(zip(spec.shape, model.dims or ()))
                 if isinstance(want, int) and want > 0 and dim != want]
        if fixed:
            axis, dim, want = fixed[0]
            raise CliError(f"--input {spec.name}: shape {format_shape(spec.shape)} has {dim} at axis {axis}, but the "
                           f"model's input {model.describe()} fixes it to {want}")
        if spec.rank:
            shapes.append(f"{spec.name}:{'x'.join(str(d) for d in spec.shape)}")
        if spec.low is not None:
            ranges.append(f"{spec.name}:{spec.low},{spec.high}")
    return shapes, ranges


def parse_int(text: str, option: str, minimum: int) -> int:
    """An integer option's value, at least `minimum`."""
    try:
        value = int(text)
    except ValueError:
        raise CliError(f"{option} {text!r}: expected an integer") from None
    if value < minimum:
        raise CliError(f"{option} {text!r}: must be >= {minimum}")
    return value


def parse_nonnegative(text: str, option: str) -> float:
    """A finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise CliError(f"{option} {text!r}: expected a number") from None
    if not math.isfinite(value) or value < 0:
        raise CliError(f"{option} {text!r}: must be a finite number >= 0")
    return value
