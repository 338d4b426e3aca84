"""Shared helpers for the normdeploy tests (importable: pytest adds tests/ to sys.path).

Tolerances follow flash-attention's practice: the allowed error of our kernel is a small multiple
of the error of a *plain* implementation in the same dtype (the reference formula evaluated by
numpy in that dtype), with a floor of a few ulps of the output scale. Every comparison is against
the float64 references in normdeploy.ops.
"""

from __future__ import annotations

import ctypes
import textwrap
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import onnx
import pytest

import normdeploy
from normdeploy import runtime
from normdeploy.graphs import np_dtype, single_op_model
from normdeploy.ops import group_norm, lrn

DTYPES = ("float32", "float16", "bfloat16")
ULP = {"float32": 2.0**-23, "float16": 2.0**-10, "bfloat16": 2.0**-7}


def cast(x: np.ndarray, dtype: str) -> np.ndarray:
    return np.asarray(x).astype(np_dtype(dtype))


def f64(x: np.ndarray) -> np.ndarray:
    return np.asarray(x).astype(np.float64)


def plain_group_norm(x, scale, bias, num_groups, epsilon, activation, dtype: str) -> np.ndarray:
    """GroupNorm evaluated op by op in `dtype` (numpy rounds every intermediate), with the two
    reductions accumulated in float32 as any practical implementation does."""
    with np.errstate(over="ignore", invalid="ignore"):  # a plain half implementation may overflow
        return _plain_group_norm(x, scale, bias, num_groups, epsilon, activation, dtype)


def _plain_group_norm(x, scale, bias, num_groups, epsilon, activation, dtype: str) -> np.ndarray:
    t = np_dtype(dtype)
    xd = cast(x, dtype)
    n, c = xd.shape[:2]
    g = xd.reshape(n, num_groups, -1)
    mean = g.mean(axis=2, keepdims=True, dtype=np.float32).astype(t)
    var = ((g - mean) * (g - mean)).mean(axis=2, keepdims=True, dtype=np.float32).astype(t)
    y = ((g - mean) / np.sqrt(var + t.type(epsilon))).reshape(xd.shape)
    shape = (1, c) + (1,) * (xd.ndim - 2)
    if scale is not None:
        y = y * cast(scale, dtype).reshape(shape)
    if bias is not None:
        y = y + cast(bias, dtype).reshape(shape)
    if activation == "silu":
        with np.errstate(over="ignore"):
            y = y / (t.type(1) + np.exp(-y))
    return y


def plain_lrn(x, size, alpha, beta, bias, window, dtype: str) -> np.ndarray:
    """LRN evaluated op by op in `dtype`."""
    t = np_dtype(dtype)
    xd = cast(x, dtype)
    before, after = lrn.clamped_window_extent(size, window, xd.shape[1])
    sq = xd * xd
    pad = [(0, 0)] * xd.ndim
    pad[1] = (before, after)
    padded = np.pad(sq, pad)
    s = np.zeros_like(xd)
    for off in range(before + after + 1):
        s = s + np.take(padded, np.arange(off, off + xd.shape[1]), axis=1)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return xd / (t.type(bias) + t.type(alpha / size) * s) ** t.type(beta)


def tolerance(plain: np.ndarray, ref: np.ndarray, dtype: str, k: float = 2.0, ulps: float = 4.0) -> float:
    finite = np.isfinite(ref)
    if not finite.any():
        return 0.0
    scale = max(1.0, float(np.abs(ref[finite]).max()))
    diff = np.abs(f64(plain)[finite] - ref[finite])
    plain_err = float(diff.max()) if diff.size and np.isfinite(diff).all() else 0.0
    return max(k * plain_err, ulps * ULP[dtype] * scale)


