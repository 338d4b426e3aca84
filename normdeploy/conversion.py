"""Rewrite ONNX models between standard ops and normdeploy's custom nodes.

to="custom" rewrites
    GroupNormalization-21 (scale/bias per channel) and -18 (per group, expanded to per channel);
    the InstanceNormalization decomposition both torch exporters emit for GroupNorm at opset <= 20
    (Reshape(N,G,-1) -> InstanceNormalization(1, 0) -> Reshape(X.shape) [-> Mul(scale)] [-> Add(bias)],
    static or dynamic shapes, weights folded or not); the standard LRN node; the pad/avg-pool/pow
    decomposition of F.local_response_norm from both exporters; and GroupNorm followed by
    Sigmoid+Mul (SiLU), fused into one node with activation="silu".
to="standard" rewrites
    our nodes back into standard ONNX: GroupNormalization-21 when the model's opset is >= 21, else
    the InstanceNormalization decomposition; LRN for odd sizes, an exact AveragePool decomposition
    for even sizes (ONNX Runtime's LRN rejects them) and PyTorch's window; SiLU as Sigmoid+Mul.

Every rewrite is counted per pattern; what looked similar but was left alone is reported with the
reason (ConvertReport). Nothing is rewritten unless its meaning is kept exactly.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import onnx
from onnx import helper

from .graph_rewrite import Graph, attribute, value_shapes, value_types
from .graphs import IR_VERSION, make_custom_node
from .ops import DOMAIN, REGISTRY, VERSION, SchemaError, get, lrn, register_schemas

Direction = Literal["custom", "standard"]
SUPPORTED_OPSETS = range(13, 27)


class ConvertError(ValueError):
    """The input cannot be converted (not ONNX, unsupported opset, ...)."""


@dataclass
class Skipped:
    pattern: str
    node: str
    reason: str


@dataclass
class ConvertReport:
    direction: str
    counts: Counter = field(default_factory=Counter)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # fix-ups of the input, e.g. sorting its nodes

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        lines = [f"converted to {self.direction}: {self.total} rewrite(s)"]
        lines += [f"  {pattern}: {count}" for pattern, count in sorted(self.counts.items())]
        if self.skipped:
            lines.append(f"left alone ({len(self.skipped)}):")
            lines += [f"  {s.pattern} at node '{s.node}': {s.reason}" for s in self.skipped]
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# helpers


def _name(node: onnx.NodeProto) -> str:
    return node.name or (node.output[0] if node.output else node.op_type)


def _is(node: onnx.NodeProto | None, op_type: str) -> bool:
    return node is not None and node.op_type == op_type and node.domain in ("", "ai.onnx")


def _scalar(value: np.ndarray | None) -> float | None:
    if value is None or value.size != 1:
        return None
    return float(value.reshape(()))


def _per_channel(g: Graph, name: str, rank: int | None) -> tuple[np.ndarray | None, str | None]:
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


# ------------------------------------------------------------------------------------------------
# to custom


class _ToCustom:
    def __init__(self, model: onnx.ModelProto, report: ConvertReport) -> None:
        self.g = Graph(model)
        self.report = report
        self._shapes: dict[str, list[int | str | None]] | None = None
        self._shapes_at = -1

    @property
    def shapes(self) -> dict[str, list[int | str | None]]:
        """Inferred shapes of the graph as it is now (recomputed after rewrites, on demand)."""
        if self._shapes is None or self._shapes_at != self.g.version:
            self._shapes = value_shapes(self.g.commit())
            self._shapes_at = self.g.version
        return self._shapes

    def rank(self, name: str) -> int | None:
        shape = self.shapes.get(name)
        return len(shape) if shape is not None else None

    def channels(self, name: str) -> int | None:
        shape = self.shapes.get(name)
        if shape is None or len(shape) < 2 or not isinstance(shape[1], int) or shape[1] <= 0:
            return None
        return shape[1]

    def skip(self, pattern: str, node: onnx.NodeProto, reason: str) -> None:
        self.report.skipped.append(Skipped(pattern, _name(node), reason))

    def attempt(self, pattern: str, node: onnx.NodeProto, fn: Callable[[onnx.NodeProto], bool]) -> None:
        try:
            fn(node)
        except SchemaError as exc:  # e.g. an attribute value our op does not accept
            self.skip(pattern, node, str(exc))
        except (TypeError, ValueError, IndexError, ZeroDivisionError, OverflowError) as exc:
            # a malformed standard node (missing input, attribute of another type, ...): left as it is
            self.skip(pattern, node, f"malformed node, left as it is ({type(exc).__name__}: {exc})")

    def run(self) -> onnx.ModelProto:
        passes: list[tuple[str, Callable[[onnx.NodeProto], bool]]] = [
            # LRN first: the TorchScript exporter's LRN decomposition (with an If) hides shapes
            # from shape inference, which the GroupNorm patterns after it need
            ("LRN", self.standard_lrn),
            ("AveragePool", self.lrn_decomposition),
            ("GroupNormalization", self.group_normalization),
            ("InstanceNormalization", self.instance_norm_decomposition),
        ]
        for op_type, fn in passes:
            for node in [n for n in self.g.nodes if _is(n, op_type)]:
                if any(node is n for n in self.g.nodes):
                    self.attempt(op_type, node, fn)
        for node in [n for n in self.g.nodes if n.op_type == "GroupNorm" and n.domain == DOMAIN]:
            self.attempt("GroupNorm+SiLU", node, self.fuse_silu)
        self.add_plugin_fields()
        self.g.remove_dead()
        return self.g.commit()

    # -- GroupNormalization-18/21 --
    def group_normalization(self, node: onnx.NodeProto) -> bool:
        opset = self.g.opset()
        x, scale, bias = (list(node.input) + ["", "", ""])[:3]
        groups = attribute(node, "num_groups")
        eps = attribute(node, "epsilon", 1e-5)
        if not isinstance(groups, int) or groups < 1:
            self.skip(f"GroupNormalization-{21 if opset >= 21 else 18}", node,
                      f"attribute 'num_groups' = {groups!r} is not an int >= 1")
            return False
        if opset >= 21:
            if attribute(node, "stash_type", 1) != 1:
                self.skip("GroupNormalization-21", node, "stash_type is not float32 (our op always "
                          "accumulates in float32 or wider)")
                return False
            pattern = "GroupNormalization-21"
        else:
            pattern = "GroupNormalization-18"
            channels = self.channels(x)
            s, b = self.g.constant(scale), self.g.constant(bias)
            if channels is None:
                self.skip(pattern, node, "the channel count of X is not known statically (needed to "
                          "expand per-group scale/bias)")
                return False
            if s is None or b is None:
                self.skip(pattern, node, "scale/bias are not constants (needed to expand them per channel)")
                return False
            if channels % groups:
                self.skip(pattern, node, f"num_groups={groups} does not divide C={channels}")
                return False
            if channels > MAX_EXPANDED_CHANNELS or s.size != groups or b.size != groups:
                self.skip(pattern, node, f"scale/bias of {s.size}/{b.size} values for num_groups={groups} cannot be "
                          f"expanded to C={channels} channels (more than {MAX_EXPANDED_CHANNELS} or not one per group)")
                return False
            repeat = channels // groups
            scale = self.g.add_initializer(scale or "gn_scale", np.repeat(s.reshape(-1), repeat))
            bias = self.g.add_initializer(bias or "gn_bias", np.repeat(b.reshape(-1), repeat))
        new = make_custom_node("GroupNorm", [x, scale, bias], [node.output[0]], name=_name(node),
                               num_groups=groups, epsilon=eps)
        self.g.replace([node], [new])
        self.report.counts[pattern] += 1
        return True

    # -- Reshape -> InstanceNormalization -> Reshape [-> Mul] [-> Add] --
    def instance_norm_decomposition(self, node: onnx.NodeProto) -> bool:
        pattern = "InstanceNormalization decomposition"
        g = self.g
        reshape_in = g.producer.get(node.input[0])
        if not _is(reshape_in, "Reshape"):
            return False  # a plain InstanceNormalization: not a GroupNorm
        x = reshape_in.input[0]
        scale = g.constant(node.input[1]) if len(node.input) > 1 else None
        bias = g.constant(node.input[2]) if len(node.input) > 2 else None
        if scale is None or bias is None:
            self.skip(pattern, node, "InstanceNormalization scale/bias are not constants")
            return False
        groups = scale.size
        if not (np.all(scale == 1) and np.all(bias == 0)):
            self.skip(pattern, node, "InstanceNormalization scale/bias are not ones/zeros (not a GroupNorm)")
            return False
        if not self._reshape_to_groups(reshape_in.input[1], groups):
            self.skip(pattern, node, f"the first Reshape does not produce (N, {groups}, -1)")
            return False
        reshape_out = g.only_consumer(node.output[0])
        # torch's form restores X's shape right away; convert --to standard's own form goes to the
        # (N, C, -1) channel view, applies scale/bias there, and restores X's shape at the end
        channel_view = _is(reshape_out, "Reshape") and self._channel_view(reshape_out.input[1], x)
        if not _is(reshape_out, "Reshape") or not (channel_view or self._restores_shape(reshape_out, x)):
            self.skip(pattern, node, "the second Reshape does not provably restore X's shape")
            return False
        matched = [reshape_in, node, reshape_out]
        out = reshape_out.output[0]
        rank = 3 if channel_view else self.rank(x)
        inputs = [x, "", ""]
        for slot, op_type, identity in ((1, "Mul", 1.0), (2, "Add", 0.0)):
            user = g.only_consumer(out)
            if not _is(user, op_type):
                continue
            other = user.input[1] if user.input[0] == out else user.input[0]
            value = g.constant(other)
            if value is not None and value.size == 1 and value.ndim <= (rank or 0):
                # a broadcast scalar: the TorchScript exporter's ones/zeros for affine=False
                if float(value.reshape(())) != identity:
                    channels = self.channels(x)
                    if channels is None or channels > MAX_EXPANDED_CHANNELS:
                        continue
                    inputs[slot] = g.add_initializer(f"gn_{op_type.lower()}", np.full(channels, value.reshape(())))
            else:
                values, _ = _per_channel(g, other, rank)
                if values is None or values.size % groups != 0:
                    continue
                inputs[slot] = g.add_initializer("gn_scale" if slot == 1 else "gn_bias", values)
            matched.append(user)
            out = user.output[0]
        if channel_view:
            restore = g.only_consumer(out)
            if not _is(restore, "Reshape") or not self._restores_shape(restore, x):
                self.skip(pattern, node, "the channel view is not reshaped back to X's shape")
                return False
            matched.append(restore)
            out = restore.output[0]
        sizes = {g.constant(i).size for i in inputs[1:] if i}
        if len(sizes) > 1:
            self.skip(pattern, node, f"scale and bias have different lengths {sorted(sizes)}")
            return False
        new = make_custom_node("GroupNorm", inputs, [out], name=_name(node), num_groups=int(groups),
                               epsilon=float(attribute(node, "epsilon", 1e-5)))
        g.replace(matched, [new])
        self.report.counts[pattern] += 1
        return True

    def _channel_view(self, shape_name: str, x: str) -> bool:
        """True when `shape_name` is Concat([0], Shape(x)[1:2], [-1]) (the (N, C, -1) view)."""
        concat = self.g.producer.get(shape_name)
        if not _is(concat, "Concat") or len(concat.input) != 3:
            return False
        first, last = self.g.constant(concat.input[0]), self.g.constant(concat.input[2])
        if first is None or last is None or first.reshape(-1).tolist() != [0] or last.reshape(-1).tolist() != [-1]:
            return False
        mid = self.g.producer.get(concat.input[1])
        if _is(mid, "Shape") and mid.input[0] == x:
            return attribute(mid, "start", 0) == 1 and attribute(mid, "end", None) == 2
        if _is(mid, "Slice"):
            src = self.g.producer.get(mid.input[0])
            bounds = [self.g.constant(i) for i in mid.input[1:4]]
            return (_is(src, "Shape") and src.input[0] == x and all(b is not None for b in bounds)
                    and [int(b.reshape(-1)[0]) for b in bounds] == [1, 2, 0])  # type: ignore[union-attr]
        return False

    def _reshape_to_groups(self, shape_name: str, groups: int) -> bool:
        value = self.g.constant(shape_name)
        if value is not None:
            v = value.reshape(-1).tolist()
            return len(v) == 3 and v[1] == groups and v[2] == -1
        concat = self.g.producer.get(shape_name)  # dynamic batch: Concat(Shape(X)[0:1], [G], [-1])
        if not _is(concat, "Concat"):
            return False
        parts = [self.g.constant(i) for i in concat.input]
        tail = [p for p in parts[1:] if p is not None]
        flat = [int(t) for p in tail for t in p.reshape(-1)]
        return parts[0] is None and all(p is not None for p in parts[1:]) and flat == [groups, -1]

    def _restores_shape(self, reshape: onnx.NodeProto, x: str) -> bool:
        shape_src = self.g.producer.get(reshape.input[1])
        if _is(shape_src, "Shape") and shape_src.input[0] == x:
            return attribute(shape_src, "start", 0) == 0 and attribute(shape_src, "end", None) is None
        target = self.g.constant(reshape.input[1])
        known = self.shapes.get(x)
        if target is None or known is None or not all(isinstance(d, int) and d > 0 for d in known):
            return False
        return [int(v) for v in target.reshape(-1)] == known

    # -- LRN --
    def standard_lrn(self, node: onnx.NodeProto) -> bool:
        # the values as written: a missing or mistyped one is refused by the schema (left alone)
        given = {"size": attribute(node, "size"), "alpha": attribute(node, "alpha", 1e-4),
                 "beta": attribute(node, "beta", 0.75), "bias": attribute(node, "bias", 1.0)}
        new = make_custom_node("LocalResponseNorm", [node.input[0]], [node.output[0]], name=_name(node),
                               **{k: v for k, v in given.items() if v is not None}, window="onnx")
        self.g.replace([node], [new])
        self.report.counts["LRN"] += 1
        return True

    # -- x*x -> (Reshape|Unsqueeze) -> Pad -> AveragePool -> (Squeeze|Reshape|If)* -> Mul -> Add -> Pow -> Div --
    def lrn_decomposition(self, pool: onnx.NodeProto) -> bool:
        pattern = "LRN decomposition"
        g = self.g
        kernel = list(attribute(pool, "kernel_shape", []))
        if not kernel or any(k != 1 for k in kernel[1:]) or attribute(pool, "count_include_pad", 0) != 1:
            return False  # an ordinary pooling layer
        if any(s != 1 for s in attribute(pool, "strides", [1] * len(kernel))) or any(attribute(pool, "pads", [0])):
            return False
        size = int(kernel[0])
        pad = g.producer.get(pool.input[0])
        if not _is(pad, "Pad") or attribute(pad, "mode", "constant") != "constant":
            return False
        pads = g.constant(pad.input[1]) if len(pad.input) > 1 else None
        if pads is None:
            self.skip(pattern, pool, "the Pad amounts are not constant")
            return False
        pads = [int(p) for p in pads.reshape(-1)]
        r = len(pads) // 2
        if r < 3 or any(p for i, p in enumerate(pads) if i not in (2, 2 + r)):
            self.skip(pattern, pool, f"pads {pads} do not pad the channel axis only")
            return False
        before, after = pads[2], pads[2 + r]
        if (before, after) == lrn.window_extent(size, "pytorch"):
            window = "pytorch"
        elif (before, after) == lrn.window_extent(size, "onnx"):
            window = "onnx"
        else:
            self.skip(pattern, pool, f"window padding ({before}, {after}) matches neither alignment for size {size}")
            return False
        matched = [pool, pad]
        src = g.producer.get(pad.input[0])
        while src is not None and (_is(src, "Reshape") or _is(src, "Unsqueeze")):
            matched.append(src)
            src = g.producer.get(src.input[0])
        if _is(src, "Mul") and src.input[0] == src.input[1]:
            x = src.input[0]
        elif _is(src, "Pow") and _scalar(g.constant(src.input[1])) == 2.0:
            x = src.input[0]
        else:
            self.skip(pattern, pool, "the pooled tensor is not x*x")
            return False
        matched.append(src)
        cur = self._next_in_chain(pool.output[0])
        while cur is not None and (_is(cur, "Squeeze") or _is(cur, "Reshape") or _is(cur, "If") or _is(cur, "Identity")):
            matched.append(cur)
            cur = self._next_in_chain(cur.output[0])
        consts: dict[str, float] = {}
        for op_type in ("Mul", "Add", "Pow"):
            if not _is(cur, op_type):
                self.skip(pattern, pool, f"expected {op_type} after the pooled window sum")
                return False
            prev = matched[-1].output[0]
            other = cur.input[1] if cur.input[0] == prev else cur.input[0]
            if op_type == "Pow" and cur.input[0] != prev:
                self.skip(pattern, pool, "Pow has the window sum as exponent")
                return False
            value = _scalar(g.constant(other))
            if value is None:
                self.skip(pattern, pool, f"the {op_type} operand is not a scalar constant")
                return False
            consts[op_type] = value
            matched.append(cur)
            cur = g.only_consumer(cur.output[0])
        if not _is(cur, "Div") or cur.input[0] != x or cur.input[1] != matched[-1].output[0]:
            self.skip(pattern, pool, "the result is not x / (k + alpha * avg) ** beta")
            return False
        matched.append(cur)
        if any(o in g.outputs for n in matched[:-1] for o in n.output) or len(g.consumers.get(src.output[0], [])) != 1:
            self.skip(pattern, pool, "an intermediate tensor is used elsewhere")
            return False
        new = make_custom_node("LocalResponseNorm", [x], [cur.output[0]], name=_name(pool), size=size,
                               alpha=consts["Mul"], beta=consts["Pow"], bias=consts["Add"], window=window)
        g.replace(matched, [new])
        self.report.counts["LRN decomposition"] += 1
        return True

    def add_plugin_fields(self) -> None:
        """Our nodes written by other tools may lack the attributes TensorRT's parser needs."""
        for node in self.g.nodes:
            if node.domain != DOMAIN:
                continue
            present = {a.name for a in node.attribute}
            missing = [a for a in get(node.op_type).attributes if not a.runtime and a.name not in present] \
                if node.op_type in {s.name for s in REGISTRY} else []
            for a in missing:
                node.attribute.append(helper.make_attribute(a.name, a.default))
            if missing:
                self.report.counts["TensorRT plugin fields added"] += 1

    def _next_in_chain(self, name: str) -> onnx.NodeProto | None:
        """The one consumer of `name` that is not a Shape node (shape-only reads, such as the
        TorchScript exporter's squeeze-if-size-1 test, die with the chain)."""
        users = [u for u in self.g.consumers.get(name, []) if not _is(u, "Shape")]
        if len(users) != 1 or name in self.g.outputs:
            return None
        return users[0]

    # -- GroupNorm -> Sigmoid, Mul --
    def fuse_silu(self, gn: onnx.NodeProto) -> bool:
        g = self.g
        if attribute(gn, "activation", "none") != "none":
            return False
        y = gn.output[0]
        users = g.consumers.get(y, [])
        if y in g.outputs or len(users) != 2:
            return False
        sig = next((u for u in users if _is(u, "Sigmoid")), None)
        mul = next((u for u in users if _is(u, "Mul")), None)
        if sig is None or mul is None or sorted(mul.input) != sorted([y, sig.output[0]]):
            return False
        if g.only_consumer(sig.output[0]) is not mul:
            self.skip("GroupNorm+SiLU", gn, "the Sigmoid output is used elsewhere")
            return False
        attrs = {a.name: helper.get_attribute_value(a) for a in gn.attribute}
        attrs = {k: v.decode() if isinstance(v, bytes) else v for k, v in attrs.items()}
        attrs["activation"] = "silu"
        new = make_custom_node("GroupNorm", list(gn.input), [mul.output[0]], name=gn.name, **attrs)
        g.replace([gn, sig, mul], [new])
        self.report.counts["GroupNorm+SiLU"] += 1
        return True


