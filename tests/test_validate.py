"""normdeploy validate: polygraphy Comparator over ORT+normdeploy, ORT standard, PyTorch and
TensorRT; tolerances, localisation, reports, CLI exit codes and error messages."""

from __future__ import annotations

import base64
import io
import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import normdeploy
from normdeploy.cli.main import main
from normdeploy.conversion import convert
from normdeploy.graphs import single_op_model
from normdeploy.validate import DEFAULT_TOLERANCES, ValidateError, validate
from normdeploy.validate import trt as trt_probe
from normdeploy.validate.progress import Progress

from helpers import set_attr

MODULE = "nd_validate_models"
FACTORY = textwrap.dedent("""
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.gn = torch.nn.GroupNorm(4, 8)
            self.conv2 = torch.nn.Conv2d(8, 6, 1)
            self.gn2 = torch.nn.GroupNorm(3, 6)
            self.lrn = torch.nn.LocalResponseNorm(4)

        def forward(self, x):
            y = torch.nn.functional.silu(self.gn(self.conv(x)))
            return self.lrn(torch.relu(self.gn2(self.conv2(y))))

    def build():
        torch.manual_seed(0)
        return Net().eval()

    class Bf16Norm(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gn = torch.nn.GroupNorm(3, 6)
            with torch.no_grad():
                self.gn.weight.copy_(torch.linspace(0.5, 1.5, 6))
                self.gn.bias.copy_(torch.linspace(-1.0, 1.0, 6))

        def forward(self, x):
            return self.gn(x)

    def build_bf16():
        return Bf16Norm().to(torch.bfloat16).eval()
""")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A folder with the model module, the exported custom model and its standard conversion."""
    import torch

    folder = tmp_path_factory.mktemp("validate")
    (folder / f"{MODULE}.py").write_text(FACTORY)
    sys.path.insert(0, str(folder))
    try:
        import importlib

        net = importlib.import_module(MODULE).build()
    finally:
        sys.path.remove(str(folder))
    custom = folder / "net.onnx"
    normdeploy.export(net, (torch.randn(2, 3, 9, 11),), custom, input_names=["input"],
                      dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"}})
    convert(custom, folder / "net.std.onnx", to="standard")
    return folder


@pytest.fixture
def in_project(project, monkeypatch):
    monkeypatch.chdir(project)
    return project


def cli(*args: str) -> int:
    return main(["validate", *args, "--no-progress"])


def output_name(project: Path) -> str:
    return onnx.load(str(project / "net.onnx")).graph.output[0].name


def read_report(folder: Path) -> dict:
    return json.loads((folder / "report.json").read_text())


def gn_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    return [n for n in model.graph.node if n.op_type == "GroupNorm"]


def broken_copy(project: Path, name: str, edit) -> Path:
    """A copy of the custom model with `edit(model)` applied (the reference stays correct)."""
    model = onnx.load(str(project / "net.onnx"))
    edit(model)
    path = project / name
    onnx.save(model, str(path))
    return path


# ------------------------------------------------------------------------------------------------
# passing models


def test_passing_model_with_pytorch_writes_json_html_and_summary(in_project, capsys):
    out = in_project / "report-pass"
    assert cli("net.onnx", "--torch", f"{MODULE}:build", "--iterations", "2", "--seed", "3",
               "--report-dir", str(out)) == 0
    text = capsys.readouterr().out
    assert "net.onnx: PASSED (exit code 0)" in text and "pytorch-cpu" in text

    report = read_report(out)
    assert report["passed"] is True and report["exit_code"] == 0
    runners = {r["runner"]: r for r in report["runners"]}
    assert list(runners) == ["onnxruntime+normdeploy", "onnxruntime-standard", "pytorch-cpu", "tensorrt"]
    assert all(runners[name]["ran"] for name in ("onnxruntime+normdeploy", "onnxruntime-standard", "pytorch-cpu"))
    assert report["model"]["custom_nodes"] == {"GroupNorm": 1, "GroupNorm(silu)": 1, "LocalResponseNorm": 1}
    assert {k for k, v in report["versions"].items() if v} >= {"normdeploy", "onnxruntime", "onnx", "polygraphy", "torch", "numpy"}
    assert report["inputs"]["seed"] == 3 and report["inputs"]["iterations"] == 2

    out_name = output_name(in_project)
    comparisons = {(c["runner"], c["reference"]): c for c in report["comparisons"]}
    assert set(comparisons) == {("onnxruntime+normdeploy", "onnxruntime-standard"), ("pytorch-cpu", "onnxruntime-standard")}
    for comp in comparisons.values():
        out_stats = comp["outputs"][out_name]
        assert comp["passed"] and out_stats["passed"]
        assert len(out_stats["iterations"]) == 2
        for key in ("max_abs", "mean_abs", "median_abs", "max_rel", "mean_rel", "median_rel"):
            assert isinstance(out_stats[key], float)
        assert 0 <= out_stats["mean_abs"] <= out_stats["max_abs"] < 1e-4
        assert out_stats["max_abs"] == max(it["max_abs"] for it in out_stats["iterations"])
    assert report["tolerances"]["outputs"][out_name] == {"atol": 1e-4, "rtol": 1e-4, "source": "default for float32"}
    assert report["localization"] is None

    html = (out / "report.html").read_text()
    images = html.count('<img alt="')
    assert images == 2  # one figure (histogram + scatter) per compared output
    first = html.split('src="data:image/png;base64,')[1].split('"')[0]
    assert base64.b64decode(first)[:8] == b"\x89PNG\r\n\x1a\n"


def test_standard_model_is_converted_to_custom(in_project):
    result = validate("net.std.onnx", report_dir=False, tensorrt=False)
    assert result.passed and result.report_dir is None
    model = result.report["model"]
    assert model["custom_side"] == "convert --to custom of the model"
    assert model["reference_side"] == "the model as given"
    # convert --to custom finds every node again, the GroupNorms included
    assert model["custom_nodes"].get("LocalResponseNorm") == 1
    assert sum(v for k, v in model["custom_nodes"].items() if k.startswith("GroupNorm")) >= 1, model["custom_nodes"]
    assert any(note.startswith("converted to custom:") for note in model["notes"])


def test_python_api_default_report_dir_and_summary(in_project):
    result = validate(in_project / "net.onnx", iterations=1, html=False)
    assert result.passed and result.exit_code == 0
    assert result.report_dir == Path("validate-report") / "net"
    assert (in_project / "validate-report" / "net" / "report.json").is_file()
    assert not (in_project / "validate-report" / "net" / "report.html").exists()
    summary = result.summary()
    assert summary.splitlines()[0].endswith("PASSED (exit code 0)")
    assert len(summary.splitlines()) < 30  # one screen


# ------------------------------------------------------------------------------------------------
# failing models: the mismatch is found and localised


def _perturb_gn2_scale(model: onnx.ModelProto) -> None:
    for init in model.graph.initializer:
        if init.name == gn_nodes(model)[1].input[1]:
            value = numpy_helper.to_array(init).copy()
            value[1] *= 1.5
            init.CopyFrom(numpy_helper.from_array(value, init.name))
            return
    raise AssertionError("no scale initializer")


def test_perturbed_scale_fails_with_exit_1_and_is_localised(in_project, capsys):
    bad = broken_copy(in_project, "net.badscale.onnx", _perturb_gn2_scale)
    target = gn_nodes(onnx.load(str(bad)))[1]
    out = in_project / "report-bad"
    assert cli(str(bad), "--reference", "net.std.onnx", "--torch", f"{MODULE}:build", "--report-dir", str(out)) == 1
    text = capsys.readouterr().out
    assert "FAILED (exit code 1)" in text
    assert f"first divergence: node '{target.name}' (normdeploy.GroupNorm" in text

    report = read_report(out)
    assert report["passed"] is False and report["exit_code"] == 1
    comps = {c["runner"]: c for c in report["comparisons"]}
    assert comps["onnxruntime+normdeploy"]["passed"] is False
    assert comps["pytorch-cpu"]["passed"] is True  # PyTorch has the right weights
    loc = report["localization"]
    assert loc["status"] == "diverged"
    assert loc["node"]["name"] == target.name and loc["node"]["op_type"] == "GroupNorm"
    assert loc["tensor"]["tensor"] == target.output[0]
    assert loc["tensor"]["max_abs"] > 0.1 and loc["tensor"]["passed"] is False
    assert [c["tensor"] for c in loc["node_inputs"]] == [target.input[0]]
    assert all(c["passed"] for c in loc["node_inputs"])
    # everything before the node agrees
    before = [c for c in loc["checks"] if c["tensor"] != target.output[0]][:2]
    assert before and all(c["passed"] for c in before)
    assert "Localisation" in (out / "report.html").read_text()


@pytest.mark.parametrize("which,attr,value", [
    (0, "epsilon", 0.5),
    (1, "num_groups", 2),
    (0, "activation", "none"),
])
def test_wrong_attribute_is_localised_to_that_node(in_project, which, attr, value):
    def edit(model):
        set_attr(gn_nodes(model)[which], attr, value)

    bad = broken_copy(in_project, f"net.bad_{attr}.onnx", edit)
    target = gn_nodes(onnx.load(str(bad)))[which]
    result = validate(bad, reference=in_project / "net.std.onnx", report_dir=False, tensorrt=False)
    assert not result.passed and result.exit_code == 1
    loc = result.report["localization"]
    assert loc["node"]["name"] == target.name, loc
    assert loc["tensor"]["tensor"] == target.output[0]
    assert loc["node"]["attributes"][attr] == value


def test_wrong_lrn_size_is_localised(in_project):
    def edit(model):
        set_attr(next(n for n in model.graph.node if n.op_type == "LocalResponseNorm"), "size", 6)

    bad = broken_copy(in_project, "net.bad_lrn.onnx", edit)
    result = validate(bad, reference=in_project / "net.std.onnx", report_dir=False, tensorrt=False, iterations=2)
    assert not result.passed
    assert result.report["localization"]["node"]["op_type"] == "LocalResponseNorm"
    assert result.report["comparisons"][0]["first_failed_iteration"] == 0


def test_no_localize_and_per_output_tolerance(in_project):
    bad = broken_copy(in_project, "net.badscale2.onnx", _perturb_gn2_scale)
    result = validate(bad, reference=in_project / "net.std.onnx", report_dir=False, tensorrt=False, localize=False)
    assert not result.passed and result.report["localization"] is None
    out_name = output_name(in_project)
    worst = result.report["comparisons"][0]["outputs"][out_name]["max_abs"]
    # a per-output tolerance above the error makes the same model pass (exit 0)
    out = in_project / "report-loose"
    assert cli(str(bad), "--reference", "net.std.onnx", "--atol", f"{out_name}:{2 * worst}",
               "--rtol", "1e-6", "--report-dir", str(out), "--no-html") == 0
    tol = read_report(out)["tolerances"]["outputs"][out_name]
    assert tol["atol"] == pytest.approx(2 * worst) and tol["rtol"] == 1e-6
    assert tol["source"] == "atol per output, rtol global"


def test_custom_model_that_cannot_load_is_a_failure_not_a_usage_error(in_project, capsys):
    def edit(model):
        set_attr(gn_nodes(model)[1], "num_groups", 4)  # does not divide C=6

    bad = broken_copy(in_project, "net.bad_groups.onnx", edit)
    out = in_project / "report-err"
    assert cli(str(bad), "--reference", "net.std.onnx", "--report-dir", str(out), "--no-html") == 1
    runner = read_report(out)["runners"][0]
    assert runner["runner"] == "onnxruntime+normdeploy" and runner["ran"] is False
    assert "num_groups" in runner["error"]
    assert "ERROR" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------
# inputs: dynamic shapes, user data


def test_dynamic_shapes_defaults_and_overrides(in_project):
    default = validate("net.onnx", report_dir=False, tensorrt=False, html=False)
    assert default.report["inputs"]["shapes"] == {"input": [2, 3, 32, 48]}
    assert "batch=2, height=32, width=48" in default.report["inputs"]["notes"][0]

    out = in_project / "report-shape"
    assert cli("net.onnx", "--input-shape", "input:3x3x10x7", "--torch", f"{MODULE}:build", "--iterations", "3",
               "--report-dir", str(out), "--no-html") == 0
    report = read_report(out)
    assert report["inputs"]["shapes"] == {"input": [3, 3, 10, 7]} and report["inputs"]["notes"] == []
    assert all(len(o["iterations"]) == 3 for c in report["comparisons"] for o in c["outputs"].values())
    # a one-input model takes an unnamed shape too; the Python API also takes a mapping
    unnamed = validate("net.onnx", input_shapes=["1x3x5x6"], report_dir=False, tensorrt=False, val_range=["input:-1,1"])
    assert unnamed.report["inputs"]["shapes"] == {"input": [1, 3, 5, 6]}
    assert unnamed.report["inputs"]["val_range"] == {"input": [-1.0, 1.0]}
    mapped = validate("net.onnx", input_shapes={"input": (1, 3, 4, 9)}, report_dir=False, tensorrt=False)
    assert mapped.report["inputs"]["shapes"] == {"input": [1, 3, 4, 9]}
    with pytest.raises(ValidateError, match=r"input_shapes\['image'\]: the model has no input 'image'"):
        validate("net.onnx", input_shapes={"image": (1, 3, 4, 9)}, report_dir=False)


def test_value_ranges_forms_shared_by_validate_and_bench():
    """One (low, high) for all inputs whichever way it is given; per-input ranges keep '' for the others."""
    from normdeploy.validate.inputs import range_json, value_ranges

    assert value_ranges((0, 2)) == value_ranges(["0,2"]) == (0.0, 2.0)
    assert value_ranges([]) == (0.0, 1.0)
    both = value_ranges(["-3,-2", "input:-1,1"])
    assert both == {"": (-3.0, -2.0), "input": (-1.0, 1.0)}
    assert range_json(both) == {"*": [-3.0, -2.0], "input": [-1.0, 1.0]}
    assert range_json(value_ranges({"input": (4, 5)})) == {"input": [4.0, 5.0]}
    with pytest.raises(ValidateError, match=r"val_range \[1\]: expected \(low, high\)"):
        value_ranges([1])
    with pytest.raises(ValidateError, match="need finite low <= high"):
        value_ranges({"input": (0, float("inf"))})


def test_load_inputs_npz_and_polygraphy_json(in_project):
    from polygraphy.json import save_json

    rng = np.random.default_rng(0)
    np.savez(in_project / "one.npz", input=rng.standard_normal((1, 3, 6, 5)))  # float64: cast, with a note
    save_json([{"input": rng.standard_normal((2, 3, 4, 9)).astype(np.float32)},
               {"input": rng.standard_normal((1, 3, 7, 7)).astype(np.float32)}], str(in_project / "two.json"))
    result = validate("net.onnx", inputs=["one.npz", "two.json"], report_dir=False, tensorrt=False)
    assert result.passed
    info = result.report["inputs"]
    assert info["source"] == "files" and info["iterations"] == 3 and info["shapes"] == {"input": [1, 3, 6, 5]}
    assert any("cast from float64 to float32" in n for n in info["notes"])


def test_bfloat16_model_uses_pytorch_as_reference(in_project):
    """ORT's CPU standard ops lack bfloat16: the PyTorch model becomes the reference."""
    import ml_dtypes

    model = single_op_model("GroupNorm", ["N", 6, 5, 7], "bfloat16", {"num_groups": 3})
    model.graph.node[0].input.extend(["scale", "bias"])
    model.graph.initializer.extend([
        numpy_helper.from_array(np.linspace(0.5, 1.5, 6).astype(ml_dtypes.bfloat16), "scale"),
        numpy_helper.from_array(np.linspace(-1, 1, 6).astype(ml_dtypes.bfloat16), "bias")])
    result = validate(model, torch_model=f"{MODULE}:build_bf16", report_dir=False, tensorrt=False, val_range=(-2, 2))
    assert result.passed
    runners = {r["runner"]: r for r in result.report["runners"]}
    assert runners["pytorch-cpu"]["role"] == "reference"
    assert "bfloat16" in runners["onnxruntime-standard"]["skipped"]
    comp = result.report["comparisons"][0]
    assert (comp["runner"], comp["reference"]) == ("onnxruntime+normdeploy", "pytorch-cpu")
    assert comp["outputs"]["Y"]["atol"] == DEFAULT_TOLERANCES["bfloat16"][0]
    with pytest.raises(ValidateError, match="bfloat16"):  # without PyTorch there is no reference
        validate(model, report_dir=False, tensorrt=False)


