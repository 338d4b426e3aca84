"""Property-based fuzzing of both ops through ONNX Runtime (hypothesis).

Random attributes (valid, out of range, wrong type), shapes (any rank, zero sizes, C not divisible)
and dtypes (supported and not), with scale/bias of every length and type. The property: the
library never crashes (this runs in the test process: a crash fails the whole run), and every
case either gives the float64 reference's answer within tolerance or raises an error naming the op
and what is wrong. Which cases are valid is decided here, independently of the library's code, from
the op definitions in shared/SEMANTICS.md. The number of examples is set by the profile
($HYPOTHESIS_PROFILE): "ci" (default) or "long".
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import normdeploy
from helpers import assert_close, cast, plain_group_norm, plain_lrn, tolerance
from normdeploy import runtime
from normdeploy.graphs import np_dtype, single_op_model
from normdeploy.ops import group_norm, lrn

settings.register_profile("ci", max_examples=150, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=5000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")

FLOAT_TYPES = ("float32", "float16", "bfloat16")
OTHER_TYPES = ("float64", "int32", "int64")

# Attribute values: what a hostile or careless model might carry.
ANY_FLOAT = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32),
                      st.sampled_from([0.0, -0.0, 1e-45, -1e-5, 3.4e38, math.nan, math.inf, -math.inf]))
SUBNORMAL_LIMIT = float(np.finfo(np.float32).tiny)  # below this, float32 values are subnormal
WRONG_TYPED = st.one_of(st.text(st.characters(blacklist_categories=("Cs",)), max_size=6), st.lists(st.integers(-3, 3), min_size=1, max_size=3))


@dataclass
class Case:
    op: str
    dtype: str
    shape: tuple[int, ...]
    attrs: dict[str, Any]
    extra: list[tuple[str, np.ndarray]] = field(default_factory=list)
    # empty: must run and match the reference; else the error must match one of these regexes
    # (with several defects, which one is reported first is the library's choice)
    errors: list[str] = field(default_factory=list)


def _required_count(draw, op: str, name: str, good, attrs: dict[str, Any], errors: list[str]) -> None:
    """A required int attribute >= 1 (num_groups, size): usually drawn from `good` (None: no good
    value exists), else any int, a float, another type, or left out; the expected error noted."""
    kind = draw(st.sampled_from(["good"] * 6 + ["int", "float", "wrong", "missing"]))
    if kind == "good" and good is not None:
        attrs[name] = draw(good)
    elif kind in ("int", "good"):
        attrs[name] = draw(st.integers(-(2**40), 2**40) | st.integers(-2, 20))
    elif kind == "float":
        attrs[name] = draw(ANY_FLOAT)
    elif kind == "wrong":
        attrs[name] = draw(WRONG_TYPED)
    if name not in attrs:
        errors.append(rf"{op}: required attribute '{name}' is missing")
    elif not isinstance(attrs[name], int):
        errors.append(rf"{op}: attribute '{name}' must be an int")
    elif attrs[name] < 1:
        errors.append(rf"{op}: attribute '{name}' = {attrs[name]} is invalid: must be >= 1")


def _optional_float(draw, op: str, name: str, good, attrs: dict[str, Any], errors: list[str],
                    nonnegative: bool = False, max_int: int = 2) -> None:
    """An optional float attribute that must be finite (and >= 0 when `nonnegative`): left out half
    the time, else usually drawn from `good`, sometimes extreme, non-finite, an int or another type."""
    if not draw(st.booleans()):
        return
    value = draw(st.one_of(good, good, good, good, ANY_FLOAT, WRONG_TYPED, st.integers(0, max_int)))
    attrs[name] = value
    if not isinstance(value, float):
        errors.append(rf"{op}: attribute '{name}' must be a float")
    elif not math.isfinite(value) or (nonnegative and value < 0):
        errors.append(rf"{op}: attribute '{name}' = \S+ is invalid: must be finite" + (" and >= 0" if nonnegative else ""))


def _optional_choice(draw, op: str, name: str, choices: list[str], bad: list[str], attrs: dict[str, Any],
                     errors: list[str], max_int: int) -> None:
    """An optional string attribute with fixed choices: left out half the time, else usually a
    choice, sometimes a wrong string or an int."""
    if not draw(st.booleans()):
        return
    value = draw(st.sampled_from(choices * 4 + bad) | st.integers(0, max_int))
    attrs[name] = value
    if not isinstance(value, str):
        errors.append(rf"{op}: attribute '{name}' must be a string")
    elif value not in choices:
        listed = ", ".join(f"'{c}'" for c in choices)
        errors.append(rf"{op}: attribute '{name}' = '.*' is invalid: must be one of {listed}")


@st.composite
def shapes(draw, max_c: int = 12) -> tuple[int, ...]:
    rank = draw(st.sampled_from([2, 3, 3, 4, 4, 5, 1, 0]))
    dims = [draw(st.integers(0, 3))]  # N may be 0
    if rank >= 2:
        dims.append(draw(st.integers(0, max_c)))
    dims += [draw(st.integers(0, 5)) for _ in range(max(0, rank - 2))]
    return tuple(dims[:rank]) if rank > 0 else ()


@st.composite
def group_norm_cases(draw) -> Case:
    dtype = draw(st.sampled_from(FLOAT_TYPES * 4 + OTHER_TYPES))
    shape = draw(shapes())
    attrs: dict[str, Any] = {}
    errors: list[str] = []
    c = shape[1] if len(shape) >= 2 else 0
    divisors = st.sampled_from([g for g in range(1, c + 1) if c % g == 0]) if c > 0 else None
    _required_count(draw, "GroupNorm", "num_groups", divisors, attrs, errors)
    _optional_float(draw, "GroupNorm", "epsilon", st.floats(2.0**-40, 1.0, width=32), attrs, errors,
                    nonnegative=True, max_int=3)
    _optional_choice(draw, "GroupNorm", "activation", ["none", "silu"], ["relu", "", "SILU"], attrs, errors, max_int=2)
    # Type and rank are checked by ONNX Runtime (type) and our shape checks before the values.
    if dtype in OTHER_TYPES:
        errors.insert(0, r"Type '.*' of input parameter \(X\) of operator \(GroupNorm\)")
    elif len(shape) < 2:
        errors.append(r"GroupNorm: input 'X' must have rank >= 2")
    elif isinstance(attrs.get("num_groups"), int) and attrs["num_groups"] >= 1 and c % attrs["num_groups"] != 0:
        errors.append(rf"GroupNorm: num_groups={attrs['num_groups']} does not divide C={c}")
    extra: list[tuple[str, np.ndarray]] = []
    affine = draw(st.sampled_from(["none", "both", "scale"]))
    if affine != "none" and len(shape) >= 2:
        adt = draw(st.sampled_from(["float32", dtype if dtype in FLOAT_TYPES else "float32"] * 3 + ["float64"]))
        length = draw(st.sampled_from([c] * 6 + [c + 1, max(c - 1, 0)]))
        rng = np.random.default_rng(draw(st.integers(0, 2**31)))
        for name in ["scale", "bias"][: 2 if affine == "both" else 1]:
            extra.append((name, cast(1 + rng.standard_normal(length), adt)))
        if dtype in FLOAT_TYPES and adt not in ("float32", dtype):
            errors.append(rf"GroupNorm: input 'scale' has type {adt}; expected float32 or the type of X")
        elif dtype in FLOAT_TYPES and length != c:
            errors.append(rf"GroupNorm: input 'scale' has {length} elements, expected C={c}")
    return Case("GroupNorm", dtype, shape, attrs, extra, errors)


@st.composite
def lrn_cases(draw) -> Case:
    dtype = draw(st.sampled_from(FLOAT_TYPES * 4 + OTHER_TYPES))
    shape = draw(shapes())
    attrs: dict[str, Any] = {}
    errors: list[str] = []
    _required_count(draw, "LocalResponseNorm", "size", st.integers(1, 9), attrs, errors)
    for name, good in (("alpha", st.floats(2.0**-20, 2.0**-7, width=32)), ("beta", st.floats(0.0, 2.0, width=32)),
                       ("bias", st.floats(0.5, 4.0, width=32))):
        _optional_float(draw, "LocalResponseNorm", name, good, attrs, errors)
    _optional_choice(draw, "LocalResponseNorm", "window", ["onnx", "pytorch"], ["caffe", ""], attrs, errors, max_int=1)
    if dtype in OTHER_TYPES:
        errors.insert(0, r"Type '.*' of input parameter \(X\) of operator \(LocalResponseNorm\)")
    elif len(shape) < 2:
        errors.append(r"LocalResponseNorm: input 'X' must have rank >= 2")
    return Case("LocalResponseNorm", dtype, shape, attrs, [], errors)


def _reference(case: Case, x: np.ndarray) -> tuple[np.ndarray, float]:
    """The float64 reference and the tolerance for this case (helpers' dtype-aware bound)."""
    a = case.attrs
    if case.op == "GroupNorm":
        extras = dict(case.extra)
        scale, bias = extras.get("scale"), extras.get("bias")
        args = (x, scale, bias, a["num_groups"], a.get("epsilon", 1e-5), a.get("activation", "none"))
        ref = group_norm.reference(*args[:4], np.float32(args[4]), args[5])
        return ref, tolerance(plain_group_norm(*args, case.dtype), ref, case.dtype)
    alpha, beta, bias_ = (float(np.float32(a.get(k, d))) for k, d in (("alpha", 1e-4), ("beta", 0.75), ("bias", 1.0)))
    window = a.get("window", "onnx")
    ref = lrn.reference(x, a["size"], alpha, beta, bias_, window)
    return ref, tolerance(plain_lrn(x, a["size"], alpha, beta, bias_, window, case.dtype), ref, case.dtype)


def _well_conditioned(attrs: dict[str, Any]) -> bool:
    """Whether a float32 evaluation can be held to the float64 reference at all. Not when a float
    attribute is subnormal (a few bits of precision: every evaluation order gives another answer,
    tens of percent apart), nor for LRN's |beta| > 64 (base^beta turns the base's rounding error of
    2^-24 into a factor of e^(|beta| 2^-24), and the float32 and float64 results overflow at
    different places). Valid cases outside still must run, with the right shape and type."""
    floats = [v for v in attrs.values() if isinstance(v, float)]
    if any(0 < abs(v) < SUBNORMAL_LIMIT for v in floats):
        return False
    beta = attrs.get("beta", 0.75)
    return not isinstance(beta, float) or abs(beta) <= 64


def _check(case: Case, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x_np_dtype = np_dtype(case.dtype)
    if case.dtype in FLOAT_TYPES:
        x = cast(rng.standard_normal(case.shape) * 3 + 1, case.dtype)
    else:
        x = np.zeros(case.shape, dtype=x_np_dtype)
    extra_inputs = [(name, list(value.shape), value.dtype.name) for name, value in case.extra]
    model = single_op_model(case.op, list(case.shape), case.dtype, case.attrs, extra_inputs=extra_inputs)
    feeds = {"X": x, **dict(case.extra)}
    try:
        session = normdeploy.make_session(model, intra_op_threads=2, allow_spinning=False)
        out = runtime.run_arrays(session, feeds)[0]
    except Exception as exc:  # noqa: BLE001 - the message is what is checked
        message = str(exc)
        if not case.errors:
            raise AssertionError(f"valid case failed: {case}: {message}") from exc
        assert any(re.search(e, message) for e in case.errors), f"{case}: expected one of {case.errors}, got: {message}"
        if case.dtype in FLOAT_TYPES:
            assert case.op in message, f"{case}: the message does not name the op: {message}"
        return
    assert not case.errors, f"{case}: ran, but should have failed with one of {case.errors}"
    assert out.shape == x.shape and out.dtype == x.dtype
    if x.size == 0:
        return
    if not _well_conditioned(case.attrs):
        return  # only shape and type are checked (above)
    ref, tol = _reference(case, x)
    # a true value beyond the output type's range is correctly returned as +-inf
    with np.errstate(over="ignore"):
        rounded = cast(ref, case.dtype).astype(np.float64)
    ref = np.where(np.isinf(rounded) & np.isfinite(ref), rounded, ref)
    assert_close(out, ref, tol, f"{case.op} {case.dtype} {case.shape} {case.attrs}")


@settings(settings.get_profile(PROFILE))
@given(case=group_norm_cases(), seed=st.integers(0, 2**32 - 1))
def test_group_norm_fuzz(case: Case, seed: int) -> None:
    event("expected: error" if case.errors else "expected: result")
    _check(case, seed)


@settings(settings.get_profile(PROFILE))
@given(case=lrn_cases(), seed=st.integers(0, 2**32 - 1))
def test_lrn_fuzz(case: Case, seed: int) -> None:
    event("expected: error" if case.errors else "expected: result")
    _check(case, seed)


@pytest.mark.parametrize("op", ["GroupNorm", "LocalResponseNorm"])
def test_the_oracle_can_fail(op: str) -> None:
    """The oracle is not vacuous: a wrong expectation in either direction is caught."""
    attrs = {"num_groups": 2} if op == "GroupNorm" else {"size": 3}
    good = Case(op, "float32", (1, 4, 3), attrs)
    _check(good, 0)
    with pytest.raises(AssertionError, match="should have failed"):
        _check(Case(op, "float32", (1, 4, 3), attrs, errors=["anything"]), 0)
    bad_attrs = {**attrs, "epsilon" if op == "GroupNorm" else "alpha": math.nan}
    with pytest.raises(AssertionError, match="valid case failed"):
        _check(Case(op, "float32", (1, 4, 3), bad_attrs), 0)
