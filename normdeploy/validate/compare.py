"""Running the runners through polygraphy's Comparator and turning its accuracy results into
per-output statistics (each statistic is the worst over the iterations)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .errors import ValidateError
from .progress import Progress
from .tolerances import Tolerance

STATS = ("max_abs", "mean_abs", "median_abs", "max_rel", "mean_rel", "median_rel")
_POLYGRAPHY_FIELDS = dict(zip(STATS, ("max_absdiff", "mean_absdiff", "median_absdiff", "max_reldiff",
                                      "mean_reldiff", "median_reldiff")))


class RunnerFailure(Exception):
    """A runner raised while activating or running (recorded in the report, not a usage error)."""

    def __init__(self, runner: str, cause: BaseException) -> None:
        super().__init__(f"{runner}: {type(cause).__name__}: {cause}")
        self.runner = runner


@dataclass
class OutputResult:
    name: str
    dtype: str
    tolerance: Tolerance
    passed: bool
    stats: dict[str, float] = field(default_factory=dict)   # worst over iterations
    iterations: list[dict[str, Any]] = field(default_factory=list)
    worst_iteration: int | None = None
    error: str | None = None


@dataclass
class PairResult:
    runner: str
    reference: str
    outputs: list[OutputResult]

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outputs)

    @property
    def first_failed_iteration(self) -> int | None:
        failed = [i for o in self.outputs for i, it in enumerate(o.iterations) if not it["passed"]]
        return min(failed) if failed else None


def quiet_polygraphy(verbose: bool = False) -> Any:
    """A context manager that keeps polygraphy's logger quiet (its exceptions still carry the text)."""
    from polygraphy.logger import G_LOGGER

    return G_LOGGER.verbosity(G_LOGGER.INFO if verbose else G_LOGGER.CRITICAL + 1)


def _guard(runner: Any, progress: Progress | None, counter: Callable[[], int]) -> None:
    """Wraps the instance's activate/infer so failures name the runner and each infer ticks."""
    activate, infer = runner.activate, runner.infer

    def guarded_activate(*args: Any, **kwargs: Any) -> Any:
        try:
            return activate(*args, **kwargs)
        except ValidateError:
            raise
        except Exception as exc:  # noqa: BLE001 - any backend error
            raise RunnerFailure(runner.name, exc) from exc

    def guarded_infer(*args: Any, **kwargs: Any) -> Any:
        try:
            outputs = infer(*args, **kwargs)
        except ValidateError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise RunnerFailure(runner.name, exc) from exc
        if progress is not None:
            progress.update(detail=f"{runner.name} (iteration {counter()})")
        return outputs

    runner.activate, runner.infer = guarded_activate, guarded_infer


def run_runners(runners: Sequence[Any], feeds: Sequence[Mapping[str, np.ndarray]], *, progress: Progress | None = None,
                verbose: bool = False) -> Any:
    """Runs every runner on every feed (polygraphy's Comparator, streaming, one iteration at a time)
    and returns the RunResults. Raises RunnerFailure naming the runner that failed."""
    from polygraphy.comparator import Comparator, RunResults
    from polygraphy.comparator.struct import IterationResult

    singles = []
    for runner in runners:
        _guard(runner, progress, lambda: len(singles))
    try:
        with quiet_polygraphy(verbose):
            for single in Comparator.run(list(runners), data_loader=list(feeds), streaming=True):
                copy = RunResults()
                for name, results in single.items():
                    copy.append((name, [IterationResult({k: np.array(v, copy=True) for k, v in r.items()},
                                                        runtime=r.runtime, runner_name=name) for r in results]))
                singles.append(copy)
    finally:
        for runner in runners:
            for attr in ("activate", "infer"):
                vars(runner).pop(attr, None)
    return RunResults.concat(singles)


def _worst(values: Sequence[float]) -> float:
    if any(math.isnan(v) for v in values):
        return math.nan
    return max(values) if values else math.nan


def compare(run_results: Any, pairs: Sequence[tuple[str, str]], tolerances: Mapping[str, Tolerance],
            dtypes: Mapping[str, str], *, verbose: bool = False) -> list[PairResult]:
    """Compares each (runner, reference) pair with polygraphy's SimpleCompareFunc (elemwise)."""
    from polygraphy.comparator import Comparator, SimpleCompareFunc
    from polygraphy.comparator.compare import OutputCompareResult

    names = list(run_results.keys())
    comparisons = [(names.index(a), names.index(b)) for a, b in pairs]
    atol: dict[str, float] = {name: t.atol for name, t in tolerances.items()}
    rtol: dict[str, float] = {name: t.rtol for name, t in tolerances.items()}
    atol[""], rtol[""] = 0.0, 0.0  # outputs not listed (none are) compare exactly
    func = SimpleCompareFunc(atol=atol, rtol=rtol, check_error_stat="elemwise")
    with quiet_polygraphy(verbose):
        accuracy = Comparator.compare_accuracy(run_results, comparisons=comparisons, compare_func=func)
    per_pair = accuracy[0]
    results = []
    for (a, b), (ia, ib) in zip(pairs, comparisons):
        iterations = per_pair[(a, b)]
        outputs = []
        for out_name, tol in tolerances.items():
            result = OutputResult(out_name, dtypes[out_name], tol, passed=True)
            for index, match in enumerate(iterations):
                entry = match.get(out_name)
                if isinstance(entry, OutputCompareResult):
                    stats = {k: getattr(entry, f) for k, f in _POLYGRAPHY_FIELDS.items()}
                    result.iterations.append({"passed": bool(entry), **stats})
                else:
                    shape_a = np.shape(run_results[ia][1][index][out_name]) if out_name in run_results[ia][1][index] else None
                    shape_b = np.shape(run_results[ib][1][index][out_name]) if out_name in run_results[ib][1][index] else None
                    result.error = (f"output missing from {a if shape_a is None else b}" if None in (shape_a, shape_b)
                                    else f"shapes differ: {shape_a} vs {shape_b}")
                    result.iterations.append({"passed": False, **{k: math.nan for k in STATS}})
            result.passed = all(it["passed"] for it in result.iterations) and result.error is None
            if result.iterations:
                result.stats = {k: _worst([it[k] for it in result.iterations]) for k in STATS}
                worst = max(range(len(result.iterations)),
                            key=lambda i: (math.inf if math.isnan(result.iterations[i]["max_abs"]) else result.iterations[i]["max_abs"]))
                result.worst_iteration = worst
            outputs.append(result)
        results.append(PairResult(a, b, outputs))
    return results


def output_arrays(run_results: Any, runner: str, output: str) -> list[np.ndarray]:
    """The arrays one runner produced for one output, one per iteration."""
    for name, iterations in run_results.items():
        if name == runner:
            return [np.asarray(r[output]) for r in iterations if output in r]
    return []

