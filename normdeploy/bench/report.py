"""The one-screen text summary of a bench report (the JSON dict is the single source of truth)."""

from __future__ import annotations

from typing import Any

#: op types listed in the text summary (the JSON and the page list all)
TOP_OPS = 8


def _ms(value: float) -> str:
    return f"{value:.3f}" if value < 10 else f"{value:.2f}" if value < 1000 else f"{value:.0f}"


def _inputs_line(inputs: dict[str, Any]) -> str:
    shapes = ", ".join(f"{n} {'x'.join(map(str, s))} {inputs['dtypes'][n]}" for n, s in inputs["shapes"].items())
    if inputs["source"] == "random":
        return f"{shapes} (random, seed {inputs['seed']}, range {inputs['val_range']})"
    return f"{shapes} (from {inputs['file']})"


def _status(entry: dict[str, Any]) -> str:
    if "skipped" in entry:
        return f"skipped: {entry['skipped']}"
    if "error" in entry:
        return f"ERROR: {entry['error']}"
    return "not timed"


def runner_rows(report: dict[str, Any]) -> list[str]:
    baseline = report["baseline"]
    rows = [f"{'runner':<24} {'median ms':>10} {'q1-q3 ms':>17} {'calls':>5}  {'speed-up (paired q1-q3)':<24} check"]
    for entry in report["runners"]:
        name = entry["runner"]
        if not entry["timed"]:
            rows.append(f"{name:<24} {_status(entry)}")
            continue
        lat = entry["latency_ms"]
        if name == baseline:
            ratio = "1.00x (baseline)"
        elif "speedup_vs_baseline" in entry:
            ratio = (f"{entry['speedup_vs_baseline']:.2f}x ({entry['speedup_paired_q1']:.2f}-"
                     f"{entry['speedup_paired_q3']:.2f})")
        else:
            ratio = "-"
        check = entry.get("timed_check") or entry.get("check") or {}
        check_text = "-" if name == baseline else f"ok, max abs diff {check.get('max_abs', 0):.1e}"
        rows.append(f"{name:<24} {_ms(lat['median']):>10} {_ms(lat['q1']) + '-' + _ms(lat['q3']):>17} "
                    f"{entry['calls_per_repeat']:>5}  {ratio:<24} {check_text}")
    return rows


def profile_lines(profile: dict[str, Any], top: int = TOP_OPS) -> list[str]:
    nodes = profile["normdeploy_share"]
    lines = [f"time share in {profile['runner']} (ONNX Runtime profiler, {profile['runs']} runs): "
             f"{profile['kernel_ms_per_run']:.3f} ms of kernels per run ({profile['wall_ms_per_run']:.3f} ms per run)"]
    if any(o["normdeploy"] for o in profile["ops"]):
        lines.append(f"  normdeploy nodes: {100 * nodes:.1f}% ({profile['normdeploy_ms_per_run']:.3f} ms per run)")
    ops = profile["ops"][:top]
    cells = [f"{o['op_type']}{'*' if o['normdeploy'] else ''} {100 * o['share']:.1f}%" for o in ops]
    rest = len(profile["ops"]) - len(ops)
    lines.append("  " + ", ".join(cells) + (f", {rest} more op types" if rest > 0 else ""))
    return lines


def summary_text(report: dict[str, Any]) -> str:
    model, settings = report["model"], report["settings"]
    nodes = ", ".join(f"{k} x{v}" for k, v in model["custom_nodes"].items()) or "none"
    verdict = "" if report["passed"] else "  FAILED (see ERROR below)"
    lines = [f"normdeploy bench {model['path']}{verdict}",
             f"normdeploy nodes: {nodes}",
             f"inputs: {_inputs_line(report['inputs'])}",
             f"threads: {settings['threads']} (ONNX Runtime intra-op and torch), ONNX Runtime spinning "
             f"{'on' if settings['ort_allow_spinning'] else 'off'}; {settings['warmup']} warm-up(s), "
             f"{settings['repeats']} interleaved repeats of >= {settings['min_repeat_ms']:g} ms",
             f"speed-up = {report['baseline']} ms / runner ms, per interleaved repeat: median (q1-q3); > 1: faster",
             ""]
    lines += runner_rows(report)
    for profile in report["profiles"]:
        lines += [""] + profile_lines(profile)
    if report["profiles"]:
        lines.append("  (* normdeploy op)")
    for note in report["notes"]:
        lines.append(f"note: {note}")
    load = report.get("machine", {})
    if "load_average_start" in load and "load_average_end" in load:
        lines.append(f"load average (1 min) {load['load_average_start'][0]:.2f} at the start, "
                     f"{load['load_average_end'][0]:.2f} at the end, on {load['usable_cores']} usable core(s)")
    files = report.get("files") or {}
    if files.get("json"):
        lines.append(f"report: {files['json']}" + (f", {files['html']}" if files.get("html") else ""))
    return "\n".join(lines)
