"""convert on a real ONNX Runtime-optimized diffusion UNet (diffusers UNet2DConditionModel, random
weights, optimized by onnxruntime.transformers; see tests/ort_optimized.py): every com.microsoft
GroupNorm/SkipGroupNorm/NhwcConv/BiasAdd/BiasSplitGelu/SkipLayerNormalization is rewritten,
nothing of com.microsoft is left, and the result runs on ONNX Runtime's CPU provider (with our
library for --to custom, plain for --to standard) with the PyTorch UNet's output."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from normdeploy import make_session
from normdeploy.convert import convert
from ort_optimized import make_ort_optimized_unet, unet_inputs, unet_reference

MS = "com.microsoft"
#: what onnxruntime 1.31's optimizer writes for this UNet (asserted, so a change is seen)
EXPECTED = {"GroupNorm": 6, "SkipGroupNorm": 15, "NhwcConv": 33, "BiasSplitGelu": 4, "BiasAdd": 4,
            "SkipLayerNormalization": 8}


@pytest.fixture(scope="module")
def optimized(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_ort_optimized_unet(tmp_path_factory.mktemp("unet"))


def contrib_ops(path: Path) -> Counter:
    return Counter(n.op_type for n in onnx.load(str(path)).graph.node if n.domain == MS)


def test_optimized_file_has_the_contrib_ops_and_plain_ort_cannot_run_it(optimized: Path) -> None:
    assert contrib_ops(optimized) == Counter(EXPECTED)
    with pytest.raises(Exception, match="NOT_IMPLEMENTED"):
        ort.InferenceSession(str(optimized), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("to", ["custom", "standard"])
def test_converted_unet_runs_on_cpu_with_pytorch_parity(optimized: Path, tmp_path: Path, to: str) -> None:
    out = tmp_path / f"unet_{to}.onnx"
    report = convert(optimized, out, to=to)
    for op, count in EXPECTED.items():
        assert report.counts[f"{MS}.{op}"] == count, report.summary()
    assert not report.skipped, report.summary()
    assert contrib_ops(out) == Counter()
    # no node of com.microsoft is left, so neither is its opset import
    assert MS not in {o.domain for o in onnx.load(str(out)).opset_import}
    ops = Counter(n.op_type for n in onnx.load(str(out)).graph.node)
    before = Counter(n.op_type for n in onnx.load(str(optimized)).graph.node)
    assert ops["LayerNormalization"] == before["LayerNormalization"] + EXPECTED["SkipLayerNormalization"]
    if to == "custom":
        assert ops["GroupNorm"] == 21
        session = make_session(out)
    else:
        assert {n.domain for n in onnx.load(str(out)).graph.node} == {""}  # TensorRT's parser knows them all
        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    # the optimizer's Transposes around the NHWC nodes cancel against ours: no more than it had
    assert ops["Transpose"] <= before["Transpose"]
    (y,) = session.run(None, unet_inputs())
    ref = unet_reference()
    err = float(np.abs(y.astype(np.float64) - ref).max())
    assert err <= 1e-4 * float(np.abs(ref).max()), err


@pytest.mark.parametrize("to", ["custom", "standard"])
def test_float16_file_converts_and_runs(tmp_path: Path, to: str) -> None:
    src = make_ort_optimized_unet(tmp_path, fp16=True)
    out = tmp_path / f"unet_fp16_{to}.onnx"
    report = convert(src, out, to=to)
    assert contrib_ops(out) == Counter() and not report.skipped, report.summary()
    nodes = onnx.load(str(out)).graph.node
    feeds = {k: (v.astype(np.float16) if v.dtype == np.float32 else v) for k, v in unet_inputs().items()}
    if to == "custom":
        assert sum(n.op_type == "GroupNorm" for n in nodes) == 21
        session = make_session(out)
    else:
        assert {n.domain for n in nodes} == {""}
        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (y,) = session.run(None, feeds)
    assert y.dtype == np.float16
    ref = unet_reference()
    err = float(np.abs(y.astype(np.float64) - ref).max())
    assert err <= 1e-2 * float(np.abs(ref).max()), err
