"""Our GroupNorm followed by Sigmoid + Mul (SiLU) -> one GroupNorm with activation="silu"."""

from __future__ import annotations

import onnx
from onnx import helper

from ...graphs import make_custom_node
from ...ops import DOMAIN
from ..context import RewriteContext
from ..graph import attribute
from ..matcher import is_op

PATTERN = "GroupNorm+SiLU"
ANCHORS = ((DOMAIN, "GroupNorm"),)


def apply(ctx: RewriteContext, gn: onnx.NodeProto) -> bool:
    g = ctx.g
    if attribute(gn, "activation", "none") != "none":
        return False
    y = gn.output[0]
    users = g.consumers.get(y, [])
    if y in g.outputs or len(users) != 2:
        return False
    sig = next((u for u in users if is_op(u, "Sigmoid")), None)
    mul = next((u for u in users if is_op(u, "Mul")), None)
    if sig is None or mul is None or sorted(mul.input) != sorted([y, sig.output[0]]):
        return False
    if g.only_consumer(sig.output[0]) is not mul:
        ctx.skip(PATTERN, gn, "the Sigmoid output is used elsewhere")
        return False
    attrs = {a.name: helper.get_attribute_value(a) for a in gn.attribute}
    attrs = {k: v.decode() if isinstance(v, bytes) else v for k, v in attrs.items()}
    attrs["activation"] = "silu"
    new = make_custom_node("GroupNorm", list(gn.input), [mul.output[0]], name=gn.name, **attrs)
    ctx.replace([gn, sig, mul], [new], gn)
    ctx.count(PATTERN)
    return True
