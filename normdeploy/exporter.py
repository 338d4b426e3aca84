"""normdeploy.export: a PyTorch model to ONNX with normdeploy's GroupNorm and LRN nodes.

Built on torch.onnx.export(dynamo=True) with a translation table:
  aten.group_norm (nn.GroupNorm, F.group_norm)      -> normdeploy::GroupNorm
  normdeploy::local_response_norm (a torch custom op
  standing in for F.local_response_norm, which has no
  aten op and would be traced as pad/avg_pool/pow)   -> normdeploy::LocalResponseNorm(window="pytorch")
then the converter fuses GroupNorm followed by SiLU (nn.SiLU, F.silu, x * sigmoid(x): all traced
to Sigmoid+Mul) into one node with activation="silu", and catches anything the exporter
decomposed anyway. F.local_response_norm is swapped for the custom op only while exporting, and
only where it is looked up through torch.nn.functional (nn.LocalResponseNorm does that).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import re
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import onnx
import onnx.numpy_helper

from .conversion import ConvertReport, checked_save, convert_model
from .graph_rewrite import attribute
from .graphs import IR_VERSION
from .ops import DOMAIN, VERSION, register_schemas

EXPORT_OPSETS = range(17, 22)


class ExportError(RuntimeError):
    """The model could not be exported (the message says why)."""


@dataclass
class ExportResult:
    path: Path
    model: onnx.ModelProto
    report: ConvertReport  # the converter's rewrites after torch.onnx (SiLU fusions, ...)

    @property
    def nodes(self) -> Counter:
        """normdeploy nodes in the exported model: GroupNorm, GroupNorm(silu), LocalResponseNorm."""
        return count_custom_nodes(self.model)

    def summary(self) -> str:
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(self.nodes.items())) or "no normdeploy nodes"
        return f"wrote {self.path} ({counts})"

    def io_summary(self) -> str:
        """'inputs: sample float32[batch,4,height,width], timestep int64[]; outputs: ...'."""
        initializers = {i.name for i in self.model.graph.initializer}
        inputs = [vi for vi in self.model.graph.input if vi.name not in initializers]
        return (f"inputs: {', '.join(_describe_value(vi) for vi in inputs)}; "
                f"outputs: {', '.join(_describe_value(vi) for vi in self.model.graph.output)}")


def _describe_value(vi: onnx.ValueInfoProto) -> str:
    t = vi.type.tensor_type
    dtype = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name if t.elem_type not in (0, 16) else (
        "bfloat16" if t.elem_type == 16 else "?")
    dims = ",".join(d.dim_param or str(d.dim_value) for d in t.shape.dim) if t.HasField("shape") else "?"
    return f"{vi.name} {dtype}[{dims}]"


def count_custom_nodes(model: onnx.ModelProto) -> Counter:
    counts: Counter = Counter()
    for node in model.graph.node:
        if node.domain != DOMAIN:
            continue
        activation = attribute(node, "activation", "none")
        counts[node.op_type if activation == "none" else f"{node.op_type}({activation})"] += 1
    return counts


@contextlib.contextmanager
def _lrn_as_custom_op() -> Iterator[None]:
    import torch.nn.functional as F

    from . import torch_ops

    original = F.local_response_norm
    F.local_response_norm = torch_ops.patched_local_response_norm
    try:
        yield
    finally:
        F.local_response_norm = original


def _translation_table() -> dict[Any, Any]:
    from . import torch_ops

    return torch_ops.translation_table()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """torch.onnx prints progress and warnings for optional packages (torchvision); keep the
    user's terminal for our own messages."""
    previous = logging.root.manager.disable
    logging.disable(logging.ERROR)  # torch logs its failures; export reports them itself
    with warnings.catch_warnings(), open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            logging.disable(previous)


