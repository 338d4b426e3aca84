"""LocalResponseNorm (cross-channel LRN): schema and float64 numpy reference.

    S(c) = sum of x[c']^2 for c' in [c - before, c + after], zero padded at the edges
    y    = x / (bias + alpha / size * S(c)) ** beta

The window for an even ``size`` differs between frameworks; the ``window`` attribute picks it:

    window="onnx":    before = (size - 1) // 2, after = size // 2    (ONNX LRN, Caffe for odd sizes)
    window="pytorch": before = size // 2,       after = (size - 1) // 2   (F.local_response_norm)

For odd sizes both are the same. The op type is ``LocalResponseNorm`` rather than ``LRN`` so that
TensorRT's ONNX parser, which ignores the domain, maps it to our plugin and not to its built-in
LRN layer (odd windows only, ONNX alignment).
"""

from __future__ import annotations

import numpy as np

from .schema import FLOAT_TYPES, Attribute, OpSpec, TensorParam, tensorrt_attributes

SPEC = OpSpec(
    name="LocalResponseNorm",
    doc=(
        "Cross-channel local response normalization over (N, C, *spatial) with any number of "
        "spatial dims. The divisor stays `size` at the edges (zero padding). `window` selects "
        "ONNX's or PyTorch's alignment, which differ for even sizes. Squares and window sums are "
        "accumulated in float32 whatever the input type."
    ),
    inputs=(TensorParam("X", "T", "Input of shape (N, C, D1, ..., Dk), k >= 0."),),
    outputs=(TensorParam("Y", "T", "Output, same shape and type as X."),),
    type_constraints={"T": (FLOAT_TYPES, "float32, float16 or bfloat16.")},
    attributes=(
        Attribute("size", "int", "Number of channels in the window.", min=1),
        Attribute("alpha", "float", "Scale of the window mean.", default=1e-4, finite=True),
        Attribute("beta", "float", "Exponent.", default=0.75, finite=True),
        Attribute("bias", "float", "Additive constant k.", default=1.0, finite=True),
        Attribute("window", "string", "Window alignment for even sizes: 'onnx' or 'pytorch'.",
                  default="onnx", choices=("onnx", "pytorch")),
        *tensorrt_attributes(),
    ),
    checks=(
        "X has rank >= 2 (N, C, *spatial)",
        "X is float32, float16 or bfloat16",
        "size >= 1",
        "alpha, beta and bias are finite",
        "window is 'onnx' or 'pytorch'",
        "zero-size inputs (N = 0 or a zero dim) give an empty output",
    ),
)


def window_extent(size: int, window: str) -> tuple[int, int]:
    """(channels before c, channels after c) in the window for channel c."""
    if window == "onnx":
        return (size - 1) // 2, size // 2
    if window == "pytorch":
        return size // 2, (size - 1) // 2
    raise ValueError(f"LocalResponseNorm: window={window!r} is not 'onnx' or 'pytorch'")


def clamped_window_extent(size: int, window: str, channels: int) -> tuple[int, int]:
    """window_extent limited to what a tensor of `channels` channels can reach: channels further
    than C - 1 away are always outside the tensor and add nothing (keeps huge sizes cheap)."""
    before, after = window_extent(size, window)
    reach = max(channels - 1, 0)
    return min(before, reach), min(after, reach)


def reference(
    x: np.ndarray,
    size: int,
    alpha: float = 1e-4,
    beta: float = 0.75,
    bias: float = 1.0,
    window: str = "onnx",
) -> np.ndarray:
    """LRN in float64 over axis 1. Returns float64."""
    if x.ndim < 2:
        raise ValueError(f"LocalResponseNorm: X must have rank >= 2, got shape {x.shape}")
    if size < 1:
        raise ValueError(f"LocalResponseNorm: size={size} must be >= 1")
    xd = np.asarray(x, dtype=np.float64)
    channels = xd.shape[1]
    before, after = clamped_window_extent(size, window, channels)
    squares = xd * xd
    pad = [(0, 0)] * xd.ndim
    pad[1] = (before, after)
    padded = np.pad(squares, pad)
    window_sum = np.zeros_like(xd)
    for offset in range(before + after + 1):
        window_sum += np.take(padded, np.arange(offset, offset + channels), axis=1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return xd / (bias + alpha / size * window_sum) ** beta
