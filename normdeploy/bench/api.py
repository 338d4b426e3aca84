"""bench(): time a model with normdeploy's library against plain ONNX Runtime on its standard-op
equivalent (the baseline), PyTorch eager and TensorRT, after checking that each runner computes
what the baseline computes; profile where ONNX Runtime spends the time; write JSON and HTML."""

from __future__ import annotations

import math
import os
import platform
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Sequence

import numpy as np

from ..validate.compare import quiet_polygraphy
from ..validate.errors import ValidateError
from ..validate.common import check_int, model_json, tensorrt_runner
from ..validate.inputs import Feed, check_feed, load_feeds, random_inputs, range_json
from ..validate.models import ModelPair, load_pair
from ..validate.progress import Progress
from .errors import BenchError
from .measure import Measurement, OutputCheck, Ratio, check_outputs, measure, ratios
from .profile import OpProfile, profile_events, summarize
from .runners import CUSTOM, PYTORCH, REFERENCE, TENSORRT, OrtRunner, Settings, TorchRunner, TrtRunner, \
    default_threads, ort_session, torch_threads

DEFAULT_REPORT_ROOT = Path("bench-report")
FORMAT_VERSION = 1


@dataclass
class RunnerResult:
    name: str
    role: str                       # custom | baseline | reference | pytorch | tensorrt
    description: str
    skipped: str | None = None
    error: str | None = None
    check: OutputCheck | None = None          # its outputs before timing vs the baseline's
    timed_check: OutputCheck | None = None    # the last timed call's outputs vs the baseline's
    measurement: Measurement | None = None

    @property
    def timed(self) -> bool:
        return self.measurement is not None and self.error is None

    def to_json(self, ratio: Ratio | None) -> dict[str, Any]:
        entry: dict[str, Any] = {"runner": self.name, "role": self.role, "description": self.description,
                                 "timed": self.timed}
        if self.skipped is not None:
            entry["skipped"] = self.skipped
        if self.error is not None:
            entry["error"] = self.error
        entry["check"] = self.check.to_json() if self.check else None
        entry["timed_check"] = self.timed_check.to_json() if self.timed_check else None
        if self.measurement is not None:
            m = self.measurement
            entry.update({"latency_ms": m.stats.to_json(), "samples_ms": m.samples_ms, "warmup_ms": m.warmup_ms,
                          "calls_per_repeat": m.calls_per_repeat})
        if ratio is not None:
            entry.update({"speedup_vs_baseline": ratio.value, "speedup_paired_q1": ratio.q1,
                          "speedup_paired_q3": ratio.q3, "speedup_of_medians": ratio.of_medians})
        return entry


@dataclass
class BenchResult:
    passed: bool
    report: dict[str, Any]
    json_path: Path | None
    html_path: Path | None
    runners: list[RunnerResult]
    ratios: dict[str, Ratio]
    profiles: list[OpProfile] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def summary(self) -> str:
        from .report import summary_text

        return summary_text(self.report)


def _feed(pair: ModelPair, inputs: Any, input_shapes: Any, seed: int, val_range: Any) -> tuple[Feed, dict[str, Any]]:
    """One feed: the first of the --load-inputs files, or random data (polygraphy's DataLoader)."""
    specs = pair.inputs
    if inputs is not None:
        if input_shapes:
            raise BenchError("--input-shape and --load-inputs cannot be combined: the data fixes the shapes")
        notes: list[str] = []
        if isinstance(inputs, Mapping):
            feed, source = check_feed(inputs, specs, "inputs", notes), "a feed dict given in Python"
        else:
            items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
            if not items:
                raise BenchError("--load-inputs: no files given")
            if len(items) > 1:
                raise BenchError(f"--load-inputs: bench times one set of inputs; got {len(items)} files")
            feeds, notes = load_feeds([items[0]], specs)
            feed, source = feeds[0], str(items[0])
            if len(feeds) > 1:
                notes.append(f"{source} holds {len(feeds)} iterations: the first is timed")
        info: dict[str, Any] = {"source": "file", "file": source, "notes": notes}
    else:
        feeds, ranges, notes = random_inputs(specs, pair.label, input_shapes, seed, val_range, 1)
        feed = feeds[0]
        info = {"source": "random", "seed": seed, "val_range": range_json(ranges), "notes": notes}
    info["shapes"] = {s.name: list(feed[s.name].shape) for s in specs}
    info["dtypes"] = {s.name: s.dtype.name for s in specs}
    return feed, info