# ------------------------------------------------------------------------------------------------
# to standard


class _ToStandard:
    def __init__(self, model: onnx.ModelProto, report: ConvertReport, source: str = "model") -> None:
        self.g = Graph(model)
        self.report = report
        self.types = value_types(model)
        self.source = source
        self._shapes: dict[str, list[int | str | None]] | None = None

    def check_groups(self, node: onnx.NodeProto, x: str, groups: int) -> None:
        """num_groups must divide a static C: the standard decomposition would run and be wrong."""
        if self._shapes is None:
            self._shapes = value_shapes(self.g.model)
        shape = self._shapes.get(x) or []
        channels = shape[1] if len(shape) > 1 else None
        if isinstance(channels, int) and channels > 0 and channels % groups:
            from .model_checks import quoted

            raise ConvertError(f"{self.source}: node {quoted(_name(node))}: GroupNorm: num_groups={groups} does not "
                               f"divide C={channels} (input 'X' dim 1)")

    def run(self) -> onnx.ModelProto:
        for node in [n for n in self.g.nodes if n.domain == DOMAIN]:
            if node.op_type in ("GroupNorm", "LocalResponseNorm"):
                self._x_dtype(node)
            if node.op_type == "GroupNorm":
                self.group_norm(node)
            elif node.op_type == "LocalResponseNorm":
                self.local_response_norm(node)
        self.g.remove_dead()
        return self.g.commit()

    def const(self, base: str, value: np.ndarray | list, dtype=np.int64) -> str:
        return self.g.add_initializer(base, np.asarray(value, dtype=dtype))

    def channel_dim(self, x: str, out: str) -> list[onnx.NodeProto]:
        """Nodes computing Shape(x)[1:2] into `out` (Shape's start/end need opset 15)."""
        if self.g.opset() >= 15:
            return [helper.make_node("Shape", [x], [out], start=1, end=2)]
        full = self.g.unique_name(out + "_full")
        return [helper.make_node("Shape", [x], [full]),
                helper.make_node("Slice", [full, self.const("start", [1]), self.const("end", [2]), self.const("axis", [0])], [out])]

    def group_norm(self, node: onnx.NodeProto) -> None:
        g = self.g
        x, scale, bias = (list(node.input) + ["", "", ""])[:3]
        groups = int(attribute(node, "num_groups"))
        eps = float(attribute(node, "epsilon", 1e-5))
        silu = attribute(node, "activation", "none") == "silu"
        self.check_groups(node, x, groups)
        out = node.output[0]
        norm_out = g.unique_name(out + "_gn") if silu else out
        nodes: list[onnx.NodeProto] = []
        same_type = scale and bias and self._dtype_of(scale) == self._dtype_of(x) == self._dtype_of(bias)
        if g.opset() >= 21 and same_type:  # GroupNormalization-21 wants scale/bias in X's type
            nodes.append(helper.make_node("GroupNormalization", [x, scale, bias], [norm_out], name=_name(node),
                                          num_groups=groups, epsilon=eps))
            self.report.counts["GroupNorm -> GroupNormalization-21"] += 1
        else:
            # Reshape(N, G, -1) -> InstanceNormalization(1, 0) -> Reshape(N, C, -1) [* scale(C,1)] [+ bias(C,1)]
            # -> Reshape(shape of X): needs neither the rank nor C statically.
            t = g.unique_name
            grouped, normed, by_channel, shape_x, shape_c = t("gn_grouped"), t("gn_normed"), t("gn_by_channel"), t("gn_shape"), t("gn_c")
            dtype = self._dtype_of(x)
            if groups > MAX_EXPANDED_CHANNELS:  # the decomposition stores one scale/bias per group
                raise ConvertError(f"{self.source}: node '{_name(node)}': GroupNorm: num_groups={groups} is too large "
                                   f"to decompose into standard ops (at most {MAX_EXPANDED_CHANNELS} groups: C must be a "
                                   f"multiple of num_groups)")
            ones = self.const("gn_ones", np.ones(groups), dtype)
            zeros = self.const("gn_zeros", np.zeros(groups), dtype)
            nodes += [
                helper.make_node("Reshape", [x, self.const("gn_to_groups", [0, groups, -1])], [grouped]),
                helper.make_node("InstanceNormalization", [grouped, ones, zeros], [normed], epsilon=eps, name=_name(node)),
                helper.make_node("Shape", [x], [shape_x]),
                *self.channel_dim(x, shape_c),
            ]
            nc_shape = t("gn_nc_shape")
            nodes.append(helper.make_node("Concat", [self.const("gn_zero", [0]), shape_c, self.const("gn_minus1", [-1])],
                                          [nc_shape], axis=0))
            nodes.append(helper.make_node("Reshape", [normed, nc_shape], [by_channel]))
            cur = by_channel
            axes = self.const("gn_axes", [1])
            for operand, op_type in ((scale, "Mul"), (bias, "Add")):
                if not operand:
                    continue
                column, result = t("gn_column"), t("gn_affine")
                nodes.append(helper.make_node("Unsqueeze", [operand, axes], [column]))
                if self._dtype_of(operand) != dtype:
                    cast = t("gn_cast")
                    nodes.append(helper.make_node("Cast", [column], [cast], to=helper.np_dtype_to_tensor_dtype(np.dtype(dtype))))
                    column = cast
                nodes.append(helper.make_node(op_type, [cur, column], [result]))
                cur = result
            nodes.append(helper.make_node("Reshape", [cur, shape_x], [norm_out]))
            self.report.counts["GroupNorm -> InstanceNormalization decomposition"] += 1
        if silu:
            sig = g.unique_name(out + "_sigmoid")
            nodes += [helper.make_node("Sigmoid", [norm_out], [sig]), helper.make_node("Mul", [norm_out, sig], [out])]
            self.report.counts["SiLU -> Sigmoid+Mul"] += 1
        g.replace([node], nodes)

    def _dtype_of(self, name: str) -> type:
        value = self.g.constant(name)
        if value is not None:
            return value.dtype.type
        return self.types.get(name, np.dtype(np.float32)).type

    def _x_dtype(self, node: onnx.NodeProto) -> type:
        """The element type of the node's X, which our ops (and the decompositions) need to be a float type."""
        dtype = self._dtype_of(node.input[0])
        name = "string" if np.dtype(dtype) == np.dtype(object) else np.dtype(dtype).name
        if name not in ("float32", "float16", "bfloat16", "float64"):
            raise ConvertError(f"{self.source}: node '{_name(node)}': {node.op_type}: input 'X' has type "
                               f"{name}; expected float32, float16 or bfloat16")
        return dtype

    def local_response_norm(self, node: onnx.NodeProto) -> None:
        g = self.g
        x = node.input[0]
        size = int(attribute(node, "size"))
        alpha = float(attribute(node, "alpha", 1e-4))
        beta = float(attribute(node, "beta", 0.75))
        k = float(attribute(node, "bias", 1.0))
        window = attribute(node, "window", "onnx")
        if size % 2 == 1:  # both alignments agree; ONNX Runtime runs LRN for odd sizes
            g.replace([node], [helper.make_node("LRN", [x], [node.output[0]], name=_name(node), size=size,
                                                alpha=alpha, beta=beta, bias=k)])
            self.report.counts["LocalResponseNorm -> LRN"] += 1
            return
        before, after = lrn.window_extent(size, window)
        dtype = self._dtype_of(x)
        t = g.unique_name
        sq, shape_x, n_shape, four_d, padded, pooled, back, scaled, based, powed = (
            t("lrn_sq"), t("lrn_shape"), t("lrn_4d_shape"), t("lrn_4d"), t("lrn_padded"), t("lrn_pooled"),
            t("lrn_back"), t("lrn_scaled"), t("lrn_based"), t("lrn_pow"))
        shape_c = t("lrn_c")
        nodes = [
            helper.make_node("Mul", [x, x], [sq]),
            helper.make_node("Shape", [x], [shape_x]),
            *self.channel_dim(x, shape_c),
            helper.make_node("Concat", [self.const("lrn_zero", [0]), self.const("lrn_one", [1]), shape_c,
                                        self.const("lrn_minus1", [-1])], [n_shape], axis=0),
            helper.make_node("Reshape", [sq, n_shape], [four_d]),          # (N, 1, C, rest)
            helper.make_node("Pad", [four_d, self.const("lrn_pads", [0, 0, before, 0, 0, 0, after, 0])], [padded],
                             mode="constant"),
            helper.make_node("AveragePool", [padded], [pooled], kernel_shape=[size, 1], strides=[1, 1],
                             count_include_pad=1, name=_name(node)),
            helper.make_node("Reshape", [pooled, shape_x], [back]),
            helper.make_node("Mul", [back, self.const("lrn_alpha", np.array(alpha), dtype)], [scaled]),
            helper.make_node("Add", [scaled, self.const("lrn_k", np.array(k), dtype)], [based]),
            helper.make_node("Pow", [based, self.const("lrn_beta", np.array(beta), dtype)], [powed]),
            helper.make_node("Div", [x, powed], [node.output[0]]),
        ]
        g.replace([node], nodes)
        self.report.counts["LocalResponseNorm -> AveragePool decomposition"] += 1


