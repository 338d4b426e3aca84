#!/usr/bin/env python3
"""Builds (when needed) and runs the normdeploy fuzz targets; see fuzz/README.md.

    python3 fuzz/run.py --seconds 600                # every built target, 600 s each (the long campaign)
    python3 fuzz/run.py --seconds 600 --corpus-out   # ... and merge coverage-adding inputs into fuzz/corpus
    python3 fuzz/run.py --replay                     # only replay the committed corpus
    python3 fuzz/run.py --targets fuzz_ort_attributes --seconds 60 -- -max_len=512   (driver flags after --)

Each target starts from its committed corpus (fuzz/corpus/<target>/, read-only unless --corpus-out)
and the dictionary fuzz/fuzz.dict. New inputs go to <build>/runs/<target>/new/, crash files to
<build>/runs/<target>/ (printed, and in the JSON report). Prints a table (target, runs, exec/s,
corpus, coverage, result), writes <build>/fuzz-report.json (or --json), and exits 1 when a target
found something, 2 when the build failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TARGETS = ["fuzz_trt_fields", "fuzz_ort_attributes", "fuzz_selftest"]
CAMPAIGN_TARGETS = ["fuzz_trt_fields", "fuzz_ort_attributes"]  # the selftest has a planted bug
MAX_CORPUS_FILES = 200
MAX_CORPUS_BYTES = 1 << 20


def find_tool(name: str) -> str:
    venv_bin = Path(sys.executable).parent
    found = shutil.which(name, path=str(venv_bin)) or shutil.which(name)
    if not found:
        sys.exit(f"fuzz/run.py: {name} not found (install it, e.g. pip install {name})")
    return found


def ort_headers() -> str | None:
    """ONNXRUNTIME_ROOT, else the folder `make headers` recorded, else the CMake default search."""
    if os.environ.get("ONNXRUNTIME_ROOT"):
        return os.environ["ONNXRUNTIME_ROOT"]
    stamp = REPO / ".venv" / ".normdeploy-stamps" / "ort-headers"
    if stamp.is_file() and stamp.read_text().strip():
        return stamp.read_text().strip()
    return None


def build(build_dir: Path, extra_cmake: list[str], quiet: bool) -> dict:
    """Configures (first time) and builds; returns fuzz_targets.json (target -> why not built)."""
    cmake = find_tool("cmake")
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    configured = (build_dir / "CMakeCache.txt").is_file()
    if not configured or extra_cmake:
        cmd = [cmake, "-S", str(HERE), "-B", str(build_dir)]
        if not configured and shutil.which("ninja", path=env["PATH"]):
            cmd += ["-G", "Ninja"]
        if ort_headers():
            cmd.append(f"-DONNXRUNTIME_ROOT={ort_headers()}")
        cmd += extra_cmake
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            print(proc.stdout[-4000:] + proc.stderr[-4000:], file=sys.stderr)
            sys.exit(2)
    jobs = str(os.cpu_count() or 2)
    proc = subprocess.run([cmake, "--build", str(build_dir), "--parallel", jobs], capture_output=quiet, text=True,
                          env=env)
    if proc.returncode != 0:
        if quiet:
            print(proc.stdout[-6000:] + proc.stderr[-3000:], file=sys.stderr)
        sys.exit(2)
    return json.loads((build_dir / "fuzz_targets.json").read_text())["targets"]


STATS = re.compile(r"^stats: (\{.*\})\s*$", re.MULTILINE)


def parse_stats(stdout: str) -> dict | None:
    found = STATS.findall(stdout)
    return json.loads(found[-1]) if found else None


def corpus_size(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")] if folder.is_dir() else []
    return len(files), sum(p.stat().st_size for p in files)


def update_corpus(exe: Path, corpus: Path, new_dir: Path, run_dir: Path) -> str:
    """Rebuilds the found inputs of fuzz/corpus/<target>: the seeds (seed-*) stay; from the inputs
    found before and the new ones, the driver's greedy merge keeps those that reach edges the seeds
    do not, largest gain first, up to MAX_FOUND_FILES - (number of seeds)."""
    corpus.mkdir(parents=True, exist_ok=True)
    merged, old_found = run_dir / "merged", run_dir / "old-found"
    merged.mkdir()
    old_found.mkdir()
    seeds = [p for p in corpus.iterdir() if p.is_file() and p.name.startswith("seed-")]
    found = [p for p in corpus.iterdir() if p.is_file() and not p.name.startswith("seed-")]
    for p in seeds:
        shutil.copy2(p, merged / p.name)
    for p in found:
        shutil.copy2(p, old_found / p.name)
    room = max(0, MAX_CORPUS_FILES - 50 - len(seeds))
    proc = subprocess.run([str(exe), "-merge=1", f"-merge_max={room}", str(merged), str(old_found), str(new_dir)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=3600)
    if proc.returncode != 0:
        return f"merge failed (exit {proc.returncode}), corpus unchanged: {proc.stderr[-2000:]}"
    for p in found:
        p.unlink()
    kept = [p for p in merged.iterdir() if not p.name.startswith("seed-")]
    for p in kept:
        shutil.copy2(p, corpus / p.name)
    return f"{len(kept)} found inputs kept (was {len(found)}; at most {room})"


def run_target(exe: Path, target: str, args: argparse.Namespace, run_dir: Path, extra: list[str]) -> dict:
    corpus = HERE / "corpus" / target
    if run_dir.exists():
        shutil.rmtree(run_dir)
    new_dir = run_dir / "new"
    new_dir.mkdir(parents=True)
    cmd = [str(exe), f"-artifact_prefix={run_dir}/", f"-dict={HERE / 'fuzz.dict'}", "-print_new=0"]
    if args.replay:
        cmd.append("-runs=0")
    else:
        cmd += [f"-max_total_time={args.seconds}", f"-output_corpus={new_dir}"]
        if args.seed is not None:
            cmd.append(f"-seed={args.seed}")
    cmd += extra
    if corpus.is_dir():
        cmd.append(str(corpus))
    started = time.monotonic()
    log_path = run_dir / "log.txt"
    with open(log_path, "w") as log:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=log, text=True,
                              timeout=(args.seconds if not args.replay else 0) + 600)
    stats = parse_stats(proc.stdout) or {}
    result = {
        "target": target,
        "command": " ".join(cmd),
        "returncode": proc.returncode,
        "wall_s": round(time.monotonic() - started, 1),
        "stats": stats,
        "log": str(log_path),
        "result": stats.get("result", f"exit {proc.returncode}"),
        "artifact": stats.get("artifact", ""),
    }
    if proc.returncode != 0 and result["result"] == "ok":
        result["result"] = f"exit {proc.returncode}"
    if args.corpus_out and result["result"] == "ok" and not args.replay:
        result["merged_into_corpus"] = update_corpus(exe, corpus, new_dir, run_dir)
    files, size = corpus_size(corpus)
    result["corpus_files"], result["corpus_bytes"] = files, size
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("FUZZ_SECONDS", 60)),
                        help="seconds per target (default $FUZZ_SECONDS or 60)")
    parser.add_argument("--targets", nargs="+", choices=TARGETS, help="default: every built campaign target")
    parser.add_argument("--replay", action="store_true", help="only run the committed corpus")
    parser.add_argument("--corpus-out", action="store_true",
                        help="merge the inputs that add coverage into fuzz/corpus/<target>/ (writes into the repo)")
    parser.add_argument("--seed", type=int, help="random seed of the driver (default: from the clock)")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("FUZZ_JOBS", os.cpu_count() or 1)),
                        help="targets run at the same time (default $FUZZ_JOBS or the CPU count)")
    parser.add_argument("--build-dir", type=Path, default=Path(os.environ.get("FUZZ_BUILD_DIR", REPO / "build" / "fuzz")))
    parser.add_argument("--no-build", action="store_true", help="use the targets already built")
    parser.add_argument("--cmake-arg", action="append", default=[], help="extra argument for the CMake configure")
    parser.add_argument("--json", type=Path, help="report path (default <build-dir>/fuzz-report.json)")
    parser.add_argument("extra", nargs="*", help="flags passed to every target after --, e.g. -- -max_len=512")
    args = parser.parse_args()

    build_dir = args.build_dir.resolve()
    if args.no_build:
        status = json.loads((build_dir / "fuzz_targets.json").read_text())["targets"]
    else:
        status = build(build_dir, args.cmake_arg, quiet=True)
    wanted = args.targets or CAMPAIGN_TARGETS
    skipped = {t: status.get(t, "not configured") for t in wanted if status.get(t, "not configured")}
    runnable = [t for t in wanted if t not in skipped]
    for t, why in skipped.items():
        print(f"{t}: skipped: {why}")

    what = "replaying the corpus" if args.replay else f"{args.seconds:g} s each, {args.jobs} at a time"
    print(f"fuzzing {', '.join(runnable) or 'nothing'} ({what}); logs in {build_dir / 'runs'}", flush=True)
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(lambda t: run_target(build_dir / t, t, args, build_dir / "runs" / t, args.extra),
                                runnable))

    header = f"{'target':<22} {'runs':>10} {'exec/s':>8} {'corpus':>7} {'coverage':>17} {'files':>6} {'KiB':>6}  result"
    print(header)
    print("-" * len(header))
    for r in results:
        s = r["stats"]
        cov = f"{s.get('cov', 0)} (seeds {s.get('seed_cov', 0)})"
        print(f"{r['target']:<22} {s.get('runs', 0):>10} {s.get('exec_per_sec', 0):>8} {s.get('corpus', 0):>7} "
              f"{cov:>17} {r['corpus_files']:>6} {r['corpus_bytes'] // 1024:>6}  {r['result']}"
              + (f" -> {r['artifact']}" if r["artifact"] else ""))
        if r["corpus_files"] > MAX_CORPUS_FILES or r["corpus_bytes"] > MAX_CORPUS_BYTES:
            print(f"  WARNING: fuzz/corpus/{r['target']} has {r['corpus_files']} files, {r['corpus_bytes']} bytes "
                  f"(keep it under {MAX_CORPUS_FILES} files and 1 MiB)")
        if "merged_into_corpus" in r:
            print(f"  fuzz/corpus/{r['target']}: {r['merged_into_corpus']}")
    for t, why in skipped.items():
        print(f"{t:<22} {'':>10} {'':>8} {'':>7} {'':>17} {'':>6} {'':>6}  skipped ({why})")

    report = {"seconds": args.seconds, "replay": args.replay, "results": results, "skipped": skipped}
    json_path = args.json or build_dir / "fuzz-report.json"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"report: {json_path}")
    failed = [r for r in results if r["result"] != "ok"]
    for r in failed:
        print(f"\n{r['target']}: {r['result']}; reproduce with: {build_dir / r['target']} {r['artifact']}\n"
              f"  (log: {r['log']})", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
