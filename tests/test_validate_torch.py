"""normdeploy validate --torch: where the ONNX model leaves PyTorch (module path and class, its
nodes, through the torch exporter's metadata), whether ONNX Runtime's graph optimizer causes it,
--ort-opt-level, models with several inputs and dict outputs, files without metadata."""

from __future__ import annotations

import base64
import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest

import normdeploy
from normdeploy.cli.main import main
from normdeploy.graphs import single_op_model
from normdeploy.validate import ValidateError, validate
from normdeploy.validate.capture import capture
from normdeploy.validate.inputs import InputSpec
from normdeploy.validate.runners import call_arguments, name_outputs

from helpers import set_attr

MODULE = "nd_validate_torch_models"
MODELS = textwrap.dedent("""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.gn = nn.GroupNorm(4, 8)
            self.conv2 = nn.Conv2d(8, 6, 1)
            self.gn2 = nn.GroupNorm(3, 6)
            self.lrn = nn.LocalResponseNorm(3, alpha=0.5, k=1.0)

        def forward(self, x):
            y = F.silu(self.gn(self.conv(x)))
            return self.lrn(torch.relu(self.gn2(self.conv2(y))))

    def build():
        torch.manual_seed(0)
        return Net().eval()

    class Stem(nn.Module):  # timm ResNetV2's stem: ConstantPad2d(1, 0.) + MaxPool2d
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.norm = nn.GroupNorm(4, 8)
            self.pad = nn.ConstantPad2d(1, 0.0)
            self.pool = nn.MaxPool2d(3, 2)

        def forward(self, x):
            return self.pool(self.pad(self.norm(self.conv(x))))

    class PadPoolNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = Stem()
            self.head = nn.Conv2d(8, 4, 1)

        def forward(self, x):
            return self.head(self.stem(x))

    def build_pad_pool():
        torch.manual_seed(0)
        return PadPoolNet().eval()

    class Denoiser(nn.Module):  # three inputs (one int64 0-d) and a dict output
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(5, 8)
            self.conv = nn.Conv2d(4, 8, 3, padding=1)
            self.norm = nn.GroupNorm(2, 8)
            self.out = nn.Conv2d(8, 4, 1)

        def forward(self, sample, timestep, context):
            h = self.conv(sample) + timestep.float() * 0.01
            h = self.norm(h + self.proj(context).mean(1)[:, :, None, None])
            return {"noise": self.out(h), "features": h.mean(dim=(2, 3))}

    def build_denoiser():
        torch.manual_seed(0)
        return Denoiser().eval()

    class Pair(nn.Module):  # a submodule returning a tuple
        def forward(self, x):
            return x * 2.0, torch.relu(x)

    class TupleNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 6, 1)
            self.norm = nn.GroupNorm(3, 6)
            self.pair = Pair()

        def forward(self, x):
            doubled, rectified = self.pair(self.norm(self.conv(x)))
            return doubled.mean(dim=(2, 3)), rectified

    def build_tuple():
        torch.manual_seed(0)
        return TupleNet().eval()

    class Normalize(nn.Module):  # a wrapper calling F.group_norm; the SiLU after it is outside
        def __init__(self, channels):
            super().__init__()
            self.weight = nn.Parameter(torch.linspace(0.5, 1.5, channels))
            self.bias = nn.Parameter(torch.linspace(-0.5, 0.5, channels))

        def forward(self, x):
            return F.group_norm(x, 2, self.weight, self.bias)

    class WrappedNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.norm = Normalize(4)
            self.conv2 = nn.Conv2d(4, 4, 1)
            self.gn2 = nn.GroupNorm(2, 4)

        def forward(self, x):
            return self.gn2(self.conv2(F.silu(self.norm(self.conv(x)))))

    def build_wrapped():
        torch.manual_seed(0)
        return WrappedNet().eval()

    def build_gn_only():
        torch.manual_seed(0)
        return nn.GroupNorm(3, 6).eval()

    def build_gn_wrapped():
        torch.manual_seed(0)
        return nn.Sequential(nn.GroupNorm(3, 6)).eval()
""")