# ------------------------------------------------------------------------------------------------
# entry points


def _fix_opsets(model: onnx.ModelProto) -> None:
    uses_custom = any(n.domain == DOMAIN for n in model.graph.node)
    imports = [o for o in model.opset_import if o.domain != DOMAIN]
    if uses_custom:
        imports.append(helper.make_opsetid(DOMAIN, VERSION))
    del model.opset_import[:]
    model.opset_import.extend(imports)
    model.ir_version = min(model.ir_version or IR_VERSION, IR_VERSION)


def check_opset(model: onnx.ModelProto, what: str = "model") -> int:
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset not in SUPPORTED_OPSETS:
        raise ConvertError(f"{what}: unsupported ONNX opset {opset}; normdeploy converts opsets "
                           f"{SUPPORTED_OPSETS.start} to {SUPPORTED_OPSETS.stop - 1}")
    return opset


def convert_model(model: onnx.ModelProto, to: Direction = "custom", *,
                  source: str = "model") -> tuple[onnx.ModelProto, ConvertReport]:
    """Returns a converted copy of `model` and the report (the input is not modified).

    A broken graph (cycle, input nothing produces, a name produced twice, malformed tensor) or a
    normdeploy node that cannot run as written raises ConvertError naming `source`, the node, and
    for attributes the op, attribute and value; nodes out of topological order are sorted (noted
    in the report)."""
    from .model_checks import check_custom_nodes, check_model, sort_nodes

    if to not in ("custom", "standard"):
        raise ConvertError(f"convert: to={to!r} must be 'custom' or 'standard'")
    register_schemas()
    check_opset(model, source)
    in_order = check_model(model, source)
    check_custom_nodes(model, source)
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    report = ConvertReport(direction=to)
    if not in_order:
        sort_nodes(copy)
        report.notes.append("the nodes were not in topological order (ONNX requires it); they were sorted")
    converted = (_ToCustom(copy, report) if to == "custom" else _ToStandard(copy, report, source)).run()
    _fix_opsets(converted)
    return converted, report