def assert_close(actual: np.ndarray, ref: np.ndarray, tol: float, what: str) -> None:
    a = f64(actual)
    assert a.shape == ref.shape, f"{what}: shape {a.shape} != reference {ref.shape}"
    nan_a, nan_r = np.isnan(a), np.isnan(ref)
    assert np.array_equal(nan_a, nan_r), (
        f"{what}: NaN pattern differs ({int(nan_a.sum())} NaN in output vs {int(nan_r.sum())} in reference)")
    inf_r = np.isinf(ref)
    assert np.array_equal(a[inf_r], ref[inf_r]), f"{what}: Inf values differ"
    ok = ~(nan_r | inf_r)
    if not ok.any():
        return
    err = np.abs(a[ok] - ref[ok])
    worst = int(np.argmax(err))
    assert err.max() <= tol, (
        f"{what}: max abs err {err.max():.3e} > tol {tol:.3e} (mean {err.mean():.3e}; "
        f"at flat index {worst}: got {a[ok][worst]!r}, want {ref[ok][worst]!r})")


class OpRunner:
    """Builds a one-node model for given shapes/attributes and runs it with the library."""

    def __init__(self) -> None:
        self._cache: dict[Any, Any] = {}

    def session(self, op_type: str, x_shape: Sequence[int], dtype: str, attrs: Mapping[str, Any],
                extra: Sequence[tuple[str, Sequence[int], str]] = (), threads: int | None = None):
        key = (op_type, tuple(x_shape), dtype, tuple(sorted(attrs.items())), tuple((n, tuple(s), d) for n, s, d in extra), threads)
        if key not in self._cache:
            model = single_op_model(op_type, list(x_shape), dtype, attrs, extra_inputs=extra)
            self._cache[key] = normdeploy.make_session(model, intra_op_threads=threads, allow_spinning=False)
        return self._cache[key]

    def group_norm(self, x: np.ndarray, scale, bias, dtype: str, threads: int | None = None, **attrs) -> np.ndarray:
        extra, feeds = [], {"X": cast(x, dtype)}
        for name, value in (("scale", scale), ("bias", bias)):
            if value is not None:
                extra.append((name, list(value.shape), getattr(value.dtype, "name", "float32")))
                feeds[name] = value
        # Optional inputs: an omitted scale followed by a bias needs an empty name in between.
        if scale is None and bias is not None:
            return self._run_gn_bias_only(x, bias, dtype, attrs)
        sess = self.session("GroupNorm", x.shape, dtype, attrs, extra, threads)
        return runtime.run_arrays(sess, feeds)[0]

    def _run_gn_bias_only(self, x, bias, dtype, attrs):
        from onnx import helper

        from normdeploy.graphs import IR_VERSION, onnx_elem_type
        from normdeploy.ops import DOMAIN, VERSION

        node = helper.make_node("GroupNorm", ["X", "", "bias"], ["Y"], domain=DOMAIN, **attrs)
        graph = helper.make_graph(
            [node], "gn_bias_only",
            [helper.make_tensor_value_info("X", onnx_elem_type(dtype), list(x.shape)),
             helper.make_tensor_value_info("bias", onnx_elem_type(bias.dtype.name), list(bias.shape))],
            [helper.make_tensor_value_info("Y", onnx_elem_type(dtype), None)])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid(DOMAIN, VERSION)],
                                  ir_version=IR_VERSION)
        sess = normdeploy.make_session(model, allow_spinning=False)
        return runtime.run_arrays(sess, {"X": cast(x, dtype), "bias": bias})[0]

    def lrn(self, x: np.ndarray, dtype: str, threads: int | None = None, **attrs) -> np.ndarray:
        sess = self.session("LocalResponseNorm", x.shape, dtype, attrs, (), threads)
        return runtime.run_arrays(sess, {"X": cast(x, dtype)})[0]


