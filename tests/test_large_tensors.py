"""64-bit indexing: tensors of more than 2^31 elements (float16, ~4.3 GB each).

1. CPU path (ONNX Runtime + our library): GroupNorm with a single group of 2^31 + 30,424
   elements, GroupNorm with two groups and per-channel scale/bias, and LocalResponseNorm, all
   checked at every element.
2. The CUDA kernels on the SIMT CPU layer (which runs ~200k elements/s, far too slow for 2^31):
   the tensors are as large, but only the last samples are computed (simt::GridTail runs the
   tail of every grid; the kernels index blocks group-major), so every block that runs
   addresses elements at offsets >= 2^31. Their outputs are checked against the float64 reference, and the sample
   just before the tail must be untouched (the window did what it says).

Values: the CPU-path inputs repeat one random period of 997 elements (odd, so that an index
wrapped by 2^32 would land on a different value of the period; a wrapped index would also leave
the buffer), which makes every group's statistics those of the period: the expected output is
the float64 reference of one period, repeated. Needs ~9 GiB of free memory; skips otherwise.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

import normdeploy
from helpers import load_simt_lib, plain_group_norm, plain_lrn, tolerance
from normdeploy.ops import group_norm, lrn

pytestmark = pytest.mark.slow

PERIOD = 997
REPEATS = 538_494  # 4 channels x 997 x 538,494 = 2,147,514,072 elements = 2^31 + 30,424
NEEDED_BYTES = 9 * 2**30


def _available_bytes() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


@pytest.fixture(autouse=True)
def _enough_memory() -> None:
    have = _available_bytes()
    if have < NEEDED_BYTES:
        pytest.skip(f"needs {NEEDED_BYTES / 2**30:.0f} GiB of free memory for two >2^31-element float16 "
                    f"tensors; MemAvailable is {have / 2**30:.1f} GiB")


def _run_bound(model, x: np.ndarray, extra: dict[str, np.ndarray]) -> np.ndarray:
    """Runs with the output bound to a preallocated array (no second copy of 4 GB)."""
    sess = normdeploy.make_session(model, intra_op_threads=2, allow_spinning=False)
    y = np.empty_like(x)
    io = sess.io_binding()
    io.bind_cpu_input("X", x)
    for name, value in extra.items():
        io.bind_cpu_input(name, value)
    io.bind_output(sess.get_outputs()[0].name, "cpu", 0, np.float16, list(y.shape), y.ctypes.data)
    sess.run_with_iobinding(io)
    return y


def _check_periodic(y: np.ndarray, expected_period: np.ndarray, tol: float, what: str) -> None:
    """y (N, C, REPEATS*PERIOD) must equal expected_period (N, C, PERIOD) repeated, within tol."""
    view = y.reshape(y.shape[0], y.shape[1], REPEATS, PERIOD)
    worst = 0.0
    for start in range(0, REPEATS, 25_000):
        block = view[:, :, start:start + 25_000].astype(np.float32)
        err = np.abs(block - expected_period[:, :, None, :].astype(np.float32))
        assert np.isfinite(block).all(), f"{what}: non-finite output in repeats {start}..{start + 25_000}"
        worst = max(worst, float(err.max()))
        assert worst <= tol, f"{what}: max abs error {worst:.3e} > {tol:.3e} in repeats {start}..{start + 25_000}"


def _period(rng: np.random.Generator, c: int) -> np.ndarray:
    return (rng.standard_normal((1, c, PERIOD)) * 2 + 0.5).astype(np.float16)


@pytest.mark.parametrize("groups,affine", [(1, False), (2, True)])
def test_cpu_group_norm_beyond_2_31_elements(groups: int, affine: bool) -> None:
    from normdeploy.graphs import single_op_model

    rng = np.random.default_rng(groups)
    period = _period(rng, 4)
    x = np.tile(period, (1, 1, REPEATS))
    assert x.size > 2**31
    scale = (1 + 0.3 * rng.standard_normal(4)).astype(np.float32) if affine else None
    bias = (0.2 * rng.standard_normal(4)).astype(np.float32) if affine else None
    extra = {"scale": scale, "bias": bias} if affine else {}
    model = single_op_model("GroupNorm", list(x.shape), "float16", {"num_groups": groups, "activation": "silu"},
                            extra_inputs=[(k, [4], "float32") for k in extra])
    y = _run_bound(model, x, extra)
    del x
    ref = group_norm.reference(period, scale, bias, groups, np.float32(1e-5), "silu")
    plain = plain_group_norm(period, scale, bias, groups, 1e-5, "silu", "float16")
    _check_periodic(y, ref, tolerance(plain, ref, "float16"), f"GroupNorm G={groups} {y.shape}")


def test_cpu_lrn_beyond_2_31_elements() -> None:
    from normdeploy.graphs import single_op_model

    period = _period(np.random.default_rng(5), 4)
    x = np.tile(period, (1, 1, REPEATS))
    model = single_op_model("LocalResponseNorm", list(x.shape), "float16", {"size": 3, "alpha": 0.5})
    y = _run_bound(model, x, {})
    del x
    a = float(np.float32(0.5))
    ref = lrn.reference(period, 3, a, 0.75, 1.0, "onnx")
    plain = plain_lrn(period, 3, a, 0.75, 1.0, "onnx", "float16")
    _check_periodic(y, ref, tolerance(plain, ref, "float16"), f"LocalResponseNorm {y.shape}")


# ---- the CUDA kernels on the SIMT CPU layer --------------------------------------------------

@pytest.fixture(scope="module")
def simt() -> ctypes.CDLL:
    lib = load_simt_lib()
    yield lib
    lib.nd_simt_set_grid_tail(0, 1)


def _tail_tensors(n: int, c: int, s: int, tail: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """x, y of (n, c, s) float16, zero-filled lazily (untouched pages cost no memory); the last
    `tail` samples of x random, of y NaN (so unwritten outputs show)."""
    assert (n - tail) * c * s >= 2**31  # every element the tail computes is at offset >= 2^31
    x = np.zeros((n, c, s), np.float16)
    y = np.zeros((n, c, s), np.float16)
    x[n - tail:] = (np.random.default_rng(seed).standard_normal((tail, c, s)) * 2 + 0.5).astype(np.float16)
    y[n - tail - 1:] = np.nan
    return x, y


def _check_tail(x: np.ndarray, y: np.ndarray, tail: int, ref: np.ndarray, tol: float, what: str) -> None:
    n = x.shape[0]
    got = y[n - tail:].astype(np.float64)
    assert np.isfinite(got).all(), f"{what}: outputs beyond 2^31 were not written"
    err = float(np.abs(got - ref).max())
    assert err <= tol, f"{what}: max abs error {err:.3e} > {tol:.3e} at offsets >= {(n - tail) * x[0].size}"
    assert np.isnan(y[n - tail - 1].astype(np.float32)).all(), f"{what}: a block outside the tail ran"


@pytest.mark.parametrize("case", ["one_pass", "split"])
def test_simt_group_norm_tail_beyond_2_31(simt: ctypes.CDLL, case: str) -> None:
    # one-pass: groups of 2 x 1,024 fp16 fit in shared memory; split: groups of 65,536 do not
    c, s, g, strategy = (32, 1_024, 16, 1) if case == "one_pass" else (4, 32_768, 2, 2)
    tail = 2
    n = 2**31 // (c * s) + tail
    x, y = _tail_tensors(n, c, s, tail, seed=11)
    err = ctypes.create_string_buffer(1024)
    used = ctypes.c_int(0)
    simt.nd_simt_set_grid_tail(n - tail, n)
    try:
        rc = simt.nd_simt_group_norm(x.ctypes.data, y.ctypes.data, None, None, 1, 1, 0, n, c, s, g, 1e-5, 0,
                                     strategy, ctypes.byref(used), err, len(err))
    finally:
        simt.nd_simt_set_grid_tail(0, 1)
    assert rc == 0, err.value.decode()
    assert used.value == strategy
    xt = x[n - tail:]
    ref = group_norm.reference(xt, None, None, g, np.float32(1e-5), "none")
    tol = tolerance(plain_group_norm(xt, None, None, g, 1e-5, "none", "float16"), ref, "float16")
    _check_tail(x, y, tail, ref, tol, f"CUDA GroupNorm {case} {x.shape} (CPU layer)")


def test_simt_lrn_tail_beyond_2_31(simt: ctypes.CDLL) -> None:
    c, s, tail = 32, 4_096, 2
    n = 2**31 // (c * s) + tail
    x, y = _tail_tensors(n, c, s, tail, seed=12)
    err = ctypes.create_string_buffer(1024)
    simt.nd_simt_set_grid_tail(n - tail, n)
    try:
        rc = simt.nd_simt_lrn(x.ctypes.data, y.ctypes.data, 1, n, c, s, 5, 0.3, 0.75, 1.0, 0, err, len(err))
    finally:
        simt.nd_simt_set_grid_tail(0, 1)
    assert rc == 0, err.value.decode()
    xt = x[n - tail:]
    a = float(np.float32(0.3))
    ref = lrn.reference(xt, 5, a, 0.75, 1.0, "onnx")
    tol = tolerance(plain_lrn(xt, 5, a, 0.75, 1.0, "onnx", "float16"), ref, "float16")
    _check_tail(x, y, tail, ref, tol, f"CUDA LocalResponseNorm {x.shape} (CPU layer)")
