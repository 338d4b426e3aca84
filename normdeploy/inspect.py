"""What a model holds of normdeploy's world: our nodes and their attributes, the standard ops
we could rewrite, its opsets, and which runtimes can run it as it is."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx
from onnx import helper

from .ops import DOMAIN, PLUGIN_NAMESPACE

_STANDARD_NORMS = ("GroupNormalization", "InstanceNormalization", "LRN")


@dataclass
class NodeInfo:
    name: str
    op_type: str
    attributes: dict[str, Any]
    problem: str | None = None


@dataclass
class Inspection:
    source: str
    ir_version: int
    opsets: dict[str, int]
    custom_nodes: list[NodeInfo] = field(default_factory=list)
    standard_norms: Counter = field(default_factory=Counter)
    runtimes: dict[str, tuple[bool, str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source, "ir_version": self.ir_version, "opsets": self.opsets,
            "custom_nodes": [vars(n) for n in self.custom_nodes],
            "standard_norm_ops": dict(self.standard_norms),
            "runtimes": {k: {"can_run": ok, "why": why} for k, (ok, why) in self.runtimes.items()},
        }

    def summary(self) -> str:
        lines = [f"{self.source}: IR {self.ir_version}, opsets "
                 + ", ".join(f"{d or 'ai.onnx'} {v}" for d, v in sorted(self.opsets.items()))]
        lines.append(f"normdeploy nodes: {len(self.custom_nodes)}")
        for n in self.custom_nodes:
            attrs = ", ".join(f"{k}={v!r}" for k, v in n.attributes.items())
            lines.append(f"  {n.op_type:<18} {n.name:<24} {attrs}" + (f"  !! {n.problem}" if n.problem else ""))
        if self.standard_norms:
            found = ", ".join(f"{k}: {v}" for k, v in sorted(self.standard_norms.items()))
            lines.append(f"standard normalization ops (normdeploy convert can rewrite them): {found}")
        lines.append("runtimes:")
        for runtime, (ok, why) in self.runtimes.items():
            lines.append(f"  {'yes' if ok else 'no ':<4}{runtime}: {why}")
        return "\n".join(lines)


def _shown(value: Any) -> Any:
    """An attribute value as inspect shows it: tensors and graphs as a one-line summary."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, float):
        return float(f"{value:.7g}")  # ONNX floats are float32: show them as such
    if isinstance(value, onnx.TensorProto):
        kind = onnx.TensorProto.DataType.Name(value.data_type) if value.data_type in onnx.TensorProto.DataType.values() \
            else str(value.data_type)
        return f"<tensor {kind.lower()} {list(value.dims)}>"
    if isinstance(value, onnx.GraphProto):
        return f"<graph {value.name!r}>"
    if isinstance(value, (list, tuple)):
        return [_shown(v) for v in value]
    if isinstance(value, (int, str)) or value is None:
        return value
    return f"<{type(value).__name__}>"


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    out = {}
    for a in sorted(node.attribute, key=lambda a: a.name):
        out[a.name] = _shown(helper.get_attribute_value(a)) if a.type != onnx.AttributeProto.UNDEFINED else None
    return out


def inspect_model(model: onnx.ModelProto | str | Path) -> Inspection:
    from .conversion import load_model
    from .model_checks import check_model, custom_node_problem

    source = str(model) if not isinstance(model, onnx.ModelProto) else "<model>"
    if not isinstance(model, onnx.ModelProto):
        model = load_model(model)
    check_model(model, source)  # a broken graph is an error, not something to list
    info = Inspection(source=source, ir_version=model.ir_version,
                      opsets={o.domain: o.version for o in model.opset_import})
    even_lrn = 0
    for index, node in enumerate(model.graph.node):
        if node.domain == DOMAIN:
            name = node.name or next((o for o in node.output if o), f"#{index}")
            info.custom_nodes.append(NodeInfo(name, node.op_type, _attrs(node), custom_node_problem(node)))
        elif node.domain in ("", "ai.onnx") and node.op_type in _STANDARD_NORMS:
            info.standard_norms[node.op_type] += 1
            size = _attrs(node).get("size", 1)
            if node.op_type == "LRN" and isinstance(size, int) and size % 2 == 0:
                even_lrn += 1
    broken = [n for n in info.custom_nodes if n.problem]
    if info.custom_nodes:
        info.runtimes["onnxruntime"] = (False, "has normdeploy nodes: register normdeploy's library "
                                        "(normdeploy.make_session) or `normdeploy convert --to standard`")
    elif even_lrn:
        info.runtimes["onnxruntime"] = (False, f"{even_lrn} LRN node(s) with an even size, which ONNX Runtime "
                                        "rejects: `normdeploy convert` them to custom nodes")
    else:
        info.runtimes["onnxruntime"] = (True, "standard ops only")
    if broken:
        info.runtimes["onnxruntime + normdeploy library"] = (False, f"{len(broken)} node(s) with invalid attributes")
    elif info.custom_nodes:
        info.runtimes["onnxruntime + normdeploy library"] = (True, "CPU kernels for every normdeploy node")
    else:
        info.runtimes["onnxruntime + normdeploy library"] = info.runtimes["onnxruntime"]
    if not info.custom_nodes:
        info.runtimes["tensorrt + normdeploy plugins"] = (True, "no normdeploy nodes (standard ops only)")
        return info
    unmapped = [n for n in info.custom_nodes
                if n.attributes.get("plugin_namespace") != PLUGIN_NAMESPACE or "plugin_version" not in n.attributes]
    if unmapped:
        info.runtimes["tensorrt + normdeploy plugins"] = (
            False, f"{len(unmapped)} node(s) lack plugin_version/plugin_namespace='{PLUGIN_NAMESPACE}' "
            "(TensorRT's parser needs them to find the plugin): re-run `normdeploy convert`")
    else:
        info.runtimes["tensorrt + normdeploy plugins"] = (
            bool(not broken), "every node maps to a normdeploy plugin by op type, version and namespace "
            "(needs normdeploy's TensorRT plugin library loaded)")
    return info
