"""Timing and its arithmetic: warm-ups, repeats interleaved over the runners, statistics per
runner, ratios against a named baseline, and the output checks that tie a timing to a result.

Everything here is pure apart from calling the runners and the clock, both passed in, so that a
test can drive it with fake runners and a fake clock.

One repeat of a runner is ``calls`` back-to-back calls (``calls`` chosen from the last warm-up so
that a repeat lasts at least ``min_repeat_ms``; 1 for models slower than that) and yields the mean
time per call. Repeat i runs every runner once, starting at runner i mod n, so that a slow moment
of a shared machine falls on all runners alike, and the paired ratio of repeat i compares runs
made seconds apart.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence

import numpy as np

from .errors import BenchError

#: One repeat never makes more calls than this (a runner faster than min_repeat_ms / MAX_CALLS).
MAX_CALLS = 10_000


class Runner(Protocol):
    """What measure() times: ``run(prepared)`` is the whole timed call (inputs were made ready by
    ``prepare`` once, outside the timing) and returns the outputs in the ONNX model's order."""

    name: str

    def run(self, prepared: Any) -> list[np.ndarray]: ...


@dataclass(frozen=True)
class Stats:
    """Order statistics of per-call times in ms (quartiles by linear interpolation)."""

    median: float
    q1: float
    q3: float
    min: float
    max: float
    count: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> "Stats":
        if not samples:
            raise ValueError("no samples")
        values = np.asarray(samples, dtype=np.float64)
        q1, median, q3 = np.percentile(values, [25, 50, 75])
        return cls(float(median), float(q1), float(q3), float(values.min()), float(values.max()), len(values))

    def to_json(self) -> dict[str, float | int]:
        return {"median": self.median, "q1": self.q1, "q3": self.q3, "min": self.min, "max": self.max, "count": self.count}


@dataclass
class Measurement:
    runner: str
    samples_ms: list[float]            # one per repeat: mean ms per call in that repeat
    calls_per_repeat: int
    warmup_ms: list[float] = field(default_factory=list)
    last_outputs: list[np.ndarray] | None = None   # what the last timed call returned

    @property
    def stats(self) -> Stats:
        return Stats.of(self.samples_ms)


@dataclass(frozen=True)
class Ratio:
    """Speed-up of `runner` over `baseline` (> 1: the runner is faster). Repeat i of every runner
    ran within moments of the others (interleaved), so the ratio is taken per repeat: ``value`` is
    the median over repeats of baseline ms / runner ms, ``q1``/``q3`` their quartiles; a slow
    moment of the machine hits both sides of a pair. ``of_medians`` is baseline median / runner
    median, for reference."""

    runner: str
    baseline: str
    value: float
    q1: float
    q3: float
    of_medians: float

    def to_json(self) -> dict[str, Any]:
        return {"runner": self.runner, "baseline": self.baseline, "speedup": self.value, "paired_q1": self.q1,
                "paired_q3": self.q3, "of_medians": self.of_medians}


def ratios(measurements: Mapping[str, Measurement], baseline: str) -> dict[str, Ratio]:
    """The speed-up of every measured runner over the runner named `baseline` (itself: 1)."""
    if baseline not in measurements:
        raise BenchError(f"baseline {baseline!r} was not measured; measured: {sorted(measurements)}")
    base = measurements[baseline]
    base_median = base.stats.median
    out: dict[str, Ratio] = {}
    for name, m in measurements.items():
        if len(m.samples_ms) != len(base.samples_ms):
            raise BenchError(f"{name} has {len(m.samples_ms)} repeats, the baseline {len(base.samples_ms)}: "
                             f"the ratios pair repeat i with repeat i")
        paired = [b / r if r > 0 else math.inf for b, r in zip(base.samples_ms, m.samples_ms)]
        q1, median, q3 = (float(v) for v in np.percentile(paired, [25, 50, 75]))
        of_medians = base_median / m.stats.median if m.stats.median > 0 else math.inf
        out[name] = Ratio(name, baseline, median, q1, q3, of_medians)
    return out


def calls_for(warm_ms: float | None, min_repeat_ms: float) -> int:
    """Calls per repeat so that one repeat lasts at least `min_repeat_ms` (1 without a warm-up)."""
    if warm_ms is None or min_repeat_ms <= 0:
        return 1
    if warm_ms <= 0:
        return MAX_CALLS
    return int(min(MAX_CALLS, max(1, math.ceil(min_repeat_ms / warm_ms))))


def _rotated(items: Sequence[Any], start: int) -> list[Any]:
    if not items:
        return []
    k = start % len(items)
    return list(items[k:]) + list(items[:k])


