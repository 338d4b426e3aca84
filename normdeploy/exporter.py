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
import logging
import os
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import onnx

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
    logging.disable(logging.WARNING)
    with warnings.catch_warnings(), open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            logging.disable(previous)


def export(
    model: Any,
    args: tuple,
    path: str | os.PathLike[str],
    *,
    opset: int = 18,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    dynamic_axes: Mapping[str, Mapping[int, str]] | None = None,
    verbose: bool = False,
) -> ExportResult:
    """Exports `model(*args)` to `path` with normdeploy nodes; returns the path, the model and the
    converter's report. `dynamic_axes` maps input names to {axis: name} (e.g. {"input": {0:
    "batch", 2: "height"}}); opsets 17 to 21."""
    import torch

    if opset not in EXPORT_OPSETS:
        raise ExportError(f"export: opset {opset} is not supported; use {EXPORT_OPSETS.start} to {EXPORT_OPSETS.stop - 1}")
    if not isinstance(model, torch.nn.Module):
        raise ExportError(f"export: model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(args, tuple):
        args = (args,)
    register_schemas()
    input_names = list(input_names or (["input"] if len(args) == 1 else [f"input_{i}" for i in range(len(args))]))
    if dynamic_axes:
        unknown = sorted(set(dynamic_axes) - set(input_names))
        if unknown:
            raise ExportError(f"export: dynamic_axes names {unknown} are not inputs ({input_names})")
    was_training = model.training
    model.eval()
    build_opset = max(opset, 18)  # torch.onnx builds 17 at 18 and converts down
    try:
        with _lrn_as_custom_op(), (contextlib.nullcontext() if verbose else _quiet()), torch.no_grad():
            program = torch.onnx.export(
                model, args, dynamo=True, opset_version=build_opset, input_names=input_names,
                output_names=list(output_names) if output_names else None,
                dynamic_axes={k: dict(v) for k, v in dynamic_axes.items()} if dynamic_axes else None,
                custom_translation_table=_translation_table(), external_data=False,
            )
    except Exception as exc:  # noqa: BLE001 - torch raises many types; report them as one
        raise ExportError(f"export: torch.onnx.export failed: {type(exc).__name__}: {exc}") from exc
    finally:
        model.train(was_training)
    proto = program.model_proto
    outputs = len(proto.graph.output)
    _rename_outputs(proto, list(output_names) if output_names else
                    (["output"] if outputs == 1 else [f"output_{i}" for i in range(outputs)]))
    proto, report = convert_model(proto, "custom")
    if opset < build_opset:
        proto = _down_convert(proto, opset)
    proto.ir_version = IR_VERSION
    proto.producer_name = "normdeploy"
    saved = checked_save(proto, path)
    return ExportResult(path=saved, model=proto, report=report)


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
    del work.opset_import[:]
    current = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
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
    if stand_ins:
        lowered.opset_import.append(onnx.helper.make_opsetid(DOMAIN, VERSION))
    return lowered


def _rename_outputs(model: onnx.ModelProto, names: Sequence[str]) -> None:
    """Gives the graph outputs the names the user asked for (or output, output_0, ...)."""
    mapping = {o.name: new for o, new in zip(model.graph.output, names) if o.name != new}
    if not mapping:
        return
    taken = {n for node in model.graph.node for n in list(node.input) + list(node.output)}
    clash = sorted(set(mapping.values()) & (taken - set(mapping)))
    if clash:
        return  # an internal tensor already has that name: keep the exporter's names
    for node in model.graph.node:
        node.input[:] = [mapping.get(i, i) for i in node.input]
        node.output[:] = [mapping.get(o, o) for o in node.output]
    for vi in list(model.graph.output) + list(model.graph.value_info):
        vi.name = mapping.get(vi.name, vi.name)
