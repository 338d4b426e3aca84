"""GroupNormalization-21 (scale/bias per channel) and -18 (per group, expanded to per channel)
-> our GroupNorm."""

from __future__ import annotations

import numpy as np
import onnx

from ...graphs import make_custom_node
from ..context import RewriteContext
from ..graph import attribute
from ..matcher import MAX_EXPANDED_CHANNELS, node_name

PATTERN = "GroupNormalization"
ANCHORS = (("", "GroupNormalization"),)


def apply(ctx: RewriteContext, node: onnx.NodeProto) -> bool:
    opset = ctx.g.opset()
    pattern = f"GroupNormalization-{21 if opset >= 21 else 18}"
    x, scale, bias = (list(node.input) + ["", "", ""])[:3]
    groups = attribute(node, "num_groups")
    eps = attribute(node, "epsilon", 1e-5)
    if not isinstance(groups, int) or groups < 1:
        ctx.skip(pattern, node, f"attribute 'num_groups' = {groups!r} is not an int >= 1")
        return False
    if opset >= 21:
        if attribute(node, "stash_type", 1) != 1:
            ctx.skip(pattern, node, "stash_type is not float32 (our op always accumulates in float32 or wider)")
            return False
    else:
        channels = ctx.channels(x)
        s, b = ctx.g.constant(scale), ctx.g.constant(bias)
        if channels is None:
            ctx.skip(pattern, node, "the channel count of X is not known statically (needed to "
                     "expand per-group scale/bias)")
            return False
        if s is None or b is None:
            ctx.skip(pattern, node, "scale/bias are not constants (needed to expand them per channel)")
            return False
        if channels % groups:
            ctx.skip(pattern, node, f"num_groups={groups} does not divide C={channels}")
            return False
        if channels > MAX_EXPANDED_CHANNELS or s.size != groups or b.size != groups:
            ctx.skip(pattern, node, f"scale/bias of {s.size}/{b.size} values for num_groups={groups} cannot be "
                     f"expanded to C={channels} channels (more than {MAX_EXPANDED_CHANNELS} or not one per group)")
            return False
        repeat = channels // groups
        scale = ctx.g.add_initializer(scale or "gn_scale", np.repeat(s.reshape(-1), repeat))
        bias = ctx.g.add_initializer(bias or "gn_bias", np.repeat(b.reshape(-1), repeat))
    new = make_custom_node("GroupNorm", [x, scale, bias], [node.output[0]], name=node_name(node),
                           num_groups=groups, epsilon=eps)
    ctx.replace([node], [new], node)
    ctx.count(pattern)
    return True
