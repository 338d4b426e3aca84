"""Localisation against PyTorch: where the ONNX model leaves the PyTorch model, and why.

When the PyTorch runner disagrees with the ONNX Runtime runners, on the first failing input:

1. the PyTorch model runs once more with forward hooks on every submodule (capture.py), which
   record each call's floating-point inputs and outputs;
2. the ONNX model (the file as given; or the converted side when the file itself agrees) runs at
   each ONNX Runtime graph optimization level. If it agrees with PyTorch with the optimizer off
   (ORT_DISABLE_ALL) but not at the level the runners used, the optimizer is blamed, the lowest
   level that changes the result is named, and ORT's optimized graph at that level is saved
   (optimized_model_filepath) and compared with the original, node by node;
3. the module calls are mapped to ONNX tensors through the exporter's node metadata
   (scopes.py), and the graph (the optimized one when the optimizer is blamed, else the file
   with the optimizer off) runs once with those tensors as extra outputs;
4. the calls are compared in the order they finished (a child before its parent); the first
   call outside tolerance whose inputs still agree is the module where the model diverges. If
   its inputs already differ, the change sits between modules (functional code, or something
   fused into the node that made the input), and that node and its module are named.

Without the exporter's metadata (TorchScript exports, other tools) leaf-module outputs are
matched to ONNX tensors by shape and order, and the report says the match is approximate.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..runtime import run_arrays
from .capture import Capture, ModuleCall, capture
from .localize import _stats
from .models import ModelPair, tensor_types, with_outputs
from .ortopt import OPT_LEVELS, GraphChange, graph_changes, node_attributes, optimized_graph, session_at
from .runners import call_arguments, name_outputs, to_carrier
from .scopes import ScopeCall, consumers_of, has_torch_metadata, merge, module_calls, node_scopes, producer, set_boundaries
from .tolerances import ToleranceSettings

MAX_ROWS = 2000  # rows kept in the report (execution order); the first divergence is always kept


@dataclass
class ModuleRow:
    label: str              # "stem.pool: MaxPool2d"
    path: str
    cls: str
    call: int
    tensor: str | None      # the ONNX tensor compared with the module's output
    node: str | None        # the node that makes it (in the graph that ran)
    op_type: str | None
    shape: list[int] | None
    atol: float
    rtol: float
    passed: bool | None     # None: not compared (note says why)
    max_abs: float = math.nan
    mean_abs: float = math.nan
    median_abs: float = math.nan
    max_rel: float = math.nan
    mean_rel: float = math.nan
    inputs_max_abs: float | None = None   # worst error of the matched inputs
    inputs_passed: bool | None = None
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class OptimizerAttribution:
    runner: str
    levels: dict[str, dict[str, Any]]    # ORT level name -> {"passed", "max_abs"}
    configured: str                      # ORT name of the level the runners used
    blamed: bool
    message: str
    differs_from: str | None = None      # the lowest level that changes the result
    optimized_nodes: list[GraphChange] = field(default_factory=list)  # changes around the divergence
    changes: int = 0                     # nodes the optimizer changed or wrote, in all
    removed: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"runner": self.runner, "levels": self.levels, "configured": self.configured, "blamed": self.blamed,
                "message": self.message, "differs_from": self.differs_from,
                "optimized_nodes": [c.to_json() for c in self.optimized_nodes], "nodes_changed": self.changes,
                "nodes_removed": self.removed}


@dataclass
class TorchLocalization:
    iteration: int
    model: str                          # which ONNX model was localised
    runner: str
    method: str | None = None           # "metadata" | "approximate" | None
    status: str = "error"               # diverged | no module outside tolerance | impossible | error
    reason: str | None = None
    graph: str = ""                     # which graph ran for the module comparison
    rows: list[ModuleRow] = field(default_factory=list)
    first: int | None = None            # index into rows
    module: str | None = None           # the module named as the divergence ("path: Class")
    nodes: list[dict[str, Any]] = field(default_factory=list)   # its ONNX nodes
    inputs: list[dict[str, Any]] = field(default_factory=list)  # its inputs' checks
    tensor: dict[str, Any] | None = None  # the diverging tensor: name, shape, statistics, what it was compared with
    explanation: str = ""
    optimizer: OptimizerAttribution | None = None
    modules_total: int = 0
    modules_compared: int = 0
    seconds: float = 0.0
    hook_bytes: int = 0
    hook_tensors: int = 0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        rows = self.rows
        first = self.first
        if len(rows) > MAX_ROWS:
            keep = set(range(MAX_ROWS)) | ({first} if first is not None else set())
            rows = [r for i, r in enumerate(rows) if i in keep]
            first = None if first is None else sorted(keep).index(first)
        return {
            "iteration": self.iteration, "model": self.model, "runner": self.runner, "method": self.method,
            "status": self.status, "reason": self.reason, "graph": self.graph,
            "module": self.module, "nodes": self.nodes, "inputs": self.inputs, "tensor": self.tensor,
            "explanation": self.explanation,
            "first_row": first, "modules": [r.to_json() for r in rows],
            "modules_total": self.modules_total, "modules_compared": self.modules_compared,
            "optimizer": self.optimizer.to_json() if self.optimizer else None,
            "seconds": round(self.seconds, 3), "hook_bytes": self.hook_bytes, "hook_tensors": self.hook_tensors,
            "notes": self.notes,
        }


# ------------------------------------------------------------------------------------------------
# running the ONNX side


def _feeds(pair: ModelPair, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {s.name: np.asarray(feed[s.name]).astype(s.dtype) for s in pair.inputs}


def _run(model: Any, library: bool, level: str, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    session = session_at(model, with_library=library, level=level)
    values = run_arrays(session, feeds)
    return {o.name: to_carrier(v) for o, v in zip(session.get_outputs(), values)}


def _outputs_agree(got: Mapping[str, np.ndarray], want: Mapping[str, np.ndarray], settings: ToleranceSettings,
                   types: Mapping[str, Any]) -> tuple[bool, float]:
    passed, worst = True, 0.0
    for name, expected in want.items():
        tol = settings.for_output(name, types.get(name, np.dtype(np.float32)))
        stats = _stats(got[name], expected, tol.atol, tol.rtol)
        passed = passed and stats["passed"]
        worst = max(worst, stats["max_abs"]) if not math.isnan(stats["max_abs"]) else math.inf
    return passed, worst


# ------------------------------------------------------------------------------------------------
# matching module calls with ONNX tensors


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
    return _stats(got, want, tol.atol, tol.rtol), tol


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


def _compare_by_metadata(loc: TorchLocalization, cap: Capture, model: Any, ran: Any, values: Mapping[str, np.ndarray],
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


def _compare_by_shape(loc: TorchLocalization, cap: Capture, model: Any, values: Mapping[str, np.ndarray],
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


# ------------------------------------------------------------------------------------------------
# the optimizer


def _attribution(model: Any, library: bool, runner: str, configured: str, found: dict[str, tuple[bool, float]],
                 feeds: Mapping[str, np.ndarray], want: Mapping[str, np.ndarray], settings: ToleranceSettings,
                 types: Mapping[str, Any], workdir: Path) -> tuple[OptimizerAttribution, Any]:
    """Whether the graph optimizer causes the difference. `found` holds the results at the
    configured level and at ORT_DISABLE_ALL; the levels in between run only when the optimizer
    is to blame, each saving its optimized graph. Returns the attribution and, when blamed, the
    optimized graph of the lowest level that differs."""
    import onnx

    names = list(OPT_LEVELS)
    results = dict(found)
    attribution = OptimizerAttribution(runner, {}, OPT_LEVELS[configured], False, "")
    optimized = None
    if results[configured][0]:
        attribution.message = f"agrees with PyTorch at the configured level {OPT_LEVELS[configured]}"
    elif configured == "disable" or not results["disable"][0]:
        attribution.message = ("not the graph optimizer: the file differs from PyTorch with ONNX Runtime's graph "
                               "optimizations disabled (ORT_DISABLE_ALL) too")
    else:
        first = configured
        for level in names[1:names.index(configured)]:
            path = workdir / f"optimized-{level}.onnx"
            got = {o.name: to_carrier(v) for o, v in _run_session(session_at(model, with_library=library, level=level,
                                                                              save_optimized=path), feeds)}
            results[level] = _outputs_agree(got, want, settings, types)
            if not results[level][0]:
                first = level
                optimized = onnx.load(str(path))
                break
        if optimized is None:
            optimized = optimized_graph(model, with_library=library, level=first, workdir=workdir)
        attribution.blamed = True
        attribution.differs_from = OPT_LEVELS[first]
        attribution.message = (f"ONNX Runtime's graph optimizer changes this result: agrees with PyTorch at "
                               f"ORT_DISABLE_ALL, differs from {OPT_LEVELS[first]}")
    attribution.levels = {OPT_LEVELS[k]: {"passed": results[k][0], "max_abs": results[k][1]} for k in names if k in results}
    return attribution, optimized


def _run_session(session: Any, feeds: Mapping[str, np.ndarray]) -> list[tuple[Any, Any]]:
    return list(zip(session.get_outputs(), run_arrays(session, feeds)))


def _relevant_changes(changes: list[GraphChange], row: ModuleRow | None, scope_tensors: set[str]) -> list[GraphChange]:
    if row is None or row.tensor is None:
        return changes[:5]
    touching = [c for c in changes if row.tensor in c.outputs or scope_tensors & set(c.outputs)]
    return touching or changes[:5]


# ------------------------------------------------------------------------------------------------


def localize_against_torch(pair: ModelPair, module: Any, feed: Mapping[str, np.ndarray], iteration: int,
                           settings: ToleranceSettings, level: str, candidates: Sequence[tuple[str, Any, bool, str]],
                           known: Mapping[str, Mapping[str, np.ndarray]] | None = None) -> TorchLocalization:
    """candidates: (description, onnx.ModelProto, with our library, runner name), the file as given
    first; the first one that disagrees with PyTorch at `level` is localised. known: {runner:
    {output: array}} the runners already produced on this input at `level` (not run again)."""
    start = time.perf_counter()
    feeds = _feeds(pair, feed)
    output_names = [o.name for o in pair.outputs]
    loc = TorchLocalization(iteration, candidates[0][0], candidates[0][3])
    try:
        args, kwargs, how = call_arguments(module, pair.inputs, feed)
        result, cap = capture(module, args, kwargs)
        want = name_outputs(result, output_names)
        loc.hook_bytes, loc.hook_tensors = cap.bytes, cap.tensors
        loc.notes.append(f"PyTorch called with the inputs {how}; {len(cap.calls)} module call(s) recorded")
        chosen = None
        for description, model, library, runner in candidates:
            types = tensor_types(model)
            got = dict((known or {}).get(runner) or {})
            if set(got) != set(output_names):
                got = _run(model, library, level, feeds)
            passed, worst = _outputs_agree(got, want, settings, types)
            if not passed:
                chosen = (description, model, library, runner, types, (passed, worst))
                break
            loc.notes.append(f"{description} agrees with PyTorch at {OPT_LEVELS[level]} (max abs {worst:.2e})")
        if chosen is None:
            loc.status = "no module outside tolerance"
            loc.explanation = "no ONNX model disagrees with PyTorch on this input when run again"
            return loc
        description, model, library, runner, types, configured = chosen
        loc.model, loc.runner = description, runner
        graph_inputs = {i.name for i in model.graph.input}
        wanted = [name for name in _wanted_tensors(model, types) if name not in graph_inputs]
        # one run of the file with the optimizer off, the module boundary tensors as extra outputs
        plain = _run(with_outputs(model, wanted, types), library, "disable", feeds)
        found = {level: configured, "disable": _outputs_agree({k: plain[k] for k in output_names}, want, settings, types)}
        with tempfile.TemporaryDirectory(prefix="normdeploy-torchloc-") as tmp:
            loc.optimizer, optimized = _attribution(model, library, runner, level, found, feeds, want, settings, types,
                                                    Path(tmp))
        ran, values = model, plain
        loc.graph = "the file, run with graph optimizations disabled (ORT_DISABLE_ALL)"
        if optimized is not None:
            changes, removed = graph_changes(model, optimized)
            loc.optimizer.changes, loc.optimizer.removed = len(changes), removed
            present = {o for n in optimized.graph.node for o in n.output}
            ran = optimized
            values = _run(with_outputs(optimized, [n for n in wanted if n in present], types), library, "disable", feeds)
            loc.graph = (f"the graph ONNX Runtime optimized at {loc.optimizer.differs_from} (saved with "
                         f"optimized_model_filepath), run with no further optimization")
        values.update({name: to_carrier(value) for name, value in feeds.items()})
        if has_torch_metadata(model):
            loc.method = "metadata"
            _compare_by_metadata(loc, cap, model, ran, values, want, types, settings)
        else:
            loc.method = "approximate"
            loc.notes.append(f"no node carries pkg.torch.onnx.name_scopes ({producer(model)}): module outputs are "
                             f"matched to ONNX tensors by shape and order, which is approximate")
            _compare_by_shape(loc, cap, model, values, types, settings)
        if optimized is not None:
            row = loc.rows[loc.first] if loc.first is not None else None
            scope_tensors = {o for n in loc.nodes for o in n["outputs"]}
            loc.optimizer.optimized_nodes = _relevant_changes(changes, row, scope_tensors)
    except Exception as exc:  # noqa: BLE001 - ORT / user model errors end the localisation, not the run
        loc.status, loc.reason = "error", f"{type(exc).__name__}: {exc}"
    finally:
        loc.seconds = time.perf_counter() - start
    return loc


def _wanted_tensors(model: Any, types: Mapping[str, Any]) -> list[str]:
    """The floating-point tensors to read: the module calls' boundary tensors when the exporter's
    metadata is there, else every node output (graph order)."""
    def floating(name: str) -> bool:
        dtype = types.get(name)
        return dtype is not None and (np.dtype(dtype).kind == "f" or np.dtype(dtype).name == "bfloat16")

    if has_torch_metadata(model):
        names = [t for calls in module_calls(model).values() for c in calls for t in c.outputs + c.inputs]
    else:
        names = [o for n in model.graph.node for o in n.output]
    seen: set[str] = set()
    return [n for n in names if n and floating(n) and not (n in seen or seen.add(n))]