# ------------------------------------------------------------------------------------------------
# TensorRT: skipped with the reason


def test_tensorrt_skip_reasons(in_project, monkeypatch):
    def trt_entry():
        result = validate("net.onnx", report_dir=False, html=False)
        assert result.passed  # a skipped runner does not fail the validation
        return next(r for r in result.report["runners"] if r["runner"] == "tensorrt")

    import importlib.util

    if importlib.util.find_spec("tensorrt") is None:
        entry = trt_entry()
        assert entry["ran"] is False
        assert entry["skipped"] == ("tensorrt is not installed (import tensorrt failed: ModuleNotFoundError: "
                                    "No module named 'tensorrt')")

    class FakeTrt:
        __version__ = "11.0"

    monkeypatch.setattr(trt_probe, "_import_tensorrt", lambda: FakeTrt)
    monkeypatch.setattr(trt_probe, "_cuda_gpu", lambda: (False, "no CUDA driver (libcuda.so.1 cannot be loaded: test)"))
    assert trt_entry()["skipped"] == "no GPU: no CUDA driver (libcuda.so.1 cannot be loaded: test)"

    monkeypatch.setattr(trt_probe, "_cuda_gpu", lambda: (True, "1 CUDA device(s)"))
    monkeypatch.delattr(normdeploy, "tensorrt_library_path", raising=False)
    assert trt_entry()["skipped"].startswith("normdeploy's TensorRT plugin library is not built")

    def missing():
        raise normdeploy.LibraryNotFoundError("libnormdeploy_trt.so is not at /x")

    monkeypatch.setattr(normdeploy, "tensorrt_library_path", missing, raising=False)
    assert trt_entry()["skipped"] == "normdeploy's TensorRT plugin library is not built: libnormdeploy_trt.so is not at /x"

    disabled = validate("net.onnx", report_dir=False, tensorrt=False)
    assert next(r for r in disabled.report["runners"] if r["runner"] == "tensorrt")["skipped"] == "disabled (--no-tensorrt)"


