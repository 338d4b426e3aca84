"""ONNX Runtime graph optimization levels: the ``--ort-opt-level`` setting, sessions at a level,
and the optimized graph ORT saves (``SessionOptions.optimized_model_filepath``) compared with the
original one, so a report can name the node the optimizer wrote in place of the original ones.

Levels, as ORT names them: disable = ORT_DISABLE_ALL, basic = ORT_ENABLE_BASIC (constant folding,
redundant-node removal, Pad/Conv/MaxPool and similar fusions), extended = ORT_ENABLE_EXTENDED
(more fusions), all = ORT_ENABLE_ALL (ORT's default: also layout optimizations).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ValidateError

#: --ort-opt-level value -> ORT's name of the level, in increasing order.
OPT_LEVELS: dict[str, str] = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}
DEFAULT_OPT_LEVEL = "all"


def check_level(level: Any) -> str:
    if not isinstance(level, str) or level not in OPT_LEVELS:
        raise ValidateError(f"ort_opt_level {level!r}: expected one of {', '.join(OPT_LEVELS)} "
                            f"(--ort-opt-level disable|basic|extended|all)")
    return level


def ort_level(level: str) -> Any:
    import onnxruntime as ort

    return getattr(ort.GraphOptimizationLevel, OPT_LEVELS[check_level(level)])


def session_at(model: Any, *, with_library: bool, level: str, save_optimized: str | os.PathLike[str] | None = None) -> Any:
    """A CPU InferenceSession at graph optimization `level` (idle spinning off), from a path or an
    onnx.ModelProto; `save_optimized` makes ORT write the graph it will run there."""
    import onnxruntime as ort

    from ..runtime import make_session

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort_level(level)
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if save_optimized is not None:
        opts.optimized_model_filepath = str(save_optimized)
    if with_library:
        return make_session(model, options=opts)
    source = str(model) if isinstance(model, (str, os.PathLike)) else model.SerializeToString()
    return ort.InferenceSession(source, sess_options=opts, providers=["CPUExecutionProvider"])


@dataclass
class GraphChange:
    """One node of the optimized graph that is new or differs from the original node of that name."""

    name: str
    op_type: str
    domain: str
    inputs: list[str]
    outputs: list[str]
    attributes: dict[str, Any]
    was: dict[str, Any] | None          # the original node of that name (op, inputs, attributes), if any
    replaces: list[str] = field(default_factory=list)  # original nodes gone from the optimized graph it took over

    def describe(self) -> str:
        attrs = " ".join(f"{k}={v}" for k, v in self.attributes.items())
        what = f"node '{self.name}' ({self.domain + '.' if self.domain else ''}{self.op_type}{' ' + attrs if attrs else ''})"
        what += f" reads {self.inputs}"
        if self.was is not None:
            old = []
            if self.was["op_type"] != self.op_type:
                old.append(f"op {self.was['op_type']}")
            if self.was["inputs"] != self.inputs:
                old.append(f"inputs {self.was['inputs']}")
            before = self.was["attributes"]
            old += [f"{k}={before.get(k, '(unset)')}" for k in sorted(set(before) | set(self.attributes))
                    if before.get(k) != self.attributes.get(k)]
            if old:
                what += f" (was: {', '.join(old)})"
        else:
            what += " (new)"
        if self.replaces:
            what += f"; it replaces {', '.join(self.replaces)}"
        return what

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "op_type": self.op_type, "domain": self.domain, "inputs": self.inputs,
                "outputs": self.outputs, "attributes": self.attributes, "was": self.was, "replaces": self.replaces,
                "description": self.describe()}


def node_attributes(node: Any) -> dict[str, Any]:
    """Scalar, string and list attributes (floats at float32 precision: 1e-05, not 9.99e-06)."""
    from onnx import helper

    values: dict[str, Any] = {}
    for attr in node.attribute:
        value = helper.get_attribute_value(attr)
        if isinstance(value, bytes):
            value = value.decode(errors="replace")
        if isinstance(value, float):
            value = float(f"{value:.7g}")
        if isinstance(value, (list, tuple)):
            if not all(isinstance(v, (int, float, bytes)) for v in value):
                continue
            value = [float(f"{v:.7g}") if isinstance(v, float) else v.decode(errors="replace") if isinstance(v, bytes) else v
                     for v in value]
        if isinstance(value, (int, float, str, list)):
            values[attr.name] = value
    return values


def _node_info(node: Any) -> dict[str, Any]:
    return {"op_type": node.op_type, "inputs": list(node.input), "attributes": node_attributes(node)}


def optimized_graph(model: Any, *, with_library: bool, level: str, workdir: Path) -> Any:
    """The graph ORT runs at `level` (an onnx.ModelProto), as it saves it."""
    import onnx

    path = workdir / f"optimized-{level}.onnx"
    session_at(model, with_library=with_library, level=level, save_optimized=path)
    return onnx.load(str(path))


def graph_changes(original: Any, optimized: Any) -> tuple[list[GraphChange], list[str]]:
    """Nodes of `optimized` that are new or differ from the original node of that name, and the
    original nodes (by name, with op type) that are gone. A changed node that now produces a
    tensor a removed node used to consume from, or reads what a removed node read, replaces it."""
    before = {n.name: n for n in original.graph.node if n.name}
    after = {n.name for n in optimized.graph.node if n.name}
    removed_nodes = [n for n in original.graph.node if n.name and n.name not in after]
    removed = [f"'{n.name}' ({n.op_type})" for n in removed_nodes]
    changes = []
    for node in optimized.graph.node:
        old = before.get(node.name)
        info = _node_info(node)
        if old is not None and _node_info(old) == info:
            continue
        change = GraphChange(node.name, node.op_type, node.domain, list(node.input), list(node.output),
                             info["attributes"], _node_info(old) if old is not None else None)
        reads = set(node.input)
        for gone in removed_nodes:
            if (set(gone.input) & reads) or (set(gone.output) & set(old.input if old is not None else [])):
                change.replaces.append(f"'{gone.name}' ({gone.op_type})")
        changes.append(change)
    return changes, removed
