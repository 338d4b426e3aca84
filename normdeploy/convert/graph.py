"""A small mutable view of an ONNX graph for pattern rewriting (the converter's machinery).

Nodes stay in a list in topological order. A rewrite removes a set of matched nodes and inserts
its replacement where the last of them stood (every input of the matched set is available
there). Constants are initializers, Constant nodes, or any subgraph that depends on nothing but
constants, which is folded with onnx.reference (only plumbing ops: Shape arithmetic, Unsqueeze,
Concat, Cast, ...; never the ops under test).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper

#: Nodes whose value we never try to fold: what we match, control flow, and ops whose output size
#: comes from a value (a hostile Expand to [2**40] must not be allocated) or is random.
#: ConstantOfShape is folded only when its shape is a small constant (the TorchScript exporter's
#: LRN padding uses one).
_NO_FOLD = {"LRN", "GroupNormalization", "InstanceNormalization", "If", "Loop", "Scan", "Expand", "Tile", "Range",
            "Resize", "Upsample", "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
            "Multinomial", "Bernoulli"}
_MAX_FOLD_NODES = 64
_MAX_FOLD_ELEMENTS = 1 << 16


def subgraph_inputs(node: onnx.NodeProto) -> set[str]:
    """Names a node's subgraphs (If/Loop/Scan bodies) read from the enclosing scope."""
    names: set[str] = set()
    for attr in node.attribute:
        graphs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
        for g in graphs:
            local = {i.name for i in g.input} | {i.name for i in g.initializer}
            for n in g.node:
                local.update(n.output)
            for n in g.node:
                names.update(i for i in n.input if i and i not in local)
                names.update(subgraph_inputs(n) - local)
            names.update(o.name for o in g.output if o.name not in local)
    return names


