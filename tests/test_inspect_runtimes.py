"""inspect tells the truth about runtimes: ops of other domains are listed with counts, and
"ONNX Runtime can run it" is answered by the installed onnxruntime itself (kernel registry, then
an InferenceSession on the CPU), never by a table that goes stale."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from normdeploy.cli.main import main as cli
from normdeploy.convert import convert
from normdeploy.inspect import inspect_model
from ort_optimized import make_ort_optimized_unet

ORT = "onnxruntime"
LIB = "onnxruntime + normdeploy library"
TRT = "tensorrt + normdeploy plugins"


def plain_ort_loads(model: onnx.ModelProto | Path) -> bool:
    """The oracle: does a plain CPU session load it?"""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        source = str(model) if isinstance(model, Path) else model.SerializeToString()
        ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception:  # noqa: BLE001
        return False
    return True


def one_op(op: str, elem: int, domain: str = "", opset: int = 17, **attrs) -> onnx.ModelProto:
    node = helper.make_node(op, ["X"], ["Y"], domain=domain, **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", elem, [2, 8])],
                              [helper.make_tensor_value_info("Y", elem, [2, 8])])
    imports = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    model = helper.make_model(graph, opset_imports=imports)
    model.ir_version = 10
    return model


@pytest.fixture(scope="module")
def unet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_ort_optimized_unet(tmp_path_factory.mktemp("inspect_unet"))


def test_ort_optimized_unet_is_not_runnable_on_cpu_and_says_why(unet: Path) -> None:
    info = inspect_model(unet)
    assert dict(info.foreign_ops) == {
        "com.microsoft.GroupNorm": 6, "com.microsoft.SkipGroupNorm": 15, "com.microsoft.NhwcConv": 33,
        "com.microsoft.BiasSplitGelu": 4, "com.microsoft.BiasAdd": 4, "com.microsoft.SkipLayerNormalization": 8}
    assert not plain_ort_loads(unet)
    for key in (ORT, LIB):
        ok, why = info.runtimes[key]
        assert ok is False
        assert "no CPU kernel in onnxruntime" in why and "com.microsoft.GroupNorm x6" in why
        assert "com.microsoft.NhwcConv x33" in why and "SkipLayerNormalization" not in why  # that one has a kernel
        assert "`normdeploy convert` rewrites" in why
        assert info.checked_by[key] == "kernel registry"
    assert info.runtimes[TRT][0] is False and "SkipLayerNormalization x8" in info.runtimes[TRT][1]
    text = info.summary()
    assert "ops of other domains: com.microsoft.BiasAdd: 4" in text and "no  onnxruntime:" in text


@pytest.mark.parametrize("to", ["custom", "standard"])
def test_converted_unet_says_yes_and_the_runtime_agrees(unet: Path, tmp_path: Path, to: str) -> None:
    out = tmp_path / f"unet_{to}.onnx"
    convert(unet, out, to=to)
    info = inspect_model(out)
    assert not info.foreign_ops
    ok, why = info.runtimes[LIB]
    assert ok is True and info.checked_by[LIB] == "session", why
    assert info.runtimes[ORT][0] is (to == "standard") is plain_ort_loads(out)
    if to == "standard":
        assert info.checked_by[ORT] == "session" and "loads it on the CPU" in info.runtimes[ORT][1]
    assert info.runtimes[TRT][0] is True, info.runtimes[TRT]


def test_standard_ops_without_a_cpu_kernel_say_no() -> None:
    """Erf on float64 is standard ONNX, but onnxruntime has no CPU kernel for it: the old static
    "standard ops only" answer was wrong here."""
    model = one_op("Erf", TensorProto.DOUBLE)
    assert not plain_ort_loads(model)
    info = inspect_model(model)
    ok, why = info.runtimes[ORT]
    assert ok is False and info.checked_by[ORT] == "session"
    assert "NOT_IMPLEMENTED" in why and "Erf" in why
    assert info.runtimes[TRT][0] is True  # no foreign ops: TensorRT's answer is unchanged
    float32 = one_op("Erf", TensorProto.FLOAT)
    assert inspect_model(float32).runtimes[ORT][0] is True is plain_ort_loads(float32)


def test_contrib_op_with_a_cpu_kernel_says_yes_for_ort_and_no_for_tensorrt() -> None:
    model = one_op("FastGelu", TensorProto.FLOAT, domain="com.microsoft")
    info = inspect_model(model)
    assert dict(info.foreign_ops) == {"com.microsoft.FastGelu": 1}
    assert info.runtimes[ORT][0] is True is plain_ort_loads(model)
    assert info.runtimes[TRT] == (False, "TensorRT's ONNX parser does not know com.microsoft.FastGelu x1")


def test_unknown_domain_op_says_no() -> None:
    model = one_op("Frobnicate", TensorProto.FLOAT, domain="example.vendor")
    info = inspect_model(model)
    assert info.runtimes[ORT] == (False, f"no CPU kernel in onnxruntime {ort.__version__} for "
                                         "example.vendor.Frobnicate x1")
    assert info.to_json()["foreign_ops"] == {"example.vendor.Frobnicate": 1}


def test_large_models_are_not_loaded(tmp_path: Path) -> None:
    model = one_op("Erf", TensorProto.DOUBLE)
    info = inspect_model(model, max_load_bytes=0)
    ok, why = info.runtimes[ORT]
    # the kernel registry alone cannot see this one: the answer says it was not loaded
    assert ok is True and "not loaded" in why and info.checked_by[ORT] == "kernel registry"


def test_model_with_external_data_is_loaded_from_its_folder(tmp_path: Path) -> None:
    model = one_op("Add", TensorProto.FLOAT)
    model.graph.node[0].input.append("W")
    model.graph.initializer.append(numpy_helper.from_array(np.ones((2, 8), np.float32), "W"))
    path = tmp_path / "ext.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, location="ext.onnx.data", size_threshold=0)
    info = inspect_model(path)
    assert info.runtimes[ORT][0] is True and info.checked_by[ORT] == "session", info.runtimes[ORT]


def test_cli_json_keeps_old_fields_and_adds_new_ones(unet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["inspect", str(unet), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"source", "ir_version", "opsets", "custom_nodes", "standard_norm_ops", "runtimes", "foreign_ops"} <= set(data)
    assert data["runtimes"][ORT]["can_run"] is False and "why" in data["runtimes"][ORT]
    assert data["runtimes"][ORT]["checked_by"] == "kernel registry"
    assert data["foreign_ops"]["com.microsoft.SkipGroupNorm"] == 15


@pytest.mark.parametrize("value", ["lots", "-1"])
def test_cli_bad_max_load_mib(tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str) -> None:
    path = tmp_path / "m.onnx"
    onnx.save(one_op("Erf", TensorProto.FLOAT), str(path))
    with pytest.raises(SystemExit) as exc:
        cli(["inspect", str(path), "--max-load-mib", value])
    assert exc.value.code == 2
    assert "--max-load-mib" in capsys.readouterr().err
    assert cli(["inspect", str(path), "--max-load-mib", "0"]) == 0
    assert "not loaded" in capsys.readouterr().out
