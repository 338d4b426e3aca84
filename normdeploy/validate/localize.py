"""Localisation: when the custom model and the reference disagree, find the first node where
they diverge.

Both models get extra graph outputs for every floating-point tensor they share by name: every
tensor the custom model's nodes read or write (a normdeploy node's inputs and outputs included)
that the reference also has. convert keeps a rewritten node's input and output names as the
boundary of its replacement, so every tensor outside the rewritten patterns exists in both. Both
models run on the same input (the first iteration that failed); the custom model's nodes are
walked in topological order and the first tensor outside its tolerance (the dtype default, or
the global --atol/--rtol) names the node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from ..runtime import run_arrays
from .models import ModelPair, tensor_types, with_outputs
from .runners import ort_session, to_carrier
from .tolerances import ToleranceSettings


@dataclass
class TensorCheck:
    tensor: str
    node: str
    op_type: str
    shape: tuple[int, ...]
    atol: float
    rtol: float
    passed: bool
    max_abs: float
    mean_abs: float
    median_abs: float
    max_rel: float
    mean_rel: float

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "shape": list(self.shape)}


@dataclass
class Localization:
    iteration: int
    checked: int                      # tensors compared
    not_in_reference: list[str]       # custom-node boundary tensors the reference lacks
    checks: list[TensorCheck] = field(default_factory=list)
    node: dict[str, Any] | None = None          # the first diverging node: name, op_type, domain, attributes
    first: TensorCheck | None = None            # its first output outside tolerance
    inputs: list[TensorCheck] = field(default_factory=list)  # checks of that node's inputs
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "iteration": self.iteration,
            "status": "error" if self.error else ("diverged" if self.first else "no tensor outside tolerance"),
            "error": self.error,
            "node": self.node,
            "tensor": self.first.to_json() if self.first else None,
            "node_inputs": [c.to_json() for c in self.inputs],
            "tensors_checked": self.checked,
            "custom_node_tensors_not_in_reference": self.not_in_reference,
            "checks": [c.to_json() for c in self.checks[:500]],
        }


def _attributes(node: Any) -> dict[str, Any]:
    from onnx import helper

    values = {}
    for attr in node.attribute:
        value = helper.get_attribute_value(attr)
        values[attr.name] = value.decode() if isinstance(value, bytes) else value
    # ONNX stores floats as float32: 7 significant digits give 1e-05, not 9.999999747378752e-06
    return {k: float(f"{v:.7g}") if isinstance(v, float) else v for k, v in values.items()
            if isinstance(v, (int, float, str))}


def tensor_stats(got: np.ndarray, want: np.ndarray, atol: float, rtol: float) -> dict[str, Any]:
    a, b = got.astype(np.float64), want.astype(np.float64)
    if a.shape != b.shape:
        nan = float("nan")
        return dict(passed=False, max_abs=nan, mean_abs=nan, median_abs=nan, max_rel=nan, mean_rel=nan)
    absdiff = np.abs(a - b)
    denom = np.abs(b)
    denom[denom == 0] = 2.220446049250313e-16  # as polygraphy does
    rel = absdiff / denom
    bad = ((absdiff > atol) | np.isnan(absdiff)) & ((rel > rtol) | np.isnan(rel))
    if absdiff.size == 0:
        return dict(passed=True, max_abs=0.0, mean_abs=0.0, median_abs=0.0, max_rel=0.0, mean_rel=0.0)
    return dict(passed=not bool(bad.any()), max_abs=float(absdiff.max()), mean_abs=float(absdiff.mean()),
                median_abs=float(np.median(absdiff)), max_rel=float(rel.max()), mean_rel=float(rel.mean()))


def _candidates(pair: ModelPair) -> tuple[list[str], list[str], dict[str, Any]]:
    """Tensors to compare (custom-model order), custom-node tensors missing from the reference, types."""
    from ..ops import DOMAIN

    custom_types, ref_types = tensor_types(pair.custom), tensor_types(pair.reference)
    ref_tensors = {o for n in pair.reference.graph.node for o in n.output} | {o.name for o in pair.reference.graph.output}
    skip = {i.name for i in pair.custom.graph.initializer} | {i.name for i in pair.custom.graph.input}
    names: list[str] = []
    missing: list[str] = []
    for node in pair.custom.graph.node:
        for name in list(node.input) + list(node.output):
            if not name or name in skip or name in names:
                continue
            dtype = custom_types.get(name)
            floating = dtype is not None and (dtype.kind == "f" or dtype.name == "bfloat16")
            if name in ref_tensors and floating and ref_types.get(name) == dtype:
                names.append(name)
            elif node.domain == DOMAIN and floating and name not in missing:
                missing.append(name)
    return names, missing, custom_types


def localize(pair: ModelPair, feed: Mapping[str, np.ndarray], iteration: int, tolerances: ToleranceSettings) -> Localization:
    names, missing, types = _candidates(pair)
    result = Localization(iteration=iteration, checked=0, not_in_reference=missing)
    feeds = {s.name: np.asarray(feed[s.name]).astype(s.dtype) for s in pair.inputs}
    try:
        runs = []
        for model, library in ((pair.custom, True), (pair.reference, False)):
            session = ort_session(with_outputs(model, names, types), with_library=library)
            values = run_arrays(session, feeds)
            runs.append({o.name: to_carrier(v) for o, v in zip(session.get_outputs(), values)})
    except Exception as exc:  # noqa: BLE001 - ORT errors
        result.error = f"{type(exc).__name__}: {exc}"
        return result
    custom, ref = runs
    checks: dict[str, TensorCheck] = {}
    for node in pair.custom.graph.node:
        for name in node.output:
            if name not in checks and name in custom and name in ref:
                tol = tolerances.for_tensor(types[name])
                stats = tensor_stats(custom[name], ref[name], tol.atol, tol.rtol)
                checks[name] = TensorCheck(name, node.name or node.output[0], node.op_type, tuple(custom[name].shape),
                                           tol.atol, tol.rtol, **stats)
                result.checks.append(checks[name])
                if not stats["passed"] and result.first is None:
                    result.first = checks[name]
                    result.node = {"name": node.name, "op_type": node.op_type, "domain": node.domain or "ai.onnx",
                                   "attributes": _attributes(node), "inputs": list(node.input),
                                   "outputs": list(node.output)}
                    result.inputs = [checks[i] for i in node.input if i in checks]
    result.checked = len(checks)
    return result