@dataclass
class Graph:
    model: onnx.ModelProto
    _names: Iterable[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.graph = self.model.graph
        self.nodes: list[onnx.NodeProto] = list(self.graph.node)
        self.initializers = {i.name: i for i in self.graph.initializer}
        self._fold_cache: dict[str, np.ndarray | None] = {}
        self.reindex()

    # ---- indexes ----
    def reindex(self) -> None:
        self.producer: dict[str, onnx.NodeProto] = {}
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for node in self.nodes:
            for out in node.output:
                if out:
                    self.producer[out] = node
            for name in list(node.input) + sorted(subgraph_inputs(node)):
                if name:
                    self.consumers.setdefault(name, []).append(node)
        self.outputs = {o.name for o in self.graph.output}
        self._fold_cache.clear()
        self.version = getattr(self, "version", 0) + 1  # bumped by every change

    def opset(self, domain: str = "") -> int:
        for o in self.model.opset_import:
            if o.domain in (domain, "ai.onnx" if domain == "" else domain):
                return o.version
        return 0

    def unique_name(self, base: str) -> str:
        taken = set(self.producer) | set(self.initializers) | {i.name for i in self.graph.input}
        while True:
            name = f"{base}_nd{next(self._names)}"
            if name not in taken:
                return name

    def only_consumer(self, name: str) -> onnx.NodeProto | None:
        """The single node reading `name`, if exactly one does and it is not a graph output."""
        users = self.consumers.get(name, [])
        if len(users) != 1 or name in self.outputs:
            return None
        return users[0]

    # ---- constants ----
    def constant(self, name: str) -> np.ndarray | None:
        """The value of `name` if it is a constant (or folds to one), else None."""
        if not name:
            return None
        if name in self._fold_cache:
            return self._fold_cache[name]
        value = self._constant(name)
        self._fold_cache[name] = value
        return value

    def _constant(self, name: str) -> np.ndarray | None:
        if name in self.initializers:
            return numpy_helper.to_array(self.initializers[name])
        node = self.producer.get(name)
        if node is None:
            return None
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            for attr in node.attribute:
                if attr.name == "value":
                    return numpy_helper.to_array(attr.t)
                if attr.name in ("value_float", "value_int"):
                    return np.array(helper.get_attribute_value(attr))
                if attr.name in ("value_floats", "value_ints"):
                    return np.array(helper.get_attribute_value(attr))
            return None
        return self._fold(name)

    def _fold(self, name: str) -> np.ndarray | None:
        """Evaluates the subgraph producing `name` when it depends on constants only."""
        needed: list[onnx.NodeProto] = []
        seen: set[int] = set()
        leaves: dict[str, np.ndarray] = {}
        stack = [name]
        while stack:
            current = stack.pop()
            if current in leaves or not current:
                continue
            if current in self.initializers:
                leaves[current] = numpy_helper.to_array(self.initializers[current])
                continue
            node = self.producer.get(current)
            if node is None or node.domain not in ("", "ai.onnx") or node.op_type in _NO_FOLD:
                return None
            if node.op_type == "Constant":
                value = self._constant(current)
                if value is None:
                    return None
                leaves[current] = value
                continue
            if id(node) in seen:
                continue
            if node.op_type == "ConstantOfShape" and not self._small_shape(node.input[0] if node.input else ""):
                return None
            seen.add(id(node))
            needed.append(node)
            if len(needed) > _MAX_FOLD_NODES:
                return None
            stack.extend(i for i in node.input if i)
        order = [n for n in self.nodes if id(n) in seen]
        try:
            from onnx.reference import ReferenceEvaluator

            inputs = [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
                      for k, v in leaves.items()]
            g = helper.make_graph(order, "fold", inputs, [helper.make_tensor_value_info(name, 0, None)])
            m = helper.make_model(g, opset_imports=[helper.make_opsetid("", self.opset() or 18)], ir_version=10)
            (value,) = ReferenceEvaluator(m).run(None, dict(leaves))
            return np.asarray(value)
        except Exception:  # noqa: BLE001 - anything the evaluator cannot do simply is not a constant
            return None

    def _small_shape(self, name: str) -> bool:
        """True when `name` is (or folds to) a constant shape of at most _MAX_FOLD_ELEMENTS elements."""
        shape = self.constant(name)
        if shape is None or shape.ndim != 1 or shape.dtype.kind not in "iu":
            return False
        dims = [int(d) for d in shape]
        return all(d >= 0 for d in dims) and math.prod(dims) <= _MAX_FOLD_ELEMENTS

    def add_initializer(self, base: str, value: np.ndarray) -> str:
        name = self.unique_name(base)
        tensor = numpy_helper.from_array(np.asarray(value), name)
        self.graph.initializer.append(tensor)
        self.initializers[name] = tensor
        return name

    # ---- rewriting ----
    def replace(self, matched: Sequence[onnx.NodeProto], replacement: Sequence[onnx.NodeProto], *,
                origin: onnx.NodeProto | None = None) -> None:
        """Removes `matched` and inserts `replacement` where the last matched node stood. The
        exporter's metadata of `origin` (the node that stands for the pattern, e.g. the norm) is
        copied onto every replacement node that has none of its own."""
        if origin is not None:
            copy_metadata(origin, replacement)
        ids = {id(n) for n in matched}
        last = max(i for i, n in enumerate(self.nodes) if id(n) in ids)
        kept_before = [n for n in self.nodes[:last] if id(n) not in ids]
        kept_after = [n for n in self.nodes[last + 1:] if id(n) not in ids]
        self.nodes = kept_before + list(replacement) + kept_after
        self.reindex()

    def remove_dead(self) -> int:
        """Drops nodes none of whose outputs is used; returns how many."""
        removed = 0
        while True:
            used = set(self.outputs)
            for n in self.nodes:
                used.update(i for i in n.input if i)
                used.update(subgraph_inputs(n))
            dead = [n for n in self.nodes if not any(o in used for o in n.output if o)]
            if not dead:
                break
            ids = {id(n) for n in dead}
            self.nodes = [n for n in self.nodes if id(n) not in ids]
            removed += len(dead)
        used = set(self.outputs)
        for n in self.nodes:
            used.update(n.input)
            used.update(subgraph_inputs(n))
        keep = [i for i in self.graph.initializer if i.name in used or i.name in {x.name for x in self.graph.input}]
        if len(keep) != len(self.graph.initializer):
            del self.graph.initializer[:]
            self.graph.initializer.extend(keep)
            self.initializers = {i.name: i for i in keep}
        self.reindex()
        return removed

    def commit(self) -> onnx.ModelProto:
        del self.graph.node[:]
        self.graph.node.extend(self.nodes)
        return self.model


def copy_metadata(origin: onnx.NodeProto, nodes: Iterable[onnx.NodeProto]) -> None:
    """Copies node.metadata_props (e.g. the torch exporter's pkg.torch.onnx.name_scopes) from
    `origin` onto each of `nodes` that has none."""
    if not origin.metadata_props:
        return
    for node in nodes:
        if node is not origin and not node.metadata_props:
            node.metadata_props.extend(origin.metadata_props)


def attribute(node: onnx.NodeProto, name: str, default=None):
    for attr in node.attribute:
        if attr.name == name:
            value = helper.get_attribute_value(attr)
            return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
    return default


def _inferred(model: onnx.ModelProto) -> onnx.ModelProto:
    """Shape inference with every normdeploy node standing in as Identity (our ops keep X's shape
    and type, but have no ONNX shape function), so shapes flow through them."""
    from ..ops import DOMAIN

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for node in copy.graph.node:
        if node.domain == DOMAIN and node.input:
            x, out = node.input[0], node.output[0]
            node.Clear()
            node.op_type = "Identity"
            node.input.append(x)
            node.output.append(out)
    try:
        return onnx.shape_inference.infer_shapes(copy, strict_mode=False)
    except Exception:  # noqa: BLE001 - best effort
        return copy


def _value_infos(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    g = _inferred(model).graph
    # our ops keep X's shape and type; propagate that across them for the rewrites downstream
    return list(g.input) + list(g.value_info) + list(g.output)


def _types_of(infos: Sequence[onnx.ValueInfoProto]) -> dict[str, np.dtype]:
    types: dict[str, np.dtype] = {}
    for vi in infos:
        elem = vi.type.tensor_type.elem_type
        if elem:
            types[vi.name] = np.dtype(helper.tensor_dtype_to_np_dtype(elem))
    return types


def _shapes_of(model: onnx.ModelProto, infos: Sequence[onnx.ValueInfoProto]) -> dict[str, list[int | str | None]]:
    shapes: dict[str, list[int | str | None]] = {}
    for vi in infos:
        t = vi.type.tensor_type
        if t.HasField("shape"):
            shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim]
    for init in model.graph.initializer:
        shapes[init.name] = list(init.dims)
    return shapes


def value_facts(model: onnx.ModelProto) -> tuple[dict[str, list[int | str | None]], dict[str, np.dtype]]:
    """Shapes and element types shape inference can tell, from one inference."""
    infos = _value_infos(model)
    return _shapes_of(model, infos), _types_of(infos)


def value_types(model: onnx.ModelProto) -> dict[str, np.dtype]:
    """Element types shape inference can tell, as numpy dtypes."""
    return _types_of(_value_infos(model))


def value_shapes(model: onnx.ModelProto) -> dict[str, list[int | str | None]]:
    """Shapes shape inference can tell (dims as ints, symbolic names, or None)."""
    return _shapes_of(model, _value_infos(model))
