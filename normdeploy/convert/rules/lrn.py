"""The standard LRN node -> our LocalResponseNorm (window "onnx")."""

from __future__ import annotations

import onnx

from ...graphs import make_custom_node
from ..context import RewriteContext
from ..graph import attribute
from ..matcher import node_name

PATTERN = "LRN"
ANCHORS = (("", "LRN"),)


def apply(ctx: RewriteContext, node: onnx.NodeProto) -> bool:
    # the values as written: a missing or mistyped one is refused by the schema (left alone)
    given = {"size": attribute(node, "size"), "alpha": attribute(node, "alpha", 1e-4),
             "beta": attribute(node, "beta", 0.75), "bias": attribute(node, "bias", 1.0)}
    new = make_custom_node("LocalResponseNorm", [node.input[0]], [node.output[0]], name=node_name(node),
                           **{k: v for k, v in given.items() if v is not None}, window="onnx")
    ctx.replace([node], [new], node)
    ctx.count(PATTERN)
    return True