def measure(runners: Sequence[Runner], prepared: Mapping[str, Any], *, warmup: int, repeats: int,
            min_repeat_ms: float = 0.0, clock: Callable[[], float] = time.perf_counter,
            on_step: Callable[[str], None] | None = None) -> dict[str, Measurement]:
    """Warm-ups, then `repeats` interleaved repeats (see the module doc). `prepared[name]` is what
    runner `name` runs on. `on_step(runner_name)` is called after each warm-up and repeat (the
    progress bar). Exceptions from runners propagate."""
    if repeats < 1 or warmup < 0:
        raise BenchError(f"need repeats >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    names = [r.name for r in runners]
    if len(set(names)) != len(names):
        raise BenchError(f"runner names must be distinct: {names}")
    results = {r.name: Measurement(r.name, [], 1) for r in runners}
    for index in range(warmup):
        for runner in _rotated(runners, index):
            start = clock()
            runner.run(prepared[runner.name])
            results[runner.name].warmup_ms.append((clock() - start) * 1e3)
            if on_step:
                on_step(runner.name)
    for runner in runners:
        warm = results[runner.name].warmup_ms
        results[runner.name].calls_per_repeat = calls_for(warm[-1] if warm else None, min_repeat_ms)
    for index in range(repeats):
        for runner in _rotated(runners, index):
            m = results[runner.name]
            data = prepared[runner.name]
            outputs = None
            start = clock()
            for _ in range(m.calls_per_repeat):
                outputs = runner.run(data)
            m.samples_ms.append((clock() - start) * 1e3 / m.calls_per_repeat)
            m.last_outputs = outputs
            if on_step:
                on_step(runner.name)
    return results


#: Loose tolerance of the output check, relative to the output's scale max(1, max |baseline|):
#: it catches a wrong model or a runner timing something else, not rounding differences.
CHECK_TOLERANCE = {"float64": 1e-6, "float32": 1e-3, "float16": 2e-2, "bfloat16": 5e-2}
DEFAULT_CHECK_TOLERANCE = 1e-3


@dataclass(frozen=True)
class OutputCheck:
    ok: bool
    max_abs: float      # worst over the outputs, relative error judged per output
    worst_output: str | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "max_abs": self.max_abs, "worst_output": self.worst_output, "message": self.message}


def _as64(array: Any) -> np.ndarray:
    """float64 for numbers (bfloat16 from ml_dtypes included); other kinds (strings) unchanged."""
    value = np.asarray(array)
    return value.astype(np.float64) if value.dtype.kind in "fiub" or value.dtype.name == "bfloat16" else value


def check_outputs(got: Sequence[Any], want: Sequence[Any], names: Sequence[str],
                  dtypes: Mapping[str, str] | None = None) -> OutputCheck:
    """Whether `got` (a runner's outputs) matches `want` (the baseline's), output by output: same
    count and shapes, NaN/Inf at the same places, and max |got - want| <= tol * max(1, max |want|)
    with tol from CHECK_TOLERANCE for the output's dtype."""
    dtypes = dtypes or {}
    if len(got) != len(want):
        return OutputCheck(False, math.inf, None, f"{len(got)} output(s), the baseline has {len(want)}")
    worst, worst_name = 0.0, None
    for name, a, b in zip(names, got, want):
        a64, b64 = _as64(a), _as64(b)
        if a64.shape != b64.shape:
            return OutputCheck(False, math.inf, name, f"output {name!r} has shape {list(a64.shape)}, the baseline "
                                                      f"{list(b64.shape)}")
        if a64.dtype.kind not in "fiub":
            if not np.array_equal(a64, b64):
                return OutputCheck(False, math.inf, name, f"output {name!r} differs")
            continue
        finite_a, finite_b = np.isfinite(a64), np.isfinite(b64)
        special_a, special_b = a64[~finite_a], b64[~finite_b]
        if not np.array_equal(finite_a, finite_b) or \
                not ((np.isnan(special_a) & np.isnan(special_b)) | (special_a == special_b)).all():
            return OutputCheck(False, math.inf, name, f"output {name!r} has NaN/Inf where the baseline has not "
                                                      f"(or the other way round)")
        if not finite_a.any():
            continue
        diff = float(np.max(np.abs(a64[finite_a] - b64[finite_a])))
        scale = max(1.0, float(np.max(np.abs(b64[finite_b]))))
        tol = CHECK_TOLERANCE.get(dtypes.get(name, ""), DEFAULT_CHECK_TOLERANCE)
        if diff > tol * scale:
            return OutputCheck(False, diff, name, f"output {name!r}: max abs difference {diff:.3g} > "
                                                  f"{tol:g} x output scale {scale:.3g}")
        if diff >= worst:
            worst, worst_name = diff, name
    return OutputCheck(True, worst, worst_name, f"max abs difference {worst:.3g}")
