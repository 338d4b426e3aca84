"""The InstanceNormalization decomposition both torch exporters emit for GroupNorm at opset <= 20
-> our GroupNorm. The forms recognised (X of rank 2 to 5, static or dynamic shapes, weights folded
or not):

  torch:      Reshape(X, (N, G, -1)) -> InstanceNormalization(ones, zeros) -> Reshape(Shape(X))
              [-> Mul(scale)] [-> Add(bias)]
  G == C:     Reshape(X, (N, C, -1)) -> InstanceNormalization(ones, zeros) [-> Mul] [-> Add]
              with no Reshape back: only when X has rank 3 and C == G, so the grouped view already
              has X's shape (the dynamo exporter's form for GroupNorm(C, C) after a Conv1d)
  our own:    Reshape(X, (N, G, -1)) -> InstanceNormalization -> Reshape(N, C, -1) [-> Mul] [-> Add]
              -> Reshape(Shape(X))   (what convert --to standard writes)

(N, G, -1) must provably keep N: a constant [0, G, -1] with allowzero unset, [N, G, -1] with
X's static N, or Concat(Shape(X)[0:1], [G], [-1]). Every tensor inside the pattern must be used
only inside it. Anything else is left alone with the reason."""

from __future__ import annotations

import numpy as np
import onnx

from ...graphs import make_custom_node
from ..context import RewriteContext
from ..graph import attribute
from ..matcher import MAX_EXPANDED_CHANNELS, ints, is_op, node_name, other_input, per_channel, shape_slice

PATTERN = "InstanceNormalization decomposition"
ANCHORS = (("", "InstanceNormalization"),)


def apply(ctx: RewriteContext, node: onnx.NodeProto) -> bool:
    g = ctx.g
    if not node.input:
        return False
    reshape_in = g.producer.get(node.input[0])
    if not is_op(reshape_in, "Reshape"):
        return False  # a plain InstanceNormalization: not a GroupNorm
    if len(node.input) != 3 or len(node.output) != 1 or len(reshape_in.input) != 2:
        ctx.skip(PATTERN, node, f"malformed node, left as it is (InstanceNormalization with inputs {list(node.input)} "
                 f"after a Reshape with inputs {list(reshape_in.input)})")
        return False
    x = reshape_in.input[0]
    scale, bias = g.constant(node.input[1]), g.constant(node.input[2])
    if scale is None or bias is None:
        ctx.skip(PATTERN, node, "InstanceNormalization scale/bias are not constants")
        return False
    groups = int(scale.size)
    if scale.ndim != 1 or bias.shape != scale.shape or groups < 1:
        ctx.skip(PATTERN, node, f"InstanceNormalization scale/bias have shapes {list(scale.shape)}/{list(bias.shape)}; "
                 f"expected two equal 1-D shapes")
        return False
    if not (np.all(scale == 1) and np.all(bias == 0)):
        ctx.skip(PATTERN, node, "InstanceNormalization scale/bias are not ones/zeros (not a GroupNorm)")
        return False
    eps = attribute(node, "epsilon", 1e-5)
    if not isinstance(eps, float):
        ctx.skip(PATTERN, node, f"attribute 'epsilon' = {eps!r} is not a float")
        return False
    problem = _groups_view_problem(ctx, reshape_in, x, groups)
    if problem:
        ctx.skip(PATTERN, node, problem)
        return False
    matched = [reshape_in, node]
    after = g.only_consumer(node.output[0])
    channel_view = False
    if is_op(after, "Reshape") and len(after.input) == 2 and _restores_shape(ctx, after, x):
        matched.append(after)  # torch's form: X's shape right away
    elif is_op(after, "Reshape") and len(after.input) == 2 and _channel_view(ctx, after, x):
        matched.append(after)  # our own form: scale/bias applied in the (N, C, -1) view
        channel_view = True
    else:
        problem = _keeps_shape_problem(ctx, x, groups, after)
        if problem:
            ctx.skip(PATTERN, node, problem)
            return False
    out = matched[-1].output[0]
    rank = 3 if channel_view else ctx.rank(x)
    inputs = [x, "", ""]
    for slot, op_type, identity in ((1, "Mul", 1.0), (2, "Add", 0.0)):
        user = g.only_consumer(out)
        if not is_op(user, op_type) or len(user.input) != 2:
            continue
        operand = _affine_operand(ctx, other_input(user, out), x, rank, groups, identity)
        if operand is None:
            continue  # not per channel: it stays after our node, as it was
        inputs[slot] = operand
        matched.append(user)
        out = user.output[0]
    if channel_view:
        restore = g.only_consumer(out)
        if not is_op(restore, "Reshape") or len(restore.input) != 2 or not _restores_shape(ctx, restore, x):
            ctx.skip(PATTERN, node, "the (N, C, -1) channel view is not reshaped back to X's shape")
            return False
        matched.append(restore)
        out = restore.output[0]
    sizes = {g.constant(i).size for i in inputs[1:] if i}  # type: ignore[union-attr]
    if len(sizes) > 1:
        ctx.skip(PATTERN, node, f"scale and bias have different lengths {sorted(sizes)}")
        return False
    shared = _used_outside(ctx, matched)
    if shared:
        ctx.skip(PATTERN, node, f"the intermediate tensor '{shared}' is also used outside the pattern")
        return False
    new = make_custom_node("GroupNorm", inputs, [out], name=node_name(node), num_groups=groups, epsilon=eps)
    ctx.replace(matched, [new], node)
    ctx.count(PATTERN)
    return True


