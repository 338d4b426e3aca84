"""Our nodes -> standard ONNX: GroupNormalization-21 when the model's opset is >= 21, else the
InstanceNormalization decomposition; LRN for odd sizes, an exact AveragePool decomposition for even
sizes (ONNX Runtime's LRN rejects them) and PyTorch's window; SiLU as Sigmoid+Mul."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from ..ops import DOMAIN, lrn
from .checks import quoted
from .context import RewriteContext
from .errors import ConvertError
from .graph import attribute
from .matcher import MAX_EXPANDED_CHANNELS, node_name


class ToStandard:
    """Rewrites every normdeploy node of the context's graph into standard ops."""

    def __init__(self, ctx: RewriteContext) -> None:
        self.ctx = ctx
        self.g = ctx.g
        self.report = ctx.report
        self.source = ctx.source
        # inferred once, before any edit: the rewrites only add new names
        self.types = dict(ctx.types)
        self._shapes = dict(ctx.shapes)

    def check_groups(self, node: onnx.NodeProto, x: str, groups: int) -> None:
        """num_groups must divide a static C: the standard decomposition would run and be wrong."""
        shape = self._shapes.get(x) or []
        channels = shape[1] if len(shape) > 1 else None
        if isinstance(channels, int) and channels > 0 and channels % groups:
            raise ConvertError(f"{self.source}: node {quoted(node_name(node))}: GroupNorm: num_groups={groups} does not "
                               f"divide C={channels} (input 'X' dim 1)")

    def run(self) -> None:
        for node in [n for n in self.g.nodes if n.domain == DOMAIN]:
            if node.op_type in ("GroupNorm", "LocalResponseNorm"):
                self._x_dtype(node)
            if node.op_type == "GroupNorm":
                self.group_norm(node)
            elif node.op_type == "LocalResponseNorm":
                self.local_response_norm(node)
        self.g.remove_dead()

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
            nodes.append(helper.make_node("GroupNormalization", [x, scale, bias], [norm_out], name=node_name(node),
                                          num_groups=groups, epsilon=eps))
            self.report.counts["GroupNorm -> GroupNormalization-21"] += 1
        else:
            # Reshape(N, G, -1) -> InstanceNormalization(1, 0) -> Reshape(N, C, -1) [* scale(C,1)] [+ bias(C,1)]
            # -> Reshape(shape of X): needs neither the rank nor C statically.
            t = g.unique_name
            grouped, normed, by_channel, shape_x, shape_c = t("gn_grouped"), t("gn_normed"), t("gn_by_channel"), t("gn_shape"), t("gn_c")
            dtype = self._dtype_of(x)
            if groups > MAX_EXPANDED_CHANNELS:  # the decomposition stores one scale/bias per group
                raise ConvertError(f"{self.source}: node '{node_name(node)}': GroupNorm: num_groups={groups} is too large "
                                   f"to decompose into standard ops (at most {MAX_EXPANDED_CHANNELS} groups: C must be a "
                                   f"multiple of num_groups)")
            ones = self.const("gn_ones", np.ones(groups), dtype)
            zeros = self.const("gn_zeros", np.zeros(groups), dtype)
            nodes += [
                helper.make_node("Reshape", [x, self.const("gn_to_groups", [0, groups, -1])], [grouped]),
                helper.make_node("InstanceNormalization", [grouped, ones, zeros], [normed], epsilon=eps, name=node_name(node)),
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
        g.replace([node], nodes, origin=node)

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
            raise ConvertError(f"{self.source}: node '{node_name(node)}': {node.op_type}: input 'X' has type "
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
            g.replace([node], [helper.make_node("LRN", [x], [node.output[0]], name=node_name(node), size=size,
                                                alpha=alpha, beta=beta, bias=k)], origin=node)
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
                             count_include_pad=1, name=node_name(node)),
            helper.make_node("Reshape", [pooled, shape_x], [back]),
            helper.make_node("Mul", [back, self.const("lrn_alpha", np.array(alpha), dtype)], [scaled]),
            helper.make_node("Add", [scaled, self.const("lrn_k", np.array(k), dtype)], [based]),
            helper.make_node("Pow", [based, self.const("lrn_beta", np.array(beta), dtype)], [powed]),
            helper.make_node("Div", [x, powed], [node.output[0]]),
        ]
        g.replace([node], nodes, origin=node)
        self.report.counts["LocalResponseNorm -> AveragePool decomposition"] += 1
