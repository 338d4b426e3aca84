"""Shared pieces of the com.microsoft contrib-op rules (ONNX Runtime's transformers optimizer).

* :class:`Rule`: the record every rule module exports (PATTERN, ANCHORS, apply). A rule body
  raises :class:`LeftAlone` with a precise reason; ``apply`` records it with ``ctx.skip`` and
  returns False, so a malformed contrib node is reported, never half rewritten.
* attribute and input readers that check the ONNX attribute type, not only the value;
* layout plumbing between channels-last (NHWC) and channels-first (NCHW): a Transpose that only
  turned a channels-first tensor into channels-last for the node is bypassed, and a Transpose
  back to channels-first that is the node's only reader is absorbed; otherwise explicit
  Transposes are written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import onnx
from onnx import AttributeProto, helper

if TYPE_CHECKING:  # the context class lives in the converter core
    from ..context import RewriteContext

MS_DOMAIN = "com.microsoft"

_KIND_NAMES = {
    AttributeProto.INT: "int", AttributeProto.FLOAT: "float", AttributeProto.STRING: "string",
    AttributeProto.INTS: "ints", AttributeProto.FLOATS: "floats", AttributeProto.STRINGS: "strings",
    AttributeProto.TENSOR: "tensor", AttributeProto.GRAPH: "graph", AttributeProto.UNDEFINED: "undefined",
}
_REQUIRED = object()


class LeftAlone(Exception):
    """The node is left as it is; the message says why (it goes into the convert report)."""


@dataclass(frozen=True)
class Rule:
    """One rewrite: ``apply(ctx, node)`` returns True when it rewrote ``node``."""

    PATTERN: str
    ANCHORS: tuple[tuple[str, str], ...]
    body: Callable[["RewriteContext", onnx.NodeProto], None]

    def apply(self, ctx: "RewriteContext", node: onnx.NodeProto) -> bool:
        from ...ops import SchemaError

        try:
            self.body(ctx, node)
        except (LeftAlone, SchemaError) as exc:
            ctx.skip(self.PATTERN, node, str(exc))
            return False
        except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError, OverflowError) as exc:
            # something no check above foresaw: still the node is left as it is, named by this rule
            ctx.skip(self.PATTERN, node, f"malformed node, left as it is ({type(exc).__name__}: {exc})")
            return False
        ctx.count(self.PATTERN)
        return True


# ---- reading nodes -----------------------------------------------------------------------------


def node_name(node: onnx.NodeProto) -> str:
    return node.name or (node.output[0] if node.output else node.op_type)


def attr(node: onnx.NodeProto, name: str, kind: int, default: Any = _REQUIRED) -> Any:
    """The value of attribute `name`, which must have ONNX type `kind` (AttributeProto.INT, ...)."""
    found = [a for a in node.attribute if a.name == name]
    if not found:
        if default is _REQUIRED:
            raise LeftAlone(f"required attribute '{name}' is missing")
        return default
    a = found[0]
    if a.type != kind:
        raise LeftAlone(f"attribute '{name}' has type {_KIND_NAMES.get(a.type, a.type)}, "
                        f"expected {_KIND_NAMES[kind]}")
    value = helper.get_attribute_value(a)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if kind == AttributeProto.INTS:
        return [int(v) for v in value]
    return value


def check_known_attributes(node: onnx.NodeProto, known: Sequence[str]) -> None:
    unknown = sorted({a.name for a in node.attribute} - set(known))
    if unknown:
        raise LeftAlone(f"unknown attribute(s) {unknown} (known: {sorted(known)})")


def node_inputs(node: onnx.NodeProto, names: Sequence[str], optional: int = 0) -> list[str]:
    """The node's inputs padded to len(names) with ''; the first len(names) - optional are required."""
    given = list(node.input)
    if len(given) > len(names):
        raise LeftAlone(f"{len(given)} inputs; {node.op_type} takes at most {len(names)} ({', '.join(names)})")
    for index, name in enumerate(names[:len(names) - optional]):
        if index >= len(given) or not given[index]:
            raise LeftAlone(f"required input '{name}' (#{index}) is missing")
    return given + [""] * (len(names) - len(given))


