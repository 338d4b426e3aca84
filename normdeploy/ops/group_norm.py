"""GroupNorm: schema and float64 numpy reference.

    mean, var = statistics of x over each (n, group): C/G channels x all spatial positions
    y = (x - mean) / sqrt(var + epsilon) * scale[c] + bias[c]      (var biased)
    y = y * sigmoid(y)                                                 if activation == "silu"
"""

from __future__ import annotations

import numpy as np

from .schema import FLOAT_TYPES, Attribute, OpSpec, TensorParam, tensorrt_attributes

SPEC = OpSpec(
    name="GroupNorm",
    doc=(
        "Group normalization over (N, C, *spatial) with any number of spatial dims (including "
        "none). Statistics (biased variance) are accumulated in at least float32 whatever the "
        "input type; scale and bias are per channel and optional; the activation is applied "
        "after the affine step. Matches torch.nn.GroupNorm and ONNX GroupNormalization-21."
    ),
    inputs=(
        TensorParam("X", "T", "Input of shape (N, C, D1, ..., Dk), k >= 0."),
        TensorParam("scale", "S", "Per-channel scale of shape (C); 1 when omitted.", optional=True),
        TensorParam("bias", "S", "Per-channel bias of shape (C); 0 when omitted.", optional=True),
    ),
    outputs=(TensorParam("Y", "T", "Output, same shape and type as X."),),
    type_constraints={
        "T": (FLOAT_TYPES, "Input and output: float32, float16 or bfloat16."),
        "S": (FLOAT_TYPES, "Scale and bias: float32, or the same type as X."),
    },
    attributes=(
        Attribute("num_groups", "int", "Number of groups G; must divide C.", min=1),
        Attribute("epsilon", "float", "Added to the variance inside the square root.",
                  default=1e-5, min=0.0, finite=True),
        Attribute("activation", "string", "Applied after the affine step.",
                  default="none", choices=("none", "silu")),
        *tensorrt_attributes(),
    ),
    checks=(
        "X has rank >= 2 (N, C, *spatial)",
        "X is float32, float16 or bfloat16",
        "num_groups >= 1 and num_groups divides C",
        "epsilon is finite and >= 0",
        "activation is 'none' or 'silu'",
        "scale and bias, when given, have shape (C) exactly",
        "scale and bias are float32 or the same type as X",
        "zero-size inputs (N = 0 or a zero dim) give an empty output",
    ),
)


def reference(
    x: np.ndarray,
    scale: np.ndarray | None,
    bias: np.ndarray | None,
    num_groups: int,
    epsilon: float = 1e-5,
    activation: str = "none",
) -> np.ndarray:
    """GroupNorm in float64. Returns float64; callers cast to the dtype under test."""
    if x.ndim < 2:
        raise ValueError(f"GroupNorm: X must have rank >= 2, got shape {x.shape}")
    n, c = x.shape[:2]
    if num_groups < 1 or c % num_groups:
        raise ValueError(f"GroupNorm: num_groups={num_groups} does not divide C={c}")
    xd = np.asarray(x, dtype=np.float64)
    if xd.size == 0:
        return xd.copy()
    grouped = xd.reshape(n, num_groups, -1)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):  # NaN/Inf propagate per IEEE
        mean = grouped.mean(axis=2, keepdims=True)
        var = ((grouped - mean) ** 2).mean(axis=2, keepdims=True)
        y = ((grouped - mean) / np.sqrt(var + epsilon)).reshape(xd.shape)
    per_channel = (1, c) + (1,) * (x.ndim - 2)
    if scale is not None:
        y = y * np.asarray(scale, dtype=np.float64).reshape(per_channel)
    if bias is not None:
        y = y + np.asarray(bias, dtype=np.float64).reshape(per_channel)
    if activation == "silu":
        with np.errstate(over="ignore", invalid="ignore"):
            y = y / (1.0 + np.exp(-y))
    elif activation != "none":
        raise ValueError(f"GroupNorm: activation={activation!r} is not 'none' or 'silu'")
    return y
