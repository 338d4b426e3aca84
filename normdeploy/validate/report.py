"""The report: a JSON document (the single source of truth) and the one-screen text summary made
from it."""

from __future__ import annotations

import json
import math
import os
import platform
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

from .compare import STATS, PairResult

FORMAT_VERSION = 1


@dataclass
class RunnerInfo:
    name: str
    role: str          # custom | reference | pytorch | tensorrt
    description: str
    skipped: str | None = None
    error: str | None = None
    warning: str | None = None  # ran, but its result may not mean what it seems (e.g. random weights)

    @property
    def ran(self) -> bool:
        return self.skipped is None and self.error is None

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"runner": self.name, "role": self.role, "description": self.description, "ran": self.ran}
        if self.skipped is not None:
            entry["skipped"] = self.skipped
        if self.error is not None:
            entry["error"] = self.error
        if self.warning is not None:
            entry["warning"] = self.warning
        return entry


def versions(extra: Sequence[str] = ()) -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("normdeploy", "numpy", "onnx", "onnxruntime", "polygraphy", *extra):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = None
    return found


def jsonable(value: Any) -> Any:
    """NaN/Inf -> strings (strict JSON has neither), tuples -> lists, numpy scalars -> Python."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def pair_json(pair: PairResult) -> dict[str, Any]:
    outputs = {}
    for out in pair.outputs:
        outputs[out.name] = {
            "passed": out.passed, "dtype": out.dtype, "atol": out.tolerance.atol, "rtol": out.tolerance.rtol,
            **{k: out.stats.get(k) for k in STATS}, "worst_iteration": out.worst_iteration,
            "error": out.error, "iterations": out.iterations,
        }
    return {"runner": pair.runner, "reference": pair.reference, "passed": pair.passed,
            "first_failed_iteration": pair.first_failed_iteration, "outputs": outputs}


def json_text(report: dict[str, Any]) -> str:
    return json.dumps(jsonable(report), indent=2, allow_nan=False) + "\n"


def write_json(report: dict[str, Any], path: Path) -> None:
    write_atomically(path, json_text(report))


def write_atomically(path: Path, text: str) -> None:
    """Writes a temporary file beside `path`, then renames it: `path` is never half-written."""
    tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ------------------------------------------------------------------------------------------------
# text summary


def _g(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return f"{value:.2e}"


def _shapes(inputs: dict[str, Any]) -> str:
    shapes = inputs.get("shapes") or {}
    return ", ".join(f"{name} {'x'.join(map(str, shape))}" for name, shape in shapes.items())


def _localization_lines(loc: dict[str, Any]) -> list[str]:
    if loc.get("error"):
        return [f"localisation failed: {loc['error']}"]
    tensor, node = loc.get("tensor"), loc.get("node")
    if not tensor or not node:
        return [f"localisation: no intermediate tensor outside tolerance at iteration {loc['iteration']} "
                f"({loc['tensors_checked']} tensors checked)"]
    attrs = " ".join(f"{k}={v}" for k, v in node["attributes"].items() if k not in ("plugin_version", "plugin_namespace"))
    lines = [f"first divergence: node '{node['name']}' ({node['domain']}.{node['op_type']}{' ' + attrs if attrs else ''}), "
             f"output '{tensor['tensor']}' {'x'.join(map(str, tensor['shape']))}",
             f"  max abs {_g(tensor['max_abs'])}, mean abs {_g(tensor['mean_abs'])}, median abs {_g(tensor['median_abs'])}, "
             f"max rel {_g(tensor['max_rel'])}, mean rel {_g(tensor['mean_rel'])} (atol {tensor['atol']:g}, rtol {tensor['rtol']:g})"]
    inputs = loc.get("node_inputs") or []
    if inputs:
        ok = all(c["passed"] for c in inputs)
        detail = ", ".join(f"{c['tensor']} max abs {_g(c['max_abs'])}" for c in inputs)
        lines.append(f"  its inputs {'agree' if ok else 'already differ'}: {detail}")
    else:
        lines.append("  its inputs are model inputs or weights (identical in both)")
    lines.append(f"  ({loc['tensors_checked']} tensors present in both models checked, iteration {loc['iteration']})")
    return lines


def _node_text(node: dict[str, Any]) -> str:
    attrs = " ".join(f"{k}={v}" for k, v in node["attributes"].items() if k not in ("plugin_version", "plugin_namespace"))
    return f"'{node['name']}' ({node['domain']}.{node['op_type']}{' ' + attrs if attrs else ''})"


def _row_text(row: dict[str, Any], first: bool) -> str:
    result = "-" if row["passed"] is None else ("pass" if row["passed"] else "FAIL")
    inputs = "-" if row.get("inputs_max_abs") is None else _g(row["inputs_max_abs"])
    mark = ">" if first else " "
    label = row["label"] if len(row["label"]) <= 34 else "..." + row["label"][-31:]  # keep the class
    return (f"  {mark} {label:<34} {(row['tensor'] or '-')[:18]:<18} {_g(row['max_abs']) if row['passed'] is not None else '-':>9} "
            f"{inputs:>9}  {result}" + (f"  ({row['note'][:60]})" if row.get("note") else ""))


def _bytes(count: int) -> str:
    return f"{count / 2**20:.1f} MiB" if count >= 2**20 else f"{count / 2**10:.1f} KiB"


def torch_localization_lines(tl: dict[str, Any], rows_around: int = 3) -> list[str]:
    """The "where it diverges" section: module, nodes, error, the optimizer's part, nearby modules."""
    how = {"metadata": "modules mapped through the torch exporter's node metadata",
           "approximate": "APPROXIMATE: modules matched by shape and order (no torch exporter metadata)"}.get(tl["method"] or "", "")
    lines = [f"where it diverges (against pytorch-cpu, iteration {tl['iteration']}, {tl['model']}):"]
    if how:
        lines.append(f"  {how}")
    opt = tl.get("optimizer")
    if opt:
        levels = ", ".join(f"{k} {'agrees' if v['passed'] else 'differs'} ({_g(v['max_abs'])})" for k, v in opt["levels"].items())
        lines.append(f"  {opt['message']}")
        lines.append(f"    against PyTorch: {levels}")
    if tl["status"] in ("error", "impossible"):
        lines.append(f"  localisation {'failed' if tl['status'] == 'error' else 'not possible'}: {tl['reason']}")
        return lines
    if tl["status"] != "diverged":
        lines.append(f"  no module outside tolerance: {tl['explanation']}")
        return lines
    rows, first = tl["modules"], tl["first_row"]
    lines.append(f"  first diverging module: {tl['module']}")
    for node in tl["nodes"][:6]:
        lines.append(f"    node {_node_text(node)}")
    if len(tl["nodes"]) > 6:
        lines.append(f"    ... {len(tl['nodes']) - 6} more node(s)")
    t = tl.get("tensor") or {}
    if t:
        lines.append(f"    tensor '{t['tensor']}' {'x'.join(map(str, t['shape'] or []))} vs {t['compared_with']}: "
                     f"max abs {_g(t['max_abs'])}, mean abs {_g(t['mean_abs'])}, max rel {_g(t['max_rel'])} "
                     f"(atol {t['atol']:g}, rtol {t['rtol']:g})")
    compared = [c for c in tl["inputs"] if c.get("passed") is not None]
    if compared:
        ok = all(c["passed"] for c in compared)
        lines.append(f"    its inputs {'agree' if ok else 'already differ'}: "
                     + ", ".join(f"{c['tensor']} max abs {_g(c['max_abs'])}" for c in compared[:4]))
    gone = [c["tensor"] for c in tl["inputs"] if c.get("passed") is None]
    if gone:
        lines.append(f"    its input(s) {', '.join(gone)} are gone from the graph that ran (not compared)")
    lines.append(f"    {tl['explanation']}")
    if opt and opt.get("optimized_nodes"):
        for change in opt["optimized_nodes"][:3]:
            lines.append(f"    optimized graph: {change['description']}")
    lines.append(f"  {'':1} {'module (execution order)':<34} {'onnx tensor':<18} {'max abs':>9} {'inputs':>9}  result")
    centre = first if first is not None else len(rows) - 1
    low, high = max(0, centre - rows_around), min(len(rows), centre + rows_around + (first is None))
    if low:
        lines.append(f"    ... {low} earlier module call(s)")
    lines += [_row_text(r, i == first) for i, r in enumerate(rows[low:high], start=low)]
    if high < len(rows):
        lines.append(f"    ... {len(rows) - high} later module call(s)")
    lines.append(f"  ({tl['modules_compared']} of {tl['modules_total']} module calls compared; {tl['seconds']:.2f} s, "
                 f"hooks held {_bytes(tl['hook_bytes'])})")
    return lines


