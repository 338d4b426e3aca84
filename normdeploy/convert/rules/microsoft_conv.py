"""com.microsoft NhwcConv (ONNX Runtime contrib op, CUDA only) -> standard Conv.

    NhwcConv(X, W, [B]) -> Y    X: (N, *spatial, C), W: (M, *kernel, C/group), B: (M), Y: (N, *spatial', M)
    attributes as Conv's (auto_pad, dilations, group, kernel_shape, pads, strides), all of them about
    the spatial axes, so they carry over unchanged.

ONNX Runtime's optimizer writes W already transposed to (M, kH, kW, C/group) (its FusionNhwcConv
transposes the Conv weight with perm (0, 2, 3, 1)). The rewrite is
    [Transpose to channels-first] -> Conv(W transposed back to (M, C/group, *kernel)) -> [Transpose back]
with a constant W transposed once at conversion time, and Transposes left out where they cancel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import onnx
from onnx import AttributeProto, helper

from .microsoft_common import (
    LeftAlone, MS_DOMAIN, Rule, attr, channels_first_input, channels_last_output, check_known_attributes,
    float_type, node_inputs, node_name, node_outputs, rewrite, shape_of, static_dim, to_first_perm,
)

if TYPE_CHECKING:
    from ..context import RewriteContext

_INTS = ("dilations", "kernel_shape", "pads", "strides")
_AUTO_PAD = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


def _conv_attributes(node: onnx.NodeProto, spatial: int) -> dict[str, object]:
    check_known_attributes(node, (*_INTS, "group", "auto_pad"))
    out: dict[str, object] = {}
    for name in _INTS:
        value = attr(node, name, AttributeProto.INTS, None)
        if value is None:
            continue
        expected = 2 * spatial if name == "pads" else spatial
        if len(value) != expected:
            raise LeftAlone(f"attribute '{name}' has {len(value)} values; expected {expected} for "
                            f"{spatial} spatial axes")
        if any(v < (0 if name == "pads" else 1) for v in value):
            raise LeftAlone(f"attribute '{name}' = {value} has a value below {0 if name == 'pads' else 1}")
        out[name] = value
    group = attr(node, "group", AttributeProto.INT, 1)
    if group < 1:
        raise LeftAlone(f"attribute 'group' = {group} is not >= 1")
    out["group"] = group
    auto_pad = attr(node, "auto_pad", AttributeProto.STRING, "NOTSET")
    if auto_pad not in _AUTO_PAD:
        raise LeftAlone(f"attribute 'auto_pad' = {auto_pad!r}: expected one of {list(_AUTO_PAD)}")
    if auto_pad != "NOTSET":
        out["auto_pad"] = auto_pad
    return out


def _nhwc_conv(ctx: "RewriteContext", node: onnx.NodeProto) -> None:
    x, w, b = node_inputs(node, ("X", "W", "B"), optional=1)
    (y,) = node_outputs(node, ("Y",))
    for name, what in ((x, "X"), (w, "W"), *(((b, "B"),) if b else ())):
        float_type(ctx, name, what, ("float32", "float16", "float64"))
    x_shape, w_shape = shape_of(ctx, x), shape_of(ctx, w)
    rank = len(w_shape) if w_shape is not None else len(x_shape) if x_shape is not None else None
    if rank is None:
        raise LeftAlone("the ranks of X and W are unknown (needed to move the channel axis)")
    if rank < 3:
        raise LeftAlone(f"W has rank {rank}; a convolution needs rank >= 3")
    if x_shape is not None and len(x_shape) != rank:
        raise LeftAlone(f"X has rank {len(x_shape)} but W has rank {rank}")
    attrs = _conv_attributes(node, rank - 2)
    kernel = attrs.get("kernel_shape")
    if kernel is not None and w_shape is not None:
        known = [static_dim(w_shape, i) for i in range(1, rank - 1)]
        if all(k is not None for k in known) and known != kernel:
            raise LeftAlone(f"attribute 'kernel_shape' = {kernel} but W (M, *kernel, C/group) has kernel {known}")
    channels, per_group = static_dim(x_shape, rank - 1), static_dim(w_shape, rank - 1)
    if channels is not None and per_group is not None and channels != per_group * attrs["group"]:
        raise LeftAlone(f"X has C={channels} channels but W takes {per_group} per group x group={attrs['group']}")
    m = static_dim(w_shape, 0)
    if m is not None and m % attrs["group"]:
        raise LeftAlone(f"group={attrs['group']} does not divide W's M={m} output channels")
    b_len = static_dim(shape_of(ctx, b), 0) if b else None
    if b and m is not None and b_len is not None and b_len != m:
        raise LeftAlone(f"B has {b_len} values; W has M={m} output channels")
    label = node_name(node)
    before: list[onnx.NodeProto] = []
    after: list[onnx.NodeProto] = []
    matched: list[onnx.NodeProto] = []  # Transposes back to channels-first, absorbed
    weight = ctx.g.constant(w)
    if weight is not None:
        w = ctx.g.add_initializer(f"{w}_channels_first", weight.transpose(to_first_perm(rank)))
    else:
        moved = ctx.g.unique_name(f"{w}_channels_first")
        before.append(helper.make_node("Transpose", [w], [moved],
                                       name=ctx.g.unique_name(f"{label}/weight_to_channels_first"),
                                       perm=to_first_perm(rank)))
        w = moved
    x = channels_first_input(ctx, x, rank, before, label)
    y = channels_last_output(ctx, y, rank, matched, after, label)
    conv = helper.make_node("Conv", [x, w, *([b] if b else [])], [y], name=label, **attrs)
    rewrite(ctx, node, [*before, conv, *after], matched)


NHWC_CONV = Rule("com.microsoft.NhwcConv", ((MS_DOMAIN, "NhwcConv"),), _nhwc_conv)

RULES = (NHWC_CONV,)
