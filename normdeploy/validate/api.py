"""validate(): run the custom model, its standard-op reference, optionally the PyTorch model and
TensorRT through polygraphy's Comparator; compare, localise, report."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

import numpy as np

from ..extras import require
from .compare import PairResult, RunnerFailure, compare, output_arrays, quiet_polygraphy, run_runners
from .errors import ValidateError
from .common import check_int, model_json, tensorrt_runner
from .inputs import Feed, InputSpec, check_feed, load_feeds, random_inputs, range_json
from .localize import Localization, localize as localize_divergence
from .models import ModelPair, load_pair
from .ortopt import DEFAULT_OPT_LEVEL, OPT_LEVELS, check_level
from .progress import Progress
from .report import FORMAT_VERSION, RunnerInfo, json_text, pair_json, summary_text, versions, write_atomically
from .runners import CUSTOM, PYTORCH, REFERENCE, TENSORRT, OrtRunner, TorchCpuRunner, load_torch_module, ort_session, unstable_factory
from .tolerances import DEFAULT_TOLERANCES, Tolerance, ToleranceArg, ToleranceSettings
from .torchloc import TorchLocalization, localize_against_torch

DEFAULT_REPORT_ROOT = Path("validate-report")
CRITERION = ("an element fails when |out - ref| > atol and |out - ref| / |ref| > rtol "
             "(polygraphy SimpleCompareFunc, check_error_stat='elemwise'); statistics are the worst over iterations")


@dataclass
class ValidationResult:
    passed: bool
    report: dict[str, Any]
    report_dir: Path | None
    comparisons: list[PairResult]
    localization: Localization | None
    torch_localization: TorchLocalization | None = None

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def summary(self) -> str:
        return summary_text(self.report)


def _feeds(pair: ModelPair, inputs: Any, input_shapes: Any, seed: int, val_range: Any,
           iterations: int) -> tuple[list[Feed], dict[str, Any]]:
    specs = pair.inputs
    if inputs is not None:
        if input_shapes:
            raise ValidateError("--input-shape and --load-inputs cannot be combined: the data fixes the shapes")
        items = [inputs] if isinstance(inputs, (str, os.PathLike, Mapping)) else list(inputs)
        if not items:
            raise ValidateError("--load-inputs: no files given")
        notes: list[str] = []
        feeds: list[Feed] = []
        files: list[str] = []
        for index, item in enumerate(items):
            if isinstance(item, (str, os.PathLike)):
                loaded, more = load_feeds([item], specs)
                feeds += loaded
                notes += more
                files.append(str(item))
            else:
                feeds.append(check_feed(item, specs, f"inputs[{index}]", notes))
                files.append(f"inputs[{index}] (in memory)")
        info = {"source": "files", "files": files, "iterations": len(feeds), "notes": notes}
    else:
        feeds, ranges, notes = random_inputs(specs, pair.label, input_shapes, seed, val_range, iterations)
        info = {"source": "random", "files": [], "seed": seed, "val_range": range_json(ranges),
                "iterations": iterations, "notes": notes}
    info["shapes"] = {s.name: list(feeds[0][s.name].shape) for s in specs}
    varying = {s.name for s in specs if len({f[s.name].shape for f in feeds}) > 1}
    if varying:
        info["notes"].append(f"shapes vary across iterations for {sorted(varying)}; 'shapes' lists the first")
    return feeds, info


def _shape_ranges(feeds: Sequence[Feed], specs: Sequence[InputSpec]) -> dict[str, tuple[tuple[int, ...], ...]]:
    ranges = {}
    for spec in specs:
        shapes = np.array([f[spec.name].shape for f in feeds])
        ranges[spec.name] = (tuple(shapes.min(0)), tuple(shapes[0]), tuple(shapes.max(0)))
    return ranges


def _tensorrt(enabled: bool, pair: ModelPair, feeds: Sequence[Feed], workdir: Path) -> tuple[Any, RunnerInfo]:
    from . import trt

    info = RunnerInfo(TENSORRT, "tensorrt", "TensorRT on the custom model with normdeploy's plugin library")

    def build(path: Path, library: str, fp16: bool) -> Any:
        return trt.build_runner(path, _shape_ranges(feeds, pair.inputs), library, fp16)

    runner, info.skipped, info.error = tensorrt_runner(enabled, pair, workdir, build)
    return runner, info


def _build_runners(pair: ModelPair, torch_model: Any, weights: Any, tensorrt: bool, feeds: Sequence[Feed],
                   workdir: Path, level: str) -> tuple[list[Any], list[RunnerInfo], str, Any]:
    """Runners in execution order (the reference first, so bad inputs show as a reference failure)
    and the reference's name: onnxruntime-standard, or pytorch-cpu when plain ONNX Runtime cannot
    load the standard model (e.g. bfloat16, which its CPU InstanceNormalization/AveragePool lack);
    also the PyTorch module (or None)."""
    at = f" (graph optimization {OPT_LEVELS[level]})"
    custom_info = RunnerInfo(CUSTOM, "custom", f"ONNX Runtime with normdeploy's library on {pair.custom_origin}{at}")
    ref_info = RunnerInfo(REFERENCE, "reference", f"plain ONNX Runtime on {pair.reference_origin}{at}")
    infos = [custom_info, ref_info]
    runners: list[Any] = []
    if weights is not None and torch_model is None:
        raise ValidateError("--weights needs --torch module:factory")
    torch_runner = None
    module = None
    if torch_model is not None:
        module = load_torch_module(torch_model, weights)
        label = torch_model if isinstance(torch_model, str) else type(torch_model).__name__
        infos.append(RunnerInfo(PYTORCH, "pytorch", f"PyTorch on the CPU: {label}" + (f" with weights {weights}" if weights else ""),
                                warning=None if weights is not None else unstable_factory(torch_model, module)))
        torch_runner = TorchCpuRunner(module, pair.inputs, [o.name for o in pair.outputs])
    reference_name = REFERENCE
    try:
        runners.append(OrtRunner(ort_session(pair.source("reference"), with_library=False, level=level), pair.inputs, REFERENCE))
    except Exception as exc:  # noqa: BLE001 - ORT's errors
        if torch_runner is None:
            raise ValidateError(f"the reference ({REFERENCE}) cannot load {pair.reference_origin}: {exc}") from exc
        ref_info.role = "unused"
        ref_info.skipped = f"cannot load the standard model, so {PYTORCH} is the reference: {exc}"
        infos[2].role = "reference"
        reference_name = PYTORCH
    if torch_runner is not None:
        runners.insert(0 if reference_name == PYTORCH else 1, torch_runner)
    try:
        runners.insert(1, OrtRunner(ort_session(pair.source("custom"), with_library=True, level=level), pair.inputs, CUSTOM))
    except Exception as exc:  # noqa: BLE001 - the model under test fails to load: a failed validation
        custom_info.error = f"{type(exc).__name__}: {exc}"
    trt_runner, trt_info = _tensorrt(tensorrt, pair, feeds, workdir)
    infos.append(trt_info)
    if trt_runner is not None:
        runners.append(trt_runner)
    return runners, infos, reference_name, module


def _run(runners: list[Any], infos: list[RunnerInfo], reference: str, feeds: Sequence[Feed], progress: bool | None,
         verbose: bool) -> Any:
    by_name = {i.name: i for i in infos}
    while True:
        with Progress(len(runners) * len(feeds), "normdeploy validate", enabled=progress) as bar:
            try:
                return run_runners(runners, feeds, progress=bar, verbose=verbose)
            except RunnerFailure as failure:
                if failure.runner == reference:
                    raise ValidateError(f"the reference ({reference}) failed on the inputs: {failure} "
                                        f"(check --input-shape / --load-inputs)") from failure
                by_name[failure.runner].error = str(failure).split(": ", 1)[1]
                runners = [r for r in runners if r.name != failure.runner]


def _localize(pair: ModelPair, comparisons: Sequence[PairResult], feeds: Sequence[Feed],
              settings: ToleranceSettings) -> Localization | None:
    """Localises a custom-vs-ONNX-reference mismatch (at its first failing iteration)."""
    failed = next((c for c in comparisons if c.runner == CUSTOM and not c.passed), None)
    if failed is None:
        return None
    if failed.reference != REFERENCE:
        return Localization(iteration=0, checked=0, not_in_reference=[],
                            error=f"needs the ONNX reference ({REFERENCE}), which did not run")
    iteration = failed.first_failed_iteration or 0
    return localize_divergence(pair, feeds[iteration], iteration, settings)


def _torch_localize(pair: ModelPair, module: Any, comparisons: Sequence[PairResult], feeds: Sequence[Feed],
                    settings: ToleranceSettings, level: str, run_results: Any) -> TorchLocalization | None:
    """Localises a disagreement with PyTorch (at its first failing iteration) in the file as given
    (or, when that agrees, in the converted side), and checks the graph optimizer."""
    failed = next((c for c in comparisons if PYTORCH in (c.runner, c.reference) and not c.passed), None)
    if failed is None or module is None:
        return None
    iteration = failed.first_failed_iteration or 0
    sides = [("the custom model (" + pair.custom_origin + ")", pair.custom, True, CUSTOM),
             ("the reference (" + pair.reference_origin + ")", pair.reference, False, REFERENCE)]
    if pair.reference_origin == "the model as given":
        sides.reverse()
    if failed.reference == PYTORCH:  # bfloat16: the plain runner did not run
        sides = [s for s in sides if s[3] == CUSTOM]
    known = {}  # what the ONNX Runtime runners already produced on that input (not run again)
    for runner in (CUSTOM, REFERENCE):
        arrays = {o.name: output_arrays(run_results, runner, o.name) for o in pair.outputs}
        if all(len(a) > iteration for a in arrays.values()):
            known[runner] = {name: a[iteration] for name, a in arrays.items()}
    return localize_against_torch(pair, module, feeds[iteration], iteration, settings, level, sides, known)


def _report(pair: ModelPair, passed: bool, input_info: dict[str, Any], tolerances: Mapping[str, Tolerance],
            infos: Sequence[RunnerInfo], comparisons: Sequence[PairResult], loc: Localization | None,
            extra_versions: Sequence[str], tloc: TorchLocalization | None = None,
            level: str = DEFAULT_OPT_LEVEL) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "passed": passed,
        "exit_code": 0 if passed else 1,
        "model": model_json(pair),
        "versions": versions(extra_versions),
        "inputs": input_info,
        "tolerances": {"criterion": CRITERION,
                       "defaults": {k: {"atol": a, "rtol": r} for k, (a, r) in DEFAULT_TOLERANCES.items()},
                       "outputs": {name: t.to_json() for name, t in tolerances.items()}},
        "ort_opt_level": {"setting": level, "level": OPT_LEVELS[level]},
        "runners": [i.to_json() for i in infos],
        "comparisons": [pair_json(c) for c in comparisons],
        "localization": loc.to_json() if loc else None,
        "torch_localization": tloc.to_json() if tloc else None,
        "files": {},
    }


def _check_report_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ValidateError(f"--report-dir {out_dir}: exists and is not a folder")


def _write(report: dict[str, Any], out_dir: Path, html: bool, comparisons: Sequence[PairResult], run_results: Any) -> None:
    """Renders both files in memory, then writes each to a temporary file and renames it (the page
    first, report.json last): a failure leaves the folder's earlier files as they were, never a
    half-written report. The folder is created only here, once there is a report to write."""
    _check_report_dir(out_dir)
    report["files"] = {"json": str(out_dir / "report.json"), "html": str(out_dir / "report.html") if html else None}
    page = None
    if html:
        from .html import make_plots, render

        page = render(report, make_plots(comparisons, run_results))
    text = json_text(report)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        if page is not None:
            write_atomically(out_dir / "report.html", page)
        write_atomically(out_dir / "report.json", text)
    except OSError as exc:
        raise ValidateError(f"--report-dir {out_dir}: cannot write the report: {exc.strerror or exc}") from exc


def validate(
    model: str | os.PathLike[str] | Any,
    *,
    reference: str | os.PathLike[str] | Any | None = None,
    torch_model: Any = None,
    weights: str | os.PathLike[str] | None = None,
    input_shapes: Mapping[str, Sequence[int]] | Sequence[str] | None = None,
    inputs: Any = None,
    seed: int = 1,
    val_range: tuple[float, float] | Mapping[str, tuple[float, float]] | Sequence[str] = (0.0, 1.0),
    iterations: int = 1,
    atol: ToleranceArg = None,
    rtol: ToleranceArg = None,
    report_dir: str | os.PathLike[str] | Literal[False] | None = None,
    localize: bool = True,
    ort_opt_level: str = DEFAULT_OPT_LEVEL,
    tensorrt: bool = True,
    html: bool = True,
    progress: bool | None = None,
    verbose: bool = False,
) -> ValidationResult:
    """Validates an ONNX model with normdeploy nodes (or a standard one, converted to them) against
    its standard-op reference, and against a PyTorch model and TensorRT when given/available.

    model:        path or onnx.ModelProto. reference: a standard-op model to compare with instead
                  of ``convert --to standard`` of the model.
    torch_model:  a torch.nn.Module or "module:factory"; weights: a state_dict checkpoint for it.
    input_shapes: {"input": (1, 3, 224, 224)} or ["input:1x3x224x224"]; dynamic dims not given
                  default to 2 (batch axis) and 32, 48, ... (the others).
    inputs:       user data instead of random inputs: .npz / polygraphy .json path(s) or feed dicts.
    seed, val_range, iterations: polygraphy DataLoader settings (iteration i uses seed + i).
    atol, rtol:   a float for every output or {"output": value, "": default}; defaults per dtype
                  in DEFAULT_TOLERANCES.
    localize:     on a mismatch, find the first diverging node (our library vs the reference) and,
                  when PyTorch disagrees, the module where the ONNX model leaves PyTorch and
                  whether ONNX Runtime's graph optimizer causes it.
    ort_opt_level: graph optimization of the ONNX Runtime runners: disable | basic | extended |
                  all (ORT's default), so the configuration you deploy is the one validated.
    report_dir:   where report.json / report.html go (default validate-report/<model stem>/;
                  False writes nothing). progress: None = a bar when stderr is a terminal.
                  Written only when the comparison ran (also when it failed); on a ValidateError
                  nothing is created or changed there. Each file is written atomically.

    Raises ValidateError for bad arguments or input; a mismatch gives ``passed=False``.
    """
    if torch_model is not None:
        require("torch", "normdeploy validate --torch")
    seed = check_int(seed, "seed", 0)
    iterations = check_int(iterations, "iterations", 1)
    level = check_level(ort_opt_level)
    if report_dir is not None and report_dir is not False:
        _check_report_dir(Path(report_dir))  # before the run, not after it
    with quiet_polygraphy(verbose):
        pair = load_pair(model, reference)
        feeds, input_info = _feeds(pair, inputs, input_shapes, seed, val_range, iterations)
        settings = ToleranceSettings.from_args(atol, rtol, [o.name for o in pair.outputs])
        tolerances = {o.name: settings.for_output(o.name, o.dtype) for o in pair.outputs}
        with tempfile.TemporaryDirectory(prefix="normdeploy-validate-") as tmp:
            runners, infos, reference_name, module = _build_runners(pair, torch_model, weights, tensorrt, feeds, Path(tmp),
                                                                    level)
            run_results = _run(runners, infos, reference_name, feeds, progress, verbose)
        ran = {i.name for i in infos if i.ran}
        pairs = [(name, reference_name) for name in (CUSTOM, PYTORCH, TENSORRT) if name in ran and name != reference_name]
        comparisons = compare(run_results, pairs, tolerances, {o.name: o.dtype.name for o in pair.outputs}, verbose=verbose)
        passed = all(c.passed for c in comparisons) and all(i.error is None for i in infos)
        loc = _localize(pair, comparisons, feeds, settings) if localize else None
        tloc = _torch_localize(pair, module, comparisons, feeds, settings, level, run_results) if localize else None
        extra = ("torch",) * (torch_model is not None) + ("tensorrt",) * tensorrt + ("matplotlib",) * html
        report = _report(pair, passed, input_info, tolerances, infos, comparisons, loc, extra, tloc, level)
        out_dir = None
        if report_dir is not False:
            out_dir = Path(report_dir) if report_dir is not None else DEFAULT_REPORT_ROOT / pair.path.stem
            _write(report, out_dir, html, comparisons, run_results)
    return ValidationResult(passed, report, out_dir, comparisons, loc, tloc)
