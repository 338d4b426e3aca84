"""Setting module calls recorded by the hooks (capture.py) against ONNX tensors: through the
torch exporter's node metadata (scopes.py), or, without it, by shape and order (approximate);
then naming the first module where the ONNX model leaves PyTorch."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from .capture import Capture, ModuleCall
from .localize import tensor_stats
from .ortopt import node_attributes
from .scopes import ScopeCall, consumers_of, merge, module_calls, node_scopes, producer, set_boundaries
from .tolerances import ToleranceSettings
from .torchresult import ModuleRow, TorchLocalization


def _silu(x: np.ndarray) -> np.ndarray:
    x64 = x.astype(np.float64)
    return (x64 / (1.0 + np.exp(-x64))).astype(x.dtype)


def _fused_silu(node: Any) -> bool:
    """The node is a normdeploy GroupNorm with the following SiLU fused in (activation=silu)."""
    from ..ops import DOMAIN

    return (node is not None and node.domain == DOMAIN and node.op_type == "GroupNorm"
            and node_attributes(node).get("activation") == "silu")


def _pick(names: Sequence[str], values: Mapping[str, np.ndarray], shape: tuple[int, ...], used: set[str], last: bool) -> str | None:
    fits = [n for n in names if n in values and n not in used and tuple(values[n].shape) == shape]
    if not fits:
        return None
    return fits[-1] if last else fits[0]


def _check(got: np.ndarray, want: np.ndarray, settings: ToleranceSettings, dtype: Any) -> tuple[dict[str, Any], Any]:
    tol = settings.for_tensor(dtype)
    return tensor_stats(got, want, tol.atol, tol.rtol), tol


class _Matcher:
    def __init__(self, model: Any, values: Mapping[str, np.ndarray], types: Mapping[str, Any], settings: ToleranceSettings,
                 ran: Any) -> None:
        self.model, self.values, self.types, self.settings = model, values, types, settings
        self.producers = {o: n for n in ran.graph.node for o in n.output}            # in the graph that ran
        self.original_producers = {o: n for n in model.graph.node for o in n.output}

    def row(self, call: ModuleCall, scope: ScopeCall | None) -> tuple[ModuleRow, list[dict[str, Any]]]:
        row = ModuleRow(call.label, call.path, call.cls, call.call, None, None, None, None, math.nan, math.nan, None)
        if scope is None:
            row.note = "no ONNX node carries this module's scope (fused into another module's node, or traced away)"
            return row, []
        if not call.outputs:
            row.note = "returns no tensor"
            return row, []
        matched: list[tuple[str, np.ndarray]] = []   # (ONNX tensor, PyTorch output)
        if len(call.outputs) == 1:
            name = _pick(scope.outputs, self.values, tuple(call.outputs[0].shape), set(), last=True)
            matched = [(name, call.outputs[0])] if name is not None else []
        else:  # several outputs (a tuple or dict): each to the first unused tensor of its shape
            used: set[str] = set()
            for out in call.outputs:
                name = _pick(scope.outputs, self.values, tuple(out.shape), used, last=False)
                if name is not None:
                    used.add(name)
                    matched.append((name, out))
        if not matched:
            missing = [o for o in scope.outputs if o not in self.values]
            row.note = ("its output tensor(s) " + ", ".join(missing) + " are gone from the graph that ran"
                        if missing else f"no output tensor of shape {list(call.outputs[0].shape)} among {scope.outputs}")
            return row, []
        results = []
        for tensor, want in matched:
            dtype = self.types.get(tensor, np.dtype(np.float32))
            stats, tol = _check(self.values[tensor], want, self.settings, dtype)
            if _fused_silu(self.original_producers.get(tensor)):
                # the tensor is SiLU(norm): an nn.GroupNorm's output gets the SiLU before comparing; any
                # other module (a wrapper with or without the SiLU inside) is compared both ways
                fused, _ = _check(self.values[tensor], _silu(want), self.settings, dtype)
                if self._is_group_norm(call) or (fused["passed"], -fused["max_abs"]) > (stats["passed"], -stats["max_abs"]):
                    stats = fused
                    row.note = "compared after the SiLU fused into the GroupNorm node"
            results.append((tensor, stats, tol))
        if len(matched) < len(call.outputs):
            row.note = f"{len(matched)} of its {len(call.outputs)} outputs matched by shape"
        # the row shows the first output outside tolerance, else the worst one
        tensor, stats, tol = next((r for r in results if not r[1]["passed"]),
                                  max(results, key=lambda r: -1.0 if math.isnan(r[1]["max_abs"]) else r[1]["max_abs"]))
        node = self.producers.get(tensor)
        row.tensor, row.shape = tensor, list(self.values[tensor].shape)
        row.node, row.op_type = (node.name, node.op_type) if node is not None else (None, None)
        row.atol, row.rtol = tol.atol, tol.rtol
        for key in ("passed", "max_abs", "mean_abs", "median_abs", "max_rel", "mean_rel"):
            setattr(row, key, stats[key])
        checks = self.inputs(call, scope)
        compared = [c for c in checks if c.get("passed") is not None]
        if compared:
            row.inputs_passed = all(c["passed"] for c in compared)
            row.inputs_max_abs = max(c["max_abs"] for c in compared)
        return row, checks

    @staticmethod
    def _is_group_norm(call: ModuleCall) -> bool:
        import torch

        return isinstance(call.module, torch.nn.GroupNorm)

    def inputs(self, call: ModuleCall, scope: ScopeCall) -> list[dict[str, Any]]:
        checks = []
        used: set[str] = set()
        for array in call.inputs:
            name = _pick(scope.inputs, self.values, tuple(array.shape), used, last=False)
            if name is None:
                continue
            used.add(name)
            stats, tol = _check(self.values[name], array, self.settings, self.types.get(name, np.dtype(np.float32)))
            node = self.original_producers.get(name)
            checks.append({"tensor": name, "node": node.name if node is not None else None,
                           "op_type": node.op_type if node is not None else "graph input",
                           "shape": list(array.shape), "atol": tol.atol, "rtol": tol.rtol, **stats})
        for name in scope.inputs:
            if name not in used and name not in self.values and self.types.get(name) is not None \
                    and np.dtype(self.types[name]).kind == "f":
                checks.append({"tensor": name, "node": None, "op_type": None, "shape": None, "passed": None,
                               "note": "gone from the graph that ran"})
        return checks


def _pair_calls(capture_: Capture, scopes: dict[str, list[ScopeCall]], model: Any, notes: list[str]) -> list[tuple[ModuleCall, ScopeCall | None]]:
    consumers = consumers_of(model)
    graph_outputs = {o.name for o in model.graph.output}
    weights = {i.name for i in model.graph.initializer} | {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    pairs = []
    mismatched = []
    for path, calls in capture_.by_path().items():
        runs = scopes.get(path, [])
        if len(runs) > 1 and len(calls) == 1:
            runs = [merge(runs)]
            set_boundaries(runs[0], consumers, graph_outputs, weights)
        elif runs and len(runs) != len(calls):
            mismatched.append(f"{path} ({len(calls)} call(s), {len(runs)} node run(s))")
        for index, call in enumerate(calls):
            pairs.append((call, runs[index] if index < len(runs) else None))
    if mismatched:
        notes.append("calls paired with node runs in order where the counts differ: " + ", ".join(mismatched[:5]))
    return sorted(pairs, key=lambda p: p[0].order)


def _scope_of(node: Any) -> str | None:
    found = node_scopes(node) if node is not None else None
    if not found or not found[0]:
        return None
    path, cls = found[0][-1], found[1][-1]
    return f"{path}: {cls.rsplit('.', 1)[-1]}" if cls else path


def _node_json(node: Any) -> dict[str, Any]:
    return {"name": node.name, "op_type": node.op_type, "domain": node.domain or "ai.onnx",
            "attributes": node_attributes(node), "inputs": list(node.input), "outputs": list(node.output)}


def _conclude(loc: TorchLocalization, pairs: list[tuple[ModuleCall, ScopeCall | None]], checks: list[list[dict[str, Any]]],
              model: Any) -> None:
    failed = [i for i, r in enumerate(loc.rows) if r.passed is False]
    if not failed:
        loc.status = "no module outside tolerance"
        loc.explanation = ("every module output compared agrees with PyTorch; the difference comes from code "
                           "outside the modules compared (functional calls in the top-level forward)")
        return
    loc.status = "diverged"
    index = failed[0]
    loc.first = index
    row, (call, scope) = loc.rows[index], pairs[index]
    differing = [c for c in checks[index] if c.get("passed") is False]
    if not differing:
        loc.tensor = {"tensor": row.tensor, "shape": row.shape, "compared_with": f"the output of {row.label}",
                      **{k: getattr(row, k) for k in ("max_abs", "mean_abs", "median_abs", "max_rel", "mean_rel", "atol", "rtol")}}
        loc.module = row.label
        loc.nodes = [_node_json(n) for n in (scope.nodes if scope else [])]
        loc.inputs = checks[index]
        compared = [c for c in checks[index] if c.get("passed") is not None]
        loc.explanation = (f"{row.label} is the first module whose output leaves tolerance; its inputs "
                           + ("still agree" if compared else
                              "were not compared (gone from the graph that ran), and every module before it agrees"
                              if checks[index] else "are model inputs or weights"))
        return
    producers = {o: n for n in model.graph.node for o in n.output}
    culprit = producers.get(differing[0]["tensor"])
    loc.tensor = {**{k: v for k, v in differing[0].items() if k not in ("node", "op_type", "passed")},
                  "compared_with": f"what {row.label} reads in PyTorch"}
    loc.module = _scope_of(culprit) or row.label
    owner = next((i for i, r in enumerate(loc.rows) if r.label == loc.module and r.tensor == differing[0]["tensor"]), None)
    loc.inputs = checks[owner] if owner is not None else []
    loc.nodes = [_node_json(culprit)] if culprit is not None else []
    loc.explanation = (f"{row.label} is the first module outside tolerance, but its input '{differing[0]['tensor']}' "
                       f"already differs: it is made by node '{culprit.name if culprit is not None else '?'}'"
                       f"{' of ' + loc.module if culprit is not None else ''}, whose module output agrees; the change "
                       f"is in what happens between that module and {row.path} (functional code, or an operation "
                       f"fused into that node)")


def compare_by_metadata(loc: TorchLocalization, cap: Capture, model: Any, ran: Any, values: Mapping[str, np.ndarray],
                         want: Mapping[str, np.ndarray], types: Mapping[str, Any], settings: ToleranceSettings) -> None:
    pairs = _pair_calls(cap, module_calls(model), model, loc.notes)
    matcher = _Matcher(model, values, types, settings, ran)
    checks = []
    for call, scope in pairs:
        row, inputs = matcher.row(call, scope)
        loc.rows.append(row)
        checks.append(inputs)
    loc.modules_total = len(pairs)
    loc.modules_compared = sum(r.passed is not None for r in loc.rows)
    _conclude(loc, pairs, checks, model)
    if loc.status == "no module outside tolerance":
        _top_level(loc, model, values, want, types, settings)


def _top_level(loc: TorchLocalization, model: Any, values: Mapping[str, np.ndarray], want: Mapping[str, np.ndarray],
               types: Mapping[str, Any], settings: ToleranceSettings) -> None:
    """Every module agrees, yet an output does not: the change is in the top-level forward's own
    code. Names the node that makes the first output outside tolerance."""
    producers = {o: n for n in model.graph.node for o in n.output}
    for name, expected in want.items():
        if name not in values:
            continue
        stats, tol = _check(values[name], expected, settings, types.get(name, np.dtype(np.float32)))
        if stats["passed"]:
            continue
        node = producers.get(name)
        loc.status = "diverged"
        loc.module = "(the top-level forward)"
        loc.nodes = [_node_json(node)] if node is not None else []
        loc.tensor = {"tensor": name, "shape": list(values[name].shape), "compared_with": "the model's output",
                      "atol": tol.atol, "rtol": tol.rtol,
                      **{k: stats[k] for k in ("max_abs", "mean_abs", "median_abs", "max_rel", "mean_rel")}}
        loc.explanation = (f"every module output agrees with PyTorch, but the model's output '{name}' does not: "
                           f"it is made by node '{node.name if node is not None else '?'}' in the top-level "
                           f"forward's own code (functional calls outside any submodule)")
        return


def compare_by_shape(loc: TorchLocalization, cap: Capture, model: Any, values: Mapping[str, np.ndarray],
                      types: Mapping[str, Any], settings: ToleranceSettings) -> None:
    """No exporter metadata: each leaf module's output goes to the first later ONNX tensor of its
    shape that agrees with it, else to the first later tensor of its shape (approximate)."""
    producers = {o: n for n in model.graph.node for o in n.output}
    order = [o for n in model.graph.node for o in n.output if o in values]
    leaves = [c for c in cap.calls if not any(True for _ in c.module.children()) and len(c.outputs) == 1]
    position = 0
    for call in leaves:
        shape = tuple(call.outputs[0].shape)
        row = ModuleRow(call.label, call.path, call.cls, call.call, None, None, None, None, math.nan, math.nan, None)
        chosen, chosen_stats, chosen_tol = None, None, None
        for i in range(position, len(order)):
            name = order[i]
            if tuple(values[name].shape) != shape:
                continue
            stats, tol = _check(values[name], call.outputs[0], settings, types.get(name, np.dtype(np.float32)))
            if chosen is None or stats["passed"]:
                chosen, chosen_stats, chosen_tol, chosen_at = name, stats, tol, i
            if stats["passed"]:
                break
        if chosen is None:
            row.note = f"no later ONNX tensor of shape {list(shape)}"
        else:
            position = chosen_at + 1
            node = producers.get(chosen)
            row.tensor, row.shape, row.atol, row.rtol = chosen, list(shape), chosen_tol.atol, chosen_tol.rtol
            row.node, row.op_type = (node.name, node.op_type) if node is not None else (None, None)
            for key in ("passed", "max_abs", "mean_abs", "median_abs", "max_rel", "mean_rel"):
                setattr(row, key, chosen_stats[key])
            row.note = "matched by shape and order (approximate)"
        loc.rows.append(row)
    loc.modules_total = len(leaves)
    loc.modules_compared = sum(r.passed is not None for r in loc.rows)
    if not loc.modules_compared:
        loc.status = "impossible"
        why = ("the PyTorch model has no submodules whose outputs could be set against its tensors" if not leaves
               else "no leaf module's output has the shape of one of its tensors")
        loc.reason = (f"localisation against PyTorch is not possible for this file: no node carries the torch "
                      f"exporter's metadata (producer: {producer(model)}), and {why}")
        return
    failed = [i for i, r in enumerate(loc.rows) if r.passed is False]
    if not failed:
        loc.status = "no module outside tolerance"
        loc.explanation = "every matched leaf module agrees with PyTorch (approximate match)"
        return
    loc.status, loc.first = "diverged", failed[0]
    row = loc.rows[failed[0]]
    loc.module = row.label
    loc.tensor = {"tensor": row.tensor, "shape": row.shape, "compared_with": f"the output of {row.label} (approximate match)",
                  **{k: getattr(row, k) for k in ("max_abs", "mean_abs", "median_abs", "max_rel", "mean_rel", "atol", "rtol")}}
    node = producers.get(row.tensor)
    loc.nodes = [_node_json(node)] if node is not None else []
    loc.explanation = (f"{row.label} is the first leaf module whose output matches no ONNX tensor within tolerance; "
                       f"the closest candidate by shape and order is '{row.tensor}' (approximate: the file has no "
                       f"torch exporter metadata)")