def _module():
    import importlib

    return importlib.import_module(MODULE)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    import torch

    folder = tmp_path_factory.mktemp("validate_torch")
    (folder / f"{MODULE}.py").write_text(MODELS)
    sys.path.insert(0, str(folder))
    models = _module()
    normdeploy.export(models.build(), (torch.randn(2, 3, 9, 11),), folder / "net.onnx")
    normdeploy.export(models.build_pad_pool(), (torch.randn(2, 3, 16, 16),), folder / "padpool.onnx")
    normdeploy.export(models.build_denoiser(), (torch.randn(2, 4, 6, 6), torch.tensor(7), torch.randn(2, 3, 5)),
                      folder / "denoiser.onnx")
    normdeploy.export(models.build_tuple(), (torch.randn(2, 3, 5, 5),), folder / "tuple.onnx")
    normdeploy.export(models.build_wrapped(), (torch.randn(2, 3, 6, 6),), folder / "wrapped.onnx")
    yield folder
    sys.path.remove(str(folder))
    sys.modules.pop(MODULE, None)


@pytest.fixture
def in_project(project, monkeypatch):
    monkeypatch.chdir(project)
    return project


def planted(project: Path, source: str, name: str, op_type: str, index: int, attr: str, value) -> tuple[Path, onnx.NodeProto]:
    """A copy of the exported file with one attribute of the index-th `op_type` node changed."""
    model = onnx.load(str(project / source))
    node = [n for n in model.graph.node if n.op_type == op_type][index]
    set_attr(node, attr, value)
    path = project / name
    onnx.save(model, str(path))
    return path, node


def validate_torch(path, factory: str, **kwargs):
    return validate(path, torch_model=f"{MODULE}:{factory}", report_dir=False, tensorrt=False, html=False, **kwargs)


# ------------------------------------------------------------------------------------------------
# faults planted in the file after export, localised against PyTorch


@pytest.mark.parametrize("op_type,index,attr,value,module", [
    ("GroupNorm", 1, "epsilon", 0.5, "gn2: GroupNorm"),
    ("GroupNorm", 1, "num_groups", 2, "gn2: GroupNorm"),
    ("GroupNorm", 0, "epsilon", 0.5, "gn: GroupNorm"),       # the node with the SiLU fused in
    ("GroupNorm", 0, "activation", "none", "gn: GroupNorm"),  # the fused SiLU dropped
    ("LocalResponseNorm", 0, "size", 5, "lrn: LocalResponseNorm"),
])
def test_fault_in_the_file_is_localised_to_its_module_and_node(in_project, op_type, index, attr, value, module):
    bad, node = planted(in_project, "net.onnx", f"net.{attr}{index}.onnx", op_type, index, attr, value)
    result = validate_torch(bad, "build")
    assert not result.passed and result.exit_code == 1
    comps = {c["runner"]: c["passed"] for c in result.report["comparisons"]}
    assert comps == {"onnxruntime+normdeploy": True, "pytorch-cpu": False}  # both ORT runners agree: the file is wrong
    tl = result.report["torch_localization"]
    assert tl["status"] == "diverged" and tl["method"] == "metadata", tl
    assert tl["module"] == module
    assert [n["name"] for n in tl["nodes"]] == [node.name]
    assert tl["nodes"][0]["op_type"] == op_type and tl["nodes"][0]["attributes"][attr] == value
    assert tl["optimizer"]["blamed"] is False
    assert "not the graph optimizer" in tl["optimizer"]["message"]
    first = tl["modules"][tl["first_row"]]
    assert first["passed"] is False and first["max_abs"] > 1e-3
    # every module call before it agrees with PyTorch
    before = [r for r in tl["modules"][:tl["first_row"]] if r["passed"] is not None]
    assert before and all(r["passed"] for r in before)
    assert f"first diverging module: {module}" in result.summary()


def test_wrapper_module_around_a_group_norm_with_the_silu_fused_in(in_project):
    """The SiLU after a wrapper module is fused into its GroupNorm node: the wrapper's output is
    compared both ways and agrees; the fault planted in the next GroupNorm is found."""
    model = onnx.load(str(in_project / "wrapped.onnx"))
    fused = [n for n in model.graph.node if n.op_type == "GroupNorm"][0]
    assert any(a.name == "activation" and a.s == b"silu" for a in fused.attribute)
    bad, node = planted(in_project, "wrapped.onnx", "wrapped.eps.onnx", "GroupNorm", 1, "epsilon", 0.5)
    tl = validate_torch(bad, "build_wrapped").report["torch_localization"]
    rows = {r["label"]: r for r in tl["modules"]}
    assert rows["norm: Normalize"]["passed"] is True and rows["norm: Normalize"]["tensor"] == fused.output[0]
    assert tl["module"] == "gn2: GroupNorm" and [n["name"] for n in tl["nodes"]] == [node.name]


