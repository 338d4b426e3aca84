"""Which ONNX nodes come from which PyTorch module: the torch.onnx (dynamo) exporter writes
``pkg.torch.onnx.name_scopes`` on every node (['', 'stem', 'stem.1', 'group_norm']: the root,
the module paths from the outside in, then the FX node) and ``pkg.torch.onnx.class_hierarchy``
(the classes of the same entries). normdeploy's convert copies them onto the nodes it writes.

A module called several times has several runs of consecutive nodes in the graph (the graph
keeps the program's order); each run is one call. A call's outputs are the tensors its nodes
make that something outside the call reads (or that are graph outputs); its inputs are the
tensors its nodes read that nothing in the call makes (weights and Constant outputs excluded).
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from typing import Any

SCOPES_KEY = "pkg.torch.onnx.name_scopes"
CLASSES_KEY = "pkg.torch.onnx.class_hierarchy"


@dataclass
class ScopeCall:
    path: str
    cls: str                                    # the class the exporter recorded (module.Class)
    nodes: list[Any] = field(default_factory=list)   # onnx.NodeProto, graph order
    outputs: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)


def _list(text: str) -> list[str] | None:
    for parse in (ast.literal_eval, json.loads):
        try:
            value = parse(text)
        except (ValueError, SyntaxError, TypeError):
            continue
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return list(value)
    return None


def node_scopes(node: Any) -> tuple[list[str], list[str]] | None:
    """(module paths, their classes) of a node from the exporter's metadata, outermost first,
    without the root and the FX node; None when the node carries none."""
    props = {p.key: p.value for p in node.metadata_props}
    if SCOPES_KEY not in props:
        return None
    scopes = _list(props[SCOPES_KEY])
    if scopes is None:
        return None
    classes = _list(props.get(CLASSES_KEY, "")) or []
    paths = scopes[1:-1]
    names = classes[1:-1] if len(classes) == len(scopes) else [""] * len(paths)
    return paths, names


def has_torch_metadata(model: Any) -> bool:
    return any(node_scopes(n) is not None for n in model.graph.node)


def producer(model: Any) -> str:
    return f"{model.producer_name or 'unknown producer'} {model.producer_version}".strip()


def module_calls(model: Any) -> dict[str, list[ScopeCall]]:
    """{module path: its calls in graph order} from the nodes' metadata."""
    calls: dict[str, list[ScopeCall]] = {}
    open_calls: dict[str, ScopeCall] = {}
    for node in model.graph.node:
        found = node_scopes(node)
        if found is None:
            continue  # no metadata (e.g. written by another tool): belongs to no call, closes none
        paths, classes = found
        for path in [p for p in open_calls if p not in paths]:
            calls.setdefault(path, []).append(open_calls.pop(path))
        for path, cls in zip(paths, classes):
            open_calls.setdefault(path, ScopeCall(path, cls)).nodes.append(node)
    for path, call in open_calls.items():
        calls.setdefault(path, []).append(call)
    _boundaries(model, calls)
    return calls


def merge(calls: list[ScopeCall]) -> ScopeCall:
    merged = ScopeCall(calls[0].path, calls[0].cls, [n for c in calls for n in c.nodes])
    return merged


def _boundaries(model: Any, calls: dict[str, list[ScopeCall]]) -> None:
    consumers: dict[str, set[int]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, set()).add(id(node))
    graph_outputs = {o.name for o in model.graph.output}
    constants = {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    weights = {i.name for i in model.graph.initializer} | constants
    for path_calls in calls.values():
        for call in path_calls:
            set_boundaries(call, consumers, graph_outputs, weights)


def set_boundaries(call: ScopeCall, consumers: dict[str, set[int]], graph_outputs: set[str], weights: set[str]) -> None:
    ids = {id(n) for n in call.nodes}
    made = [o for n in call.nodes for o in n.output if o]
    made_set = set(made)
    call.outputs = [o for o in made if o in graph_outputs or (consumers.get(o, set()) - ids)]
    seen: set[str] = set()
    call.inputs = []
    for node in call.nodes:
        for name in node.input:
            if name and name not in made_set and name not in weights and name not in seen:
                seen.add(name)
                call.inputs.append(name)


def consumers_of(model: Any) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for node in model.graph.node:
        for name in node.input:
            found.setdefault(name, set()).add(id(node))
    return found
