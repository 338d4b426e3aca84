"""com.microsoft BiasAdd and BiasSplitGelu (ONNX Runtime contrib ops, CUDA only) -> standard ops.

    BiasAdd(X, bias, skip) -> Y            Y = X + bias + skip; X, skip: (N, S, C), bias: (C)
    BiasSplitGelu(X, bias) -> Y            A = X + bias, X: (N, S, D), bias: (D)
                                           Y = A[..., :D/2] * Gelu(A[..., D/2:])   (exact, erf Gelu)

Gelu is written as Gelu-20 when the model's opset is >= 20, else as 0.5 * r * (1 + Erf(r / sqrt 2)).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import onnx
from onnx import helper

from .microsoft_common import (
    MS_DOMAIN, LeftAlone, Rule, check_known_attributes, float_type, int64s, node_inputs, node_name, node_outputs,
    shape_of, static_dim,
)

if TYPE_CHECKING:
    from ..context import RewriteContext


def _same_types(ctx: "RewriteContext", named: list[tuple[str, str]]) -> np.dtype | None:
    types = {what: float_type(ctx, name, what) for name, what in named}
    known = {t for t in types.values() if t is not None}
    if len(known) > 1:
        raise LeftAlone("inputs have different types: " + ", ".join(f"{w} {t.name}" for w, t in types.items() if t))
    return next(iter(known), None)


def _bias_length(ctx: "RewriteContext", x: str, bias: str) -> int | None:
    """Checks X is 3-D (when known) and bias is (D) with D = X's last dim; returns D when known."""
    x_shape, b_shape = shape_of(ctx, x), shape_of(ctx, bias)
    if x_shape is not None and len(x_shape) != 3:
        raise LeftAlone(f"input 'X' has rank {len(x_shape)}; expected 3 (N, S, D)")
    if b_shape is not None and len(b_shape) != 1:
        raise LeftAlone(f"input 'bias' has shape {b_shape}; expected 1-D (D)")
    d_x, d_b = static_dim(x_shape, -1), static_dim(b_shape, 0)
    if d_x is not None and d_b is not None and d_x != d_b:
        raise LeftAlone(f"input 'bias' has {d_b} values; X's last dim is {d_x}")
    return d_b or d_x


def _bias_add(ctx: "RewriteContext", node: onnx.NodeProto) -> None:
    check_known_attributes(node, ())
    x, bias, skip = node_inputs(node, ("X", "bias", "skip"))
    (y,) = node_outputs(node, ("Y",))
    _same_types(ctx, [(x, "X"), (bias, "bias"), (skip, "skip")])
    _bias_length(ctx, x, bias)
    x_shape, s_shape = shape_of(ctx, x), shape_of(ctx, skip)
    if s_shape is not None and len(s_shape) != 3:
        raise LeftAlone(f"input 'skip' has rank {len(s_shape)}; expected 3 (N, S, C) like X")
    if x_shape is not None and s_shape is not None:
        for axis in range(3):
            a, b = static_dim(x_shape, axis), static_dim(s_shape, axis)
            if a is not None and b is not None and a != b:
                raise LeftAlone(f"input 'skip' has shape {s_shape} but X has {x_shape}")
    label = node_name(node)
    partial = ctx.g.unique_name(f"{label}_x_plus_bias")
    nodes = [helper.make_node("Add", [x, bias], [partial], name=ctx.g.unique_name(f"{label}/add_bias")),
             helper.make_node("Add", [partial, skip], [y], name=label)]
    ctx.replace([node], nodes, node)


def _gelu(ctx: "RewriteContext", r: str, out: str, dtype: np.dtype, label: str) -> list[onnx.NodeProto]:
    if ctx.g.opset() >= 20:
        return [helper.make_node("Gelu", [r], [out], name=ctx.g.unique_name(f"{label}/gelu"), approximate="none")]
    t = ctx.g.unique_name
    scaled, erf, plus, times = t(f"{label}_scaled"), t(f"{label}_erf"), t(f"{label}_1_plus_erf"), t(f"{label}_r_times")
    const = lambda base, v: ctx.g.add_initializer(base, np.asarray(v, dtype=dtype))  # noqa: E731
    return [
        helper.make_node("Mul", [r, const("inv_sqrt2", 1.0 / math.sqrt(2.0))], [scaled],
                         name=ctx.g.unique_name(f"{label}/gelu_scale")),
        helper.make_node("Erf", [scaled], [erf], name=ctx.g.unique_name(f"{label}/gelu_erf")),
        helper.make_node("Add", [erf, const("one", 1.0)], [plus], name=ctx.g.unique_name(f"{label}/gelu_add")),
        helper.make_node("Mul", [r, plus], [times], name=ctx.g.unique_name(f"{label}/gelu_mul")),
        helper.make_node("Mul", [times, const("half", 0.5)], [out], name=ctx.g.unique_name(f"{label}/gelu_half")),
    ]


def _bias_split_gelu(ctx: "RewriteContext", node: onnx.NodeProto) -> None:
    check_known_attributes(node, ())
    x, bias = node_inputs(node, ("X", "bias"))
    (y,) = node_outputs(node, ("Y",))
    dtype = _same_types(ctx, [(x, "X"), (bias, "bias")])
    if dtype is None:
        raise LeftAlone("the element type of X and bias is unknown (needed for the Gelu constants)")
    d = _bias_length(ctx, x, bias)
    if d is None:
        raise LeftAlone("the hidden size D (bias length, X's last dim) is unknown (needed to split it in halves)")
    if d % 2:
        raise LeftAlone(f"the hidden size D={d} is odd; it cannot be split in halves")
    label = node_name(node)
    t = ctx.g.unique_name
    added, left, right, gelu = t(f"{label}_biased"), t(f"{label}_left"), t(f"{label}_right"), t(f"{label}_gelu")
    nodes = [
        helper.make_node("Add", [x, bias], [added], name=ctx.g.unique_name(f"{label}/add_bias")),
        helper.make_node("Split", [added, int64s(ctx, "halves", [d // 2, d // 2])], [left, right],
                         name=ctx.g.unique_name(f"{label}/split"),
                         axis=-1),
        *_gelu(ctx, right, gelu, dtype, label),
        helper.make_node("Mul", [left, gelu], [y], name=label),
    ]
    ctx.replace([node], nodes, node)


BIAS_ADD = Rule("com.microsoft.BiasAdd", ((MS_DOMAIN, "BiasAdd"),), _bias_add)
BIAS_SPLIT_GELU = Rule("com.microsoft.BiasSplitGelu", ((MS_DOMAIN, "BiasSplitGelu"),), _bias_split_gelu)

RULES = (BIAS_ADD, BIAS_SPLIT_GELU)
