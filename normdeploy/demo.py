"""`make demo`: build a model with both normdeploy ops, run it in ONNX Runtime with the library,
and print its error against the float64 references, per dtype.

    python -m normdeploy.demo [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from . import runtime
from .graphs import IR_VERSION, np_dtype, onnx_elem_type
from .ops import DOMAIN, VERSION, group_norm, lrn, register_schemas


def build_model(dtype: str, channels: int = 24, groups: int = 6, lrn_size: int = 4):
    """X -> GroupNorm(+SiLU, affine) -> LocalResponseNorm(PyTorch window, even size) -> Y."""
    import onnx
    from onnx import helper, numpy_helper

    register_schemas()
    rng = np.random.default_rng(7)
    scale = (1.0 + 0.1 * rng.standard_normal(channels)).astype(np_dtype(dtype))
    bias = (0.1 * rng.standard_normal(channels)).astype(np_dtype(dtype))
    inits = [numpy_helper.from_array(scale.view(np.uint16) if dtype == "bfloat16" else scale, "gn.scale"),
             numpy_helper.from_array(bias.view(np.uint16) if dtype == "bfloat16" else bias, "gn.bias")]
    if dtype == "bfloat16":  # numpy_helper stores uint16 bits; retag them as bfloat16
        for init in inits:
            init.data_type = onnx.TensorProto.BFLOAT16
    nodes = [
        helper.make_node("GroupNorm", ["X", "gn.scale", "gn.bias"], ["H"], domain=DOMAIN, name="gn",
                         num_groups=groups, epsilon=1e-5, activation="silu"),
        helper.make_node("LocalResponseNorm", ["H"], ["Y"], domain=DOMAIN, name="lrn",
                         size=lrn_size, alpha=1e-2, beta=0.75, bias=1.0, window="pytorch"),
    ]
    elem = onnx_elem_type(dtype)
    graph = helper.make_graph(
        nodes, "normdeploy_demo",
        [helper.make_tensor_value_info("X", elem, ["N", channels, "H", "W"])],
        [helper.make_tensor_value_info("Y", elem, ["N", channels, "H", "W"])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid(DOMAIN, VERSION)],
                              ir_version=IR_VERSION, producer_name="normdeploy.demo")
    onnx.checker.check_model(model, full_check=True)
    return model, scale, bias


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("demo-out"), help="where the demo models are written")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"normdeploy demo: library {runtime.library_path()}")
    rng = np.random.default_rng(0)
    x64 = rng.standard_normal((3, 24, 17, 19)) * 2.0 + 0.5
    rows = []
    for dtype in ("float32", "float16", "bfloat16"):
        model, scale, bias = build_model(dtype)
        path = args.out / f"demo_{dtype}.onnx"
        path.write_bytes(model.SerializeToString())
        session = runtime.make_session(str(path), allow_spinning=False)
        x = x64.astype(np_dtype(dtype))
        start = time.perf_counter()
        (y,) = runtime.run_arrays(session, {"X": x})
        elapsed = (time.perf_counter() - start) * 1e3
        h = group_norm.reference(x, scale, bias, num_groups=6, epsilon=1e-5, activation="silu")
        ref = lrn.reference(h, size=4, alpha=1e-2, beta=0.75, bias=1.0, window="pytorch")
        err = np.abs(y.astype(np.float64) - ref)
        rows.append((dtype, str(path), err.max(), err.mean(), np.abs(ref).max(), elapsed))
    print(f"\n{'dtype':<9} {'max abs err':>12} {'mean abs err':>13} {'max |ref|':>10} {'run ms':>8}  model")
    for dtype, path, max_err, mean_err, scale_, ms in rows:
        print(f"{dtype:<9} {max_err:>12.3e} {mean_err:>13.3e} {scale_:>10.3f} {ms:>8.2f}  {path}")
    eps = {"float32": 2.0**-23, "float16": 2.0**-10, "bfloat16": 2.0**-7}
    bad = [r for r in rows if r[2] > 8 * eps[r[0]] * max(1.0, r[4])]
    if bad:
        print("\nFAIL: error above 8 ulp of the output scale for " + ", ".join(r[0] for r in bad))
        return 1
    print("\nall dtypes within 8 ulp of the float64 reference (relative to the output scale)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
