"""The HTML page of a bench report: self-contained (plots as base64 PNGs, drawn by matplotlib
without pyplot): latency per runner (median, q1-q3 box, min-max whiskers) and the time share per
op type of each profiled ONNX Runtime model, normdeploy's ops highlighted."""

from __future__ import annotations

import base64
import io
from html import escape
from typing import Any, Sequence

from ..validate.report import jsonable
from .report import _inputs_line

_STYLE = """body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;font-size:90%}.fail{color:#b3261e;font-weight:bold}
td.n{text-align:right}img{max-width:100%}"""
_BLUE, _RED, _GREY = "#4a7bb7", "#c0392b", "#9aa5b1"
#: op types drawn in the share chart; the rest are summed as "other"
CHART_OPS = 12


def _png(fig: Any) -> bytes:
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def latency_chart(report: dict[str, Any]) -> bytes | None:
    from matplotlib.figure import Figure  # no pyplot: the caller's backend and figures are untouched

    timed = [r for r in report["runners"] if r["timed"]]
    if not timed:
        return None
    fig = Figure(figsize=(9, 0.6 + 0.55 * len(timed)), dpi=80)
    ax = fig.subplots()
    names = [r["runner"] for r in timed][::-1]
    stats = [r["latency_ms"] for r in timed][::-1]
    colors = [_RED if r["runner"] == report["baseline"] else _BLUE for r in timed][::-1]
    ax.barh(names, [s["median"] for s in stats], color=colors)
    ax.errorbar([s["median"] for s in stats], names, fmt="none", ecolor="black", capsize=3,
                xerr=[[s["median"] - s["min"] for s in stats], [s["max"] - s["median"] for s in stats]])
    for y, (entry, s) in enumerate(zip(timed[::-1], stats)):
        label = " baseline" if entry["runner"] == report["baseline"] else (
            f" {entry['speedup_vs_baseline']:.2f}x" if "speedup_vs_baseline" in entry else "")
        ax.text(s["max"], y, f" {s['median']:.3g} ms{label}", va="center", fontsize=8)
    ax.set_xlabel("ms per call (bar: median over repeats; whiskers: min-max)")
    ax.set_xlim(0, max(s["max"] for s in stats) * 1.35)
    ax.set_title(f"latency per runner; speed-up vs {report['baseline']} (red)", fontsize=9)
    return _png(fig)


def share_chart(profile: dict[str, Any]) -> bytes | None:
    from matplotlib.figure import Figure

    ops = profile["ops"]
    if not ops:
        return None
    shown = ops[:CHART_OPS]
    other = sum(o["share"] for o in ops[CHART_OPS:])
    labels = [o["op_type"] + (" (normdeploy)" if o["normdeploy"] else "") for o in shown] + (["other"] if other else [])
    shares = [100 * o["share"] for o in shown] + ([100 * other] if other else [])
    colors = [_RED if o["normdeploy"] else _BLUE for o in shown] + ([_GREY] if other else [])
    fig = Figure(figsize=(9, 0.6 + 0.4 * len(labels)), dpi=80)
    ax = fig.subplots()
    ax.barh(labels[::-1], shares[::-1], color=colors[::-1])
    for y, value in enumerate(shares[::-1]):
        ax.text(value, y, f" {value:.1f}%", va="center", fontsize=8)
    ax.set_xlim(0, max(shares) * 1.2 if shares else 1)
    ax.set_xlabel("% of the kernel time of a run")
    ax.set_title(f"{profile['runner']}: time share per op type (normdeploy nodes {100 * profile['normdeploy_share']:.1f}%, "
                 f"{profile['kernel_ms_per_run']:.3g} ms of kernels per run)", fontsize=9)
    return _png(fig)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(cell if cell.startswith("<td") else f"<td>{cell}</td>" for cell in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _img(title: str, png: bytes | None) -> str:
    if png is None:
        return ""
    data = base64.b64encode(png).decode("ascii")
    return f"<img alt=\"{escape(title)}\" src=\"data:image/png;base64,{data}\">"


def _num(value: float) -> str:
    return f'<td class="n">{value:.4g}</td>'


def render(report: dict[str, Any]) -> str:
    report = jsonable(report)
    model, settings = report["model"], report["settings"]
    verdict = "" if report["passed"] else ' &mdash; <span class="fail">a runner failed</span>'
    parts = [f"<h1>normdeploy bench: {escape(model['path'])}{verdict}</h1>",
             _table(["", ""], [[k, escape(str(v))] for k, v in (
                 ("normdeploy nodes", ", ".join(f"{k} x{v}" for k, v in model["custom_nodes"].items()) or "none"),
                 ("custom side", model["custom_side"]), ("baseline", f"{report['baseline']}: {model['reference_side']}"
                                                         if report["baseline"] == "onnxruntime-standard" else report["baseline"]),
                 ("inputs", _inputs_line(report["inputs"])),
                 ("threads / spinning", f"{settings['threads']} threads (ONNX Runtime intra-op, torch); ONNX Runtime "
                                        f"spinning {'on' if settings['ort_allow_spinning'] else 'off'}"),
                 ("method", f"{settings['warmup']} warm-ups, {settings['repeats']} repeats; {settings['method']}"),
                 ("speed-up", report["speedup"]))]),
             "<h2>Latency</h2>"]
    rows = []
    for r in report["runners"]:
        if r["timed"]:
            lat = r["latency_ms"]
            ratio = "baseline" if r["runner"] == report["baseline"] else (
                f"{r['speedup_vs_baseline']:.3g}x ({r['speedup_paired_q1']:.3g}-{r['speedup_paired_q3']:.3g})"
                if "speedup_vs_baseline" in r else "-")
            rows.append([escape(r["runner"]), _num(lat["median"]), _num(lat["q1"]), _num(lat["q3"]), _num(lat["min"]),
                         _num(lat["max"]), str(r["calls_per_repeat"]), ratio, escape(r["description"])])
        else:
            status = f"skipped: {r['skipped']}" if "skipped" in r else f"ERROR: {r.get('error', '')}"
            rows.append([escape(r["runner"]), f'<td colspan="7">{escape(status)}</td>', escape(r["description"])])
    parts.append(_table(["runner", "median ms", "q1", "q3", "min", "max", "calls/repeat",
                         f"speed-up vs {report['baseline']} (paired q1-q3)", "what"], rows))
    parts.append(_img("latency per runner", latency_chart(report)))
    parts.append("<h2>Time share per op type (ONNX Runtime profiler)</h2>")
    for profile in report["profiles"]:
        parts.append(_img(f"op share {profile['runner']}", share_chart(profile)))
        parts.append(_table(["op type", "ms per run", "share", "nodes", "normdeploy"],
                            [[escape(o["op_type"]), _num(o["ms_per_run"]), f"{100 * o['share']:.2f}%", str(o["nodes"]),
                              "yes" if o["normdeploy"] else ""] for o in profile["ops"]]))
    if not report["profiles"]:
        parts.append("<p>no profile (profiling off, or no ONNX Runtime runner was timed)</p>")
    if report["notes"]:
        parts += ["<h2>Notes</h2><ul>", *(f"<li>{escape(n)}</li>" for n in report["notes"]), "</ul>"]
    machine = report.get("machine", {})
    parts += ["<h2>Machine and versions</h2>",
              _table(["", ""], [[escape(k), escape(str(v))] for k, v in {**machine, **report["versions"]}.items()])]
    title = escape(f"normdeploy bench {model['path']}")
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title}</title><style>{_STYLE}</style></head>"
            f"<body>{''.join(parts)}</body></html>\n")
