"""com.microsoft SkipLayerNormalization (ONNX Runtime contrib op) -> Add + LayerNormalization-17.

    SkipLayerNormalization(input, skip, gamma, [beta], [bias]) -> output, [mean], [inv_std_var], [sum]
    sum = input + skip (+ bias); output = LayerNorm(sum) over the last axis * gamma (+ beta)
    attribute epsilon (float, default 1e-12)

ONNX Runtime has a CPU kernel for it, but TensorRT's parser does not know it: the rewrite makes an
optimized diffusion UNet all standard (plus our GroupNorm). skip may be (B,S,H), (1,S,H) or
(S,H): all broadcast against input as numpy does. Written only at opset >= 17 (LayerNormalization);
the training outputs mean/inv_std_var are not rewritten when something reads them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import onnx
from onnx import AttributeProto, helper

from .microsoft_common import (
    MS_DOMAIN, LeftAlone, Rule, attr, check_known_attributes, finite_nonnegative, float_type, node_inputs,
    node_name, node_outputs, rewrite, shape_of, static_dim, used,
)

if TYPE_CHECKING:
    from ..context import RewriteContext


def _skip_layer_norm(ctx: "RewriteContext", node: onnx.NodeProto) -> None:
    check_known_attributes(node, ("epsilon",))
    x, skip, gamma, beta, bias = node_inputs(node, ("input", "skip", "gamma", "beta", "bias"), optional=2)
    y, mean, inv_std, total = node_outputs(node, ("output", "mean", "inv_std_var", "input_skip_bias_sum"),
                                           optional=3)
    epsilon = finite_nonnegative(attr(node, "epsilon", AttributeProto.FLOAT, 1e-12), "epsilon")
    if ctx.g.opset() < 17:
        raise LeftAlone(f"the model's opset {ctx.g.opset()} has no LayerNormalization (needs opset >= 17)")
    if used(ctx, mean) or used(ctx, inv_std):
        raise LeftAlone("its training outputs 'mean'/'inv_std_var' are used")
    allowed = ("float32", "float16", "bfloat16")
    x_type = float_type(ctx, x, "input", allowed)
    for name, what in ((skip, "skip"), (gamma, "gamma"), (beta, "beta"), (bias, "bias")):
        if name:  # one type T for all of them (the contrib schema), as LayerNormalization wants too
            other = float_type(ctx, name, what, allowed)
            if other is not None and x_type is not None and other != x_type:
                raise LeftAlone(f"input '{what}' has type {other.name} but input is {x_type.name}")
    hidden = static_dim(shape_of(ctx, x), -1)
    for name, what in ((gamma, "gamma"), (beta, "beta"), (bias, "bias")):
        shape = shape_of(ctx, name) if name else None
        if shape is None:
            continue
        if len(shape) != 1:
            raise LeftAlone(f"input '{what}' has shape {shape}; expected (hidden_size)")
        length = static_dim(shape, 0)
        if hidden is not None and length is not None and length != hidden:
            raise LeftAlone(f"input '{what}' has {length} values; the hidden size is {hidden}")
    label = node_name(node)
    s = total if used(ctx, total) else ctx.g.unique_name(f"{label}_sum")
    partial = ctx.g.unique_name(f"{label}_input_plus_skip") if bias else s
    nodes = [helper.make_node("Add", [x, skip], [partial], name=ctx.g.unique_name(f"{label}/add_skip"))]
    if bias:
        nodes.append(helper.make_node("Add", [partial, bias], [s], name=ctx.g.unique_name(f"{label}/add_bias")))
    nodes.append(helper.make_node("LayerNormalization", [s, gamma, *([beta] if beta else [])], [y], name=label,
                                  axis=-1, epsilon=epsilon))
    rewrite(ctx, node, nodes)


SKIP_LAYER_NORM = Rule("com.microsoft.SkipLayerNormalization", ((MS_DOMAIN, "SkipLayerNormalization"),),
                       _skip_layer_norm)

RULES = (SKIP_LAYER_NORM,)
