"""com.microsoft GroupNorm and SkipGroupNorm (ONNX Runtime contrib ops) -> normdeploy GroupNorm.

    GroupNorm(X, gamma, beta) -> Y
    SkipGroupNorm(X, gamma, beta, skip, [bias]) -> Y, [S]      S = X + skip (+ bias); Y = GroupNorm(S)
    attributes: groups (int, required), activation (int, required: 0 none, 1 SiLU),
                channels_last (int, default 1: X is (N, H, W, C)), epsilon (float, default 1e-5)

Our GroupNorm is channels-first, so a channels-last node becomes
    [Transpose(0,3,1,2)] -> [Add(skip) -> Add(bias)] -> GroupNorm -> [Transpose(0,2,3,1)]
where the Transposes are left out when they cancel against the optimizer's own Transposes around
the node (see microsoft_common). skip may be (N,H,W,C), (N,1,1,C) or (N,C); bias is (C).
gamma/beta (float32 or float16) are passed as they are when they are float32 or X's type, else
cast to float32 (our op takes float32 scale/bias with any X).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import onnx
from onnx import AttributeProto, helper

from ...graphs import make_custom_node
from .microsoft_common import (
    LeftAlone, MS_DOMAIN, Rule, as_type, attr, channels_first_input, channels_last_output, check_known_attributes,
    dtype_of, finite_nonnegative, float_type, int64s, node_inputs, node_name, node_outputs, rewrite, shape_of,
    static_dim, used,
)

if TYPE_CHECKING:
    from ..context import RewriteContext

_ATTRIBUTES = ("groups", "activation", "channels_last", "epsilon")
_RANK = 4  # the contrib schema and its kernels take 4-D X only


def _settings(node: onnx.NodeProto) -> tuple[int, str, bool, float]:
    check_known_attributes(node, _ATTRIBUTES)
    groups = attr(node, "groups", AttributeProto.INT)
    if groups < 1:
        raise LeftAlone(f"attribute 'groups' = {groups} is not >= 1")
    activation = attr(node, "activation", AttributeProto.INT)
    if activation not in (0, 1):
        raise LeftAlone(f"attribute 'activation' = {activation}: expected 0 (none) or 1 (SiLU)")
    channels_last = attr(node, "channels_last", AttributeProto.INT, 1)
    if channels_last not in (0, 1):
        raise LeftAlone(f"attribute 'channels_last' = {channels_last}: expected 0 or 1")
    epsilon = finite_nonnegative(attr(node, "epsilon", AttributeProto.FLOAT, 1e-5), "epsilon")
    return groups, ("silu" if activation else "none"), bool(channels_last), epsilon


def _channels(ctx: "RewriteContext", x: str, channels_last: bool) -> int | None:
    shape = shape_of(ctx, x)
    if shape is not None and len(shape) != _RANK:
        raise LeftAlone(f"input 'X' has rank {len(shape)}; the contrib op takes 4-D input "
                        f"({'N,H,W,C' if channels_last else 'N,C,H,W'})")
    return static_dim(shape, 3 if channels_last else 1)


def _per_channel_length(ctx: "RewriteContext", name: str, what: str, channels: int | None) -> int | None:
    """Checks that `name` is 1-D with one value per channel; returns its length when known."""
    shape = shape_of(ctx, name)
    if shape is None:
        return None
    if len(shape) != 1:
        raise LeftAlone(f"input '{what}' has shape {shape}; expected (C)" + (f" = ({channels})" if channels else ""))
    length = static_dim(shape, 0)
    if length is not None and channels is not None and length != channels:
        raise LeftAlone(f"input '{what}' has {length} values; X has C={channels} channels")
    return length


def _affine(ctx: "RewriteContext", x_type: np.dtype | None, gamma: str, beta: str,
            before: list[onnx.NodeProto], label: str) -> tuple[str, str]:
    """gamma/beta as our op takes them: both float32, or both X's type."""
    types = {dtype_of(ctx, gamma), dtype_of(ctx, beta)}
    for name, what in ((gamma, "gamma"), (beta, "beta")):
        float_type(ctx, name, what)
    if types == {np.dtype(np.float32)} or (x_type is not None and types == {x_type}):
        return gamma, beta
    f32 = np.dtype(np.float32)
    return as_type(ctx, gamma, f32, before, label), as_type(ctx, beta, f32, before, label)


