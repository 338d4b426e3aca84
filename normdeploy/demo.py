"""`make demo`: the main job on the built-in models.

1. the ops alone: a model with both normdeploy nodes, run in ONNX Runtime with the library in
   float32/float16/bfloat16, against the float64 references;
2. the recipes in export/ (ResNet with GroupNorm, AlexNet with LRN of sizes 5 and 4, a Stable
   Diffusion UNet block with GroupNorm+SiLU, a detection head with dynamic input size): export
   each to ONNX with normdeploy nodes, convert it back to standard ONNX, run both in ONNX Runtime
   and print their parity against PyTorch;
3. normdeploy validate on every recipe;
4. normdeploy bench on one recipe (a short run).

    python -m normdeploy.demo [--out DIR] [--recipes REPO_ROOT] [--skip-recipes]
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
    parser.add_argument("--recipes", type=Path, default=Path.cwd(), help="folder holding export/ (default: .)")
    parser.add_argument("--skip-recipes", action="store_true", help="only the op-level part")
    args = parser.parse_args(argv)
    status = ops_demo(args.out)
    if not args.skip_recipes:
        status = max(status, recipes_demo(args.out, args.recipes))
    return status


def ops_demo(out: Path) -> int:
    """Part 1: both ops in every dtype against the float64 references."""
    out.mkdir(parents=True, exist_ok=True)
    print(f"normdeploy demo: library {runtime.library_path()}")
    print("\n[1/4] the ops in ONNX Runtime vs the float64 references")
    rng = np.random.default_rng(0)
    x64 = rng.standard_normal((3, 24, 17, 19)) * 2.0 + 0.5
    rows = []
    for dtype in ("float32", "float16", "bfloat16"):
        model, scale, bias = build_model(dtype)
        path = out / f"demo_{dtype}.onnx"
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


#: (recipe module in export/, factory) run by the demo
RECIPES = (("resnet_gn", "build"), ("alexnet_lrn", "build"), ("alexnet_lrn", "build_even"),
           ("unet_block", "build"), ("detection_head", "build"))


def recipes_demo(out: Path, root: Path) -> int:
    """Part 2: export, convert back, run, compare with PyTorch."""
    import importlib
    import sys

    import onnxruntime as ort
    import torch

    from .conversion import convert_model, save_model
    from .exporter import export

    if not (root / "export" / "__init__.py").is_file():
        print(f"\n[2/4] skipped: no export/ recipes under {root} (run from the repository root or pass --recipes)")
        return 0
    if str(root) not in sys.path:
        sys.path.append(str(root))  # after site-packages: the installed normdeploy stays the one in use
    print("\n[2/4] the export/ recipes: PyTorch -> ONNX with normdeploy nodes -> back to standard ONNX")
    header = f"{'recipe':<26} {'normdeploy nodes':<44} {'custom err':>11} {'standard err':>13} {'custom ms':>10} {'std ms':>8}"
    print(header)
    worst = 0.0
    for module_name, factory in RECIPES:
        module = importlib.import_module(f"export.{module_name}")
        model = getattr(module, factory)().eval()
        x = module.example_input()
        label = f"{module_name}:{factory}"
        started = time.perf_counter()
        result = export(model, (x,), out / f"{module_name}_{factory}.onnx", input_names=["input"],
                        dynamic_axes={"input": dict(module.DYNAMIC)} if module.DYNAMIC else None)
        standard, _ = convert_model(result.model, "standard")
        std_path = save_model(standard, out / f"{module_name}_{factory}.standard.onnx")
        with torch.no_grad():
            want = model(x).numpy()
        scale = max(1.0, float(np.abs(want).max()))
        custom_sess = runtime.make_session(str(result.path), allow_spinning=False)
        std_sess = ort.InferenceSession(str(std_path), providers=["CPUExecutionProvider"])
        errs, times = [], []
        for sess in (custom_sess, std_sess):
            sess.run(None, {"input": x.numpy()})
            t0 = time.perf_counter()
            (got,) = sess.run(None, {"input": x.numpy()})
            times.append((time.perf_counter() - t0) * 1e3)
            errs.append(float(np.abs(got - want).max()) / scale)
        worst = max(worst, *errs)
        nodes = ", ".join(f"{k} x{v}" for k, v in sorted(result.nodes.items()))
        print(f"{label:<26} {nodes:<44} {errs[0]:>11.2e} {errs[1]:>13.2e} {times[0]:>10.2f} {times[1]:>8.2f}"
              f"   ({time.perf_counter() - started:.1f} s)")
    print(f"\nerrors are max |ONNX Runtime - PyTorch| / max(1, max |PyTorch|); models in {out}/")
    if worst > 1e-4:
        print(f"FAIL: worst relative error {worst:.2e} > 1e-4")
        return 1
    print("all recipes within 1e-4 of PyTorch, with normdeploy nodes and as standard ONNX")
    return validate_demo(out, root)


def validate_demo(out: Path, root: Path) -> int:
    """Part 3: normdeploy validate on every exported recipe (ORT + library vs the standard-op
    reference vs PyTorch; TensorRT when available), with the reports under out/validate/."""
    import importlib

    from .validate import validate

    print("\n[3/4] normdeploy validate on the exported recipes")
    status = 0
    for module_name, factory in RECIPES:
        module = importlib.import_module(f"export.{module_name}")
        model = getattr(module, factory)().eval()
        x = module.example_input()
        result = validate(out / f"{module_name}_{factory}.onnx", torch_model=model,
                          input_shapes={"input": tuple(x.shape)}, report_dir=out / "validate" / f"{module_name}_{factory}",
                          progress=False)
        verdict = "pass" if result.passed else "FAIL"
        label = f"{module_name}:{factory}"
        print(f"  {label:<26} {verdict}  report: {result.report_dir}/report.html")
        if not result.passed:
            print(result.summary())
            status = 1
    return max(status, bench_demo(out))


#: the recipe `make demo` benches (a short run: the full table is `make bench`)
BENCH_RECIPE = ("resnet_gn", "build")


def bench_demo(out: Path) -> int:
    """Part 4: normdeploy bench on one exported recipe (ORT + library vs plain ORT on the standard
    model vs PyTorch, interleaved; op-type time share), report under out/bench/."""
    import importlib

    import onnx

    from .bench import bench

    module_name, factory = BENCH_RECIPE
    print(f"\n[4/4] normdeploy bench on {module_name}:{factory} (a short run: 1 warm-up, 3 repeats; "
          f"`make bench` for all recipes)")
    module = importlib.import_module(f"export.{module_name}")
    model = getattr(module, factory)().eval()
    x = module.example_input()
    path = out / f"{module_name}_{factory}.onnx"
    (name,) = [i.name for i in onnx.load(path, load_external_data=False).graph.input]
    result = bench(path, torch_model=model, inputs={name: x.numpy()}, warmup=1, repeats=3,
                   report_path=out / "bench" / f"{module_name}_{factory}" / "bench.json", progress=False)
    print(result.summary())
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