def node_outputs(node: onnx.NodeProto, names: Sequence[str], optional: int = 0) -> list[str]:
    given = list(node.output)
    if len(given) > len(names):
        raise LeftAlone(f"{len(given)} outputs; {node.op_type} has at most {len(names)} ({', '.join(names)})")
    for index, name in enumerate(names[:len(names) - optional]):
        if index >= len(given) or not given[index]:
            raise LeftAlone(f"required output '{name}' (#{index}) is missing")
    return given + [""] * (len(names) - len(given))


def used(ctx: "RewriteContext", name: str) -> bool:
    return bool(name) and (name in ctx.g.outputs or bool(ctx.g.consumers.get(name)))


def shape_of(ctx: "RewriteContext", name: str) -> list[int | str | None] | None:
    value = ctx.g.constant(name)
    if value is not None:
        return list(value.shape)
    return ctx.known_shape(name)


def static_dim(shape: list[int | str | None] | None, axis: int) -> int | None:
    if shape is None or not -len(shape) <= axis < len(shape):
        return None
    d = shape[axis]
    return d if isinstance(d, int) and d > 0 else None


def dtype_of(ctx: "RewriteContext", name: str) -> np.dtype | None:
    value = ctx.g.constant(name)
    if value is not None:
        return value.dtype
    found = ctx.known_dtype(name)
    return np.dtype(found) if found is not None else None


def float_type(ctx: "RewriteContext", name: str, what: str,
               allowed: Sequence[str] = ("float32", "float16")) -> np.dtype | None:
    """X's element type when known (None when shape inference cannot tell); refuses other types."""
    dtype = dtype_of(ctx, name)
    if dtype is not None and dtype.name not in allowed:
        raise LeftAlone(f"input '{what}' has type {dtype.name}; expected {' or '.join(allowed)}")
    return dtype


# ---- writing nodes -----------------------------------------------------------------------------


def to_first_perm(rank: int) -> list[int]:
    """Channels-last to channels-first: (N, *spatial, C) -> (N, C, *spatial)."""
    return [0, rank - 1, *range(1, rank - 1)]


def to_last_perm(rank: int) -> list[int]:
    """Channels-first to channels-last: (N, C, *spatial) -> (N, *spatial, C)."""
    return [0, *range(2, rank), 1]


def _perm(node: onnx.NodeProto | None) -> list[int] | None:
    if node is None or node.op_type != "Transpose" or node.domain not in ("", "ai.onnx"):
        return None
    for a in node.attribute:
        if a.name == "perm" and a.type == AttributeProto.INTS:
            return [int(v) for v in a.ints]
    return None


def channels_first_input(ctx: "RewriteContext", name: str, rank: int, before: list[onnx.NodeProto], label: str) -> str:
    """A name holding the channels-last tensor `name` in channels-first layout: the input of the
    Transpose(to_last) that produced it when there is one (that Transpose then dies unless
    something else reads it), else the output of a new Transpose appended to `before`."""
    producer = ctx.g.producer.get(name)
    if _perm(producer) == to_last_perm(rank) and len(producer.input) == 1 and producer.input[0]:
        return producer.input[0]
    if producer is not None and producer.op_type == "Cast" and producer.domain in ("", "ai.onnx") \
            and len(producer.input) == 1:
        # Transpose(to_last) -> Cast (ONNX Runtime's NhwcConv fusion puts one there): Cast is
        # elementwise, so the channels-first value is the Cast of the Transpose's input
        inner = ctx.g.producer.get(producer.input[0])
        if _perm(inner) == to_last_perm(rank) and len(inner.input) == 1 and inner.input[0]:
            out = ctx.g.unique_name(f"{name}_channels_first")
            cast = onnx.NodeProto()
            cast.CopyFrom(producer)
            cast.name = ctx.g.unique_name(f"{label}/cast_channels_first")
            cast.input[0], cast.output[0] = inner.input[0], out
            before.append(cast)
            return out
    out = ctx.g.unique_name(f"{name}_channels_first")
    before.append(helper.make_node("Transpose", [name], [out], name=ctx.g.unique_name(f"{label}/to_channels_first"),
                                   perm=to_first_perm(rank)))
    return out