def _torch_module(torch_model: Any, weights: Any) -> tuple[Any, str]:
    from ..validate.runners import load_torch_module

    try:
        module = load_torch_module(torch_model, str(weights) if weights is not None else None)
    except ValidateError as exc:
        raise BenchError(str(exc)) from exc
    label = torch_model if isinstance(torch_model, str) else type(torch_model).__name__
    return module, f"PyTorch eager on the CPU: {label}" + (f" with weights {weights}" if weights else "")


def _tensorrt(enabled: bool, pair: ModelPair, feed: Feed, workdir: Path) -> tuple[TrtRunner | None, RunnerResult]:
    from ..validate import trt

    info = RunnerResult(TENSORRT, "tensorrt", "TensorRT with normdeploy's plugins on the custom model "
                                              "(host<->device copies included)")
    shapes = {s.name: (feed[s.name].shape,) * 3 for s in pair.inputs}

    def build(path: Path, library: str, fp16: bool) -> TrtRunner:
        runner = trt.build_runner(path, shapes, library, fp16)
        return TrtRunner(runner, [o.name for o in pair.outputs], info.description)

    runner, info.skipped, info.error = tensorrt_runner(enabled, pair, workdir, build)
    return runner, info


def _build(pair: ModelPair, settings: Settings, torch_model: Any, weights: Any, tensorrt: bool, feed: Feed,
           workdir: Path) -> tuple[list[Any], list[RunnerResult], str]:
    """The runners (baseline first) and a result per runner, and the baseline's name: the plain
    ONNX Runtime standard-op model, or PyTorch when plain ONNX Runtime cannot load it."""
    results = {CUSTOM: RunnerResult(CUSTOM, "custom", f"ONNX Runtime with normdeploy's library on {pair.custom_origin}"),
               REFERENCE: RunnerResult(REFERENCE, "baseline", f"plain ONNX Runtime on {pair.reference_origin}")}
    runners: dict[str, Any] = {}
    if weights is not None and torch_model is None:
        raise BenchError("--weights needs --torch module:factory")
    if torch_model is not None:
        module, description = _torch_module(torch_model, weights)
        results[PYTORCH] = RunnerResult(PYTORCH, "pytorch", description)
        runners[PYTORCH] = TorchRunner(module, pair.inputs, [o.name for o in pair.outputs], description)
    baseline = REFERENCE
    try:
        session = ort_session(pair.source("reference"), settings, with_library=False)
        runners[REFERENCE] = OrtRunner(session, pair.inputs, REFERENCE, results[REFERENCE].description)
    except Exception as exc:  # noqa: BLE001 - ORT's errors
        if PYTORCH not in runners:
            raise BenchError(f"the baseline ({REFERENCE}) cannot load {pair.reference_origin}: {exc}; "
                             f"--torch module:factory makes PyTorch the baseline instead") from exc
        results[REFERENCE].role = "reference"
        results[REFERENCE].skipped = f"plain ONNX Runtime cannot load the standard model, so {PYTORCH} is the baseline: {exc}"
        results[PYTORCH].role = "baseline"
        baseline = PYTORCH
    try:
        session = ort_session(pair.source("custom"), settings, with_library=True)
        runners[CUSTOM] = OrtRunner(session, pair.inputs, CUSTOM, results[CUSTOM].description)
    except Exception as exc:  # noqa: BLE001 - the model under test fails to load: a failed bench
        results[CUSTOM].error = f"cannot load: {type(exc).__name__}: {exc}"
    trt_runner, trt_info = _tensorrt(tensorrt, pair, feed, workdir)
    results[TENSORRT] = trt_info
    if trt_runner is not None:
        runners[TENSORRT] = trt_runner
    order = [baseline] + [n for n in (CUSTOM, REFERENCE, PYTORCH, TENSORRT) if n != baseline and n in runners]
    return [runners[n] for n in order], list(results.values()), baseline