def _common(ctx: "RewriteContext", node: onnx.NodeProto, x: str, gamma: str, beta: str):
    groups, activation, channels_last, epsilon = _settings(node)
    x_type = float_type(ctx, x, "X")
    channels = _channels(ctx, x, channels_last)
    for name, what in ((gamma, "gamma"), (beta, "beta")):
        length = _per_channel_length(ctx, name, what, channels)
        channels = channels or length
    if channels is not None and channels % groups:
        raise LeftAlone(f"groups={groups} does not divide C={channels}")
    return groups, activation, channels_last, epsilon, x_type, channels


def _group_norm(ctx: "RewriteContext", node: onnx.NodeProto) -> None:
    x, gamma, beta = node_inputs(node, ("X", "gamma", "beta"))
    (y,) = node_outputs(node, ("Y",))
    groups, activation, channels_last, epsilon, x_type, _ = _common(ctx, node, x, gamma, beta)
    label = node_name(node)
    before: list[onnx.NodeProto] = []
    after: list[onnx.NodeProto] = []
    matched: list[onnx.NodeProto] = []  # Transposes back to channels-first, absorbed
    gamma, beta = _affine(ctx, x_type, gamma, beta, before, label)
    if channels_last:
        x = channels_first_input(ctx, x, _RANK, before, label)
        y = channels_last_output(ctx, y, _RANK, matched, after, label)
    gn = make_custom_node("GroupNorm", [x, gamma, beta], [y], name=label, num_groups=groups, epsilon=epsilon,
                          activation=activation)
    rewrite(ctx, node, [*before, gn, *after], matched)


def _made_rank4(ctx: "RewriteContext", name: str) -> bool:
    """True when `name` is known to be 4-D without shape inference: a 4-D Transpose made it."""
    producer = ctx.g.producer.get(name)
    return producer is not None and producer.op_type == "Transpose" and any(
        a.name == "perm" and len(a.ints) == _RANK for a in producer.attribute)


def _skip_as_rank4(ctx: "RewriteContext", skip: str, channels_last: bool, before: list[onnx.NodeProto],
                   label: str) -> str:
    """skip of unknown rank (shape inference stopped before it), as a 4-D tensor in X's layout:
    (N,H,W,C) and (N,1,1,C) stay as they are and (N,C) becomes (N,1,1,C) (channels_last), or
    (N,C,H,W) / (N,C) -> (N,C,1,1). Computed from Shape(skip) at run time:
        target = Shape(skip)[:1] ++ ([1, 1] ++ Shape(skip)[1:-1])[-2:] ++ Shape(skip)[-1:]     (channels_last)
        target = Shape(skip)[:2] ++ ([1, 1] ++ Shape(skip)[2:])[-2:]                           (channels first)"""
    t = ctx.g.unique_name
    end = np.iinfo(np.int64).max
    shape, padded, spatial, target, out = t(f"{label}_skip_shape"), t(f"{label}_skip_hw_padded"), \
        t(f"{label}_skip_hw"), t(f"{label}_skip_4d_shape"), t(f"{skip}_4d")

    def part(start: int, stop: int, source: str = shape) -> tuple[str, onnx.NodeProto]:
        name = t(f"{label}_skip_dims")
        bounds = [int64s(ctx, "start", [start]), int64s(ctx, "end", [stop]), int64s(ctx, "axis", [0])]
        return name, helper.make_node("Slice", [source, *bounds], [name], name=ctx.g.unique_name(f"{label}/skip_dims"))

    nodes = [helper.make_node("Shape", [skip], [shape], name=ctx.g.unique_name(f"{label}/skip_shape"))]
    head, head_node = part(0, 1 if channels_last else 2)
    middle, middle_node = part(1, -1) if channels_last else part(2, end)
    nodes += [head_node, middle_node,
              helper.make_node("Concat", [int64s(ctx, "ones", [1, 1]), middle], [padded],
                               name=ctx.g.unique_name(f"{label}/skip_pad"), axis=0)]
    hw, hw_node = part(-2, end, padded)
    nodes.append(hw_node)
    pieces = [head, hw]
    if channels_last:
        tail, tail_node = part(-1, end)
        nodes.append(tail_node)
        pieces.append(tail)
    nodes += [helper.make_node("Concat", pieces, [target], name=ctx.g.unique_name(f"{label}/skip_4d_shape"), axis=0),
              helper.make_node("Reshape", [skip, target], [out], name=ctx.g.unique_name(f"{label}/skip_4d"))]
    before.extend(nodes)
    return out