def export(
    model: Any,
    args: Any,
    path: str | os.PathLike[str],
    *,
    kwargs: Mapping[str, Any] | None = None,
    opset: int = 18,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    dynamic_axes: Mapping[str, Mapping[int, str] | Sequence[int]] | None = None,
    verbose: bool = False,
) -> ExportResult:
    """Exports `model(*args, **kwargs)` to `path` with normdeploy nodes; returns the path, the model
    and the converter's report. Opsets 17 to 21.

    Inputs: every tensor in args/kwargs becomes a graph input named as torch.onnx names it: after
    forward()'s parameter (`sample`, `timestep`, ...; a list parameter `feats` gives `feats_0`,
    `feats_1`; a dict `d` gives `d_<key>`; **kwargs entries their key). Non-tensor values (e.g.
    `return_dict=False`) are constants baked into the graph. `input_names` renames the first inputs.
    `dynamic_axes` maps input names to {axis: dim name} or [axes] (e.g. {"sample": {0: "batch"}}).

    Outputs: a tensor is `output`; tuples/lists are flattened to `output_0`, `output_1`, ...;
    dicts, dataclasses, namedtuples and dict-like model outputs (transformers ModelOutput,
    diffusers BaseOutput) give their keys (`sample`, `last_hidden_state`), nested paths joined by
    `_`; None entries are dropped. A key equal to an input name gets `out_` in front (the UNet's
    output `sample` becomes `out_sample`). `output_names` renames the first outputs."""
    from .extras import require
    require("torch", "normdeploy export")
    import torch

    from . import inputspec
    from .torch_ops import FlatOutputs, OutputStructureError

    if opset not in EXPORT_OPSETS:
        raise ExportError(f"export: opset {opset} is not supported; use {EXPORT_OPSETS.start} to {EXPORT_OPSETS.stop - 1}")
    if not isinstance(model, torch.nn.Module):
        raise ExportError(f"export: model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(args, tuple):
        args = (args,)
    if kwargs is not None and not isinstance(kwargs, Mapping):
        raise ExportError(f"export: kwargs must be a dict of forward() keyword arguments, got {type(kwargs).__name__}")
    register_schemas()
    signature = inputspec.forward_signature(model)
    try:
        bound = inputspec.bind(signature, args, [(str(k), v) for k, v in (kwargs or {}).items()])
    except inputspec.InputSpecError as exc:
        raise ExportError(f"export: {exc}") from None
    inputs = _tensor_inputs(bound, torch.Tensor)
    names = _input_names([name for name, _ in inputs], input_names)
    axes = _dynamic_axes(dynamic_axes, names, [t for _, t in inputs], renamed=input_names is not None)
    clash = sorted(set(map(str, output_names or ())) & set(names))
    if clash:
        raise ExportError(f"export: output_names {clash} are input names too; ONNX names must be unique")
    dynamic_shapes = _dynamic_shapes(bound, axes, names, torch) if axes else None
    was_training = model.training
    model.eval()
    build_opset = max(opset, 18)  # torch.onnx builds 17 at 18 and converts down
    flat = FlatOutputs(model)
    try:
        with _lrn_as_custom_op(), (contextlib.nullcontext() if verbose else _quiet()), torch.no_grad():
            program = torch.onnx.export(
                model, bound.args, kwargs=bound.kwargs, dynamo=True, opset_version=build_opset,
                dynamic_shapes=dynamic_shapes, custom_translation_table=_translation_table(), external_data=False,
            )
    except Exception as exc:  # noqa: BLE001 - torch raises many types; report them as one
        structure = _find_cause(exc, OutputStructureError)
        if structure is not None:
            raise ExportError(f"export: {structure}") from exc
        raise ExportError(f"export: torch.onnx.export failed: {_root_cause(exc)}") from exc
    finally:
        flat.remove()
        model.train(was_training)
    proto = program.model_proto
    _name_inputs(proto, names, axes)
    _name_outputs(proto, _output_names(flat.paths, output_names, names))
    proto, report = convert_model(proto, "custom")
    if opset < build_opset:
        proto = _down_convert(proto, opset)
    proto.ir_version = IR_VERSION
    proto.producer_name = "normdeploy"
    saved = checked_save(proto, path)
    return ExportResult(path=saved, model=proto, report=report)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _root_cause(exc: BaseException) -> str:
    """'Type: first line' of the innermost cause (torch wraps the model's own error in
    TorchExportError, whose first lines are advice)."""
    root = exc
    while root.__cause__ is not None and root.__cause__ is not root:
        root = root.__cause__
    lines = [line.strip() for line in _ANSI.sub("", str(root)).splitlines() if line.strip()]
    text = " ".join(lines[:2]) if len(lines) > 1 and lines[0].endswith(":") else (lines[0] if lines else "(no message)")
    return f"{type(root).__name__}: {text}"


def _find_cause(exc: BaseException | None, kind: type) -> BaseException | None:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, kind):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


# ---------------------------------------------------------------------------------------------
# inputs


