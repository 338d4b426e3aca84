"""Localisation against PyTorch: where the ONNX model leaves the PyTorch model, and why.

When the PyTorch runner disagrees with the ONNX Runtime runners, on the first failing input:

1. the PyTorch model runs once more with forward hooks on every submodule (capture.py), which
   record each call's floating-point inputs and outputs;
2. the ONNX model that disagrees (the file as given; or the converted side when the file itself
   agrees; the runners' outputs at the configured level are reused) runs once with the graph
   optimizer off (ORT_DISABLE_ALL) and the module boundary tensors as extra outputs. If it agrees
   with PyTorch there but not at the level the runners used, the optimizer is blamed: BASIC and
   EXTENDED run to find the lowest level that changes the result, ORT saves that level's graph
   (optimized_model_filepath), it is compared with the original node by node (ortopt.py), and
   the module comparison runs on it;
3. the module calls are mapped to ONNX tensors through the exporter's node metadata (scopes.py)
   and compared in the order they finished (torchmatch.py): the first call outside tolerance
   whose inputs still agree is the module where the model diverges. If its inputs already
   differ, the change sits between modules, and the node that made the input is named.

Without the exporter's metadata (TorchScript exports, other tools) leaf-module outputs are
matched to ONNX tensors by shape and order, and the report says the match is approximate.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..runtime import run_arrays
from .capture import capture
from .localize import tensor_stats
from .models import ModelPair, tensor_types, with_outputs
from .ortopt import OPT_LEVELS, GraphChange, graph_changes, optimized_graph, session_at
from .runners import call_arguments, name_outputs, to_carrier
from .scopes import has_torch_metadata, module_calls, producer
from .tolerances import ToleranceSettings
from .torchmatch import compare_by_metadata, compare_by_shape
from .torchresult import ModuleRow, OptimizerAttribution, TorchLocalization

__all__ = ["ModuleRow", "OptimizerAttribution", "TorchLocalization", "localize_against_torch"]


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
        stats = tensor_stats(got[name], expected, tol.atol, tol.rtol)
        passed = passed and stats["passed"]
        worst = max(worst, stats["max_abs"]) if not math.isnan(stats["max_abs"]) else math.inf
    return passed, worst


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
            compare_by_metadata(loc, cap, model, ran, values, want, types, settings)
        else:
            loc.method = "approximate"
            loc.notes.append(f"no node carries pkg.torch.onnx.name_scopes ({producer(model)}): module outputs are "
                             f"matched to ONNX tensors by shape and order, which is approximate")
            compare_by_shape(loc, cap, model, values, types, settings)
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