def check_runners(runners: Sequence[Any], prepared: Mapping[str, Any], results: Mapping[str, RunnerResult],
                  baseline: str, output_names: Sequence[str], dtypes: Mapping[str, str]) -> list[np.ndarray]:
    """Runs every runner once and compares its outputs with the baseline's (recorded in
    ``results[name].check``; a failure or mismatch sets ``error``). Returns the baseline's
    outputs; raises BenchError when the baseline itself fails (bad inputs)."""
    by_name = {r.name: r for r in runners}
    try:
        want = by_name[baseline].run(prepared[baseline])
    except Exception as exc:  # noqa: BLE001
        raise BenchError(f"the baseline ({baseline}) failed on the inputs: {type(exc).__name__}: {exc} "
                         f"(check --input-shape / --load-inputs)") from exc
    results[baseline].check = check_outputs(want, want, output_names, dtypes)
    for runner in runners:
        if runner.name == baseline:
            continue
        info = results[runner.name]
        try:
            got = runner.run(prepared[runner.name])
        except Exception as exc:  # noqa: BLE001
            info.error = f"failed: {type(exc).__name__}: {exc}"
            continue
        info.check = check_outputs(got, want, output_names, dtypes)
        if not info.check.ok:
            info.error = f"its outputs differ from the baseline's ({baseline}), so it was not timed: {info.check.message}"
    return want


def check_timed(measurements: Mapping[str, Measurement], results: Mapping[str, RunnerResult], want: Sequence[Any],
                output_names: Sequence[str], dtypes: Mapping[str, str]) -> None:
    """Compares what each runner's last timed call returned with the baseline's checked outputs:
    a runner whose timed calls computed something else gets an error and no ratio."""
    for name, m in measurements.items():
        info = results[name]
        info.measurement = m
        if m.last_outputs is None:
            info.error = "no timed call returned outputs"
            continue
        info.timed_check = check_outputs(m.last_outputs, want, output_names, dtypes)
        if not info.timed_check.ok:
            info.error = f"the outputs of its timed calls differ from the baseline's: {info.timed_check.message}"


def _profiles(pair: ModelPair, results: Mapping[str, RunnerResult], settings: Settings, feed: Feed, runs: int,
              on_step: Callable[[str], None]) -> tuple[list[OpProfile], list[str]]:
    """ONNX Runtime's profile of the custom and the standard model (runs + 1, the first dropped)."""
    normdeploy_ops = {k.split("(")[0] for k in pair.custom_nodes}
    profiles, notes = [], []
    for name, which, library in ((CUSTOM, "custom", True), (REFERENCE, "reference", False)):
        if name not in results or not results[name].timed:
            continue
        source = pair.source(which)

        def make(options: Any, source: Any = source, library: bool = library) -> Any:
            return ort_session(source, settings, with_library=library, options=options)

        def run(session: Any, data: Feed, name: str = name) -> Any:
            runner = OrtRunner(session, pair.inputs, name, "")
            out = runner.run(runner.prepare(data))
            on_step(f"profile {name}")
            return out

        try:
            events = profile_events(make, feed, runs + 1, run)
            profiles.append(summarize(events, name, normdeploy_ops, skip_runs=1))
        except Exception as exc:  # noqa: BLE001 - profiling is an extra: note, do not fail
            notes.append(f"profiling {name} failed: {type(exc).__name__}: {exc}")
    return profiles, notes


def _machine() -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                            "cpu_count": os.cpu_count(), "usable_cores": default_threads()}
    try:
        info["load_average_start"] = list(os.getloadavg())
    except OSError:
        pass
    return info


def _report(pair: ModelPair, passed: bool, input_info: dict[str, Any], settings: Settings, warmup: int, repeats: int,
            min_repeat_ms: float, baseline: str, results: Sequence[RunnerResult], ratio: Mapping[str, Ratio],
            profiles: Sequence[OpProfile], notes: Sequence[str], machine: dict[str, Any],
            clock_name: str = "time.perf_counter") -> dict[str, Any]:
    from ..validate.report import versions

    try:
        machine["load_average_end"] = list(os.getloadavg())
    except OSError:
        pass
    return {
        "format_version": FORMAT_VERSION,
        "passed": passed,
        "exit_code": 0 if passed else 1,
        "model": model_json(pair),
        "inputs": input_info,
        "settings": {**settings.to_json(), "warmup": warmup, "repeats": repeats, "min_repeat_ms": min_repeat_ms,
                     "interleaved": True, "clock": clock_name,
                     "method": "repeat i runs every runner once, starting at runner i mod n; a repeat is calls_per_repeat "
                               "back-to-back calls (so that it lasts >= min_repeat_ms) and yields ms per call; latency is "
                               "the median over repeats, spread q1-q3 and min-max"},
        "baseline": baseline,
        "speedup": f"median over repeats of {baseline} ms / runner ms in the same repeat (> 1: faster than the "
                   f"baseline); paired q1/q3: quartiles of those per-repeat ratios; of_medians: baseline median / "
                   f"runner median",
        "runners": [r.to_json(ratio.get(r.name)) for r in results],
        "profiles": [p.to_json() for p in profiles],
        "notes": list(notes),
        "machine": machine,
        "versions": versions(("torch",) * any(r.name == PYTORCH for r in results) + ("matplotlib",)),
        "files": {},
    }


