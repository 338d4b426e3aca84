"""Small matching helpers shared by the rules."""

from __future__ import annotations

import numpy as np
import onnx

from .graph import Graph, attribute

#: Converting GroupNormalization-18 (or affine=False constants) expands per-group values to one per
#: channel; a declared channel count above this is refused rather than allocated.
MAX_EXPANDED_CHANNELS = 1 << 24

STANDARD_DOMAINS = ("", "ai.onnx")


def node_name(node: onnx.NodeProto) -> str:
    return node.name or (node.output[0] if node.output else node.op_type)


def is_op(node: onnx.NodeProto | None, op_type: str) -> bool:
    """True when `node` is the standard ONNX op `op_type`."""
    return node is not None and node.op_type == op_type and node.domain in STANDARD_DOMAINS


def scalar(value: np.ndarray | None) -> float | None:
    if value is None or value.size != 1:
        return None
    return float(value.reshape(()))


def ints(value: np.ndarray | None) -> list[int] | None:
    """A constant's values as a flat list of ints (None when not a constant or not integers)."""
    if value is None or value.dtype.kind not in "iu":
        return None
    return [int(v) for v in value.reshape(-1)]


def per_channel(g: Graph, name: str, rank: int | None) -> tuple[np.ndarray | None, str | None]:
    """If `name` broadcasts against (N, C, *spatial) along the channel axis only, returns its
    values as a (C,) array when constant (else None) and a reason when it does not qualify."""
    value = g.constant(name)
    if value is None:
        return None, "the per-channel operand is not a constant"
    shape = list(value.shape)
    if rank is None:
        return None, "the input's rank is unknown"
    while len(shape) < rank:
        shape.insert(0, 1)
    if len(shape) != rank or any(d != 1 for i, d in enumerate(shape) if i != 1):
        return None, f"operand of shape {list(value.shape)} is not per-channel for a rank-{rank} input"
    return value.reshape(-1), None


def other_input(node: onnx.NodeProto, name: str) -> str:
    """The operand of a binary node that is not `name`."""
    return node.input[1] if node.input[0] == name else node.input[0]


def shape_slice(g: Graph, name: str) -> tuple[str, int, int | None] | None:
    """When `name` is Shape(x)[start:end] (a Shape with start/end, or Shape then a constant Slice
    on axis 0 with step 1), returns (x, start, end) with end None for "to the end"."""
    node = g.producer.get(name)
    if is_op(node, "Shape"):
        start, end = attribute(node, "start", 0), attribute(node, "end", None)
        if not isinstance(start, int) or not (end is None or isinstance(end, int)):
            return None
        return node.input[0], start, end
    if is_op(node, "Slice") and len(node.input) >= 3:
        src = g.producer.get(node.input[0])
        if not is_op(src, "Shape") or attribute(src, "start", 0) != 0 or attribute(src, "end", None) is not None:
            return None
        starts, ends = ints(g.constant(node.input[1])), ints(g.constant(node.input[2]))
        axes = ints(g.constant(node.input[3])) if len(node.input) > 3 and node.input[3] else [0]
        steps = ints(g.constant(node.input[4])) if len(node.input) > 4 and node.input[4] else [1]
        if starts is None or ends is None or axes != [0] or steps != [1] or len(starts) != 1 or len(ends) != 1:
            return None
        end = ends[0] if ends[0] < (1 << 62) else None
        return src.input[0], starts[0], end
    return None