def summary_text(report: dict[str, Any]) -> str:
    verdict = "PASSED" if report["passed"] else "FAILED"
    model = report["model"]
    nodes = ", ".join(f"{k} x{v}" for k, v in model["custom_nodes"].items()) or "none"
    inputs = report["inputs"]
    source = (f"random (polygraphy DataLoader), seed {inputs['seed']}, range {inputs['val_range']}"
              if inputs["source"] == "random" else f"from {', '.join(inputs['files'])}")
    lines = [f"normdeploy validate {model['path']}: {verdict} (exit code {report['exit_code']})",
             f"  normdeploy nodes: {nodes}",
             f"  custom side:      {model['custom_side']}",
             f"  reference:        {model['reference_side']}",
             f"  inputs:           {source}; {inputs['iterations']} iteration(s); {_shapes(inputs)}"]
    lines += [f"                    note: {n}" for n in inputs.get("notes", [])[:4]]
    for runner in report["runners"]:
        state = ("ran" if runner["ran"] else
                 f"skipped: {runner['skipped']}" if "skipped" in runner else f"ERROR: {runner['error'].splitlines()[0]}")
        lines.append(f"  runner {runner['runner']:<24} {runner['role']:<9} {state}")
        if runner.get("warning"):
            lines.append(f"    warning: {runner['warning']}")
    lines += [f"  note: {n}" for n in model.get("notes", [])]
    references = sorted({c["reference"] for c in report["comparisons"]})
    lines += ["", f"  compared with the reference {', '.join(references) or '-'} (worst over iterations):",
              f"  {'runner':<24} {'output':<20} {'max abs':>9} {'mean abs':>9} {'med abs':>9} {'max rel':>9} {'atol/rtol':>13}  result"]
    for comp in report["comparisons"]:
        for name, out in comp["outputs"].items():
            result = "pass" if out["passed"] else "FAIL" + (f" ({out['error']})" if out.get("error") else "")
            tol = f"{out['atol']:g}/{out['rtol']:g}"
            lines.append(f"  {comp['runner']:<24} {name[:20]:<20} {_g(out['max_abs']):>9} {_g(out['mean_abs']):>9} "
                         f"{_g(out['median_abs']):>9} {_g(out['max_rel']):>9} {tol:>13}  {result}")
    if not report["comparisons"]:
        lines.append("  (no comparison ran)")
    loc = report.get("localization")
    if loc:
        lines += [""] + _localization_lines(loc)
    tloc = report.get("torch_localization")
    if tloc:
        lines += [""] + torch_localization_lines(tloc)
    files = report.get("files") or {}
    if files:
        lines += ["", f"report: {files.get('json')}" + (f", {files['html']}" if files.get("html") else "")]
    return "\n".join(lines)
