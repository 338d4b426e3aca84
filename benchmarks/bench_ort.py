"""`make bench`: normdeploy's ONNX Runtime kernels against the standard ways to run the same math.

    python -P benchmarks/bench_ort.py [--quick] [--ops groupnorm,lrn] [--dtypes float32,float16]
                                      [--threads N] [--json bench-results/bench_ort.json]

What is compared, per op, shape and dtype (all on the CPU, same input tensor):

ours
    the normdeploy custom node in an ONNX Runtime session (GroupNorm with per-channel scale and
    bias fed as graph inputs, G=32; LocalResponseNorm).
ORT standard
    GroupNorm: (a) the opset-18 decomposition Reshape(N,G,-1) -> InstanceNormalization(ones(G),
    zeros(G)) -> Reshape(X's shape) -> Mul(scale as (C,1,1)) -> Add(bias as (C,1,1)), and (b) one
    GroupNormalization-21 node (scale/bias of shape (C)). LRN: ONNX's ``LRN`` node (ORT rejects
    even sizes) and the decomposition PyTorch exports: x*x -> Reshape(N,1,C,H*W) -> Pad channels ->
    AveragePool over a (size,1) window (count_include_pad) -> Reshape back -> Mul alpha -> Add k ->
    Pow beta -> Div. Both candidates are reported. "ORT std", which the targets use, is the
    faster GroupNorm model, and for LRN the native node where ORT runs it (odd sizes), else the
    decomposition; an extra LRN line compares with the faster of the two as well.
torch
    torch.nn.functional.group_norm / local_response_norm under torch.inference_mode(), on a
    tensor sharing the numpy input's memory.
floor
    an ORT session holding a single Identity node (what any ORT op pays to read its input and
    write a new output), and ``np.copyto`` into a preallocated array (a plain memory copy).

Method. Inputs are standard normal from a fixed seed (the float16 input is the float32 one
cast). Every ORT session sets ``session.intra_op.allow_spinning=0`` (idle spinning threads would
slow whichever peer runs next) and ``intra_op_num_threads=--threads``; torch uses the same
thread count. Before timing, each peer's output is compared with ours (max abs error) and with
the float64 numpy reference; an error above a tolerance relative to the output scale (1e-3 for
float32, 2e-2 for float16) is flagged as a mismatch. A peer that cannot run (no kernel for a
dtype, an unsupported attribute) is recorded as n/a with the reason. Each peer is then warmed up
(3 calls) and timed in repeats: one repeat makes back-to-back calls until at least 50 ms have
passed (so the number of calls adapts to the peer and to the moment) and yields the mean time per
call. Repeats are interleaved round-robin over the peers, with a rotating start, so that the noise
of a shared machine hits all of them alike. The figure reported is the median over the repeats
(15, or 3 with --quick), in ms.

Finally the "targets" section checks the float32/float16 goals (ratios to the floor, to ORT's
best standard path and to torch) and prints PASS/MISS with the figures. Everything goes to a JSON
file too. The exit code is 0 whether or not targets are met; it is non-zero only on errors (a
crash, or our own op disagreeing with the reference, which makes the timings meaningless).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

SEED = 20240611
GN_GROUPS = 32
GN_EPSILON = 1e-5
GN_SHAPES: tuple[tuple[int, ...], ...] = (
    (1, 320, 64, 64),
    (8, 320, 64, 64),
    (2, 1280, 8, 8),
    (16, 64, 56, 56),
    (4, 256, 100, 152),
)
LRN_ALPHA, LRN_BETA, LRN_BIAS = 1e-4, 0.75, 1.0
#: (shape, size). The window is PyTorch's (identical to ONNX's for odd sizes).
LRN_CASES: tuple[tuple[tuple[int, ...], int], ...] = (
    ((8, 96, 55, 55), 5),
    ((8, 256, 27, 27), 5),
    ((1, 64, 112, 112), 4),
)
OPS = ("groupnorm", "lrn")
DTYPES = ("float32", "float16")
#: Mismatch tolerance, relative to the output scale (max |reference|).
REL_TOLERANCE: Mapping[str, float] = MappingProxyType({"float32": 1e-3, "float16": 2e-2})
IR_VERSION = 10  # ONNX Runtime 1.31 rejects onnx's default IR version


# --------------------------------------------------------------------------------------------
# configuration and data


@dataclass(frozen=True)
class Settings:
    threads: int
    repeats: int
    warmup: int
    min_repeat_s: float
    quick: bool


@dataclass(frozen=True)
class Case:
    """One benchmark row: an op on one input shape and dtype."""

    op: str
    shape: tuple[int, ...]
    dtype: str
    params: Mapping[str, Any]

    @property
    def label(self) -> str:
        return f"{self.op} {'x'.join(map(str, self.shape))} {self.dtype}"


@dataclass
class Peer:
    """Something to time: ``call`` runs it once, ``output`` runs it once and returns numpy."""

    key: str
    label: str
    role: str  # "ours" | "ort_std" | "torch" | "floor" | "copyto"
    call: Callable[[], Any] | None = None
    output: Callable[[], np.ndarray] | None = None
    reason: str | None = None  # why it is n/a

    @property
    def available(self) -> bool:
        return self.call is not None and self.reason is None


@dataclass
class PeerResult:
    key: str
    label: str
    role: str
    available: bool
    reason: str | None = None
    ms: float | None = None  # median of samples_ms
    min_ms: float | None = None
    samples_ms: list[float] = field(default_factory=list)
    calls_per_repeat: list[int] = field(default_factory=list)
    err_vs_ours: float | None = None
    err_vs_ref: float | None = None
    err_vs_input: float | None = None  # floors only: they must return the input exactly
    mismatch: bool = False


def build_cases(ops: Sequence[str], dtypes: Sequence[str]) -> list[Case]:
    cases: list[Case] = []
    if "groupnorm" in ops:
        for shape in GN_SHAPES:
            for dtype in dtypes:
                cases.append(Case("groupnorm", shape, dtype, {"num_groups": GN_GROUPS, "epsilon": GN_EPSILON}))
    if "lrn" in ops:
        for shape, size in LRN_CASES:
            for dtype in dtypes:
                params = {"size": size, "alpha": LRN_ALPHA, "beta": LRN_BETA, "bias": LRN_BIAS, "window": "pytorch"}
                cases.append(Case("lrn", shape, dtype, params))
    return cases


def make_input(shape: Sequence[int], dtype: str) -> np.ndarray:
    """Standard normal input; the same float32 draw for every dtype of a shape."""
    rng = np.random.default_rng([SEED, *shape])
    return rng.standard_normal(tuple(shape), dtype=np.float32).astype(dtype)


def make_affine(channels: int, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (scale, bias) for GroupNorm: 1 + 0.1 N(0,1) and 0.1 N(0,1)."""
    rng = np.random.default_rng([SEED + 1, channels])
    scale = (1.0 + 0.1 * rng.standard_normal(channels)).astype(dtype)
    bias = (0.1 * rng.standard_normal(channels)).astype(dtype)
    return scale, bias