# ------------------------------------------------------------------------------------------------
# bad arguments: exit code 2 and a clear message


@pytest.mark.parametrize("args,message", [
    (["missing.onnx"], "model missing.onnx: no such file"),
    (["net.onnx", "--input-shape", "image:1x3x8x8"],
     "--input-shape 'image:1x3x8x8': the model has no input 'image'; its inputs are: input [float32, batch x 3 x height x width]"),
    (["net.onnx", "--input-shape", "input:1x3x8"], "shape 1x3x8 has rank 3, but the model's input input"),
    (["net.onnx", "--input-shape", "input:1x4x8x8"], "has 4 at axis 1, but the model's input input [float32, batch x 3 x height x width] fixes it to 3"),
    (["net.onnx", "--input-shape", "input:1xtwo"], "expected positive integers joined by 'x'"),
    (["net.onnx", "--atol", "1e-3x"], "--atol '1e-3x': '1e-3x' is not a number"),
    (["net.onnx", "--rtol", "-1"], "must be a finite number >= 0"),
    (["net.onnx", "--atol", "logits:1e-3"], "the model has no output 'logits'; its outputs are ['{output}']"),
    (["net.onnx", "--load-inputs", "wrong_name.npz"], "the model has no input 'image'"),
    (["net.onnx", "--load-inputs", "wrong_rank.npz"], "has rank 3, but the model's input"),
    (["net.onnx", "--load-inputs", "missing.npz"], "--load-inputs missing.npz: no such file"),
    (["net.onnx", "--iterations", "0"], "--iterations '0': must be >= 1"),
    (["net.onnx", "--val-range", "1,0"], "need finite LOW <= HIGH"),
    (["net.onnx", "--weights", "w.pt"], "--weights needs --torch"),
    (["net.onnx", "--torch", "no_such_module_xyz:build"], "--torch 'no_such_module_xyz:build': cannot import module"),
    (["net.onnx", "--reference", "net.onnx"], "contains normdeploy nodes"),
])
def test_bad_arguments_exit_2_with_a_clear_message(in_project, capsys, args, message):
    np.savez(in_project / "wrong_name.npz", image=np.zeros((1, 3, 4, 4), np.float32))
    np.savez(in_project / "wrong_rank.npz", input=np.zeros((1, 3, 4), np.float32))
    assert cli(*args, "--report-dir", str(in_project / "unused")) == 2
    err = capsys.readouterr().err
    assert err.startswith("normdeploy validate: error: ")
    assert message.format(output=output_name(in_project)) in err


