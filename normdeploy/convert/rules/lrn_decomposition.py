"""The pad/avg-pool/pow decomposition of F.local_response_norm (both torch exporters):
x*x -> (Reshape|Unsqueeze)* -> Pad -> AveragePool -> (Squeeze|Reshape|If|Identity)* -> Mul -> Add -> Pow -> Div."""

from __future__ import annotations

import onnx

from ...graphs import make_custom_node
from ...ops import lrn
from ..context import RewriteContext
from ..graph import attribute
from ..matcher import is_op, node_name, scalar

PATTERN = "LRN decomposition"
ANCHORS = (("", "AveragePool"),)


def apply(ctx: RewriteContext, pool: onnx.NodeProto) -> bool:
    g = ctx.g
    kernel = list(attribute(pool, "kernel_shape", []))
    if not kernel or any(k != 1 for k in kernel[1:]) or attribute(pool, "count_include_pad", 0) != 1:
        return False  # an ordinary pooling layer
    if any(s != 1 for s in attribute(pool, "strides", [1] * len(kernel))) or any(attribute(pool, "pads", [0])):
        return False
    size = int(kernel[0])
    pad = g.producer.get(pool.input[0])
    if not is_op(pad, "Pad") or attribute(pad, "mode", "constant") != "constant":
        return False
    pads_value = g.constant(pad.input[1]) if len(pad.input) > 1 else None
    if pads_value is None:
        ctx.skip(PATTERN, pool, "the Pad amounts are not constant")
        return False
    pads = [int(p) for p in pads_value.reshape(-1)]
    r = len(pads) // 2
    if r < 3 or any(p for i, p in enumerate(pads) if i not in (2, 2 + r)):
        ctx.skip(PATTERN, pool, f"pads {pads} do not pad the channel axis only")
        return False
    before, after = pads[2], pads[2 + r]
    if (before, after) == lrn.window_extent(size, "pytorch"):
        window = "pytorch"
    elif (before, after) == lrn.window_extent(size, "onnx"):
        window = "onnx"
    else:
        ctx.skip(PATTERN, pool, f"window padding ({before}, {after}) matches neither alignment for size {size}")
        return False
    matched = [pool, pad]
    src = g.producer.get(pad.input[0])
    while src is not None and (is_op(src, "Reshape") or is_op(src, "Unsqueeze")):
        matched.append(src)
        src = g.producer.get(src.input[0])
    if is_op(src, "Mul") and src.input[0] == src.input[1]:
        x = src.input[0]
    elif is_op(src, "Pow") and scalar(g.constant(src.input[1])) == 2.0:
        x = src.input[0]
    else:
        ctx.skip(PATTERN, pool, "the pooled tensor is not x*x")
        return False
    matched.append(src)
    cur = _next_in_chain(ctx, pool.output[0])
    while cur is not None and any(is_op(cur, op) for op in ("Squeeze", "Reshape", "If", "Identity")):
        matched.append(cur)
        cur = _next_in_chain(ctx, cur.output[0])
    consts: dict[str, float] = {}
    for op_type in ("Mul", "Add", "Pow"):
        if cur is None or not is_op(cur, op_type):
            ctx.skip(PATTERN, pool, f"expected {op_type} after the pooled window sum")
            return False
        prev = matched[-1].output[0]
        other = cur.input[1] if cur.input[0] == prev else cur.input[0]
        if op_type == "Pow" and cur.input[0] != prev:
            ctx.skip(PATTERN, pool, "Pow has the window sum as exponent")
            return False
        value = scalar(g.constant(other))
        if value is None:
            ctx.skip(PATTERN, pool, f"the {op_type} operand is not a scalar constant")
            return False
        consts[op_type] = value
        matched.append(cur)
        cur = g.only_consumer(cur.output[0])
    if cur is None or not is_op(cur, "Div") or cur.input[0] != x or cur.input[1] != matched[-1].output[0]:
        ctx.skip(PATTERN, pool, "the result is not x / (k + alpha * avg) ** beta")
        return False
    matched.append(cur)
    if any(o in g.outputs for n in matched[:-1] for o in n.output) or len(g.consumers.get(src.output[0], [])) != 1:
        ctx.skip(PATTERN, pool, "an intermediate tensor is used elsewhere")
        return False
    new = make_custom_node("LocalResponseNorm", [x], [cur.output[0]], name=node_name(pool), size=size,
                           alpha=consts["Mul"], beta=consts["Pow"], bias=consts["Add"], window=window)
    ctx.replace(matched, [new], pool)
    ctx.count(PATTERN)
    return True


def _next_in_chain(ctx: RewriteContext, name: str) -> onnx.NodeProto | None:
    """The one consumer of `name` that is not a Shape node (shape-only reads, such as the
    TorchScript exporter's squeeze-if-size-1 test, die with the chain)."""
    users = [u for u in ctx.g.consumers.get(name, []) if not is_op(u, "Shape")]
    if len(users) != 1 or name in ctx.g.outputs:
        return None
    return users[0]