def reference(case: Case, x: np.ndarray, affine: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    from normdeploy.ops import group_norm, lrn

    p = case.params
    if case.op == "groupnorm":
        assert affine is not None
        return group_norm.reference(x, affine[0], affine[1], p["num_groups"], p["epsilon"])
    return lrn.reference(x, p["size"], p["alpha"], p["beta"], p["bias"], window=p["window"])


# --------------------------------------------------------------------------------------------
# ONNX models and sessions


def ort_options(threads: int) -> Any:
    """Plain SessionOptions: no spinning, ``threads`` intra-op threads, no log output (a peer's
    expected failure, such as an even-size LRN, is recorded as its reason instead)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 4
    return opts


def plain_session(model: Any, threads: int) -> Any:
    import onnxruntime as ort

    return ort.InferenceSession(model.SerializeToString(), sess_options=ort_options(threads),
                                providers=["CPUExecutionProvider"])


def standard_model(nodes: list[Any], shape: Sequence[int], dtype: str, initializers: list[Any], opset: int) -> Any:
    """A model of standard ONNX nodes from input X to output Y, both of ``shape``."""
    from onnx import helper

    from normdeploy.graphs import onnx_elem_type

    elem = onnx_elem_type(dtype)
    graph = helper.make_graph(
        nodes, "bench",
        [helper.make_tensor_value_info("X", elem, list(shape))],
        [helper.make_tensor_value_info("Y", elem, list(shape))],
        initializer=initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=IR_VERSION,
                             producer_name="normdeploy.bench")


def tensor(name: str, value: np.ndarray) -> Any:
    from onnx import numpy_helper

    return numpy_helper.from_array(np.ascontiguousarray(value), name)


def identity_model(shape: Sequence[int], dtype: str) -> Any:
    from onnx import helper

    return standard_model([helper.make_node("Identity", ["X"], ["Y"])], shape, dtype, [], opset=18)


def channel_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """(C, 1, ..., 1): broadcasts a per-channel vector over (N, C, *spatial)."""
    return (shape[1],) + (1,) * (len(shape) - 2)


def gn_decomposition_model(shape: Sequence[int], dtype: str, scale: np.ndarray, bias: np.ndarray,
                           groups: int, epsilon: float) -> Any:
    """Reshape -> InstanceNormalization -> Reshape -> Mul -> Add (opset 18)."""
    from onnx import helper

    nodes = [
        helper.make_node("Reshape", ["X", "grouped_shape"], ["Xg"]),
        helper.make_node("InstanceNormalization", ["Xg", "ones", "zeros"], ["Ng"], epsilon=epsilon),
        helper.make_node("Reshape", ["Ng", "x_shape"], ["N"]),
        helper.make_node("Mul", ["N", "scale"], ["S"]),
        helper.make_node("Add", ["S", "bias"], ["Y"]),
    ]
    inits = [
        tensor("grouped_shape", np.array([shape[0], groups, -1], dtype=np.int64)),
        tensor("ones", np.ones(groups, dtype=dtype)),
        tensor("zeros", np.zeros(groups, dtype=dtype)),
        tensor("x_shape", np.array(shape, dtype=np.int64)),
        tensor("scale", scale.reshape(channel_shape(shape))),
        tensor("bias", bias.reshape(channel_shape(shape))),
    ]
    return standard_model(nodes, shape, dtype, inits, opset=18)


def gn21_model(shape: Sequence[int], dtype: str, scale: np.ndarray, bias: np.ndarray,
               groups: int, epsilon: float) -> Any:
    """One GroupNormalization-21 node (per-channel scale and bias, default stash_type)."""
    from onnx import helper

    node = helper.make_node("GroupNormalization", ["X", "scale", "bias"], ["Y"], num_groups=groups, epsilon=epsilon)
    return standard_model([node], shape, dtype, [tensor("scale", scale), tensor("bias", bias)], opset=21)


def lrn_native_model(shape: Sequence[int], dtype: str, size: int, alpha: float, beta: float, bias: float) -> Any:
    from onnx import helper

    node = helper.make_node("LRN", ["X"], ["Y"], size=size, alpha=alpha, beta=beta, bias=bias)
    return standard_model([node], shape, dtype, [], opset=18)


def lrn_decomposition_model(shape: Sequence[int], dtype: str, size: int, alpha: float, beta: float,
                            bias: float, window: str) -> Any:
    """PyTorch's export of F.local_response_norm, with the channel axis slid over by a 2-D pool.

    x*x is viewed as (N, 1, C, prod(spatial)), zero padded on C by the window extent, averaged over
    a (size, 1) window (count_include_pad, so the divisor is always ``size``) and viewed back.
    """
    from onnx import helper

    from normdeploy.ops.lrn import window_extent

    before, after = window_extent(size, window)
    n, c = shape[0], shape[1]
    spatial = int(np.prod(shape[2:], dtype=np.int64)) if len(shape) > 2 else 1
    nodes = [
        helper.make_node("Mul", ["X", "X"], ["sq"]),
        helper.make_node("Reshape", ["sq", "pool_shape"], ["sq4"]),
        helper.make_node("Pad", ["sq4", "pads"], ["padded"], mode="constant"),
        helper.make_node("AveragePool", ["padded"], ["avg4"], kernel_shape=[size, 1], strides=[1, 1],
                         count_include_pad=1),
        helper.make_node("Reshape", ["avg4", "x_shape"], ["avg"]),
        helper.make_node("Mul", ["avg", "alpha"], ["scaled"]),
        helper.make_node("Add", ["scaled", "k"], ["base"]),
        helper.make_node("Pow", ["base", "beta"], ["div"]),
        helper.make_node("Div", ["X", "div"], ["Y"]),
    ]
    inits = [
        tensor("pool_shape", np.array([n, 1, c, spatial], dtype=np.int64)),
        tensor("pads", np.array([0, 0, before, 0, 0, 0, after, 0], dtype=np.int64)),
        tensor("x_shape", np.array(shape, dtype=np.int64)),
        tensor("alpha", np.array(alpha, dtype=dtype)),
        tensor("k", np.array(bias, dtype=dtype)),
        tensor("beta", np.array(beta, dtype=dtype)),
    ]
    return standard_model(nodes, shape, dtype, inits, opset=18)


def validate_lrn_decomposition(channels: int, size: int, window: str, threads: int) -> float:
    """Max relative error of the decomposition against the reference, with a large alpha.

    With the benchmark's alpha (1e-4) LRN is almost the identity, so a wrong window or divisor
    would hide under the mismatch tolerance; alpha=2 on a small float32 tensor makes them show.
    Raises ValueError when the error is above 1e-4.
    """
    from normdeploy.ops.lrn import reference as lrn_reference

    shape = (2, channels, 3, 5)
    x = np.random.default_rng([SEED + 2, channels, size]).standard_normal(shape, dtype=np.float32)
    alpha, beta, bias = 2.0, 0.75, 1.0
    session = plain_session(lrn_decomposition_model(shape, "float32", size, alpha, beta, bias, window), threads)
    (y,) = session.run(None, {"X": x})
    ref = lrn_reference(x, size, alpha, beta, bias, window=window)
    err = max_abs_error(y, ref) / output_scale(ref)
    if not err <= 1e-4:
        raise ValueError(f"the LRN decomposition does not match the reference (size={size}, window={window}, "
                         f"alpha={alpha}): relative error {err:.3g}")
    return err


def lrn_decomposition_peer(case: Case, x: np.ndarray, threads: int) -> Peer:
    p = case.params
    validate_lrn_decomposition(case.shape[1], p["size"], p["window"], threads)
    model = lrn_decomposition_model(case.shape, case.dtype, p["size"], p["alpha"], p["beta"], p["bias"], p["window"])
    return ort_peer("ort_lrn_decomp", "AveragePool decomposition", "ort_std", plain_session(model, threads), {"X": x})


# --------------------------------------------------------------------------------------------
# peers


def error_reason(exc: BaseException) -> str:
    """A one-line reason (at most 300 characters of the message) from an exception."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"


def ort_peer(key: str, label: str, role: str, session: Any, feeds: Mapping[str, np.ndarray]) -> Peer:
    feeds = dict(feeds)

    def call() -> Any:
        return session.run(None, feeds)

    return Peer(key, label, role, call=call, output=lambda: call()[0])


def guarded(key: str, label: str, role: str, make: Callable[[], Peer]) -> Peer:
    """``make()``, or an n/a peer carrying the reason when it raises."""
    try:
        return make()
    except Exception as exc:  # a peer that cannot run is a result, not an error
        return Peer(key, label, role, reason=error_reason(exc))


def ours_peer(case: Case, x: np.ndarray, affine: tuple[np.ndarray, np.ndarray] | None, threads: int) -> Peer:
    """The normdeploy node. Failures here are errors and propagate."""
    import normdeploy
    from normdeploy.graphs import single_op_model

    p = case.params
    if case.op == "groupnorm":
        assert affine is not None
        c = case.shape[1]
        model = single_op_model("GroupNorm", case.shape, case.dtype,
                                {"num_groups": p["num_groups"], "epsilon": p["epsilon"]},
                                extra_inputs=[("scale", (c,), case.dtype), ("bias", (c,), case.dtype)])
        feeds = {"X": x, "scale": affine[0], "bias": affine[1]}
    else:
        model = single_op_model("LocalResponseNorm", case.shape, case.dtype, dict(p))
        feeds = {"X": x}
    session = normdeploy.make_session(model, allow_spinning=False, intra_op_threads=threads)
    return ort_peer("ours", "normdeploy", "ours", session, feeds)


def ort_standard_peers(case: Case, x: np.ndarray, affine: tuple[np.ndarray, np.ndarray] | None,
                       threads: int) -> list[Peer]:
    p = case.params

    def simple(key: str, label: str, build: Callable[[], Any]) -> Peer:
        return guarded(key, label, "ort_std",
                       lambda: ort_peer(key, label, "ort_std", plain_session(build(), threads), {"X": x}))

    if case.op == "groupnorm":
        assert affine is not None
        args = (case.shape, case.dtype, affine[0], affine[1], p["num_groups"], p["epsilon"])
        return [
            simple("ort_decomp", "InstanceNorm decomposition", lambda: gn_decomposition_model(*args)),
            simple("ort_gn21", "GroupNormalization-21", lambda: gn21_model(*args)),
        ]
    native_args = (case.shape, case.dtype, p["size"], p["alpha"], p["beta"], p["bias"])
    return [
        simple("ort_lrn", "LRN", lambda: lrn_native_model(*native_args)),
        guarded("ort_lrn_decomp", "AveragePool decomposition", "ort_std",
                lambda: lrn_decomposition_peer(case, x, threads)),
    ]


def torch_peer(case: Case, x: np.ndarray, affine: tuple[np.ndarray, np.ndarray] | None) -> Peer:
    import torch
    import torch.nn.functional as F

    xt = torch.from_numpy(x)
    p = case.params
    if case.op == "groupnorm":
        assert affine is not None
        weight, bias = torch.from_numpy(affine[0]), torch.from_numpy(affine[1])

        def run() -> Any:
            with torch.inference_mode():
                return F.group_norm(xt, p["num_groups"], weight, bias, p["epsilon"])
    else:
        if p["window"] != "pytorch" and p["size"] % 2 == 0:
            return Peer("torch", "torch", "torch", reason="torch uses its own window for even sizes")

        def run() -> Any:
            with torch.inference_mode():
                return F.local_response_norm(xt, p["size"], p["alpha"], p["beta"], p["bias"])

    return Peer("torch", "torch", "torch", call=run, output=lambda: run().numpy())


def floor_peers(case: Case, x: np.ndarray, threads: int) -> list[Peer]:
    identity = guarded("identity", "Identity", "floor",
                       lambda: ort_peer("identity", "Identity", "floor",
                                        plain_session(identity_model(case.shape, case.dtype), threads), {"X": x}))
    destination = np.empty_like(x)

    def copy() -> np.ndarray:
        np.copyto(destination, x)
        return destination

    return [identity, Peer("copyto", "np.copyto", "copyto", call=copy, output=copy)]


# --------------------------------------------------------------------------------------------
# checking and timing


def max_abs_error(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        raise ValueError(f"shape {a.shape} != {b.shape}")
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
    return float(np.max(diff)) if np.isfinite(diff).all() else math.inf


def output_scale(ref: np.ndarray) -> float:
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    return scale if scale > 0 else 1.0


def check_peers(peers: list[Peer], x: np.ndarray, ref: np.ndarray, tolerance: float) -> dict[str, PeerResult]:
    """Runs every available peer once and records its errors (ours must come first).

    Compute peers are compared with ours and with the float64 reference (mismatch above
    ``tolerance``); the floors (Identity, copyto) with the input, which they must return exactly.
    """
    results: dict[str, PeerResult] = {}
    ours_out: np.ndarray | None = None
    for peer in peers:
        result = PeerResult(peer.key, peer.label, peer.role, available=peer.available, reason=peer.reason)
        results[peer.key] = result
        if not peer.available:
            continue
        assert peer.output is not None
        try:
            out = np.asarray(peer.output())
            if peer.role in ("floor", "copyto"):
                result.err_vs_input = max_abs_error(out, x)
                result.mismatch = result.err_vs_input != 0.0
                continue
            if peer.role == "ours":
                ours_out = out.copy()
            else:
                assert ours_out is not None, "ours must be checked first"
                result.err_vs_ours = max_abs_error(out, ours_out)
            result.err_vs_ref = max_abs_error(out, ref)
        except Exception as exc:
            if peer.role == "ours":
                raise
            result.available, result.reason = False, error_reason(exc)
            peer.reason = result.reason
            continue
        errors = [e for e in (result.err_vs_ours, result.err_vs_ref) if e is not None]
        result.mismatch = any(not e <= tolerance for e in errors)
    return results


def timed_repeat(call: Callable[[], Any], min_seconds: float) -> tuple[float, int]:
    """Back-to-back calls until ``min_seconds`` have passed: (mean ms per call, number of calls).

    The count adapts to each repeat, so a slow warm-up cannot leave a repeat too short to average
    out a scheduler hiccup. Garbage collection is paused meanwhile.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        deadline = start + int(min_seconds * 1e9)
        calls = 0
        while True:
            call()
            calls += 1
            now = time.perf_counter_ns()
            if now >= deadline:
                return (now - start) / calls / 1e6, calls
    finally:
        if was_enabled:
            gc.enable()


def warm_up(call: Callable[[], Any], times: int) -> None:
    for _ in range(times):
        call()


def rotations(items: Sequence[Any], repeats: int) -> Iterable[list[Any]]:
    """Round-robin orders: round r starts at item r mod len."""
    for r in range(repeats):
        k = r % len(items)
        yield list(items[k:]) + list(items[:k])


def measure(peers: list[Peer], results: dict[str, PeerResult], settings: Settings) -> None:
    """Warms every available peer up, then times them round-robin; ``ms`` is the median repeat."""
    timed = [p for p in peers if p.available]
    for peer in timed:
        warm_up(peer.call, settings.warmup)  # type: ignore[arg-type]
    for order in rotations(timed, settings.repeats):
        for peer in order:
            ms, calls = timed_repeat(peer.call, settings.min_repeat_s)  # type: ignore[arg-type]
            results[peer.key].samples_ms.append(ms)
            results[peer.key].calls_per_repeat.append(calls)
    for peer in timed:
        result = results[peer.key]
        result.ms, result.min_ms = statistics.median(result.samples_ms), min(result.samples_ms)


# --------------------------------------------------------------------------------------------
# one row


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def fastest_standard(results: Mapping[str, PeerResult]) -> PeerResult | None:
    """The fastest standard-op ORT model that ran."""
    timed = [r for r in results.values() if r.role == "ort_std" and r.ms is not None]
    return min(timed, key=lambda r: r.ms) if timed else None  # type: ignore[arg-type,return-value]


def chosen_standard(op: str, results: Mapping[str, PeerResult]) -> PeerResult | None:
    """The "ORT std" the targets use: for GroupNorm the faster of the two models; for LRN the
    native LRN node where ORT runs it (odd sizes), else the decomposition."""
    if op == "lrn" and results["ort_lrn"].ms is not None:
        return results["ort_lrn"]
    if op == "lrn":
        return results["ort_lrn_decomp"] if results["ort_lrn_decomp"].ms is not None else None
    return fastest_standard(results)


def run_case(case: Case, settings: Settings) -> dict[str, Any]:
    x = make_input(case.shape, case.dtype)
    affine = make_affine(case.shape[1], case.dtype) if case.op == "groupnorm" else None
    ref = reference(case, x, affine)
    scale = output_scale(ref)
    tolerance = REL_TOLERANCE[case.dtype] * scale
    peers = [ours_peer(case, x, affine, settings.threads)]
    peers += ort_standard_peers(case, x, affine, settings.threads)
    peers.append(guarded("torch", "torch", "torch", lambda: torch_peer(case, x, affine)))
    peers += floor_peers(case, x, settings.threads)
    results = check_peers(peers, x, ref, tolerance)
    del ref
    measure(peers, results, settings)
    return row_record(case, results, scale, tolerance)


def row_record(case: Case, results: Mapping[str, PeerResult], scale: float, tolerance: float) -> dict[str, Any]:
    ours = results["ours"].ms
    best = chosen_standard(case.op, results)
    fastest = fastest_standard(results)
    floor = results["identity"].ms
    return {
        "op": case.op,
        "shape": list(case.shape),
        "dtype": case.dtype,
        "params": dict(case.params),
        "output_scale": scale,
        "tolerance": tolerance,
        "peers": {key: vars(r) for key, r in results.items()},
        "ort_std": best.key if best else None,
        "ort_std_fastest": fastest.key if fastest else None,
        "ms": {
            "ours": ours,
            "ort_std": best.ms if best else None,
            "torch": results["torch"].ms,
            "floor": floor,
            "copyto": results["copyto"].ms,
        },
        "ratios": {
            "ours/floor": ratio(ours, floor),
            "ours/copyto": ratio(ours, results["copyto"].ms),
            "ort/ours": ratio(best.ms if best else None, ours),
            "ort_fastest/ours": ratio(fastest.ms if fastest else None, ours),
            "torch/ours": ratio(results["torch"].ms, ours),
        },
        "mismatches": [key for key, r in results.items() if r.mismatch],
    }


# --------------------------------------------------------------------------------------------
# targets


@dataclass(frozen=True)
class Target:
    name: str
    op: str
    dtype: str
    metric: str  # a key of row["ratios"]
    aggregate: str  # "max" | "min" | "geomean"
    compare: str  # "<=" | ">="
    threshold: float


TARGETS: tuple[Target, ...] = (
    Target("GroupNorm float32: geometric mean ours/floor <= 1.3",
           "groupnorm", "float32", "ours/floor", "geomean", "<=", 1.3),
    Target("GroupNorm float32: every shape ours/floor <= 1.6",
           "groupnorm", "float32", "ours/floor", "max", "<=", 1.6),
    Target("GroupNorm float32: >= 2x faster than ORT's best standard path",
           "groupnorm", "float32", "ort/ours", "min", ">=", 2.0),
    Target("GroupNorm float32: never slower than torch",
           "groupnorm", "float32", "torch/ours", "min", ">=", 1.0),
    Target("LRN float32: >= 8x faster than ORT native/decomposition",
           "lrn", "float32", "ort/ours", "min", ">=", 8.0),
    Target("LRN float32 (extra): >= 8x faster than ORT's fastest standard path",
           "lrn", "float32", "ort_fastest/ours", "min", ">=", 8.0),
    Target("LRN float32: >= 8x faster than torch",
           "lrn", "float32", "torch/ours", "min", ">=", 8.0),
    Target("LRN float32: within 3x of the floor",
           "lrn", "float32", "ours/floor", "max", "<=", 3.0),
    Target("GroupNorm float16: within 1.5x of the float16 floor",
           "groupnorm", "float16", "ours/floor", "max", "<=", 1.5),
    Target("LRN float16: within 1.5x of the float16 floor",
           "lrn", "float16", "ours/floor", "max", "<=", 1.5),
)


def aggregate(values: Sequence[float], how: str) -> float:
    if how == "max":
        return max(values)
    if how == "min":
        return min(values)
    if how == "geomean":
        return math.exp(sum(math.log(v) for v in values) / len(values))
    raise ValueError(how)


def evaluate_target(target: Target, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    selected = [r for r in rows if r["op"] == target.op and r["dtype"] == target.dtype]
    per_shape = {"x".join(map(str, r["shape"])): r["ratios"][target.metric] for r in selected}
    values = [v for v in per_shape.values() if v is not None]
    missing = [shape for shape, v in per_shape.items() if v is None]
    record: dict[str, Any] = {
        "target": target.name, "metric": target.metric, "aggregate": target.aggregate,
        "compare": target.compare, "threshold": target.threshold, "per_shape": per_shape,
        "missing": missing, "value": None, "status": "N/A",
    }
    if values:
        value = aggregate(values, target.aggregate)
        met = value <= target.threshold if target.compare == "<=" else value >= target.threshold
        record.update(value=value, status="PASS" if met else "MISS")
    return record


# --------------------------------------------------------------------------------------------
# report


def fmt_ms(value: float | None) -> str:
    return "n/a" if value is None else (f"{value:.3f}" if value < 100 else f"{value:.1f}")


def fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def render_table(headers: Sequence[str], lines: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]
    out = ["  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(headers, widths)))]
    out.append("  ".join("-" * w for w in widths))
    for line in lines:
        out.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths))))
    return "\n".join(out)


def op_table(op: str, rows: Sequence[Mapping[str, Any]]) -> str:
    std_keys = ["ort_decomp", "ort_gn21"] if op == "groupnorm" else ["ort_lrn", "ort_lrn_decomp"]
    std_titles = ["ORT decomp", "ORT GN-21"] if op == "groupnorm" else ["ORT LRN", "ORT decomp"]
    headers = ["shape", "dtype", "ours ms", *[f"{t} ms" for t in std_titles], "ORT std ms (which)", "torch ms",
               "floor(Identity) ms", "copyto ms", "ours/floor", "ORT/ours", "torch/ours", "check"]
    lines = []
    for row in rows:
        peers, ms, ratios = row["peers"], row["ms"], row["ratios"]
        best = row["ort_std"]
        which = f"{fmt_ms(ms['ort_std'])} ({peers[best]['label'] if best else '-'})"
        check = "ok" if not row["mismatches"] else "MISMATCH: " + ",".join(row["mismatches"])
        lines.append([
            "x".join(map(str, row["shape"])), row["dtype"], fmt_ms(ms["ours"]),
            *[fmt_ms(peers[k]["ms"]) for k in std_keys], which, fmt_ms(ms["torch"]),
            fmt_ms(ms["floor"]), fmt_ms(ms["copyto"]), fmt_ratio(ratios["ours/floor"]),
            fmt_ratio(ratios["ort/ours"]), fmt_ratio(ratios["torch/ours"]), check,
        ])
    return render_table(headers, lines)


def op_notes(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """n/a reasons (rows with the same reason merged) and mismatches, one line each."""
    unavailable: dict[tuple[str, str, str], list[str]] = {}
    mismatches: list[str] = []
    for row in rows:
        shape = "x".join(map(str, row["shape"]))
        for peer in row["peers"].values():
            if peer["reason"]:
                unavailable.setdefault((peer["label"], row["dtype"], peer["reason"]), []).append(shape)
            if peer["mismatch"]:
                compared = (("vs ours", "err_vs_ours"), ("vs reference", "err_vs_ref"), ("vs input", "err_vs_input"))
                errors = ", ".join(f"{name} {peer[key]:.3g}" for name, key in compared if peer[key] is not None)
                mismatches.append(f"  MISMATCH  {peer['label']} ({shape} {row['dtype']}): max abs err {errors}; "
                                  f"tolerance {row['tolerance']:.3g}")
    notes = [f"  n/a  {label}, {dtype} ({', '.join(shapes)}): {reason}"
             for (label, dtype, reason), shapes in unavailable.items()]
    return notes + mismatches


def targets_text(evaluations: Sequence[Mapping[str, Any]]) -> str:
    lines = ["targets"]
    for ev in evaluations:
        value = "n/a (not measured)" if ev["value"] is None else f"{ev['value']:.2f}"
        figures = ", ".join(f"{shape} {fmt_ratio(v)}" for shape, v in ev["per_shape"].items())
        lines.append(f"  {ev['status']:<4}  {ev['target']}: {ev['aggregate']} {ev['metric']} = {value} "
                     f"(need {ev['compare']} {ev['threshold']:g})")
        if figures:
            lines.append(f"        per shape: {figures}")
    return "\n".join(lines)


def report(rows: Sequence[Mapping[str, Any]], evaluations: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for op in OPS:
        op_rows = [r for r in rows if r["op"] == op]
        if not op_rows:
            continue
        title = {"groupnorm": f"GroupNorm (G={GN_GROUPS}, epsilon={GN_EPSILON:g})",
                 "lrn": f"LRN (alpha={LRN_ALPHA:g}, beta={LRN_BETA:g}, k={LRN_BIAS:g}; n=5 except 1x64x112x112: n=4, "
                        f"PyTorch window)"}[op]
        parts.append(f"{title}\n{op_table(op, op_rows)}")
        notes = op_notes(op_rows)
        if notes:
            parts.append("\n".join(notes))
    parts.append(targets_text(evaluations))
    return "\n\n".join(parts)


# --------------------------------------------------------------------------------------------
# environment


def cpu_model() -> str:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10, check=False).stdout
        for line in text.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def environment(settings: Settings) -> dict[str, Any]:
    import onnxruntime
    import torch

    import normdeploy

    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "processor": cpu_model(), "cpu_count": os.cpu_count(),
                    "python": platform.python_version()},
        "versions": {"onnxruntime": onnxruntime.__version__, "torch": torch.__version__, "numpy": np.__version__,
                     "normdeploy": normdeploy.__version__},
        "library": normdeploy.library_path(),
        "method": {"threads": settings.threads, "repeats": settings.repeats, "warmup": settings.warmup,
                   "min_repeat_ms": settings.min_repeat_s * 1e3, "quick": settings.quick,
                   "statistic": "median over repeats of the mean ms per call",
                   "rel_tolerance": REL_TOLERANCE, "seed": SEED},
    }


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats spelled as strings (JSON has no inf/nan)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_json(path: Path, document: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json_safe(document), indent=2, allow_nan=False) + "\n")


# --------------------------------------------------------------------------------------------
# main


def parse_list(text: str, allowed: Sequence[str]) -> list[str]:
    """A comma-separated subset of ``allowed``, in the order given, without repeats."""
    items = list(dict.fromkeys(t.strip().lower() for t in text.split(",") if t.strip()))
    if not items or any(t not in allowed for t in items):
        raise argparse.ArgumentTypeError(f"{text!r}; choose from {','.join(allowed)}")
    return items


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 15 (smoke test, under a minute)")
    parser.add_argument("--ops", type=lambda s: parse_list(s, OPS), default=list(OPS),
                        help="comma-separated: groupnorm,lrn (default both)")
    parser.add_argument("--dtypes", type=lambda s: parse_list(s, DTYPES), default=list(DTYPES),
                        help="comma-separated: float32,float16 (default both)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="ORT intra-op threads and torch threads (default: os.cpu_count())")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per peer (default 15, quick 3)")
    parser.add_argument("--json", type=Path, default=Path("bench-results/bench_ort.json"),
                        help="where to write the results (default bench-results/bench_ort.json)")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error("--threads must be >= 1")
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings(threads=args.threads, repeats=args.repeats or (3 if args.quick else 15), warmup=3,
                        min_repeat_s=0.05, quick=args.quick)
    import torch

    torch.set_num_threads(settings.threads)
    env = environment(settings)
    cases = build_cases(args.ops, args.dtypes)
    print(f"bench_ort: {len(cases)} rows, {settings.threads} threads, {settings.repeats} repeats of >= "
          f"{settings.min_repeat_s * 1e3:.0f} ms per peer; onnxruntime {env['versions']['onnxruntime']}, "
          f"torch {env['versions']['torch']}; {env['machine']['processor']}", flush=True)
    rows = []
    start = time.perf_counter()
    for i, case in enumerate(cases, 1):
        row = run_case(case, settings)
        rows.append(row)
        print(f"  [{i}/{len(cases)}] {case.label}: ours {fmt_ms(row['ms']['ours'])} ms, floor "
              f"{fmt_ms(row['ms']['floor'])} ms ({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
    evaluations = [evaluate_target(t, rows) for t in TARGETS]
    print()
    print(report(rows, evaluations))
    write_json(args.json, {**env, "rows": rows, "targets": evaluations})
    print(f"\nresults: {args.json} ({time.perf_counter() - start:.0f} s)")
    wrong = [f"{r['op']} {'x'.join(map(str, r['shape']))} {r['dtype']}" for r in rows if r["peers"]["ours"]["mismatch"]]
    if wrong:
        print(f"ERROR: normdeploy disagrees with the float64 reference on: {'; '.join(wrong)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