def channels_last_output(ctx: "RewriteContext", name: str, rank: int, matched: list[onnx.NodeProto],
                         after: list[onnx.NodeProto], label: str) -> str:
    """The name the channels-first result must be written to so that `name` (channels-last)
    keeps its meaning: when the only reader of `name` is a Transpose back to channels-first, that
    Transpose is absorbed (appended to `matched`) and its output is returned; otherwise a new
    Transpose to channels-last writing `name` is appended to `after`."""
    user = ctx.g.only_consumer(name)
    if _perm(user) == to_first_perm(rank) and list(user.input) == [name] and len(user.output) == 1:
        matched.append(user)
        return user.output[0]
    out = ctx.g.unique_name(f"{name}_channels_first")
    after.append(helper.make_node("Transpose", [out], [name], name=ctx.g.unique_name(f"{label}/to_channels_last"),
                                  perm=to_last_perm(rank)))
    return out


def as_type(ctx: "RewriteContext", name: str, dtype: np.dtype, before: list[onnx.NodeProto], label: str) -> str:
    """`name` in element type `dtype`: a converted initializer for constants, else a Cast node."""
    current = dtype_of(ctx, name)
    if current is not None and current == dtype:
        return name
    value = ctx.g.constant(name)
    if value is not None:
        return ctx.g.add_initializer(f"{name}_{dtype.name}", value.astype(dtype))
    out = ctx.g.unique_name(f"{name}_{dtype.name}")
    before.append(helper.make_node("Cast", [name], [out], name=ctx.g.unique_name(f"{label}/cast_{dtype.name}"),
                                   to=helper.np_dtype_to_tensor_dtype(dtype)))
    return out


def int64s(ctx: "RewriteContext", base: str, values: Sequence[int]) -> str:
    return ctx.g.add_initializer(base, np.asarray(list(values), dtype=np.int64))


def finite_nonnegative(value: float, what: str) -> float:
    if not math.isfinite(value) or value < 0:
        raise LeftAlone(f"attribute '{what}' = {value!r} is not a finite number >= 0")
    return float(value)


@dataclass(frozen=True)
class InGraphOrder:
    """Several rules as one, so the driver visits their nodes in graph order: each node is then
    rewritten after everything upstream of it, and shape inference (which stops at ops it does
    not know, such as the contrib ops) sees more of the graph. Counts stay per rule."""

    PATTERN: str
    rules: tuple[Rule, ...]

    @property
    def ANCHORS(self) -> tuple[tuple[str, str], ...]:  # noqa: N802 - the rule protocol's name
        return tuple(anchor for rule in self.rules for anchor in rule.ANCHORS)

    def apply(self, ctx: "RewriteContext", node: onnx.NodeProto) -> bool:
        for rule in self.rules:
            if (node.domain, node.op_type) in rule.ANCHORS:
                return rule.apply(ctx, node)
        return False


def rewrite(ctx: "RewriteContext", node: onnx.NodeProto, nodes: Sequence[onnx.NodeProto],
            absorbed: Sequence[onnx.NodeProto] = ()) -> None:
    """Puts `nodes` where `node` stands (its inputs are all available there) and drops the
    absorbed Transposes that read its outputs (their outputs are now written by `nodes`)."""
    ctx.replace([node], list(nodes), node)
    for extra in absorbed:
        if extra is not node:
            ctx.g.replace([extra], [])