def _groups_view_problem(ctx: RewriteContext, reshape: onnx.NodeProto, x: str, groups: int) -> str | None:
    """Why Reshape(X, target) is not provably X viewed as (N, G, -1) (None when it is)."""
    shape_x = ctx.shapes.get(x)
    if shape_x is not None and len(shape_x) < 2:
        return f"X has rank {len(shape_x)}; a GroupNorm input has rank >= 2"
    channels = ctx.channels(x)
    if channels is not None and channels % groups:
        return (f"{groups} groups do not divide X's C={channels} (the grouped view mixes channels: not a "
                f"GroupNorm)")
    target = ints(ctx.g.constant(reshape.input[1]))
    allowzero = attribute(reshape, "allowzero", 0)
    if target is not None:
        if len(target) != 3 or target[1] != groups or target[2] != -1:
            return f"the Reshape before InstanceNormalization targets {target}, not (N, {groups}, -1)"
        if target[0] == 0:
            if allowzero != 0:
                return "the Reshape before InstanceNormalization has allowzero=1, so its 0 is a zero-sized dim, not N"
            return None
        batch = shape_x[0] if shape_x else None
        if isinstance(batch, int) and batch == target[0]:
            return None
        return f"the Reshape before InstanceNormalization targets {target}, whose {target[0]} is not provably X's N ({batch})"
    concat = ctx.g.producer.get(reshape.input[1])
    if is_op(concat, "Concat") and len(concat.input) == 3:
        first = shape_slice(ctx.g, concat.input[0])
        rest = [ints(ctx.g.constant(i)) for i in concat.input[1:]]
        if first is not None and first[0] == x and first[1] == 0 and first[2] == 1 and rest == [[groups], [-1]]:
            return None
    return f"the Reshape before InstanceNormalization does not provably produce (N, {groups}, -1) from X's N"


def _restores_shape(ctx: RewriteContext, reshape: onnx.NodeProto, x: str) -> bool:
    """True when `reshape` provably restores X's shape: Reshape(., Shape(X)) or X's static shape."""
    whole = shape_slice(ctx.g, reshape.input[1])
    if whole is not None and whole[0] == x:
        return whole[1] == 0 and whole[2] is None
    target = ints(ctx.g.constant(reshape.input[1]))
    known = ctx.shapes.get(x)
    if target is None or known is None or not all(isinstance(d, int) and d > 0 for d in known):
        return False
    return target == known


def _channel_view(ctx: RewriteContext, reshape: onnx.NodeProto, x: str) -> bool:
    """True when `reshape`'s target is Concat([0], Shape(X)[1:2], [-1]) (the (N, C, -1) view)."""
    if attribute(reshape, "allowzero", 0) != 0:
        return False
    concat = ctx.g.producer.get(reshape.input[1])
    if not is_op(concat, "Concat") or len(concat.input) != 3:
        return False
    first, last = ints(ctx.g.constant(concat.input[0])), ints(ctx.g.constant(concat.input[2]))
    mid = shape_slice(ctx.g, concat.input[1])
    return first == [0] and last == [-1] and mid is not None and mid == (x, 1, 2)


def _keeps_shape_problem(ctx: RewriteContext, x: str, groups: int, after: onnx.NodeProto | None) -> str | None:
    """With no Reshape back, InstanceNormalization's output must already have X's shape: X of
    rank 3 with C == num_groups. Why not (None when so)."""
    what = ("no Reshape back to X's shape follows InstanceNormalization" if not is_op(after, "Reshape") else
            "the Reshape after InstanceNormalization does not provably restore X's shape (its target is not "
            "Shape(X), X's static shape or the (N, C, -1) view)")
    rank, channels = ctx.rank(x), ctx.channels(x)
    if rank is None:
        return f"{what}, and X's rank is unknown"
    if rank != 3:
        return f"{what}, and X has rank {rank} (the grouped view keeps X's shape only for rank 3 with C == num_groups)"
    if channels is None:
        return f"{what}, and X's channel count is not known statically (needed to show C == num_groups={groups})"
    if channels != groups:
        return f"{what}, and X has C={channels} channels, not num_groups={groups} (the grouped view has another shape)"
    return None  # the grouped view is X's shape; a Reshape after it, if any, stays after our node


def _affine_operand(ctx: RewriteContext, name: str, x: str, rank: int | None, groups: int,
                    identity: float) -> str | None:
    """The per-channel (C,) initializer a Mul/Add operand stands for, "" when it is the identity
    (a broadcast 1 or 0), None when it is not per channel."""
    g = ctx.g
    value = g.constant(name)
    if value is not None and value.size == 1 and value.ndim <= (rank or 0):
        # a broadcast scalar: the TorchScript exporter's ones/zeros for affine=False
        if float(value.reshape(())) == identity:
            return ""
        channels = ctx.channels(x)
        if channels is None or channels > MAX_EXPANDED_CHANNELS:
            return None
        return g.add_initializer(f"gn_{'scale' if identity else 'bias'}", np.full(channels, value.reshape(())))
    values, _ = per_channel(g, name, rank)
    channels = ctx.channels(x)
    if values is None or values.size % groups != 0 or (channels is not None and values.size != channels):
        return None
    return g.add_initializer("gn_scale" if identity else "gn_bias", values)


def _used_outside(ctx: RewriteContext, matched: list[onnx.NodeProto]) -> str | None:
    """A tensor made inside the matched nodes (other than the last one's output) that a node
    outside them reads, or that is a graph output."""
    ids = {id(n) for n in matched}
    for n in matched[:-1]:
        for out in n.output:
            if out in ctx.g.outputs or any(id(u) not in ids for u in ctx.g.consumers.get(out, [])):
                return out
    return None