def _tensor_inputs(bound: Any, tensor_type: type) -> list[tuple[str, Any]]:
    """(name, tensor) for every tensor among the bound arguments, in torch.export's order, named
    as torch.onnx names them: the parameter, then `_<index>` / `_<key>` per nesting level;
    **kwargs entries by their key alone."""
    found: list[tuple[str, Any]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, tensor_type):
            found.append((prefix, value))
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                walk(f"{prefix}_{index}", item)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                walk(f"{prefix}_{key}" if prefix else str(key), item)

    var_keyword = _var_keyword(bound.signature)
    for name, value in bound.arguments.items():
        walk("" if name == var_keyword else name, value)
    return found


def _var_keyword(signature: inspect.Signature | None) -> str:
    if signature is None:
        return "kwargs"
    return next((p.name for p in signature.parameters.values() if p.kind is p.VAR_KEYWORD), "")


def _input_names(defaults: list[str], given: Sequence[str] | None) -> list[str]:
    if not defaults:
        raise ExportError("export: the model gets no tensor input (args and kwargs hold no torch.Tensor)")
    if given is None:
        return defaults
    return _given_names(defaults, given, "input", "tensor input(s)")


def _given_names(defaults: list[str], given: Sequence[str] | None, what: str, tensors: str, hint: str = "") -> list[str]:
    """`given` (the user's input_names / output_names, `what` says which) over the first of
    `defaults`; more names than `tensors`, or a name twice, is an ExportError."""
    names = list(defaults)
    if given is not None:
        given = [str(n) for n in given]
        if len(given) > len(defaults):
            raise ExportError(f"export: {len(given)} {what}_names {given} for {len(defaults)} {tensors} {defaults}")
        names = given + defaults[len(given):]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ExportError(f"export: {what} names {dup} appear twice among {names}{hint}")
    return names


def _dynamic_axes(spec: Mapping[str, Any] | None, names: list[str], tensors: list[Any],
                  renamed: bool) -> dict[str, dict[int, str]]:
    """{input name: {axis: dim name}} checked against the inputs and their ranks."""
    if not spec:
        return {}
    unknown = sorted(set(spec) - set(names))
    if unknown:
        hint = ""
        if "input" in unknown and not renamed:
            hint = (f"; inputs are named after forward()'s parameters, as torch.onnx names them (pass "
                    f"input_names=['input'] for the old name)")
        raise ExportError(f"export: dynamic_axes names {unknown} are not inputs ({names}){hint}")
    axes: dict[str, dict[int, str]] = {}
    for name, tensor in zip(names, tensors):
        given = spec.get(name)
        if not given:
            continue
        pairs = given.items() if isinstance(given, Mapping) else ((a, f"{name}_dim{a}") for a in given)
        rank = tensor.dim()
        for axis, dim in pairs:
            if not isinstance(axis, int) or isinstance(axis, bool) or not -rank <= axis < rank:
                raise ExportError(f"export: dynamic_axes[{name!r}]: axis {axis!r} is out of range for the rank-{rank} "
                                  f"input {name!r} of shape {list(tensor.shape)}")
            axes.setdefault(name, {})[axis % rank] = str(dim)
    return axes


