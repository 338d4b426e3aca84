"""The HTML report: one self-contained page (plots embedded as base64 PNGs, drawn by matplotlib
without pyplot): per compared output an error histogram and an output-vs-reference scatter plot."""

from __future__ import annotations

import base64
import io
from html import escape
from typing import Any, Sequence

import numpy as np

from .compare import STATS, PairResult, output_arrays
from .report import _localization_lines, jsonable, torch_localization_lines

MAX_SCATTER_POINTS = 20_000


def _flat(arrays: Sequence[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays]) if arrays else np.zeros(0)


def _plot(pair: PairResult, output: str, got: np.ndarray, want: np.ndarray, atol: float) -> bytes:
    from matplotlib.figure import Figure  # no pyplot: the caller's backend and figures are untouched

    fig = Figure(figsize=(10, 3.6), dpi=80)
    hist, scatter = fig.subplots(1, 2)
    absdiff = np.abs(got - want)
    finite = absdiff[np.isfinite(absdiff)]
    nonzero = finite[finite > 0]
    zeros = int(finite.size - nonzero.size)
    if nonzero.size:
        low, high = np.log10(nonzero.min()), np.log10(nonzero.max())
        bins = np.logspace(low - 0.05, high + 0.05 if high > low else low + 0.1, 50)
        hist.hist(nonzero, bins=bins, color="#4a7bb7")
        hist.set_xscale("log")
    if atol > 0:
        hist.axvline(atol, color="#c0392b", linestyle="--", label=f"atol {atol:g}")
        hist.legend(loc="upper left", fontsize=8)
    hist.set_title(f"|{pair.runner} - reference|: {zeros} of {finite.size} exactly equal", fontsize=9)
    hist.set_xlabel("absolute error")
    hist.set_ylabel("elements")
    rng = np.random.default_rng(0)
    idx = np.arange(got.size) if got.size <= MAX_SCATTER_POINTS else rng.choice(got.size, MAX_SCATTER_POINTS, replace=False)
    scatter.scatter(want[idx], got[idx], s=2, alpha=0.4, color="#4a7bb7", rasterized=True)
    both = np.concatenate([want[idx], got[idx]])
    both = both[np.isfinite(both)]
    if both.size:
        scatter.plot([both.min(), both.max()], [both.min(), both.max()], color="#c0392b", linewidth=0.8)
    scatter.set_xlabel(f"{pair.reference} (reference)")
    scatter.set_ylabel(pair.runner)
    scatter.set_title(f"output '{output}' vs reference ({len(idx)} points)", fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


ZERO_FLOOR = 1e-12  # exact agreement drawn here on the log axis


def module_error_plot(tl: dict[str, Any]) -> bytes | None:
    """Max abs error of each module call against PyTorch along the network (execution order,
    log scale), the tolerance as a line, the first diverging module in red."""
    from matplotlib.figure import Figure

    rows = [(i, r) for i, r in enumerate(tl.get("modules") or []) if r["passed"] is not None
            and isinstance(r["max_abs"], (int, float)) and np.isfinite(r["max_abs"])]
    if not rows:
        return None
    x = np.array([i for i, _ in rows])
    y = np.maximum(np.array([r["max_abs"] for _, r in rows], dtype=np.float64), ZERO_FLOOR)
    fig = Figure(figsize=(10, 4.4), dpi=80)
    ax = fig.subplots()
    ax.plot(x, y, color="#4a7bb7", linewidth=0.8, marker="o", markersize=3)
    ax.set_yscale("log")
    atol = max(r["atol"] for _, r in rows)
    ax.axhline(atol, color="#c0392b", linestyle="--", linewidth=0.8, label=f"atol {atol:g}")
    first = tl.get("first_row")
    if first is not None and first in set(x.tolist()):
        row = tl["modules"][first]
        ax.plot([first], [max(row["max_abs"], ZERO_FLOOR)], "o", color="#c0392b", markersize=7,
                label=f"first module outside tolerance: {row['label']}")
    if len(rows) <= 40:  # few enough to name every module on the axis
        ax.set_xticks(x)
        ax.set_xticklabels([r["path"] + (f"#{r['call'] + 1}" if r["call"] else "") for _, r in rows],
                           rotation=60, ha="right", fontsize=7)
    ax.set_xlabel("module call (execution order)")
    ax.set_ylabel("max abs error vs PyTorch")
    ax.set_title(f"per-module error along the network ({tl['model']}; exact zeros at {ZERO_FLOOR:g})", fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _torch_section(tl: dict[str, Any]) -> list[str]:
    parts = ["<h2>Where it diverges (against PyTorch)</h2>",
             f"<pre>{escape(chr(10).join(torch_localization_lines(tl)))}</pre>"]
    plot = module_error_plot(tl)
    if plot is not None:
        data = base64.b64encode(plot).decode("ascii")
        parts.append(f"<img alt=\"per-module error\" src=\"data:image/png;base64,{data}\">")
    if tl.get("nodes"):
        parts.append("<h3>Nodes of the first diverging module</h3>")
        parts.append(_table(["node", "op", "attributes", "inputs", "outputs"],
                            [[escape(n["name"]), escape(f"{n['domain']}.{n['op_type']}"), escape(str(n["attributes"])),
                              escape(", ".join(n["inputs"])), escape(", ".join(n["outputs"]))] for n in tl["nodes"]]))
    opt = tl.get("optimizer") or {}
    if opt.get("optimized_nodes"):
        parts.append("<h3>What ONNX Runtime's optimizer wrote there</h3><ul>"
                     + "".join(f"<li>{escape(c['description'])}</li>" for c in opt["optimized_nodes"]) + "</ul>")
    rows = tl.get("modules") or []
    if rows:
        first = tl.get("first_row")
        body = []
        for i, r in enumerate(rows):
            verdict = "-" if r["passed"] is None else _verdict(r["passed"])
            cells = [str(i), escape(r["label"]), escape(r["tensor"] or "-"), escape(r["node"] or "-"),
                     escape(str(r["shape"] or "-")), _num(r["max_abs"]) if r["passed"] is not None else "-",
                     _num(r["mean_abs"]) if r["passed"] is not None else "-",
                     _num(r.get("inputs_max_abs")), verdict, escape(r.get("note") or "")]
            style = ' style="background:#fde2e1"' if i == first else ""
            body.append(f"<tr{style}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        head = "".join(f"<th>{h}</th>" for h in ("#", "module", "onnx tensor", "node", "shape", "max abs", "mean abs",
                                                "inputs max abs", "result", "note"))
        parts.append(f"<table><tr>{head}</tr>{''.join(body)}</table>")
    return parts


def make_plots(pairs: Sequence[PairResult], run_results: Any) -> list[tuple[str, bytes]]:
    plots = []
    for pair in pairs:
        for out in pair.outputs:
            got = output_arrays(run_results, pair.runner, out.name)
            want = output_arrays(run_results, pair.reference, out.name)
            if not got or len(got) != len(want) or any(a.shape != b.shape for a, b in zip(got, want)):
                continue
            title = f"{pair.runner} vs {pair.reference}: {out.name}"
            plots.append((title, _plot(pair, out.name, _flat(got), _flat(want), out.tolerance.atol)))
    return plots


_STYLE = """body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;font-size:90%}.pass{color:#1e7b34}.fail{color:#b3261e;font-weight:bold}
pre{background:#f6f6f6;padding:.8em;overflow-x:auto}img{max-width:100%}"""


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _num(value: Any) -> str:
    return escape(value) if isinstance(value, str) else ("-" if value is None else f"{value:.3e}")


def _verdict(passed: bool) -> str:
    return '<span class="pass">pass</span>' if passed else '<span class="fail">FAIL</span>'


def render(report: dict[str, Any], plots: Sequence[tuple[str, bytes]]) -> str:
    report = jsonable(report)
    model, inputs = report["model"], report["inputs"]
    parts = [f"<h1>normdeploy validate: {escape(model['path'])} &mdash; {_verdict(report['passed'])}</h1>",
             _table(["", ""], [[k, escape(str(v))] for k, v in (
                 ("normdeploy nodes", ", ".join(f"{k} x{v}" for k, v in model["custom_nodes"].items()) or "none"),
                 ("custom side", model["custom_side"]), ("reference", model["reference_side"]),
                 ("inputs", f"{inputs['source']}, {inputs['iterations']} iteration(s), shapes {inputs['shapes']}"),
                 ("input notes", "; ".join(inputs.get("notes", [])) or "-"),
                 ("criterion", report["tolerances"]["criterion"]))]),
             "<h2>Runners</h2>",
             _table(["runner", "role", "status", "what"],
                    [[escape(r["runner"]), r["role"],
                      "ran" if r["ran"] else escape("skipped: " + r["skipped"] if "skipped" in r else "ERROR: " + r["error"]),
                      escape(r["description"])] for r in report["runners"]]),
             "<h2>Comparisons</h2>"]
    rows = []
    for comp in report["comparisons"]:
        for name, out in comp["outputs"].items():
            rows.append([escape(comp["runner"]), escape(comp["reference"]), escape(name), out["dtype"],
                         *[_num(out[k]) for k in STATS], f"{out['atol']:g} / {out['rtol']:g}",
                         _verdict(out["passed"]) + (f" ({escape(out['error'])})" if out.get("error") else "")])
    parts.append(_table(["runner", "reference", "output", "dtype", *STATS, "atol / rtol", "result"], rows))
    loc = report.get("localization")
    if loc:
        parts += ["<h2>Localisation</h2>", f"<pre>{escape(chr(10).join(_localization_lines(loc)))}</pre>"]
        checks = loc.get("checks") or []
        if checks:
            parts.append(_table(["tensor", "node", "op", "shape", "max abs", "mean abs", "max rel", "result"],
                                [[escape(c["tensor"]), escape(c["node"]), escape(c["op_type"]), escape(str(c["shape"])),
                                  _num(c["max_abs"]), _num(c["mean_abs"]), _num(c["max_rel"]), _verdict(c["passed"])]
                                 for c in checks]))
    tloc = report.get("torch_localization")
    if tloc:
        parts += _torch_section(tloc)
    parts.append("<h2>Plots</h2>")
    for title, png in plots:
        data = base64.b64encode(png).decode("ascii")
        parts.append(f"<h3>{escape(title)}</h3><img alt=\"{escape(title)}\" src=\"data:image/png;base64,{data}\">")
    if not plots:
        parts.append("<p>no plots (no comparison ran)</p>")
    parts += ["<h2>Versions</h2>", _table(["package", "version"], [[escape(k), escape(str(v))] for k, v in report["versions"].items()])]
    title = escape(f"normdeploy validate {model['path']}")
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title}</title><style>{_STYLE}</style></head>"
            f"<body>{''.join(parts)}</body></html>\n")
