"""Sessions shared by many threads: results are bit-identical to serial runs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import normdeploy
from normdeploy import runtime
from normdeploy.graphs import np_dtype, single_op_model


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("case", ["gn_fused", "gn_split", "lrn"])
def test_one_session_eight_threads_matches_serial(case, dtype):
    rng = np.random.default_rng(42)
    if case == "lrn":
        model = single_op_model("LocalResponseNorm", ["N", 19, "H", "W"], dtype, {"size": 4, "alpha": 0.2, "window": "pytorch"})
        shapes = [(2, 19, 13, 11), (1, 19, 40, 9), (3, 19, 7, 5)]
        extra = {}
    else:
        c = 12 if case == "gn_fused" else 4
        model = single_op_model("GroupNorm", ["N", c, "H", "W"], dtype, {"num_groups": 4 if case == "gn_fused" else 1,
                                                                         "activation": "silu"},
                                extra_inputs=[("scale", [c], dtype), ("bias", [c], dtype)])
        shapes = [(3, c, 9, 7), (2, c, 5, 11)] if case == "gn_fused" else [(1, c, 300, 290), (1, c, 260, 301)]
        extra = {"scale": rng.standard_normal(c).astype(np_dtype(dtype)), "bias": rng.standard_normal(c).astype(np_dtype(dtype))}
    sess = normdeploy.make_session(model, intra_op_threads=2, allow_spinning=False)
    inputs = [dict(X=(rng.standard_normal(s) * 3 + 1).astype(np_dtype(dtype)), **extra) for s in shapes for _ in range(3)]
    serial = [runtime.run_arrays(sess, feeds)[0] for feeds in inputs]

    def work(worker: int) -> list[tuple[int, np.ndarray]]:
        out = []
        for rep in range(6):
            i = (worker + rep) % len(inputs)
            out.append((i, runtime.run_arrays(sess, inputs[i])[0]))
        return out

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [r for chunk in pool.map(work, range(8)) for r in chunk]
    assert len(results) == 48
    for i, got in results:
        assert got.tobytes() == serial[i].tobytes(), f"input {i}: a concurrent run differs from the serial run"


def _mixed_model(dtype: str):
    """GroupNorm (fused SiLU) -> LocalResponseNorm -> GroupNorm (split-sized groups) in one graph."""
    import onnx
    from onnx import helper

    from normdeploy.graphs import IR_VERSION, make_custom_node, onnx_elem_type
    from normdeploy.ops import DOMAIN, VERSION

    t = onnx_elem_type(dtype)
    nodes = [make_custom_node("GroupNorm", ["X", "s", "b"], ["a"], name="gn1", num_groups=4, activation="silu"),
             make_custom_node("LocalResponseNorm", ["a"], ["l"], name="lrn", size=5, alpha=0.3),
             make_custom_node("GroupNorm", ["l"], ["Y"], name="gn2", num_groups=1)]
    rng = np.random.default_rng(7)
    inits = [onnx.numpy_helper.from_array(rng.standard_normal(8).astype(np_dtype(dtype)), n) for n in ("s", "b")]
    graph = helper.make_graph(nodes, "mixed", [helper.make_tensor_value_info("X", t, ["N", 8, "H", "W"])],
                              [helper.make_tensor_value_info("Y", t, None)], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid(DOMAIN, VERSION)],
                             ir_version=IR_VERSION)


def test_four_sessions_eight_threads_two_hundred_runs_each():
    """4 sessions (GroupNorm, LRN, a mixed graph in float32 and float16) shared by 8 threads, each
    thread running every session 200 times (6,400 runs) on inputs of changing shapes: every result
    is bit-identical to the serial run of the same input on the same session."""
    rng = np.random.default_rng(3)
    sessions, inputs = [], []
    specs = [(single_op_model("GroupNorm", ["N", 12, "L"], "float32", {"num_groups": 3}), "float32", 12),
             (single_op_model("LocalResponseNorm", ["N", 9, "H", "W"], "float32", {"size": 3}), "float32", 9),
             (_mixed_model("float32"), "float32", 8), (_mixed_model("float16"), "float16", 8)]
    for model, dtype, c in specs:
        sessions.append(normdeploy.make_session(model, intra_op_threads=2, allow_spinning=False))
        shapes = [(1, c, 5), (2, c, 33), (3, c, 400)] if c == 12 else [(1, c, 6, 5), (2, c, 17, 9), (1, c, 96, 80)]
        inputs.append([{"X": (rng.standard_normal(s) * 2 + 0.5).astype(np_dtype(dtype))} for s in shapes])
    serial = [[runtime.run_arrays(sessions[k], feeds)[0].tobytes() for feeds in inputs[k]] for k in range(4)]

    def work(worker: int) -> int:
        mismatches = 0
        for rep in range(200):
            for k in range(4):
                i = (worker * 7 + rep + k) % 3
                if runtime.run_arrays(sessions[k], inputs[k][i])[0].tobytes() != serial[k][i]:
                    mismatches += 1
        return mismatches

    with ThreadPoolExecutor(max_workers=8) as pool:
        mismatches = list(pool.map(work, range(8)))
    assert mismatches == [0] * 8, f"runs differing from serial, per thread: {mismatches}"