def test_report_section_json_and_html_with_the_module_error_plot(in_project, capsys):
    bad, node = planted(in_project, "net.onnx", "net.eps_report.onnx", "GroupNorm", 1, "epsilon", 0.5)
    out = in_project / "report-eps"
    assert main(["validate", str(bad), "--torch", f"{MODULE}:build", "--no-tensorrt", "--no-progress",
                 "--report-dir", str(out)]) == 1
    text = capsys.readouterr().out
    assert "where it diverges (against pytorch-cpu" in text
    assert f"node '{node.name}' (normdeploy.GroupNorm" in text
    assert "> gn2: GroupNorm" in text  # the table marks the first diverging row
    report = json.loads((out / "report.json").read_text())
    tl = report["torch_localization"]
    assert report["ort_opt_level"] == {"setting": "all", "level": "ORT_ENABLE_ALL"}
    assert tl["modules"][tl["first_row"]]["label"] == "gn2: GroupNorm"
    assert [r["label"] for r in tl["modules"][:2]] == ["conv: Conv2d", "gn: GroupNorm"]  # execution order
    assert tl["hook_bytes"] > 0 and tl["seconds"] > 0
    html = (out / "report.html").read_text()
    assert "Where it diverges (against PyTorch)" in html
    png = html.split('alt="per-module error" src="data:image/png;base64,')[1].split('"')[0]
    assert base64.b64decode(png)[:8] == b"\x89PNG\r\n\x1a\n"
    assert 'style="background:#fde2e1"><td>' + str(tl["first_row"]) + "</td>" in html


# ------------------------------------------------------------------------------------------------
# ONNX Runtime's graph optimizer: Pad(0) folded into MaxPool, which pads with -inf


def test_pad_maxpool_fold_is_attributed_to_the_optimizer(in_project):
    model = onnx.load(str(in_project / "padpool.onnx"))
    pool = next(n for n in model.graph.node if n.op_type == "MaxPool")
    pad = next(n for n in model.graph.node if n.op_type == "Pad")
    result = validate_torch("padpool.onnx", "build_pad_pool", val_range=(-2.0, -1.0))
    assert not result.passed and result.exit_code == 1  # the deployed configuration is wrong
    tl = result.report["torch_localization"]
    opt = tl["optimizer"]
    assert opt["blamed"] is True and opt["differs_from"] == "ORT_ENABLE_BASIC"
    assert opt["message"] == ("ONNX Runtime's graph optimizer changes this result: agrees with PyTorch at "
                              "ORT_DISABLE_ALL, differs from ORT_ENABLE_BASIC")
    assert opt["levels"]["ORT_DISABLE_ALL"]["passed"] is True
    assert opt["levels"]["ORT_ENABLE_ALL"]["passed"] is False and opt["levels"]["ORT_ENABLE_ALL"]["max_abs"] > 0.1
    assert tl["module"] == "stem.pool: MaxPool2d"
    assert [n["name"] for n in tl["nodes"]] == [pool.name]
    changed = {c["name"]: c for c in opt["optimized_nodes"]}
    assert pool.name in changed
    assert changed[pool.name]["attributes"]["pads"] == [1, 1, 1, 1]
    assert changed[pool.name]["inputs"][0] == pad.input[0]  # it reads what the Pad read
    assert f"'{pad.name}' (Pad)" in changed[pool.name]["replaces"]
    assert f"'{pad.name}' (Pad)" in opt["nodes_removed"]
    assert "ONNX Runtime's graph optimizer changes this result" in result.summary()
    quiet = validate_torch("padpool.onnx", "build_pad_pool", val_range=(-2.0, -1.0), localize=False)
    assert not quiet.passed and quiet.report["torch_localization"] is None and quiet.torch_localization is None


