"""One session, many threads: results are bit-identical to serial runs."""

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
