"""Shared command line of the recipes: export with normdeploy, run the ONNX file with ONNX
Runtime (normdeploy's library registered) and compare with the PyTorch model."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import torch

INPUT_NAME = "input"
OUTPUT_NAME = "output"
TOLERANCE = 1e-4  # max abs error allowed, as a fraction of max(1, max |PyTorch output|)


@dataclass(frozen=True)
class Parity:
    """Max abs error of ONNX Runtime vs PyTorch, and the scale it is judged against."""

    max_abs_error: float
    scale: float

    @property
    def relative(self) -> float:
        return self.max_abs_error / self.scale

    @property
    def ok(self) -> bool:
        return self.max_abs_error <= TOLERANCE * self.scale


def dynamic_axes(dynamic: Mapping[int, str]) -> dict[str, dict[int, str]]:
    """The ``dynamic_axes`` argument of ``normdeploy.export`` for a one-input recipe."""
    return {INPUT_NAME: dict(dynamic)}


def torch_output(model: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return model(x).detach().cpu().numpy()


def compare(model: torch.nn.Module, session: object, x: torch.Tensor) -> Parity:
    """Runs ``x`` through the PyTorch model and the ONNX Runtime session and compares them."""
    expected = torch_output(model, x)
    got = session.run(None, {INPUT_NAME: x.numpy()})[0]  # type: ignore[attr-defined]
    if got.shape != expected.shape:
        raise AssertionError(f"ONNX output shape {got.shape} != PyTorch {expected.shape}")
    error = float(np.max(np.abs(got.astype(np.float64) - expected.astype(np.float64))))
    scale = max(1.0, float(np.max(np.abs(expected))))
    return Parity(error, scale)


def randomize_group_norm(model: torch.nn.Module) -> None:
    """Gives every affine GroupNorm a non-trivial per-channel scale and bias (fresh modules have
    1 and 0), so that exports are checked with affine parameters that matter."""
    for module in model.modules():
        if isinstance(module, torch.nn.GroupNorm) and module.affine:
            torch.nn.init.uniform_(module.weight, 0.5, 1.5)
            torch.nn.init.uniform_(module.bias, -0.2, 0.2)


def load_weights(model: torch.nn.Module, path: str | None) -> None:
    """Loads a state_dict checkpoint into ``model`` (no-op when ``path`` is None)."""
    if path is None:
        return
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)


def summary(doc: str | None, fallback: str) -> str:
    """The first paragraph of a module docstring, on one line (the command line's description)."""
    paragraph = (doc or fallback).strip().split("\n\n")[0]
    return " ".join(line.strip() for line in paragraph.splitlines())


def run_cli(
    name: str,
    build: Callable[[argparse.Namespace], torch.nn.Module],
    example_input: Callable[[], torch.Tensor],
    dynamic: Mapping[int, str],
    argv: Sequence[str] | None,
    description: str,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> int:
    """The recipes' ``main``: export, run in ONNX Runtime, print the error, 0 when within tolerance.

    ``build`` gets the parsed arguments (``add_arguments`` may add recipe options); ``-o`` defaults
    to ``<name>.onnx`` in the current directory, or what ``args.default_output`` says.
    """
    import normdeploy

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("-o", "--output", type=Path, default=None, help=f"ONNX file to write (default {name}.onnx)")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset (17..21, default 18)")
    parser.add_argument("--weights", default=None, help="state_dict checkpoint to load (torch.load, weights_only)")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    model = build(args)
    output = args.output or Path(f"{getattr(args, 'default_name', None) or name}.onnx")
    load_weights(model, args.weights)
    model.eval()
    x = example_input()
    result = normdeploy.export(
        model, (x,), output, opset=args.opset,
        input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], dynamic_axes=dynamic_axes(dynamic),
    )
    session = normdeploy.make_session(result.path, allow_spinning=False)
    parity = compare(model, session, x)
    print(f"{result.summary()} at opset {args.opset}")
    print(
        f"max abs error vs PyTorch: {parity.max_abs_error:.3e} (output scale {parity.scale:.4g}, "
        f"relative {parity.relative:.3e}, tolerance {TOLERANCE:g}): {'OK' if parity.ok else 'FAIL'}"
    )
    return 0 if parity.ok else 1
