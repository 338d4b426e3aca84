"""The CUDA kernels (plugins/*/..._kernels.cuh and the .cu launchers), executed on the CPU.

libnormdeploy_simt_tests.so is those exact sources compiled by g++ against the SIMT CPU layer
(plugins/common/simt.h: one std::thread per CUDA thread, std::barrier for __syncthreads, a
per-warp exchange for shuffles). These tests check numerics, indexing, tails, both GroupNorm
strategies and the launchers' host logic against the float64 references; they say nothing about
GPU performance or hardware scheduling (the kernels are not executed on a GPU in this CI).

Tolerance: the kernels compute in float32 and round once to the output type, so for float16 and
bfloat16 the error is half an ulp of the output plus float32 noise: we allow 4 ulps of the output
dtype times the output scale (max |reference|, at least 1). For float32 the statistics are
float32 sums over the group (tree reductions, error ~ log2(count) ulps) that propagate into every
output: 32 ulps of float32 times the output scale.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

import normdeploy
from helpers import SIMT_LIB_NAME, load_simt_lib
from normdeploy.ops import group_norm, lrn

DTYPES = {"float32": (0, np.float32), "float16": (1, np.float16), "bfloat16": (2, ml_dtypes.bfloat16)}
ULP = {"float32": 2.0**-23, "float16": 2.0**-10, "bfloat16": 2.0**-7}
ULPS = {"float32": 32.0, "float16": 4.0, "bfloat16": 4.0}
LIB_NAME = SIMT_LIB_NAME
TSAN_LIB_NAME = "libnormdeploy_simt_tests_tsan.so"


def _lib_dir() -> Path:
    return Path(normdeploy.library_path()).parent


_load = load_simt_lib


@pytest.fixture(scope="module")
def lib() -> ctypes.CDLL:
    return _load(LIB_NAME)


@pytest.fixture(scope="module")
def config(lib) -> dict:
    out = (ctypes.c_int64 * 4)()
    lib.nd_simt_config(out)
    return {"threads": out[0], "chunk": out[1], "onepass_bytes": out[2], "lrn_threads": out[3]}


def _ptr(a: np.ndarray | None):
    return None if a is None else a.ctypes.data_as(ctypes.c_void_p)


def run_group_norm(lib, x, scale, bias, groups, dtype, *, layout="NCHW", eps=1e-5, silu=False, strategy=0,
                   affine_dtype=None):
    """Runs the kernel on x (NCHW numpy array of `dtype`); returns (y as NCHW, strategy used)."""
    code, _ = DTYPES[dtype]
    acode = DTYPES[affine_dtype or "float32"][0]
    n, c = x.shape[:2]
    s = int(np.prod(x.shape[2:], dtype=np.int64)) if x.ndim > 2 else 1
    xin = np.ascontiguousarray(x.reshape(n, c, s).transpose(0, 2, 1)) if layout == "NHWC" else np.ascontiguousarray(x)
    y = np.full_like(xin, np.nan)
    used = ctypes.c_int(-1)
    err = ctypes.create_string_buffer(1024)
    rc = lib.nd_simt_group_norm(_ptr(xin), _ptr(y), _ptr(scale), _ptr(bias), code, acode, 1 if layout == "NHWC" else 0,
                                n, c, s, groups, eps, int(silu), strategy, ctypes.byref(used), err, len(err))
    assert rc == 0, err.value.decode()
    if layout == "NHWC":
        y = y.transpose(0, 2, 1).reshape(x.shape)
    return y, used.value


def run_lrn(lib, x, size, alpha, beta, bias, window, dtype):
    n, c = x.shape[:2]
    s = int(np.prod(x.shape[2:], dtype=np.int64)) if x.ndim > 2 else 1
    x = np.ascontiguousarray(x)
    y = np.full_like(x, np.nan)
    err = ctypes.create_string_buffer(1024)
    rc = lib.nd_simt_lrn(_ptr(x), _ptr(y), DTYPES[dtype][0], n, c, s, size, alpha, beta, bias,
                         1 if window == "pytorch" else 0, err, len(err))
    assert rc == 0, err.value.decode()
    return y


def assert_within_ulps(actual, ref, dtype, what):
    a = np.asarray(actual).astype(np.float64)
    assert a.shape == ref.shape, f"{what}: shape {a.shape} != {ref.shape}"
    if ref.size == 0:
        return
    scale = max(1.0, float(np.abs(ref).max()))
    tol = ULPS[dtype] * ULP[dtype] * scale
    err = np.abs(a - ref)
    assert np.isfinite(a).all(), f"{what}: non-finite output"
    assert err.max() <= tol, (f"{what}: max abs err {err.max():.3e} > tol {tol:.3e} "
                              f"({err.max() / (ULP[dtype] * scale):.1f} ulps of the output scale; mean {err.mean():.3e})")


# (N, C, spatial shape, G): all dimensions different; Cg*S not a multiple of the vector width
# (4 float / 8 half), S = 1, N = 0, G = 1 and G = C, and groups spanning several split chunks.
GN_SHAPES = [
    ((2, 6, 7), 3),          # Cg*S = 14: scalar path, S odd
    ((3, 16, 5), 4),         # Cg*S = 20: float vectorized, half not
    ((2, 32, 3, 3), 4),      # Cg*S = 72, Cg = 8: vectorized in both layouts
    ((2, 12), 12),           # rank 2 (S = 1), G = C: one element per group (variance 0)
    ((3, 10, 1), 1),         # S = 1, G = 1 (layer norm)
    ((0, 8, 4), 2),          # N = 0
    ((1, 40, 33), 5),        # Cg*S = 264, NHWC vectorized (Cg = C/G = 8)
    ((2, 18, 67), 3),        # Cg*S = 402: one partial split chunk (CPU chunk = 512 elements)
    ((1, 24, 131), 2),       # Cg*S = 1572: 4 split chunks, ragged tail; one pass only in 16-bit types
]


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("strategy", [1, 2])
def test_group_norm_shapes(lib, config, dtype, layout, strategy):
    rng = np.random.default_rng(7 + strategy)
    t = DTYPES[dtype][1]
    for shape, groups in GN_SHAPES:
        x = (rng.standard_normal(shape) * 2 + 0.5).astype(t)
        c = shape[1]
        scale = rng.standard_normal(c).astype(np.float32)
        bias = rng.standard_normal(c).astype(np.float32)
        group_bytes = (c // groups) * int(np.prod(shape[2:], dtype=np.int64)) * t(0).itemsize
        if strategy == 1 and group_bytes > config["onepass_bytes"]:
            continue  # refused: test_group_norm_one_pass_refuses_big_groups
        y, used = run_group_norm(lib, x, scale, bias, groups, dtype, layout=layout, strategy=strategy)
        assert used == strategy
        ref = group_norm.reference(x.astype(np.float64), scale, bias, groups, 1e-5)
        assert_within_ulps(y, ref, dtype, f"GroupNorm {dtype} {layout} strategy={strategy} x{shape} G={groups}")


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("strategy", [1, 2])
def test_group_norm_silu_and_affine_types(lib, dtype, strategy):
    rng = np.random.default_rng(3)
    t = DTYPES[dtype][1]
    x = rng.standard_normal((2, 20, 9)).astype(t)
    scale = rng.standard_normal(20).astype(t)
    bias = rng.standard_normal(20).astype(t)
    for layout in ("NCHW", "NHWC"):
        y, _ = run_group_norm(lib, x, scale, bias, 5, dtype, layout=layout, silu=True, strategy=strategy,
                              affine_dtype=dtype)
        ref = group_norm.reference(x.astype(np.float64), scale.astype(np.float64), bias.astype(np.float64), 5, 1e-5,
                                   "silu")
        assert_within_ulps(y, ref, dtype, f"GroupNorm+SiLU {dtype} {layout} strategy={strategy}")
    # no scale / bias (affine=False): 1 and 0
    y, _ = run_group_norm(lib, x, None, None, 4, dtype, strategy=strategy, eps=1e-3)
    assert_within_ulps(y, group_norm.reference(x.astype(np.float64), None, None, 4, 1e-3), dtype,
                       f"GroupNorm no affine {dtype}")


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("strategy", [1, 2])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_group_norm_large_mean(lib, dtype, strategy, layout):
    """mean 1e4, std 1: E[x^2]-E[x]^2 in float32 would lose every digit; shifted statistics don't.
    (In float16/bfloat16 the input itself is quantised to 8 / 64 around 1e4; the reference sees
    the same quantised input.)"""
    rng = np.random.default_rng(11)
    t = DTYPES[dtype][1]
    std = {"float32": 1.0, "float16": 1.0, "bfloat16": 1.0}[dtype]
    x = (1e4 + std * rng.standard_normal((2, 8, 50))).astype(t)
    scale = rng.uniform(0.5, 1.5, 8).astype(np.float32)
    bias = rng.standard_normal(8).astype(np.float32)
    y, _ = run_group_norm(lib, x, scale, bias, 2, dtype, layout=layout, strategy=strategy)
    ref = group_norm.reference(x.astype(np.float64), scale, bias, 2, 1e-5)
    assert_within_ulps(y, ref, dtype, f"GroupNorm mean=1e4 {dtype} {layout} strategy={strategy}")


def test_group_norm_auto_strategy_and_workspace(lib, config):
    """Auto picks one-pass while the group fits the shared-memory budget, split beyond it; the
    library's wrapper checks GroupNormCudaWorkspaceSize against the plan it ran."""
    rng = np.random.default_rng(5)
    limit = config["onepass_bytes"] // 4  # float32 elements
    small = rng.standard_normal((2, 4, limit // 2)).astype(np.float32)        # Cg*S = limit
    big = rng.standard_normal((1, 4, limit // 2 + 1)).astype(np.float32)      # Cg*S = limit + 2
    for x, want in ((small, 1), (big, 2)):
        y, used = run_group_norm(lib, x, None, None, 2, "float32")
        assert used == want, f"x{x.shape}: auto chose {used}, want {want}"
        assert_within_ulps(y, group_norm.reference(x.astype(np.float64), None, None, 2), "float32", f"auto x{x.shape}")


def test_group_norm_deterministic(lib):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((1, 16, 300)).astype(np.float32)
    runs = [run_group_norm(lib, x, None, None, 2, "float32", strategy=2)[0] for _ in range(3)]
    assert all(np.array_equal(runs[0], r) for r in runs[1:]), "split GroupNorm is not bit-reproducible"


def test_group_norm_errors(lib, config):
    err = ctypes.create_string_buffer(512)
    x = np.zeros((1, 8, 4), np.float32)
    y = np.empty_like(x)
    used = ctypes.c_int()
    rc = lib.nd_simt_group_norm(_ptr(x), _ptr(y), None, None, 0, 0, 0, 1, 8, 4, 3, 1e-5, 0, 0, ctypes.byref(used), err, 512)
    assert rc == 1 and b"num_groups=3 does not divide C=8" in err.value
    rc = lib.nd_simt_group_norm(_ptr(x), _ptr(y), None, None, 1, 2, 0, 1, 8, 4, 2, 1e-5, 0, 0, ctypes.byref(used), err, 512)
    assert rc == 1 and b"must be float32 or match X" in err.value
    big = np.zeros((1, 2, config["onepass_bytes"]), np.float32)
    rc = lib.nd_simt_group_norm(_ptr(big), _ptr(np.empty_like(big)), None, None, 0, 0, 0, 1, 2, big.shape[2], 1, 1e-5, 0,
                                1, ctypes.byref(used), err, 512)
    assert rc == 1 and b"one-pass strategy needs the group" in err.value
    rc = lib.nd_simt_group_norm_no_workspace(_ptr(x), _ptr(y), 1, 8, 4, 2, err, 512)
    assert rc == 1 and b"bytes of workspace" in err.value
    rc = lib.nd_simt_bad_launch(err, 512)
    assert rc == 1 and b"cudaErrorInvalidConfiguration" in err.value and b"simt::LaunchOn" in err.value


LRN_CASES = [  # (shape, size, alpha, beta, bias)
    ((2, 7, 5, 3), 5, 1e-4, 0.75, 1.0),
    ((3, 11, 13), 4, 2e-2, 0.6, 2.0),   # even size: ONNX and PyTorch windows differ
    ((1, 5, 1), 8, 1.0, 0.5, 1.0),      # window wider than C
    ((2, 9), 1, 0.5, 0.75, 1.0),        # rank 2, size 1
    ((0, 4, 3), 3, 1e-4, 0.75, 1.0),    # N = 0
    ((2, 6, 70), 2, 1e-1, 1.0, 1.5),    # S > block (CPU 64 threads): several spatial tiles
]


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("window", ["onnx", "pytorch"])
def test_lrn(lib, dtype, window):
    rng = np.random.default_rng(17)
    t = DTYPES[dtype][1]
    for shape, size, alpha, beta, bias in LRN_CASES:
        x = (rng.standard_normal(shape) * 3).astype(t)
        y = run_lrn(lib, x, size, alpha, beta, bias, window, dtype)
        ref = lrn.reference(x.astype(np.float64), size, alpha, beta, bias, window)
        assert_within_ulps(y, ref, dtype, f"LRN {dtype} window={window} x{shape} size={size}")


def test_lrn_windows_differ_for_even_sizes(lib):
    x = np.random.default_rng(1).standard_normal((2, 7, 5)).astype(np.float32) * 3
    a = run_lrn(lib, x, 4, 0.5, 0.75, 1.0, "onnx", "float32")
    b = run_lrn(lib, x, 4, 0.5, 0.75, 1.0, "pytorch", "float32")
    assert np.abs(a - b).max() > 1e-3


# ---- ThreadSanitizer ----

_TSAN_SCRIPT = textwrap.dedent("""
    import ctypes, sys
    import numpy as np
    lib = ctypes.CDLL(sys.argv[1])
    i64, vp = ctypes.c_int64, ctypes.c_void_p
    err = ctypes.create_string_buffer(512)
    mode = sys.argv[2]
    if mode == "kernels":
        lib.nd_simt_group_norm.argtypes = [vp, vp, vp, vp, ctypes.c_int, ctypes.c_int, ctypes.c_int, i64, i64, i64, i64,
                                           ctypes.c_double, ctypes.c_int, ctypes.c_int, vp, ctypes.c_char_p, ctypes.c_size_t]
        lib.nd_simt_lrn.argtypes = [vp, vp, ctypes.c_int, i64, i64, i64, i64, ctypes.c_double, ctypes.c_double,
                                    ctypes.c_double, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]
        x = np.random.default_rng(0).standard_normal((2, 16, 40)).astype(np.float32)
        y = np.empty_like(x)
        for layout in (0, 1):
            for strategy in (1, 2):
                rc = lib.nd_simt_group_norm(x.ctypes.data, y.ctypes.data, None, None, 0, 0, layout, 2, 16, 40, 2, 1e-5,
                                            1, strategy, None, err, 512)
                assert rc == 0, err.value
        h = x.astype(np.float16); hy = np.empty_like(h)
        rc = lib.nd_simt_group_norm(h.ctypes.data, hy.ctypes.data, None, None, 1, 0, 0, 2, 16, 40, 4, 1e-5, 0, 2, None, err, 512)
        assert rc == 0, err.value
        rc = lib.nd_simt_lrn(x.ctypes.data, y.ctypes.data, 0, 2, 16, 40, 5, 1e-4, 0.75, 1.0, 0, err, 512)
        assert rc == 0, err.value
    else:
        lib.nd_simt_missing_sync.argtypes = [ctypes.c_int, vp, vp, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]
        x = np.arange(128, dtype=np.float32); y = np.empty_like(x)
        rc = lib.nd_simt_missing_sync(1 if mode == "with_sync" else 0, x.ctypes.data, y.ctypes.data, 2, err, 512)
        assert rc == 0, err.value
    print("done")
""")


def _run_tsan(mode: str) -> subprocess.CompletedProcess:
    path = _lib_dir() / TSAN_LIB_NAME
    if not path.is_file():
        pytest.skip(f"{path} not built: the compiler cannot build with -fsanitize=thread (see the CMake log)")
    runtime = subprocess.run(["g++", "-print-file-name=libtsan.so"], capture_output=True, text=True).stdout.strip()
    if not runtime or not os.path.isabs(runtime) or not os.path.exists(runtime):
        pytest.skip(f"the ThreadSanitizer runtime was not found: `g++ -print-file-name=libtsan.so` gave {runtime!r}")
    env = dict(os.environ, LD_PRELOAD=runtime, TSAN_OPTIONS="halt_on_error=0 report_signal_unsafe=0 exitcode=66")
    proc = subprocess.run([sys.executable, "-c", _TSAN_SCRIPT, str(path), mode], capture_output=True, text=True,
                          env=env, timeout=300)
    if "done" not in proc.stdout and "ThreadSanitizer" in proc.stderr and "WARNING: ThreadSanitizer" not in proc.stderr:
        pytest.skip(f"ThreadSanitizer cannot run here: {proc.stderr.strip().splitlines()[0]}")
    return proc


def test_tsan_kernels_race_free():
    proc = _run_tsan("kernels")
    assert "done" in proc.stdout, proc.stderr[-4000:]
    assert "WARNING: ThreadSanitizer" not in proc.stderr, proc.stderr[-8000:]


def test_tsan_reports_missing_syncthreads():
    """The proof the TSan run can fail: the same kernel without its __syncthreads is a reported
    data race, and with it none is."""
    good = _run_tsan("with_sync")
    assert "done" in good.stdout and "WARNING: ThreadSanitizer" not in good.stderr, good.stderr[-4000:]
    bad = _run_tsan("missing_sync")
    assert "WARNING: ThreadSanitizer: data race" in bad.stderr, bad.stderr[-4000:]
    # the racing location is the kernel's static (__shared__) buffer; the installed library is
    # stripped, so TSan names it by address only
    assert "Location is global" in bad.stderr, bad.stderr[-4000:]
