"""The two ONNX models validate compares: the custom side (normdeploy nodes, run with our
library) and the reference (standard ops only, run by plain ONNX Runtime).

- a model with normdeploy nodes: custom = the model, reference = convert --to standard of it;
- a standard model: custom = convert --to custom of it, reference = the model;
- ``reference=`` (``--reference``) replaces the reference with a standard model of the user's.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ValidateError
from .inputs import InputSpec, model_inputs, value_info_spec


@dataclass
class ModelPair:
    path: Path                 # the file, or model.onnx for an in-memory model (names the report folder)
    label: str                 # how the report names the model
    custom: Any  # onnx.ModelProto
    reference: Any
    custom_origin: str
    reference_origin: str
    custom_nodes: dict[str, int]
    inputs: list[InputSpec]
    outputs: list[InputSpec]
    notes: list[str] = field(default_factory=list)
    custom_file: Path | None = None      # the file holding `custom` unchanged, if any (saves re-serialising)
    reference_file: Path | None = None

    def source(self, which: str) -> Any:
        """What to build a session from: the file when the model is a file's content, else the proto."""
        path = self.custom_file if which == "custom" else self.reference_file
        return path if path is not None else (self.custom if which == "custom" else self.reference)


def count_custom_nodes(model: Any) -> dict[str, int]:
    from ..ops import DOMAIN

    counts: Counter = Counter()
    for node in model.graph.node:
        if node.domain == DOMAIN:
            silu = any(a.name == "activation" and a.s == b"silu" for a in node.attribute)
            counts[node.op_type + ("(silu)" if silu else "")] += 1
    return dict(sorted(counts.items()))


def _load(path: Path, what: str) -> Any:
    from ..conversion import ConvertError, load_model

    if not path.exists():
        raise ValidateError(f"{what} {path}: no such file")
    try:
        return load_model(path)
    except ConvertError as exc:
        message = str(exc)  # load_model's messages name the file: do not name it twice
        raise ValidateError(f"{what} {message}" if message.startswith(str(path)) else f"{what} {path}: {message}") from exc


def _check(model: Any, label: str) -> None:
    """A broken graph (cycle, missing input, name defined twice, bad tensor) is bad input."""
    from ..conversion import ConvertError
    from ..model_checks import check_model

    try:
        check_model(model, label)
    except ConvertError as exc:
        raise ValidateError(str(exc)) from exc


def _convert(model: Any, to: str, source: str) -> tuple[Any, str]:
    from ..conversion import ConvertError, convert_model

    try:
        converted, report = convert_model(model, to, source=source)  # type: ignore[arg-type]
    except ConvertError as exc:
        hint = " for the reference; --reference STD.onnx gives one instead" if to == "standard" else ""
        raise ValidateError(f"{exc} (validate converts the model to {to} ops{hint})") from exc
    lines = [line.strip() for line in report.summary().splitlines()]
    return converted, lines[0] + (" (" + "; ".join(lines[1:]) + ")" if len(lines) > 1 else "")


def _same_io(custom: Any, reference: Any, ref_what: str) -> None:
    for kind, a, b in (("inputs", model_inputs(custom), model_inputs(reference)),
                       ("outputs", list(custom.graph.output), list(reference.graph.output))):
        names_a, names_b = [x.name for x in a], [x.name for x in b]
        if sorted(names_a) != sorted(names_b):
            raise ValidateError(f"{ref_what}: its {kind} {names_b} differ from the model's {names_a}")


def load_pair(model: str | os.PathLike[str] | Any, reference: str | os.PathLike[str] | Any | None = None) -> ModelPair:
    """Loads `model` (a path or an onnx.ModelProto) and builds the custom/reference pair."""
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        proto, label = _load(path, "model"), str(path)
    else:
        path, proto = Path(f"{model.graph.name or 'model'}.onnx"), model
        label = f"<in-memory model {model.graph.name!r}>"
    _check(proto, label)
    counts = count_custom_nodes(proto)
    notes: list[str] = []
    if counts:
        custom, custom_origin = proto, "the model as given"
    else:
        custom, summary = _convert(proto, "custom", label)
        custom_origin = "convert --to custom of the model"
        notes.append(summary)
        counts = count_custom_nodes(custom)
        if not counts:
            notes.append("the model has no normdeploy nodes and convert --to custom rewrote nothing: "
                         "both ONNX Runtime runners run the same standard graph")
    if reference is not None:
        if isinstance(reference, (str, os.PathLike)):
            ref_path = Path(reference)
            ref, ref_origin = _load(ref_path, "--reference"), f"{ref_path} (--reference)"
        else:
            ref, ref_origin, ref_path = reference, "the given reference model", Path("reference")
        _check(ref, f"--reference {ref_path}")
        if count_custom_nodes(ref):
            raise ValidateError(f"--reference {ref_path}: it contains normdeploy nodes ({count_custom_nodes(ref)}); "
                                f"give a standard-op model (normdeploy convert --to standard)")
        _same_io(custom, ref, f"--reference {ref_path}")
    elif count_custom_nodes(proto):
        ref, summary = _convert(proto, "standard", label)
        ref_origin = "convert --to standard of the model"
        notes.append(summary)
    else:
        ref, ref_origin = proto, "the model as given"
    outputs = [value_info_spec(vi) for vi in custom.graph.output]
    pair = ModelPair(path, label, custom, ref, custom_origin, ref_origin, counts, model_inputs(custom), outputs, notes)
    from_file = isinstance(model, (str, os.PathLike))
    pair.custom_file = path if from_file and custom is proto else None
    pair.reference_file = (Path(reference) if isinstance(reference, (str, os.PathLike)) else
                           path if from_file and ref is proto else None)
    return pair


def tensor_types(model: Any) -> dict[str, np.dtype]:
    """Element type of every tensor shape inference can tell (graph inputs and outputs included)."""
    from ..graph_rewrite import value_types
    from ..ops import register_schemas

    register_schemas()
    types = dict(value_types(_without_big_weights(model)))
    for vi in list(model.graph.input) + list(model.graph.output):
        if vi.type.tensor_type.elem_type:
            types[vi.name] = value_info_spec(vi).dtype
    return types


#: Initializers with more elements than this become typed graph inputs for type inference: types
#: need no weight values (shapes computed from small int tensors such as Reshape's keep theirs).
BIG_INITIALIZER = 4096


def _without_big_weights(model: Any) -> Any:
    """A copy of `model` whose big initializers are graph inputs of the same type and shape, so
    shape inference does not serialise hundreds of MB of weights (6 s of a 250 MB model)."""
    import onnx
    from onnx import helper

    big = [i for i in model.graph.initializer if int(np.prod(i.dims)) > BIG_INITIALIZER]
    if not big:
        return model
    light = onnx.ModelProto()
    light.CopyFrom(model)  # a memory copy: far cheaper than serialising
    graph = light.graph
    names = {i.name for i in big}
    kept = [i for i in graph.initializer if i.name not in names]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    declared = {i.name for i in graph.input}
    graph.input.extend(helper.make_tensor_value_info(i.name, i.data_type, list(i.dims)) for i in big
                       if i.name not in declared)
    return light


def with_outputs(model: Any, names: list[str], types: dict[str, np.dtype]) -> Any:
    """A copy of `model` whose graph outputs also include the tensors `names` (after its own)."""
    import onnx
    from onnx import helper

    from ..graphs import onnx_elem_type

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    present = {o.name for o in copy.graph.output}
    for name in names:
        if name not in present:
            copy.graph.output.append(helper.make_tensor_value_info(name, onnx_elem_type(types[name].name), None))
            present.add(name)
    return copy
