"""The InstanceNormalization decomposition both torch exporters emit for GroupNorm at opset <= 20:
Reshape(N, G, -1) -> InstanceNormalization(ones, zeros) -> Reshape(X's shape) [-> Mul(scale)] [-> Add(bias)]
-> our GroupNorm."""

from __future__ import annotations

import numpy as np
import onnx

from ...graphs import make_custom_node
from ..context import RewriteContext
from ..graph import attribute
from ..matcher import MAX_EXPANDED_CHANNELS, is_op, node_name, per_channel

PATTERN = "InstanceNormalization decomposition"
ANCHORS = (("", "InstanceNormalization"),)


def apply(ctx: RewriteContext, node: onnx.NodeProto) -> bool:
    pattern = PATTERN
    g = ctx.g
    reshape_in = g.producer.get(node.input[0])
    if not is_op(reshape_in, "Reshape"):
        return False  # a plain InstanceNormalization: not a GroupNorm
    x = reshape_in.input[0]
    scale = g.constant(node.input[1]) if len(node.input) > 1 else None
    bias = g.constant(node.input[2]) if len(node.input) > 2 else None
    if scale is None or bias is None:
        ctx.skip(pattern, node, "InstanceNormalization scale/bias are not constants")
        return False
    groups = scale.size
    if not (np.all(scale == 1) and np.all(bias == 0)):
        ctx.skip(pattern, node, "InstanceNormalization scale/bias are not ones/zeros (not a GroupNorm)")
        return False
    if not _reshape_to_groups(ctx, reshape_in.input[1], groups):
        ctx.skip(pattern, node, f"the first Reshape does not produce (N, {groups}, -1)")
        return False
    reshape_out = g.only_consumer(node.output[0])
    # torch's form restores X's shape right away; convert --to standard's own form goes to the
    # (N, C, -1) channel view, applies scale/bias there, and restores X's shape at the end
    channel_view = is_op(reshape_out, "Reshape") and _channel_view(ctx, reshape_out.input[1], x)
    if not is_op(reshape_out, "Reshape") or not (channel_view or _restores_shape(ctx, reshape_out, x)):
        ctx.skip(pattern, node, "the second Reshape does not provably restore X's shape")
        return False
    matched = [reshape_in, node, reshape_out]
    out = reshape_out.output[0]
    rank = 3 if channel_view else ctx.rank(x)
    inputs = [x, "", ""]
    for slot, op_type, identity in ((1, "Mul", 1.0), (2, "Add", 0.0)):
        user = g.only_consumer(out)
        if not is_op(user, op_type):
            continue
        other = user.input[1] if user.input[0] == out else user.input[0]
        value = g.constant(other)
        if value is not None and value.size == 1 and value.ndim <= (rank or 0):
            # a broadcast scalar: the TorchScript exporter's ones/zeros for affine=False
            if float(value.reshape(())) != identity:
                channels = ctx.channels(x)
                if channels is None or channels > MAX_EXPANDED_CHANNELS:
                    continue
                inputs[slot] = g.add_initializer(f"gn_{op_type.lower()}", np.full(channels, value.reshape(())))
        else:
            values, _ = per_channel(g, other, rank)
            if values is None or values.size % groups != 0:
                continue
            inputs[slot] = g.add_initializer("gn_scale" if slot == 1 else "gn_bias", values)
        matched.append(user)
        out = user.output[0]
    if channel_view:
        restore = g.only_consumer(out)
        if not is_op(restore, "Reshape") or not _restores_shape(ctx, restore, x):
            ctx.skip(pattern, node, "the channel view is not reshaped back to X's shape")
            return False
        matched.append(restore)
        out = restore.output[0]
    sizes = {g.constant(i).size for i in inputs[1:] if i}
    if len(sizes) > 1:
        ctx.skip(pattern, node, f"scale and bias have different lengths {sorted(sizes)}")
        return False
    new = make_custom_node("GroupNorm", inputs, [out], name=node_name(node), num_groups=int(groups),
                           epsilon=float(attribute(node, "epsilon", 1e-5)))
    ctx.replace(matched, [new], node)
    ctx.count(pattern)
    return True

def _channel_view(ctx: RewriteContext, shape_name: str, x: str) -> bool:
    """True when `shape_name` is Concat([0], Shape(x)[1:2], [-1]) (the (N, C, -1) view)."""
    concat = ctx.g.producer.get(shape_name)
    if not is_op(concat, "Concat") or len(concat.input) != 3:
        return False
    first, last = ctx.g.constant(concat.input[0]), ctx.g.constant(concat.input[2])
    if first is None or last is None or first.reshape(-1).tolist() != [0] or last.reshape(-1).tolist() != [-1]:
        return False
    mid = ctx.g.producer.get(concat.input[1])
    if is_op(mid, "Shape") and mid.input[0] == x:
        return attribute(mid, "start", 0) == 1 and attribute(mid, "end", None) == 2
    if is_op(mid, "Slice"):
        src = ctx.g.producer.get(mid.input[0])
        bounds = [ctx.g.constant(i) for i in mid.input[1:4]]
        return (is_op(src, "Shape") and src.input[0] == x and all(b is not None for b in bounds)
                and [int(b.reshape(-1)[0]) for b in bounds] == [1, 2, 0])  # type: ignore[union-attr]
    return False

def _reshape_to_groups(ctx: RewriteContext, shape_name: str, groups: int) -> bool:
    value = ctx.g.constant(shape_name)
    if value is not None:
        v = value.reshape(-1).tolist()
        return len(v) == 3 and v[1] == groups and v[2] == -1
    concat = ctx.g.producer.get(shape_name)  # dynamic batch: Concat(Shape(X)[0:1], [G], [-1])
    if not is_op(concat, "Concat"):
        return False
    parts = [ctx.g.constant(i) for i in concat.input]
    tail = [p for p in parts[1:] if p is not None]
    flat = [int(t) for p in tail for t in p.reshape(-1)]
    return parts[0] is None and all(p is not None for p in parts[1:]) and flat == [groups, -1]

def _restores_shape(ctx: RewriteContext, reshape: onnx.NodeProto, x: str) -> bool:
    shape_src = ctx.g.producer.get(reshape.input[1])
    if is_op(shape_src, "Shape") and shape_src.input[0] == x:
        return attribute(shape_src, "start", 0) == 0 and attribute(shape_src, "end", None) is None
    target = ctx.g.constant(reshape.input[1])
    known = ctx.shapes.get(x)
    if target is None or known is None or not all(isinstance(d, int) and d > 0 for d in known):
        return False
    return [int(v) for v in target.reshape(-1)] == known