def load_model(path: str | os.PathLike[str]) -> onnx.ModelProto:
    """Loads an ONNX file with a clear error when it is missing, unreadable or not ONNX. External
    data is checked before it is read (model_checks.check_external_data): only regular files
    inside the model's folder, within their size."""
    from .model_checks import check_external_data

    p = Path(path)
    if p.is_dir():
        raise ConvertError(f"{p} is a directory, not an ONNX file")
    if not p.exists():
        raise ConvertError(f"no such file: {p}")
    if not p.is_file():
        raise ConvertError(f"{p} is not a regular file (a device, pipe or socket); give an ONNX file")
    try:
        size = p.stat().st_size
        if size > MAX_MODEL_FILE_BYTES:
            raise ConvertError(f"{p} is {size} bytes, more than protobuf can read as one ONNX model (2 GiB); "
                               f"larger models keep their weights in external data files")
        if size == 0:
            raise ConvertError(f"{p} is empty (0 bytes), not an ONNX model")
        model = onnx.load(str(p), load_external_data=False)  # the external data once checked, below
    except OSError as exc:
        raise ConvertError(f"cannot read {p}: {exc.strerror or exc}") from exc
    except ConvertError:
        raise
    except Exception as exc:  # noqa: BLE001 - protobuf raises several types
        raise ConvertError(f"{p} is not an ONNX model (truncated or corrupt?): {exc}") from exc
    if not model.HasField("graph"):
        raise ConvertError(f"{p} is not an ONNX model (no graph)")
    if not model.graph.node and not model.graph.output:
        raise ConvertError(f"{p} is not an ONNX model (an empty graph: no nodes, no outputs)")
    check_external_data(model, p)
    return model