def _skip_group_norm(ctx: "RewriteContext", node: onnx.NodeProto) -> None:
    x, gamma, beta, skip, bias = node_inputs(node, ("X", "gamma", "beta", "skip", "bias"), optional=1)
    y, s = node_outputs(node, ("Y", "S"), optional=1)
    groups, activation, channels_last, epsilon, x_type, channels = _common(ctx, node, x, gamma, beta)
    for name, what in ((skip, "skip"), (bias, "bias")):
        if name:
            other = float_type(ctx, name, what)
            if other is not None and x_type is not None and other != x_type:
                raise LeftAlone(f"input '{what}' has type {other.name} but X is {x_type.name}")
    skip_shape = shape_of(ctx, skip)
    c_axis = 3 if channels_last else 1
    if skip_shape is not None:
        if len(skip_shape) not in (2, _RANK):
            raise LeftAlone(f"input 'skip' has rank {len(skip_shape)}; expected 4 or 2 ((N,C))")
        skip_c = static_dim(skip_shape, c_axis if len(skip_shape) == _RANK else 1)
        if skip_c is not None and channels is not None and skip_c != channels:
            raise LeftAlone(f"input 'skip' has {skip_c} channels; X has C={channels}")
    if bias:
        _per_channel_length(ctx, bias, "bias", channels)
    label = node_name(node)
    before: list[onnx.NodeProto] = []
    after: list[onnx.NodeProto] = []
    matched: list[onnx.NodeProto] = []  # Transposes back to channels-first, absorbed
    gamma, beta = _affine(ctx, x_type, gamma, beta, before, label)
    if channels_last:
        x = channels_first_input(ctx, x, _RANK, before, label)
    if skip_shape is not None and len(skip_shape) == 2:  # (N, C) -> (N, C, 1, 1)
        expanded = ctx.g.unique_name(f"{skip}_nc11")
        before.append(helper.make_node("Unsqueeze", [skip, int64s(ctx, "skip_axes", [2, 3])], [expanded],
                                       name=ctx.g.unique_name(f"{label}/skip_to_nc11")))
        skip = expanded
    elif skip_shape is None and not _made_rank4(ctx, skip):
        skip = _skip_as_rank4(ctx, skip, channels_last, before, label)
    if channels_last and (skip_shape is None or len(skip_shape) == _RANK):
        skip = channels_first_input(ctx, skip, _RANK, before, label)
    if bias:  # (C) -> (C, 1, 1)
        value = ctx.g.constant(bias)
        if value is not None:
            bias = ctx.g.add_initializer(f"{bias}_c11", value.reshape(-1, 1, 1))
        else:
            column = ctx.g.unique_name(f"{bias}_c11")
            before.append(helper.make_node("Unsqueeze", [bias, int64s(ctx, "bias_axes", [1, 2])], [column],
                                           name=ctx.g.unique_name(f"{label}/bias_to_c11")))
            bias = column
    keep_s = used(ctx, s)
    if keep_s and channels_last:
        total = channels_last_output(ctx, s, _RANK, matched, after, f"{label}/S")
    else:
        total = s if keep_s else ctx.g.unique_name(f"{label}_sum")
    partial = ctx.g.unique_name(f"{label}_x_plus_skip") if bias else total
    sums = [helper.make_node("Add", [x, skip], [partial], name=ctx.g.unique_name(f"{label}/add_skip"))]
    if bias:
        sums.append(helper.make_node("Add", [partial, bias], [total], name=ctx.g.unique_name(f"{label}/add_bias")))
    if channels_last:
        y = channels_last_output(ctx, y, _RANK, matched, after, label)
    gn = make_custom_node("GroupNorm", [total, gamma, beta], [y], name=label, num_groups=groups, epsilon=epsilon,
                          activation=activation)
    rewrite(ctx, node, [*before, *sums, gn, *after], matched)


GROUP_NORM = Rule("com.microsoft.GroupNorm", ((MS_DOMAIN, "GroupNorm"),), _group_norm)
SKIP_GROUP_NORM = Rule("com.microsoft.SkipGroupNorm", ((MS_DOMAIN, "SkipGroupNorm"),), _skip_group_norm)

RULES = (GROUP_NORM, SKIP_GROUP_NORM)