def test_ort_opt_level_disable_passes_and_basic_fails(in_project, capsys):
    args = ["validate", "padpool.onnx", "--torch", f"{MODULE}:build_pad_pool", "--val-range=-2,-1", "--no-tensorrt",
            "--no-progress", "--no-html"]
    assert main(args + ["--ort-opt-level", "disable", "--report-dir", "r-disable"]) == 0
    report = json.loads((in_project / "r-disable" / "report.json").read_text())
    assert report["ort_opt_level"]["level"] == "ORT_DISABLE_ALL" and report["torch_localization"] is None
    assert "graph optimization ORT_DISABLE_ALL" in report["runners"][0]["description"]
    assert main(args + ["--ort-opt-level", "basic", "--report-dir", "r-basic"]) == 1
    assert "differs from ORT_ENABLE_BASIC" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------
# several inputs (one int64 0-d), dict outputs


def test_three_inputs_with_an_int64_scalar_and_a_dict_output(in_project):
    model = onnx.load(str(in_project / "denoiser.onnx"))
    names = [i.name for i in model.graph.input]
    assert len(names) == 3 and model.graph.input[1].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert len(model.graph.input[1].type.tensor_type.shape.dim) == 0
    result = validate_torch("denoiser.onnx", "build_denoiser", val_range=["0,1", f"{names[1]}:0,50"])
    assert result.passed, result.summary()
    comp = next(c for c in result.report["comparisons"] if c["runner"] == "pytorch-cpu")
    assert len(comp["outputs"]) == 2 and all(o["passed"] for o in comp["outputs"].values())

    bad, node = planted(in_project, "denoiser.onnx", "denoiser.eps.onnx", "GroupNorm", 0, "epsilon", 0.5)
    broken = validate_torch(bad, "build_denoiser")
    tl = broken.report["torch_localization"]
    assert tl["module"] == "norm: GroupNorm" and [n["name"] for n in tl["nodes"]] == [node.name]
    inputs = tl["inputs"]
    assert inputs and all(c["passed"] for c in inputs)


def test_submodule_returning_a_tuple_and_a_tuple_output(in_project):
    model = onnx.load(str(in_project / "tuple.onnx"))
    assert len(model.graph.output) == 2
    relu = next(n for n in model.graph.node if n.op_type == "Relu")
    relu.op_type = "Abs"  # the tuple's second element goes wrong, its first stays right
    onnx.save(model, str(in_project / "tuple.abs.onnx"))
    result = validate_torch("tuple.abs.onnx", "build_tuple", val_range=(-1.0, 1.0))
    comp = next(c for c in result.report["comparisons"] if c["runner"] == "pytorch-cpu")
    assert [o["passed"] for o in comp["outputs"].values()] == [True, False]
    tl = result.report["torch_localization"]
    assert tl["module"] == "pair: Pair" and [n["name"] for n in tl["nodes"]][-1] == relu.name
    assert "Abs" in [n["op_type"] for n in tl["nodes"]]
    assert tl["tensor"]["tensor"] == relu.output[0]
    assert tl["inputs"] and all(c["passed"] for c in tl["inputs"])


def test_fault_in_the_top_level_forward_names_its_node(in_project):
    model = onnx.load(str(in_project / "tuple.onnx"))
    mean = next(n for n in model.graph.node if n.op_type == "ReduceMean")
    mean.op_type = "ReduceMax"  # doubled.mean(...) in TupleNet.forward, outside any submodule
    onnx.save(model, str(in_project / "tuple.max.onnx"))
    result = validate_torch("tuple.max.onnx", "build_tuple")
    tl = result.report["torch_localization"]
    assert tl["status"] == "diverged" and tl["module"] == "(the top-level forward)"
    assert f"node '{mean.name}' (ai.onnx.ReduceMax" in result.summary()
    assert [n["name"] for n in tl["nodes"]] == [mean.name] and tl["nodes"][0]["op_type"] == "ReduceMax"
    assert all(r["passed"] for r in tl["modules"] if r["passed"] is not None)


