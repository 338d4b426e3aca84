"""Parity of the ONNX Runtime custom ops with the float64 references, for every dtype."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import DTYPES, assert_close, cast, check_group_norm, check_lrn

# (shape, num_groups): dims all different, odd channel counts, spatial ranks 0..3, tails that are
# not multiples of the vector widths (8, 16).
GN_CASES = [
    ((3, 6, 5, 7), 3),
    ((2, 15, 13), 5),            # 1 spatial dim, odd C
    ((5, 21), 7),                # no spatial dim
    ((2, 12, 3, 5, 7), 4),       # 3 spatial dims
    ((3, 10, 1, 1), 10),         # H*W = 1, instance norm
    ((2, 9, 11, 17), 1),         # layer norm over (C, *)
    ((4, 64, 9, 13), 32),
    ((1, 33, 31, 37), 11),
    ((2, 40, 67, 71), 8),        # groups larger than one conversion block
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,groups", GN_CASES)
@pytest.mark.parametrize("activation", ["none", "silu"])
def test_group_norm_matches_reference(ops, rng, dtype, shape, groups, activation):
    x = rng.standard_normal(shape) * 1.7 + 0.3
    check_group_norm(ops, x, dtype, groups, activation=activation, rng=rng)


@pytest.mark.parametrize("dtype", DTYPES)
def test_group_norm_without_affine(ops, rng, dtype):
    check_group_norm(ops, rng.standard_normal((3, 12, 7, 5)), dtype, 4, affine=False)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_group_norm_float32_affine_with_half_input(ops, rng, dtype):
    check_group_norm(ops, rng.standard_normal((2, 18, 9, 5)), dtype, 6, affine_dtype="float32", rng=rng)


def test_group_norm_scale_only_and_bias_only(ops, rng):
    from normdeploy.ops import group_norm

    x = rng.standard_normal((2, 8, 5, 3)).astype(np.float32)
    scale = rng.standard_normal(8).astype(np.float32)
    bias = rng.standard_normal(8).astype(np.float32)
    got = ops.group_norm(x, scale, None, "float32", num_groups=2)
    assert_close(got, group_norm.reference(x, scale, None, 2, np.float32(1e-5)), 1e-5, "scale only")
    got = ops.group_norm(x, None, bias, "float32", num_groups=2)
    assert_close(got, group_norm.reference(x, None, bias, 2, np.float32(1e-5)), 1e-5, "bias only")


@pytest.mark.parametrize("dtype", DTYPES)
def test_group_norm_split_strategy(ops, rng, dtype):
    # N*G < 16 and groups > 2^18 elements: the kernel splits each group over several tasks.
    x = rng.standard_normal((1, 6, 300, 301)) * 3.0 - 1.0
    check_group_norm(ops, x, dtype, 2, activation="silu", rng=rng)


@pytest.mark.parametrize("split", [False, True])
def test_group_norm_large_mean_small_std_float32(ops, rng, split):
    """mean 1e4, std 1: E[x^2]-E[x]^2 would lose every digit; we must keep float32 precision."""
    shape = (1, 4, 400, 401) if split else (3, 8, 31, 29)
    x = (1e4 + rng.standard_normal(shape)).astype(np.float32)
    from normdeploy.ops import group_norm

    got = ops.group_norm(x, None, None, "float32", num_groups=2 if split else 4)
    ref = group_norm.reference(x, None, None, 2 if split else 4, np.float32(1e-5))
    # float32 precision on outputs of scale ~4: a few ulps
    assert_close(got, ref, 8 * 2.0**-23 * 4, "GroupNorm mean 1e4 std 1")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 6, 7, 8, 11])
@pytest.mark.parametrize("window", ["onnx", "pytorch"])
def test_lrn_matches_reference(ops, rng, dtype, size, window):
    x = rng.standard_normal((3, 13, 7, 5)) * 2.0
    check_lrn(ops, x, dtype, size, alpha=0.3, beta=0.75, bias=1.5, window=window)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("beta", [0.0, 0.5, 0.75, 1.0, 0.6, 2.0])
def test_lrn_beta_paths(ops, rng, dtype, beta):
    check_lrn(ops, rng.standard_normal((2, 9, 11, 3)), dtype, 5, alpha=0.5, beta=beta, bias=2.0)


@pytest.mark.parametrize("shape", [(2, 7), (3, 11, 19), (2, 5, 3, 4, 6), (1, 300, 3, 7), (2, 3, 37, 41)])
def test_lrn_shapes(ops, rng, shape):
    check_lrn(ops, rng.standard_normal(shape), "float32", 5, alpha=0.2, window="pytorch")


def test_lrn_window_wider_than_channels(ops, rng):
    check_lrn(ops, rng.standard_normal((2, 3, 5, 7)), "float32", 9, alpha=0.4)


def test_lrn_huge_window_direct_path(ops, rng):
    # min(size, C) * 8 > the ring budget: squares are recomputed per window
    check_lrn(ops, rng.standard_normal((1, 1100, 2, 3)), "float32", 1031, alpha=1.0, bias=1.0)


def test_lrn_negative_bias_uses_ieee_pow(ops):
    # base = bias + alpha/n*S can be <= 0: pow of a negative base is NaN, of 0 gives Inf
    x = np.array([[[0.0], [1.0], [0.0], [3.0]]], dtype=np.float32)
    check_lrn(ops, x, "float32", 1, alpha=1.0, beta=0.75, bias=-1.0)
    check_lrn(ops, x, "float32", 1, alpha=1.0, beta=2.0, bias=-4.0)


GN_HYPO = st.tuples(
    st.integers(1, 3),                       # N
    st.integers(1, 6),                       # groups
    st.integers(1, 5),                       # channels per group
    st.lists(st.integers(1, 9), min_size=0, max_size=3),  # spatial dims
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dims=GN_HYPO, dtype=st.sampled_from(DTYPES), activation=st.sampled_from(["none", "silu"]),
       eps=st.sampled_from([0.0, 1e-6, 1e-5, 1e-2, 1.0]), affine=st.booleans(), seed=st.integers(0, 2**31))
def test_group_norm_hypothesis(ops, dims, dtype, activation, eps, affine, seed):
    n, g, cpg, spatial = dims
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, g * cpg, *spatial)) * rng.uniform(0.1, 10) + rng.uniform(-5, 5)
    if eps == 0.0 and cpg * int(np.prod(spatial)) == 1:
        eps = 1e-5  # a one-element group has var 0: eps 0 gives 0/0 in every implementation
    check_group_norm(ops, x, dtype, g, affine=affine, epsilon=eps, activation=activation, rng=rng)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 3), c=st.integers(1, 20), spatial=st.lists(st.integers(1, 9), min_size=0, max_size=3),
       size=st.integers(1, 12), window=st.sampled_from(["onnx", "pytorch"]), dtype=st.sampled_from(DTYPES),
       alpha=st.sampled_from([1e-4, 0.1, 1.0]), beta=st.sampled_from([0.5, 0.75, 1.0, 0.3]),
       bias=st.sampled_from([1.0, 2.0, 0.5]), seed=st.integers(0, 2**31))
def test_lrn_hypothesis(ops, n, c, spatial, size, window, dtype, alpha, beta, bias, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, *spatial)) * 2
    check_lrn(ops, x, dtype, size, alpha=alpha, beta=beta, bias=bias, window=window)


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_tensors_give_empty_outputs(ops, dtype):
    for shape in [(0, 6, 3, 5), (2, 6, 0, 5), (3, 6, 4, 0)]:
        x = np.zeros(shape, dtype=np.float32)
        y = ops.group_norm(x, cast(np.ones(6), dtype), cast(np.zeros(6), dtype), dtype, num_groups=3)
        assert y.shape == shape
        y = ops.lrn(x, dtype, size=3)
        assert y.shape == shape


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_stays_in_its_group(ops, rng, dtype, bad):
    x = rng.standard_normal((2, 8, 4, 3)).astype(np.float32)
    x[1, 2, 1, 1] = bad  # sample 1, group 1 (channels 2..3) with G=4
    y = ops.group_norm(x, None, None, dtype, num_groups=4).astype(np.float64)
    assert np.isnan(y[1, 2:4]).all(), "the poisoned group must be NaN (x - mean is NaN or Inf-Inf)"
    mask = np.ones(y.shape, bool)
    mask[1, 2:4] = False
    assert np.isfinite(y[mask]).all(), "other groups must be untouched"
    from normdeploy.ops import group_norm

    ref = group_norm.reference(cast(x, dtype), None, None, 4, np.float32(1e-5))
    assert_close(y[mask], ref[mask], 8 * 2.0 ** {"float32": -23, "float16": -10, "bfloat16": -7}[dtype] * 4,
                 "clean groups")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("window", ["onnx", "pytorch"])
def test_lrn_nonfinite_stays_in_its_window(ops, rng, dtype, window):
    x = rng.standard_normal((2, 12, 3, 4)).astype(np.float32)
    x[0, 5, 1, 2] = np.inf
    check_lrn(ops, x, dtype, 4, alpha=0.1, window=window)
    x[0, 5, 1, 2] = np.nan
    check_lrn(ops, x, dtype, 4, alpha=0.1, window=window)


@pytest.mark.parametrize("isa", ["baseline", "avx2", "avx512"])
def test_isa_variants_agree(isa, tmp_path):
    """Every instruction-set variant gives the reference results (each runs in its own process,
    since the variant is picked once per process)."""
    import subprocess
    import sys
    import textwrap

    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent("""
        import numpy as np, sys
        sys.path.insert(0, sys.argv[1])
        from helpers import OpRunner, check_group_norm, check_lrn, DTYPES
        ops = OpRunner(); rng = np.random.default_rng(5)
        for dt in DTYPES:
            check_group_norm(ops, rng.standard_normal((3, 20, 9, 7)) + 2, dt, 5, activation="silu", rng=rng)
            check_group_norm(ops, rng.standard_normal((1, 4, 400, 333)), dt, 1, rng=rng)
            check_lrn(ops, rng.standard_normal((2, 19, 13, 11)), dt, 4, alpha=0.3, window="pytorch")
            check_lrn(ops, rng.standard_normal((2, 19, 13, 11)), dt, 5, alpha=0.3, beta=0.6)
        print("ok")
    """))
    import os
    from pathlib import Path

    env = dict(os.environ, NORMDEPLOY_CPU_ISA=isa)
    out = subprocess.run([sys.executable, "-P", str(script), str(Path(__file__).parent)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-3000:]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,groups", [((2, 8, 16, 20), 2), ((1, 2, 520, 530), 1)])
def test_group_norm_skewed_shift_sample(ops, rng, dtype, shape, groups):
    """The kernel shifts by the mean of 64 evenly spaced samples; when those samples are outliers
    the shift is far from the mean and the moments must be taken again (fused and split)."""
    x = rng.standard_normal(shape)
    n, c = shape[:2]
    group = x.reshape(n, groups, -1)
    m = group.shape[2]
    group[:, :, :: m // 64] = 1e3  # exactly the sampled positions
    check_group_norm(ops, group.reshape(shape), dtype, groups, rng=rng)