def _output_paths(report_path: Any, pair: ModelPair, html: bool) -> tuple[Path | None, Path | None]:
    if report_path is False:
        return None, None
    json_path = Path(report_path) if report_path is not None else DEFAULT_REPORT_ROOT / pair.path.stem / "bench.json"
    if json_path.is_dir():
        raise BenchError(f"--json {json_path}: is a folder; give a file path (e.g. {json_path / 'bench.json'})")
    if json_path.parent.exists() and not json_path.parent.is_dir():
        raise BenchError(f"--json {json_path}: {json_path.parent} is not a folder")
    return json_path, (json_path.with_suffix(".html") if html else None)


def _write(report: dict[str, Any], json_path: Path, html_path: Path | None) -> None:
    from ..validate.report import json_text, write_atomically

    report["files"] = {"json": str(json_path), "html": str(html_path) if html_path else None}
    page = None
    if html_path is not None:
        from .html import render

        page = render(report)
    text = json_text(report)
    try:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        if page is not None and html_path is not None:
            write_atomically(html_path, page)
        write_atomically(json_path, text)
    except OSError as exc:
        raise BenchError(f"--json {json_path}: cannot write the report: {exc.strerror or exc}") from exc


def bench(
    model: str | os.PathLike[str] | Any,
    *,
    reference: str | os.PathLike[str] | Any | None = None,
    torch_model: Any = None,
    weights: str | os.PathLike[str] | None = None,
    input_shapes: Mapping[str, Sequence[int]] | Sequence[str] | None = None,
    inputs: Any = None,
    seed: int = 1,
    val_range: Any = (0.0, 1.0),
    warmup: int = 3,
    repeats: int = 10,
    min_repeat_ms: float = 20.0,
    threads: int | None = None,
    spinning: bool = False,
    profile: bool = True,
    profile_runs: int = 5,
    tensorrt: bool = True,
    report_path: str | os.PathLike[str] | Literal[False] | None = None,
    html: bool = True,
    progress: bool | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> BenchResult:
    """Times `model` (path or onnx.ModelProto; normdeploy nodes, or standard ops converted to them)
    with ONNX Runtime + normdeploy's library against plain ONNX Runtime on its standard-op
    equivalent (``convert --to standard``, or `reference`: the baseline of every ratio), PyTorch
    eager (`torch_model`: a module or "module:factory", `weights` a state_dict) and TensorRT with
    our plugins (when available; otherwise the reason it was skipped).

    Inputs as in validate: `input_shapes` ({"input": (1, 3, 224, 224)} or ["input:1x3x224x224"]),
    `seed`, `val_range`, or `inputs` (an .npz / polygraphy .json path, or a feed dict).
    Every runner's outputs are compared with the baseline's before timing and after it (the last
    timed call); a runner that differs gets an error and no ratio (``passed=False``).
    `threads` (default: all usable cores) is set on ONNX Runtime (intra-op) and torch; ONNX
    Runtime's idle-thread spinning is off unless `spinning`. With `profile`, ONNX Runtime's
    profiler gives the time share per op type of both ONNX models (`profile_runs` runs each).
    `report_path`: the JSON file (default bench-report/<stem>/bench.json; the HTML page beside it
    as .html; False writes nothing). `clock`: the timer (seconds), replaceable in tests.
    Raises BenchError for bad arguments or input.
    """
    seed = check_int(seed, "--seed", 0, BenchError)
    warmup = check_int(warmup, "--warmup", 0, BenchError)
    repeats = check_int(repeats, "--repeats", 1, BenchError)
    profile_runs = check_int(profile_runs, "--profile-runs", 1, BenchError)
    threads = default_threads() if threads is None else check_int(threads, "--threads", 1, BenchError)
    if isinstance(min_repeat_ms, bool) or not isinstance(min_repeat_ms, (int, float)) or \
            not math.isfinite(min_repeat_ms) or min_repeat_ms < 0:
        raise BenchError(f"--min-repeat-ms: expected a finite number >= 0, got {min_repeat_ms!r}")
    settings = Settings(threads, bool(spinning))
    if torch_model is not None:
        from ..extras import require

        require("torch", "normdeploy bench --torch")  # MissingExtraError (an ImportError) naming the extra
    machine = _machine()
    with quiet_polygraphy():
        return _bench(model, reference, torch_model, weights, input_shapes, inputs, seed, val_range, warmup, repeats,
                      float(min_repeat_ms), settings, profile, profile_runs, tensorrt, report_path, html, progress,
                      machine, clock)


def _bench(model: Any, reference: Any, torch_model: Any, weights: Any, input_shapes: Any, inputs: Any, seed: int,
           val_range: Any, warmup: int, repeats: int, min_repeat_ms: float, settings: Settings, profile: bool,
           profile_runs: int, tensorrt: bool, report_path: Any, html: bool, progress: bool | None,
           machine: dict[str, Any], clock: Callable[[], float]) -> BenchResult:
    try:
        pair = load_pair(model, reference)
        json_path, html_path = _output_paths(report_path, pair, html)
        feed, input_info = _feed(pair, inputs, input_shapes, seed, val_range)
    except ValidateError as exc:
        raise BenchError(str(exc)) from exc
    names = [o.name for o in pair.outputs]
    dtypes = {o.name: o.dtype.name for o in pair.outputs}
    with tempfile.TemporaryDirectory(prefix="normdeploy-bench-") as tmp, torch_threads_if(torch_model, settings.threads):
        runners, results_list, baseline = _build(pair, settings, torch_model, weights, tensorrt, feed, Path(tmp))
        results = {r.name: r for r in results_list}
        try:
            prepared = {r.name: r.prepare(feed) for r in runners}
            want = check_runners(runners, prepared, results, baseline, names, dtypes)
            timed = [r for r in runners if results[r.name].error is None]
            steps = (warmup + repeats) * len(timed) + (2 * (profile_runs + 1) if profile else 0)
            with Progress(steps, "normdeploy bench", enabled=progress) as bar:
                def step(name: str) -> None:
                    bar.update(1, name)

                try:
                    measurements = measure(timed, prepared, warmup=warmup, repeats=repeats,
                                           min_repeat_ms=min_repeat_ms, clock=clock, on_step=step)
                except Exception as exc:  # noqa: BLE001 - a runner failing mid-way: say which
                    raise BenchError(f"a runner failed while being timed: {type(exc).__name__}: {exc}") from exc
                check_timed(measurements, results, want, names, dtypes)
                ok = {n: m for n, m in measurements.items() if results[n].error is None}
                ratio = ratios(ok, baseline) if baseline in ok else {}
                profiles, notes = _profiles(pair, results, settings, feed, profile_runs, step) if profile else ([], [])
        finally:
            for runner in runners:
                runner.close()
    if baseline not in ratio:
        notes.append(f"the baseline ({baseline}) lost its timing (its timed outputs differ from its checked ones): no ratios")
    passed = all(r.error is None for r in results_list)
    report = _report(pair, passed, input_info, settings, warmup, repeats, min_repeat_ms, baseline, results_list,
                     ratio, profiles, notes, machine,
                     "time.perf_counter" if clock is time.perf_counter else getattr(clock, "__name__", repr(clock)))
    if json_path is not None:
        _write(report, json_path, html_path)
    return BenchResult(passed, report, json_path, html_path, results_list, ratio, profiles)


def torch_threads_if(torch_model: Any, threads: int) -> Any:
    """torch_threads(threads) when PyTorch runs, else nothing (torch is not imported for nothing)."""
    import contextlib

    return torch_threads(threads) if torch_model is not None else contextlib.nullcontext()