def _dynamic_shapes(bound: Any, axes: dict[str, dict[int, str]], names: list[str], torch: Any) -> dict[str, Any]:
    """torch.export's dynamic_shapes for the bound arguments (keyed by parameter, nested like
    them): Dim.DYNAMIC on the asked axes; the names are put on the ONNX dims afterwards."""
    leaves = iter(names)

    def mirror(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            asked = axes.get(next(leaves))
            return {axis: torch.export.Dim.DYNAMIC for axis in asked} if asked else None
        if isinstance(value, (list, tuple)):
            return type(value)(mirror(v) for v in value) if not hasattr(value, "_fields") else [mirror(v) for v in value]
        if isinstance(value, Mapping):
            return {k: mirror(v) for k, v in value.items()}
        return None

    return {name: mirror(value) for name, value in bound.arguments.items()}


def _name_inputs(model: onnx.ModelProto, names: list[str], axes: dict[str, dict[int, str]]) -> None:
    """Gives the graph inputs their names and the dynamic dims their names (torch.onnx calls
    them s0, s1, ...); a dynamic axis the model fixed to one size is an error."""
    initializers = {i.name for i in model.graph.initializer}
    graph_inputs = [vi for vi in model.graph.input if vi.name not in initializers]
    if len(graph_inputs) != len(names):
        raise ExportError(f"export: torch.onnx made {len(graph_inputs)} graph input(s) "
                          f"{[vi.name for vi in graph_inputs]} for {len(names)} tensor input(s) {names}")
    _rename_values(model.graph, {vi.name: new for vi, new in zip(graph_inputs, names)})
    symbols: dict[str, str] = {}
    for vi, name in zip(graph_inputs, names):
        dims = vi.type.tensor_type.shape.dim
        for axis, dim_name in sorted(axes.get(name, {}).items()):
            dim = dims[axis]
            if not dim.HasField("dim_param"):
                raise ExportError(f"export: dynamic axis {axis} of input {name!r} came out static ({dim.dim_value}): "
                                  f"the model fixes its size")
            symbols.setdefault(dim.dim_param, dim_name)
    if symbols:
        _rename_dims(model.graph, symbols)


_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _rename_dims(graph: onnx.GraphProto, symbols: Mapping[str, str]) -> None:
    """Renames symbolic dims (also inside expressions such as `s0 + 1`) in every value info."""
    for vi in [*graph.input, *graph.output, *graph.value_info]:
        if not vi.type.HasField("tensor_type"):
            continue
        for dim in vi.type.tensor_type.shape.dim:
            if dim.HasField("dim_param"):
                dim.dim_param = _TOKEN.sub(lambda m: symbols.get(m.group(0), m.group(0)), dim.dim_param)


# ---------------------------------------------------------------------------------------------
# outputs


def _output_names(paths: list[tuple[Any, ...]], given: Sequence[str] | None, inputs: list[str]) -> list[str]:
    """Names from the outputs' key paths (see export()), then `given` over the first ones."""
    names = []
    for path in paths:
        if not path:
            name = "output"
        elif isinstance(path[0], int):
            name = "output_" + "_".join(str(p) for p in path)
        else:
            name = "_".join(str(p) for p in path)
        while name in inputs:
            name = f"out_{name}"
        names.append(name)
    return _given_names(names, given, "output", "output(s)", "; pass output_names")


def _name_outputs(model: onnx.ModelProto, names: list[str]) -> None:
    outputs = list(model.graph.output)
    if len(outputs) != len(names):
        raise ExportError(f"export: torch.onnx made {len(outputs)} graph output(s) for {len(names)} output tensor(s)")
    _rename_values(model.graph, {o.name: new for o, new in zip(outputs, names)})


def _graph_names(graph: onnx.GraphProto, into: set[str]) -> set[str]:
    into.update(vi.name for vi in [*graph.input, *graph.output, *graph.value_info])
    into.update(i.name for i in graph.initializer)
    for node in graph.node:
        into.update(node.input)
        into.update(node.output)
        for attr in node.attribute:
            for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                _graph_names(sub, into)
    return into


def _rename_values(graph: onnx.GraphProto, mapping: Mapping[str, str]) -> None:
    """Renames values everywhere (nodes, subgraphs, inputs, outputs, value infos, initializers).
    An internal value that already has one of the new names is moved out of the way first."""
    mapping = {old: new for old, new in mapping.items() if old != new}
    if not mapping:
        return
    used = _graph_names(graph, set())
    full = dict(mapping)
    for new in set(mapping.values()):
        if new in used and new not in mapping:
            index = 1
            while f"{new}__{index}" in used or f"{new}__{index}" in full.values():
                index += 1
            full[new] = f"{new}__{index}"
    _apply_names(graph, full)


def _apply_names(graph: onnx.GraphProto, mapping: Mapping[str, str]) -> None:
    for node in graph.node:
        node.input[:] = [mapping.get(n, n) if n else n for n in node.input]
        node.output[:] = [mapping.get(n, n) if n else n for n in node.output]
        for attr in node.attribute:
            for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                _apply_names(sub, mapping)
    for vi in [*graph.input, *graph.output, *graph.value_info]:
        vi.name = mapping.get(vi.name, vi.name)
    for init in graph.initializer:
        init.name = mapping.get(init.name, init.name)


def _down_convert(model: onnx.ModelProto, opset: int) -> onnx.ModelProto:
    """Lowers the default-domain opset with onnx's version converter (which cannot see custom
    domains: our nodes stand in as Identity while it runs, then come back unchanged)."""
    from onnx import version_converter

    stand_ins: dict[str, onnx.NodeProto] = {}
    work = onnx.ModelProto()
    work.CopyFrom(model)
    for node in work.graph.node:
        if node.domain == DOMAIN:
            original = onnx.NodeProto()
            original.CopyFrom(node)
            stand_ins[node.output[0]] = original
            x, y = node.input[0], node.output[0]
            node.Clear()
            node.op_type, node.name = "Identity", original.name
            node.input.append(x)
            node.output.append(y)
    current = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    splits = _take_splits(work.graph) if current >= 18 > opset else []
    del work.opset_import[:]
    work.opset_import.append(onnx.helper.make_opsetid("", current))
    try:
        lowered = version_converter.convert_version(work, opset)
    except Exception as exc:  # noqa: BLE001 - the converter raises RuntimeError/ValueError
        raise ExportError(f"export: cannot lower opset {current} to {opset}: {exc}; export at opset {current} "
                          "instead") from exc
    for node in lowered.graph.node:
        if node.op_type == "Identity" and node.output[0] in stand_ins:
            node.CopyFrom(stand_ins[node.output[0]])
        elif node.op_type.startswith("Reduce") and node.op_type != "ReduceSum" and opset < 18:
            # the converter keeps noop_with_empty_axes (new in 18) on the lowered Reduce* ops
            kept = [a for a in node.attribute if not (a.name == "noop_with_empty_axes" and a.i == 0)]
            if len(kept) != len(node.attribute):
                del node.attribute[:]
                node.attribute.extend(kept)
    for split in splits:
        _put_split_back(lowered.graph, split, _split_sizes(model.graph, split))
    if splits:  # the converter inferred shapes through the stand-ins: keep the exporter's own
        names = {o for n in lowered.graph.node for o in n.output}
        del lowered.graph.value_info[:]
        lowered.graph.value_info.extend(vi for vi in model.graph.value_info if vi.name in names)
    if stand_ins:
        lowered.opset_import.append(onnx.helper.make_opsetid(DOMAIN, VERSION))
    return lowered


def _take_splits(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """Stands in for the default-domain Split nodes while onnx's version converter runs (it has
    no Split 18 -> 17 adapter; torch.chunk makes them, e.g. in GEGLU and attention): one
    Identity per output, and the outputs' value infos dropped (their shapes differ from X's)."""
    taken = [n for n in graph.node if n.op_type == "Split" and n.domain in ("", "ai.onnx")]
    if not taken:
        return []
    outputs = {o for n in taken for o in n.output}
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        if node.op_type == "Split" and node.domain in ("", "ai.onnx"):
            nodes.extend(onnx.helper.make_node("Identity", [node.input[0]], [o]) for o in node.output if o)
        else:
            nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    kept = [vi for vi in graph.value_info if vi.name not in outputs]
    del graph.value_info[:]
    graph.value_info.extend(kept)
    return taken


def _split_sizes(graph: onnx.GraphProto, node: onnx.NodeProto) -> list[int] | None:
    """The chunk sizes of a Split-18 with num_outputs (ceil-sized, the last one smaller) when the
    split axis has a known size; None when it has not (then Split-13's equal parts are used)."""
    count = next((a.i for a in node.attribute if a.name == "num_outputs"), 0)
    if not count or (len(node.input) > 1 and node.input[1]):
        return None
    axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
    for vi in [*graph.input, *graph.value_info, *graph.output]:
        if vi.name == node.input[0] and vi.type.tensor_type.HasField("shape"):
            dims = vi.type.tensor_type.shape.dim
            dim = dims[axis % len(dims)] if dims else None
            if dim is not None and dim.HasField("dim_value"):
                size = dim.dim_value
                step = -(-size // count)
                return [min(step, size - i * step) for i in range(count)]
    return None


def _put_split_back(graph: onnx.GraphProto, node: onnx.NodeProto, sizes: list[int] | None) -> None:
    """Replaces a Split's Identity stand-ins by the Split as Split-13 (explicit sizes as an
    initializer, or equal parts)."""
    lowered = onnx.NodeProto()
    lowered.CopyFrom(node)
    del lowered.attribute[:]
    lowered.attribute.extend(a for a in node.attribute if a.name != "num_outputs")
    if sizes is not None:
        name = f"{node.name or node.output[0]}_split_sizes"
        graph.initializer.append(onnx.numpy_helper.from_array(np.asarray(sizes, dtype=np.int64), name))
        del lowered.input[1:]
        lowered.input.append(name)
    outputs = {o for o in node.output if o}
    nodes = list(graph.node)
    stand_ins = [i for i, n in enumerate(nodes) if n.op_type == "Identity" and n.output[0] in outputs]
    at = stand_ins[0] if stand_ins else len(nodes)
    nodes = [n for i, n in enumerate(nodes) if i not in set(stand_ins)]
    nodes.insert(at, lowered)
    del graph.node[:]
    graph.node.extend(nodes)
