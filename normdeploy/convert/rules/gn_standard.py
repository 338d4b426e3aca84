"""GroupNormalization-21 (scale/bias per channel) and -18 (per group) -> our GroupNorm.

GroupNormalization-18's scale/bias hold one value per group; our op takes one per channel. Constant
values with a static C (up to MAX_EXPANDED_CHANNELS) are expanded here (np.repeat); otherwise
(scale/bias computed or graph inputs, C dynamic, or a C too large to store expanded) a small
subgraph expands them at run time from Shape(X):
    Unsqueeze(scale, [1]) -> Expand([1, C / G]) -> Reshape([-1])      (G,) -> (G, C/G) -> (C,)
so channel c gets the value of its group c // (C / G), as GroupNormalization-18 defines."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from ...graphs import make_custom_node
from ..context import RewriteContext
from ..graph import attribute
from ..matcher import MAX_EXPANDED_CHANNELS, node_name

PATTERN = "GroupNormalization"
ANCHORS = (("", "GroupNormalization"),)


def apply(ctx: RewriteContext, node: onnx.NodeProto) -> bool:
    opset = ctx.g.opset()
    pattern = f"GroupNormalization-{21 if opset >= 21 else 18}"
    if opset < 18:
        ctx.skip(pattern, node, f"GroupNormalization needs opset >= 18; the model imports opset {opset}")
        return False
    if len(node.input) != 3 or not all(node.input) or len(node.output) != 1 or not node.output[0]:
        ctx.skip(pattern, node, f"expected inputs X, scale, bias and one output; the node has inputs "
                 f"{list(node.input)} and outputs {list(node.output)}")
        return False
    x, scale, bias = node.input
    groups = attribute(node, "num_groups")
    eps = attribute(node, "epsilon", 1e-5)
    if not isinstance(groups, int) or groups < 1:
        ctx.skip(pattern, node, f"attribute 'num_groups' = {groups!r} is not an int >= 1")
        return False
    channels = ctx.channels(x)
    if channels is not None and channels % groups:
        ctx.skip(pattern, node, f"num_groups={groups} does not divide C={channels} (input 'X' dim 1)")
        return False
    rank = ctx.rank(x)
    if rank is not None and rank < 2:
        ctx.skip(pattern, node, f"input 'X' has rank {rank}; GroupNormalization needs (N, C, ...)")
        return False
    nodes: list[onnx.NodeProto] = []
    if opset >= 21:
        if attribute(node, "stash_type", 1) != 1:
            ctx.skip(pattern, node, "stash_type is not float32 (our op always accumulates in float32 or wider)")
            return False
        for what, name in (("scale", scale), ("bias", bias)):
            problem = _length_problem(ctx, name, channels, "C", what)
            if problem:
                ctx.skip(pattern, node, problem)
                return False
    else:
        for what, name in (("scale", scale), ("bias", bias)):
            problem = _length_problem(ctx, name, groups, "num_groups", what)
            if problem:
                ctx.skip(pattern, node, problem)
                return False
        s, b = ctx.g.constant(scale), ctx.g.constant(bias)
        if s is not None and b is not None and channels is not None and channels <= MAX_EXPANDED_CHANNELS:
            repeat = channels // groups
            scale = ctx.g.add_initializer(scale, np.repeat(s.reshape(-1), repeat))
            bias = ctx.g.add_initializer(bias, np.repeat(b.reshape(-1), repeat))
        else:
            nodes, (scale, bias) = _expand_at_run_time(ctx, x, groups, [scale, bias])
            pattern += " (per-channel scale/bias computed at run time)"
    nodes.append(make_custom_node("GroupNorm", [x, scale, bias], [node.output[0]], name=node_name(node),
                                  num_groups=groups, epsilon=eps))
    ctx.replace([node], nodes, node)
    ctx.count(pattern)
    return True


def _length_problem(ctx: RewriteContext, name: str, want: int | None, what_want: str, what: str) -> str | None:
    """Why `name` cannot be a 1-D tensor of `want` values (None when it can or it is not known)."""
    value = ctx.g.constant(name)
    shape = list(value.shape) if value is not None else ctx.shapes.get(name)
    if shape is None:
        return None
    if len(shape) != 1:
        return f"{what} has shape {shape}; expected a 1-D tensor of {what_want} values"
    if want is not None and isinstance(shape[0], int) and shape[0] != want:
        return f"{what} has {shape[0]} values; expected {what_want}={want}"
    return None


def _expand_at_run_time(ctx: RewriteContext, x: str, groups: int,
                        operands: list[str]) -> tuple[list[onnx.NodeProto], list[str]]:
    """Nodes expanding each (G,) operand to (C,) from Shape(X) at run time, and the new names."""
    t, const = ctx.g.unique_name, ctx.const
    c, per, shape = t("gn18_c"), t("gn18_c_per_group"), t("gn18_expand_shape")
    nodes = [
        helper.make_node("Shape", [x], [c], start=1, end=2),
        helper.make_node("Div", [c, const("gn18_groups", [groups])], [per]),
        helper.make_node("Concat", [const("gn18_one", [1]), per], [shape], axis=0),
    ]
    axes, flat_shape = const("gn18_axes", [1]), const("gn18_flat", [-1])
    expanded = []
    for operand in operands:
        column, wide, flat = t("gn18_column"), t("gn18_wide"), t("gn18_per_channel")
        nodes += [helper.make_node("Unsqueeze", [operand, axes], [column]),
                  helper.make_node("Expand", [column, shape], [wide]),
                  helper.make_node("Reshape", [wide, flat_shape], [flat])]
        expanded.append(flat)
    return nodes, expanded
