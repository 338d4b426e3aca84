"""`make bench`, model level: `normdeploy bench` on every export/ recipe.

    python -P benchmarks/bench_models.py [--quick] [--recipes resnet_gn:build,...] [--repeats N]
                                         [--warmup N] [--threads N] [--json bench-results/bench_models.json]
                                         [--out bench-results/models]

Per recipe (random weights, the recipe's own example input, static shapes): export to ONNX with
normdeploy nodes, then normdeploy.bench.bench() times, interleaved on the same input: ONNX Runtime
with normdeploy's library on that file; plain ONNX Runtime on its ``convert --to standard``
equivalent (the baseline); PyTorch eager on the CPU. Each runner's outputs are checked against the
baseline's before and after timing. ONNX Runtime's profiler gives the share of the run spent in
the normdeploy nodes. Threads: all usable cores for ONNX Runtime and torch, ONNX Runtime spinning
off. Prints one table; writes bench-results/bench_models.json, and per recipe the bench report
(bench.json, bench.html) under --out. Exit code 0 unless a runner failed or disagreed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[1]
#: (recipe module in export/, factory): what the table covers
RECIPES = ("resnet_gn:build", "alexnet_lrn:build", "alexnet_lrn:build_even", "unet_block:build",
           "detection_head:build")


def _entries(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["runner"]: e for e in report["runners"]}


def bench_recipe(spec: str, out: Path, *, warmup: int, repeats: int, threads: int | None) -> dict[str, Any]:
    """Exports one recipe and benches it; the row of the table (and the report's paths)."""
    import normdeploy
    from normdeploy.bench import bench

    module_name, _, factory = spec.partition(":")
    module = importlib.import_module(f"export.{module_name}")
    model = getattr(module, factory)().eval()
    x = module.example_input()
    label = f"{module_name}_{factory}"
    started = time.perf_counter()
    result = normdeploy.export(model, (x,), out / f"{label}.onnx")
    exported = time.perf_counter() - started
    import onnx

    (input_name,) = [i.name for i in onnx.load(result.path, load_external_data=False).graph.input]
    res = bench(result.path, torch_model=model, inputs={input_name: x.numpy()}, warmup=warmup, repeats=repeats,
                threads=threads, report_path=out / label / "bench.json", progress=False)
    runners = _entries(res.report)
    profiles = {p["runner"]: p for p in res.report["profiles"]}
    row: dict[str, Any] = {
        "recipe": spec, "input_shape": list(x.shape), "normdeploy_nodes": res.report["model"]["custom_nodes"],
        "passed": res.passed, "baseline": res.report["baseline"], "export_s": exported,
        "bench_s": time.perf_counter() - started - exported, "report": str(res.json_path),
    }
    for name, entry in runners.items():
        if entry["timed"]:
            row[name] = {"median_ms": entry["latency_ms"]["median"], "q1_ms": entry["latency_ms"]["q1"],
                         "q3_ms": entry["latency_ms"]["q3"], "speedup_vs_baseline": entry.get("speedup_vs_baseline"),
                         "speedup_paired_q1": entry.get("speedup_paired_q1"),
                         "speedup_paired_q3": entry.get("speedup_paired_q3")}
        else:
            row[name] = {"skipped": entry.get("skipped"), "error": entry.get("error")}
    custom = profiles.get("onnxruntime+normdeploy")
    if custom:
        row["normdeploy_share"] = custom["normdeploy_share"]
        row["top_ops"] = [(o["op_type"], o["share"]) for o in custom["ops"][:3]]
    return row


def _ms(row: dict[str, Any], runner: str) -> str:
    entry = row.get(runner, {})
    return f"{entry['median_ms']:.2f}" if "median_ms" in entry else "n/a"


def _ratio(row: dict[str, Any], runner: str) -> str:
    """Median paired speed-up and its quartiles, e.g. 1.49x (1.21-1.62)."""
    entry = row.get(runner, {})
    if entry.get("speedup_vs_baseline") is None:
        return "n/a"
    return (f"{entry['speedup_vs_baseline']:.2f}x ({entry['speedup_paired_q1']:.2f}-"
            f"{entry['speedup_paired_q3']:.2f})")


def table(rows: Sequence[dict[str, Any]]) -> str:
    header = (f"{'recipe':<24} {'input':<14} {'normdeploy nodes':<32} {'ORT+nd ms':>10} {'ORT std ms':>11} "
              f"{'torch ms':>9} {'ORT+nd vs std':>19} {'torch vs std':>19} {'nd share':>9}  top ops (ORT+nd)")
    lines = [header]
    for row in rows:
        nodes = ", ".join(f"{k} x{v}" for k, v in row["normdeploy_nodes"].items())
        share = f"{100 * row['normdeploy_share']:.1f}%" if "normdeploy_share" in row else "n/a"
        top = ", ".join(f"{op} {100 * s:.0f}%" for op, s in row.get("top_ops", []))
        lines.append(f"{row['recipe']:<24} {'x'.join(map(str, row['input_shape'])):<14} {nodes:<32} "
                     f"{_ms(row, 'onnxruntime+normdeploy'):>10} {_ms(row, 'onnxruntime-standard'):>11} "
                     f"{_ms(row, 'pytorch-cpu'):>9} {_ratio(row, 'onnxruntime+normdeploy'):>19} "
                     f"{_ratio(row, 'pytorch-cpu'):>19} {share:>9}  {top}" + ("" if row["passed"] else "  FAILED"))
    return "\n".join(lines)


def _load() -> list[float]:
    import os

    try:
        return list(os.getloadavg())
    except OSError:
        return []


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 warm-up, 3 repeats")
    parser.add_argument("--recipes", default=",".join(RECIPES), help="comma-separated module:factory in export/")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None, help="default: all usable cores")
    parser.add_argument("--json", type=Path, default=Path("bench-results/bench_models.json"))
    parser.add_argument("--out", type=Path, default=Path("bench-results/models"), help="exported models and reports")
    args = parser.parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))  # export/ importable, after site-packages (the installed normdeploy wins)
    warmup, repeats = (1, 3) if args.quick else (args.warmup, args.repeats)
    from normdeploy.bench.runners import default_threads

    threads = args.threads or default_threads()
    print(f"model level: normdeploy bench on the export/ recipes ({warmup} warm-up(s), {repeats} interleaved "
          f"repeats, {threads} thread(s), ONNX Runtime spinning off; speed-ups vs plain ONNX Runtime on the "
          f"standard-op model)", flush=True)
    load_start = _load()
    rows = []
    for spec in (s.strip() for s in args.recipes.split(",") if s.strip()):
        rows.append(bench_recipe(spec, args.out, warmup=warmup, repeats=repeats, threads=threads))
        print(f"  {spec}: {rows[-1]['bench_s']:.1f} s", flush=True)
    print()
    print(table(rows))
    print("\nvs std: ORT std ms / runner ms per interleaved repeat, median (q1-q3); nd share: time in the normdeploy "
          "nodes / kernel time of a run of the ORT + normdeploy model (ONNX Runtime profiler)")
    load_end = _load()
    if load_start:
        print(f"load average (1 min) {load_start[0]:.2f} at the start, {load_end[0]:.2f} at the end, on {threads} thread(s)")
    import normdeploy

    doc = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "threads": threads, "load_average_start": load_start, "load_average_end": load_end},
        "versions": {"normdeploy": getattr(normdeploy, "__version__", None), "python": platform.python_version()},
        "settings": {"warmup": warmup, "repeats": repeats, "threads": threads, "ort_allow_spinning": False},
        "rows": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0 if all(r["passed"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