#: Largest file protobuf can parse as one ONNX model (bigger models keep weights in side files).
MAX_MODEL_FILE_BYTES = (1 << 31) - 1
#: Converting GroupNormalization-18 (or affine=False constants) expands per-group values to one per
#: channel; a declared channel count above this is refused rather than allocated.
MAX_EXPANDED_CHANNELS = 1 << 24

#: Models above this size are written with their tensors in a side file (protobuf's 2 GiB limit).
EXTERNAL_DATA_THRESHOLD = 1 << 30


def save_model(model: onnx.ModelProto, path: str | os.PathLike[str], *,
               external_threshold: int = EXTERNAL_DATA_THRESHOLD) -> Path:
    """Writes atomically (temporary files in the same folder, then renames), readable as the
    umask allows. Models larger than `external_threshold` bytes keep their weights in
    `<name>.data` beside the file (ONNX external data)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    umask = os.umask(0)
    os.umask(umask)
    mode = 0o666 & ~umask
    tmp = p.parent / f".{p.name}.{os.getpid()}.tmp"
    data_name = f"{p.name}.data"
    tmp_data = p.parent / f".{data_name}.{os.getpid()}.tmp"
    external = model.ByteSize() > external_threshold if external_threshold >= 0 else True
    try:
        if external:
            copy = onnx.ModelProto()
            copy.CopyFrom(model)
            onnx.save_model(copy, str(tmp), save_as_external_data=True, all_tensors_to_one_file=True,
                            location=tmp_data.name, size_threshold=0)
            _point_external_data(tmp, data_name)
            if tmp_data.exists():  # absent when the model has no tensor data at all
                os.chmod(tmp_data, mode)
                os.replace(tmp_data, p.parent / data_name)
        else:
            tmp.write_bytes(model.SerializeToString())
        os.chmod(tmp, mode)
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        tmp_data.unlink(missing_ok=True)
        raise
    return p


def _point_external_data(model_file: Path, data_name: str) -> None:
    """After writing the weights to a temporary side file, make the model name the final one."""
    model = onnx.load(str(model_file), load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = data_name
    model_file.write_bytes(model.SerializeToString())


def convert(src: str | os.PathLike[str], dst: str | os.PathLike[str], to: Direction = "custom") -> ConvertReport:
    """Converts the ONNX file `src` and writes `dst`; returns what was rewritten and what was not.
    On any error nothing is written: `dst` is left as it was (written atomically)."""
    if Path(dst).is_dir():
        raise ConvertError(f"output {dst} is a directory; give a file name")
    model = load_model(src)
    converted, report = convert_model(model, to, source=str(src))
    try:
        checked_save(converted, dst)
    except OSError as exc:
        raise ConvertError(f"cannot write {dst}: {exc.strerror or exc}") from exc
    return report


def checked_save(model: onnx.ModelProto, path: str | os.PathLike[str]) -> Path:
    """onnx.checker, then save_model; a model too large to check in memory is checked from the
    written files, which are removed again if it fails."""
    if model.ByteSize() <= EXTERNAL_DATA_THRESHOLD:
        try:
            onnx.checker.check_model(model)
        except onnx.checker.ValidationError as exc:
            raise _invalid(path, exc) from exc
        return save_model(model, path)
    saved = save_model(model, path)
    try:
        onnx.checker.check_model(str(saved))
    except Exception as exc:
        saved.unlink(missing_ok=True)
        (saved.parent / f"{saved.name}.data").unlink(missing_ok=True)
        if isinstance(exc, onnx.checker.ValidationError):
            raise _invalid(path, exc) from exc
        raise
    return saved


def _invalid(path: str | os.PathLike[str], exc: Exception) -> ConvertError:
    first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    return ConvertError(f"{path}: not written: the result fails onnx.checker: {first.strip()}")
