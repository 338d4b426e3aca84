"""Comparison tolerances: defaults per dtype, global and per-output overrides.

An element fails only when it is outside *both* tolerances (polygraphy's ``elemwise`` check):

    |out - ref| > atol  and  |out - ref| / |ref| > rtol

so values near zero are judged by ``atol`` and large values by ``rtol``.

Defaults (atol = rtol), chosen from the unit roundoff of each type and the size of the values
GroupNorm/LRN models produce (normalized activations of order 1):

========  =========  ==================================================================
dtype     atol/rtol  why
========  =========  ==================================================================
float64   1e-7       far above float64 rounding; only float64 graph parts use it
float32   1e-4       two correct float32 implementations (different summation orders)
                     differ by 1e-8..3e-5 on the built-in recipes (ours vs ONNX Runtime's
                     standard ops, random inputs in [0, 1]); the worst element uses 21% of
                     this tolerance (detection_head, outputs up to 22), typically 1-2%.
                     Real bugs (a wrong epsilon, a perturbed scale, a wrong LRN window or
                     num_groups) change outputs by 1e-3 to 1
float16   1e-2       about 10 ulps at 1.0 (ulp = 9.8e-4); measured 2e-3 (2 ulps at 2-4) for
                     GroupNorm+SiLU on inputs in [-3, 3]: the standard-op reference
                     rounds to half after every op of its decomposition
bfloat16  5e-2       about 6 ulps at 1.0 (ulp = 7.8e-3)
integers  0          exact (also bool)
========  =========  ==================================================================

``atol=1e-3`` / ``rtol=1e-3`` replace the default for every output (and for the intermediate
tensors checked while localising); ``{"Y": 1e-2}`` sets one output; the key ``""`` is the global
value (polygraphy's convention). On the command line: ``--atol 1e-3 --atol Y:1e-2``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence, Union

import numpy as np

from .errors import ValidateError

#: (atol, rtol) per dtype name; integer and bool outputs compare exactly.
DEFAULT_TOLERANCES: dict[str, tuple[float, float]] = {
    "float64": (1e-7, 1e-7),
    "float32": (1e-4, 1e-4),
    "float16": (1e-2, 1e-2),
    "bfloat16": (5e-2, 5e-2),
}

ToleranceArg = Union[float, Mapping[str, float], None]


@dataclass(frozen=True)
class Tolerance:
    atol: float
    rtol: float
    source: str  # "default for float32", "--atol/--rtol", "per output"

    def to_json(self) -> dict[str, object]:
        return {"atol": self.atol, "rtol": self.rtol, "source": self.source}


def default_for(dtype: np.dtype) -> tuple[float, float]:
    name = np.dtype(dtype).name
    if name in DEFAULT_TOLERANCES:
        return DEFAULT_TOLERANCES[name]
    return (0.0, 0.0)  # integers, bool: exact


def _check_value(value: object, what: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValidateError(f"{what}: {value!r} is not a number") from None
    if not math.isfinite(number) or number < 0:
        raise ValidateError(f"{what}: {value!r} must be a finite number >= 0")
    return number


def parse_specs(texts: Sequence[str], option: str) -> dict[str, float]:
    """['1e-3', 'Y:1e-2'] -> {'': 1e-3, 'Y': 1e-2} (the last ':' separates an output name)."""
    specs: dict[str, float] = {}
    for text in texts:
        name, sep, value = str(text).rpartition(":")
        if sep and not name:
            raise ValidateError(f"{option} {text!r}: empty output name; use VALUE or OUTPUT:VALUE, e.g. 1e-3 or Y:1e-3")
        specs[name] = _check_value(value, f"{option} {text!r}")
    return specs


def _as_dict(arg: ToleranceArg, option: str) -> dict[str, float]:
    if arg is None:
        return {}
    if isinstance(arg, Mapping):
        return {str(k): _check_value(v, f"{option}[{k!r}]") for k, v in arg.items()}
    return {"": _check_value(arg, option)}


@dataclass(frozen=True)
class ToleranceSettings:
    atol: dict[str, float]
    rtol: dict[str, float]

    @classmethod
    def from_args(cls, atol: ToleranceArg, rtol: ToleranceArg, outputs: Sequence[str]) -> "ToleranceSettings":
        settings = cls(_as_dict(atol, "atol"), _as_dict(rtol, "rtol"))
        known = set(outputs)
        for option, specs in (("--atol", settings.atol), ("--rtol", settings.rtol)):
            for name in specs:
                if name and name not in known:
                    raise ValidateError(f"{option} {name}:{specs[name]:g}: the model has no output {name!r}; "
                                        f"its outputs are {sorted(known)}")
        return settings

    def for_output(self, name: str, dtype: np.dtype) -> Tolerance:
        atol, rtol = default_for(dtype)
        source = f"default for {np.dtype(dtype).name}"
        given = []
        for which, specs in (("atol", self.atol), ("rtol", self.rtol)):
            if name and name in specs:
                value, how = specs[name], "per output"
            elif "" in specs:
                value, how = specs[""], "global"
            else:
                continue
            given.append(f"{which} {how}")
            if which == "atol":
                atol = value
            else:
                rtol = value
        if given:
            source = ", ".join(given) + (f"; otherwise default for {np.dtype(dtype).name}" if len(given) == 1 else "")
        return Tolerance(atol, rtol, source)

    def for_tensor(self, dtype: np.dtype) -> Tolerance:
        """Intermediate tensors (localisation): the global values or the dtype default."""
        return self.for_output("", dtype)