def test_pytorch_call_by_name_and_dict_outputs_by_key():
    import torch

    class ThreeInputs(torch.nn.Module):
        def forward(self, sample, timestep, context):
            return {"b": sample * timestep, "a": context + 1}

    specs = [InputSpec("context", np.dtype(np.float32), (2,)), InputSpec("timestep", np.dtype(np.int64), ()),
             InputSpec("sample", np.dtype(np.float32), (3,))]  # not forward's order
    feed = {"context": np.array([1.0, 2.0], np.float32), "timestep": np.array(3, np.int64),
            "sample": np.array([1.0, 2.0, 3.0], np.float32)}
    args, kwargs, how = call_arguments(ThreeInputs(), specs, feed)
    assert how == "by name" and not args and list(kwargs) == ["sample", "timestep", "context"]
    result = ThreeInputs()(*args, **kwargs)
    named = name_outputs(result, ["a", "b"])  # the ONNX order differs from the dict's
    assert list(named) == ["a", "b"]
    np.testing.assert_array_equal(named["a"], [2.0, 3.0])
    np.testing.assert_array_equal(named["b"], [3.0, 6.0, 9.0])
    positional = name_outputs(result, ["out0", "out1"])  # other names: flattened order
    np.testing.assert_array_equal(positional["out0"], [3.0, 6.0, 9.0])
    with pytest.raises(ValidateError, match=r"returned 2 tensor\(s\), but the ONNX model has 1 output"):
        name_outputs(result, ["a"])
    unnamed = [InputSpec("input_0", np.dtype(np.float32), (3,)), InputSpec("input_1", np.dtype(np.int64), ()),
               InputSpec("input_2", np.dtype(np.float32), (2,))]
    args, kwargs, how = call_arguments(ThreeInputs(), unnamed, {"input_0": feed["sample"], "input_1": feed["timestep"],
                                                                "input_2": feed["context"]})
    assert how == "in the ONNX input order" and len(args) == 3 and not kwargs


def test_hooks_copy_inputs_before_an_in_place_module_changes_them():
    import torch

    model = torch.nn.Sequential(torch.nn.Identity(), torch.nn.ReLU(inplace=True)).eval()
    x = torch.tensor([-1.0, 2.0])
    _, cap = capture(model, [x.clone()], {})
    calls = {c.path: c for c in cap.calls}
    np.testing.assert_array_equal(calls["1"].inputs[0], [-1.0, 2.0])
    np.testing.assert_array_equal(calls["1"].outputs[0], [0.0, 2.0])
    assert [c.path for c in cap.calls] == ["0", "1"]
    assert cap.bytes == 16  # the identity's output is its input (copied once), plus the ReLU's input and output


# ------------------------------------------------------------------------------------------------
# files without the torch exporter's metadata


def _torchscript_net(project: Path) -> Path:
    import io
    import logging
    import warnings

    import torch

    buffer = io.BytesIO()
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(_module().build(), (torch.randn(2, 3, 9, 11),), buffer, dynamo=False, opset_version=18,
                              input_names=["x"])
    finally:
        logging.disable(logging.NOTSET)
    path = project / "net.torchscript.onnx"
    path.write_bytes(buffer.getvalue())
    return path


def test_torchscript_export_without_metadata_is_matched_approximately(in_project):
    path = _torchscript_net(in_project)
    model = onnx.load(str(path))
    assert not any(p.key == "pkg.torch.onnx.name_scopes" for n in model.graph.node for p in n.metadata_props)
    conv = [n for n in model.graph.node if n.op_type == "Conv"][1]  # conv2: scale its weight
    weight = next(i for i in model.graph.initializer if i.name == conv.input[1])
    value = onnx.numpy_helper.to_array(weight) * 1.5
    weight.CopyFrom(onnx.numpy_helper.from_array(value, weight.name))
    onnx.save(model, str(path))
    result = validate_torch(path, "build")
    assert not result.passed
    tl = result.report["torch_localization"]
    assert tl["method"] == "approximate" and tl["status"] == "diverged"
    assert tl["module"] == "conv2: Conv2d" and tl["nodes"][0]["name"] == conv.name
    assert all(r["passed"] for r in tl["modules"][:tl["first_row"]])
    assert "APPROXIMATE" in result.summary()


