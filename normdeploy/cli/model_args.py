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