# ------------------------------------------------------------------------------------------------
# progress bar


def test_progress_bar_draws_and_clears_only_when_enabled():
    stream = io.StringIO()
    with Progress(4, "v", enabled=True, stream=stream) as bar:
        for _ in range(4):
            bar.update(detail="runner")
    text = stream.getvalue()
    assert "[" + "#" * 24 + "] 4/4 runner" in text and text.endswith("\r")
    quiet = io.StringIO()  # StringIO is not a terminal: off by default
    with Progress(4, "v", stream=quiet) as bar:
        bar.update()
    assert quiet.getvalue() == ""


def test_tensorrt_runner_is_built_with_the_plugin_library_and_a_failure_is_reported(in_project, monkeypatch):
    """With TensorRT "available" (faked), the runner loads the plugin library through the plugin
    registry; building the engine then fails here (no real TensorRT), which is reported as that
    runner's error and fails the validation while the other comparisons still run."""
    loaded = []

    class Registry:
        def load_library(self, path):
            loaded.append(path)
            return "handle"

    class FakeTrt:
        __version__ = "11.0"

        @staticmethod
        def get_plugin_registry():
            return Registry()

    monkeypatch.setattr(trt_probe, "_import_tensorrt", lambda: FakeTrt)
    monkeypatch.setattr(trt_probe, "probe", lambda: trt_probe.TrtProbe(True, None, "/opt/libnormdeploy_trt.so", "11.0"))
    result = validate("net.onnx", report_dir=False, html=False)
    assert loaded == ["/opt/libnormdeploy_trt.so"]
    runner = next(r for r in result.report["runners"] if r["runner"] == "tensorrt")
    assert runner["ran"] is False and runner["error"]
    assert not result.passed and result.exit_code == 1
    assert [c["runner"] for c in result.report["comparisons"]] == ["onnxruntime+normdeploy"]
    assert result.report["comparisons"][0]["passed"]
    assert "tensorrt" in result.summary() and "ERROR" in result.summary()