def test_hand_built_file_without_metadata(in_project):
    model = single_op_model("GroupNorm", [2, 6, 5, 7], "float32", {"num_groups": 3, "epsilon": 0.5})
    model.graph.node[0].input.extend(["scale", "bias"])
    model.graph.initializer.extend([onnx.numpy_helper.from_array(np.ones(6, np.float32), "scale"),
                                    onnx.numpy_helper.from_array(np.zeros(6, np.float32), "bias")])
    wrapped = validate_torch(model, "build_gn_wrapped")
    tl = wrapped.report["torch_localization"]
    assert tl["method"] == "approximate" and tl["module"] == "0: GroupNorm"
    bare = validate_torch(model, "build_gn_only")  # the module has no submodule to set against a tensor
    tl = bare.report["torch_localization"]
    assert not bare.passed and tl["status"] == "impossible"
    assert tl["reason"].startswith("localisation against PyTorch is not possible for this file: no node carries "
                                   "the torch exporter's metadata")
    assert "has no submodules" in tl["reason"]


# ------------------------------------------------------------------------------------------------
# bad arguments


def test_bad_ort_opt_level_is_a_usage_error(in_project, capsys):
    assert main(["validate", "net.onnx", "--ort-opt-level", "fast", "--no-progress", "--report-dir", "unused"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("normdeploy validate: error: ort_opt_level 'fast': expected one of disable, basic, "
                          "extended, all")
    assert not (in_project / "unused").exists()
    with pytest.raises(ValidateError, match="ort_opt_level 3"):
        validate("net.onnx", ort_opt_level=3, report_dir=False)


def test_outputs_named_as_export_names_them(tmp_path):
    """A tuple with a None entry, a nested dict and a key that clashes with an input name: the
    PyTorch runner maps them to the names normdeploy.export gives (None dropped, keys joined with
    '_', 'out_' in front of a clashing key), whatever order the ONNX outputs are in."""
    import torch

    import normdeploy

    class Outputs(torch.nn.Module):
        def forward(self, sample):
            return {"sample": sample * 2, "extra": {"first": sample + 1, "skipped": None}}, None, sample - 1

    x = torch.randn(2, 3)
    path = tmp_path / "outputs.onnx"
    normdeploy.export(Outputs(), (x,), path)
    import onnx

    names = [o.name for o in onnx.load(str(path)).graph.output]
    # export's documented naming: 'output_' + the key path from a tuple position, None dropped
    expected = {"output_0_sample": x * 2, "output_0_extra_first": x + 1, "output_2": x - 1}
    assert sorted(names) == sorted(expected)
    named = name_outputs(Outputs()(x), list(reversed(names)))
    assert list(named) == list(reversed(names))
    for name, value in named.items():
        np.testing.assert_array_equal(value, expected[name].numpy())

    class Clash(torch.nn.Module):  # a key equal to an input name: export writes 'out_sample'
        def forward(self, sample):
            return {"other": sample + 1, "sample": sample * 3}

    clash = tmp_path / "clash.onnx"
    normdeploy.export(Clash(), (x,), clash)
    names = [o.name for o in onnx.load(str(clash)).graph.output]
    assert sorted(names) == ["other", "out_sample"]
    named = name_outputs(Clash()(x), ["out_sample", "other"])
    np.testing.assert_array_equal(named["out_sample"], (x * 3).numpy())
    np.testing.assert_array_equal(named["other"], (x + 1).numpy())


def test_a_factory_with_random_weights_is_named(in_project):
    """A factory that initialises randomly (no seed, no checkpoint) cannot match the file exported
    from another call: the PyTorch runner carries a warning that says so; a seeded one does not."""
    (in_project / "unseeded_models.py").write_text(textwrap.dedent('''
        import torch

        def build():
            return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.GroupNorm(2, 4))

        def build_seeded():
            torch.manual_seed(3)
            return build()
    '''))
    import importlib

    import torch

    models = importlib.import_module("unseeded_models")
    normdeploy.export(models.build_seeded(), (torch.randn(2, 3, 6, 6),), in_project / "seeded.onnx")
    runners = {}
    for factory in ("build", "build_seeded"):
        result = validate(in_project / "seeded.onnx", torch_model=f"unseeded_models:{factory}", report_dir=False,
                          tensorrt=False, html=False)
        runners[factory] = next(r for r in result.report["runners"] if r["runner"] == "pytorch-cpu")
        assert result.passed == (factory == "build_seeded"), result.summary()
    assert "gave different weights (first: '0.weight')" in runners["build"]["warning"]
    assert "warning" not in runners["build_seeded"]
    sys.modules.pop("unseeded_models", None)