def check_group_norm(ops: OpRunner, x: np.ndarray, dtype: str, num_groups: int, *, affine: bool = True,
                     affine_dtype: str | None = None, epsilon: float = 1e-5, activation: str = "none",
                     rng: np.random.Generator | None = None, threads: int | None = None) -> None:
    rng = rng or np.random.default_rng(0)
    c = x.shape[1]
    adt = affine_dtype or dtype
    scale = cast(1 + 0.5 * rng.standard_normal(c), adt) if affine else None
    bias = cast(0.5 * rng.standard_normal(c), adt) if affine else None
    xq = cast(x, dtype)
    attrs = {"num_groups": num_groups, "epsilon": epsilon, "activation": activation}
    got = ops.group_norm(x, scale, bias, dtype, threads=threads, **attrs)
    ref = group_norm.reference(xq, scale, bias, num_groups, np.float32(epsilon), activation)
    plain = plain_group_norm(xq, scale, bias, num_groups, epsilon, activation, dtype)
    assert got.dtype == np_dtype(dtype)
    assert_close(got, ref, tolerance(plain, ref, dtype), f"GroupNorm {dtype} {x.shape} G={num_groups} {activation}")


def check_lrn(ops: OpRunner, x: np.ndarray, dtype: str, size: int, alpha: float = 1e-4, beta: float = 0.75,
              bias: float = 1.0, window: str = "onnx", threads: int | None = None) -> None:
    xq = cast(x, dtype)
    got = ops.lrn(x, dtype, threads=threads, size=size, alpha=alpha, beta=beta, bias=bias, window=window)
    # attributes travel as float32 in ONNX: the reference uses the same rounded values
    a, b, k = (float(np.float32(v)) for v in (alpha, beta, bias))
    ref = lrn.reference(xq, size, a, b, k, window)
    plain = plain_lrn(xq, size, a, b, k, window, dtype)
    assert got.dtype == np_dtype(dtype)
    assert_close(got, ref, tolerance(plain, ref, dtype), f"LRN {dtype} {x.shape} size={size} {window}")


Check = Callable[..., None]


SIMT_LIB_NAME = "libnormdeploy_simt_tests.so"


def load_simt_lib(name: str = SIMT_LIB_NAME) -> ctypes.CDLL:
    """The CUDA kernels built for the CPU execution layer (plugins/simt_tests), with the argument
    types of its C ABI; skips when the library is not built."""
    path = Path(normdeploy.library_path()).parent / name
    if not path.is_file():
        pytest.skip(f"{path} not built (CMake option NORMDEPLOY_SIMT_TESTS=OFF?)")
    lib = ctypes.CDLL(str(path))
    i64, vp, dbl, i32, text, size = ctypes.c_int64, ctypes.c_void_p, ctypes.c_double, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t
    lib.nd_simt_group_norm.argtypes = [vp, vp, vp, vp, i32, i32, i32, i64, i64, i64, i64, dbl, i32, i32,
                                       ctypes.POINTER(i32), text, size]
    lib.nd_simt_lrn.argtypes = [vp, vp, i32, i64, i64, i64, i64, dbl, dbl, dbl, i32, text, size]
    lib.nd_simt_group_norm_no_workspace.argtypes = [vp, vp, i64, i64, i64, i64, text, size]
    lib.nd_simt_missing_sync.argtypes = [i32, vp, vp, i32, text, size]
    lib.nd_simt_bad_launch.argtypes = [text, size]
    lib.nd_simt_config.argtypes = [ctypes.POINTER(i64)]
    lib.nd_simt_set_grid_tail.argtypes = [ctypes.c_uint64, ctypes.c_uint64]
    return lib


#: A user's model module for the MODULE:FACTORY options (--torch, export --model): build() gives a
#: seeded Conv -> GroupNorm -> SiLU -> LocalResponseNorm net (one GroupNorm(silu), one LRN) for a
#: 3-channel NCHW image.
NORM_NET_MODULE = textwrap.dedent("""
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.gn = torch.nn.GroupNorm(4, 8)
            self.lrn = torch.nn.LocalResponseNorm(4)

        def forward(self, x):
            return self.lrn(torch.nn.functional.silu(self.gn(self.conv(x))))

    def build():
        torch.manual_seed(0)
        return Net().eval()
""")


def set_attr(node: onnx.NodeProto, name: str, value: Any) -> None:
    """Sets (replaces or adds) attribute `name` of `node`."""
    for attr in node.attribute:
        if attr.name == name:
            node.attribute.remove(attr)
            break
    node.attribute.append(onnx.helper.make_attribute(name, value))
