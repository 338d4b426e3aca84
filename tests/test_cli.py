"""The normdeploy command line: export, convert, inspect; exit codes and error messages."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

import normdeploy
from normdeploy.cli.main import main

from helpers import NORM_NET_MODULE

FACTORY = NORM_NET_MODULE + textwrap.dedent("""
    def not_a_model():
        return 42
""")


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A folder with a model module (unique name per test) as the working directory."""
    name = f"user_models_{abs(hash(str(tmp_path))) % 10**8}"
    (tmp_path / f"{name}.py").write_text(FACTORY)
    monkeypatch.chdir(tmp_path)
    return tmp_path, name


def run_cli(*args: str) -> int:
    return main(list(args))


def test_export_inspect_convert_round_trip(project, capsys):
    folder, module = project
    out = folder / "net.onnx"
    assert run_cli("export", "--model", f"{module}:build", "--input-shape", "2x3x8x10", "--dynamic",
                   "batch,height,width", "-o", str(out)) == 0
    assert "GroupNorm(silu): 1" in capsys.readouterr().out
    model = onnx.load(str(out))
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, "height", "width"]

    assert run_cli("inspect", str(out)) == 0
    text = capsys.readouterr().out
    assert "GroupNorm" in text and "LocalResponseNorm" in text and "yes onnxruntime + normdeploy library" in text
    assert run_cli("inspect", str(out), "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert [n["op_type"] for n in info["custom_nodes"]] == ["GroupNorm", "LocalResponseNorm"]
    assert info["runtimes"]["onnxruntime"]["can_run"] is False

    std = folder / "std.onnx"
    assert run_cli("convert", str(out), "-o", str(std), "--to", "standard") == 0
    assert "LocalResponseNorm -> AveragePool decomposition: 1" in capsys.readouterr().out
    back = folder / "back.onnx"
    assert run_cli("convert", str(std), "-o", str(back)) == 0
    x = np.random.default_rng(0).standard_normal((3, 3, 6, 7)).astype(np.float32)
    import onnxruntime as ort

    plain = ort.InferenceSession(str(std), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    custom = normdeploy.make_session(back).run(None, {"x": x})[0]
    np.testing.assert_allclose(plain, custom, rtol=1e-5, atol=1e-6)


def test_weights_state_dict_and_checkpoint_dict(project):
    folder, module = project
    sys.path.insert(0, str(folder))
    net = __import__(module).build()
    with torch.no_grad():
        net.gn.weight.fill_(3.0)
    torch.save(net.state_dict(), folder / "sd.pt")
    torch.save({"epoch": 3, "state_dict": net.state_dict()}, folder / "ckpt.pt")
    for ckpt in ("sd.pt", "ckpt.pt"):
        out = folder / f"{ckpt}.onnx"
        assert run_cli("export", "--model", f"{module}:build", "--weights", ckpt, "--input-shape", "1x3x6x6",
                       "-o", str(out)) == 0
        scale = next(i for i in onnx.load(str(out)).graph.initializer if list(i.dims) == [8] and
                     np.all(onnx.numpy_helper.to_array(i) == 3.0))
        assert scale is not None


def test_weights_with_wrong_keys_are_listed(project, capsys):
    folder, module = project
    torch.save({"conv.weight": torch.zeros(8, 3, 3, 3), "extra.thing": torch.zeros(1)}, folder / "bad.pt")
    code = run_cli("export", "--model", f"{module}:build", "--weights", "bad.pt", "--input-shape", "1x3x6x6",
                   "-o", "x.onnx")
    err = capsys.readouterr().err
    assert code == 2
    assert "missing ['conv.bias', 'gn.bias', 'gn.weight']" in err and "unexpected ['extra.thing']" in err
    assert not (folder / "x.onnx").exists()


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, (f"touch {Path.cwd() / 'pwned'}",))


def test_malicious_pickle_is_refused_not_run(project, capsys):
    folder, module = project
    with open(folder / "evil.pt", "wb") as f:
        pickle.dump({"state_dict": _Evil()}, f)
    torch.save({"gn.weight": _Evil()}, folder / "evil2.pt")
    for name in ("evil.pt", "evil2.pt"):
        code = run_cli("export", "--model", f"{module}:build", "--weights", name, "--input-shape", "1x3x6x6",
                       "-o", "x.onnx")
        assert code == 2
        assert "refused or unreadable" in capsys.readouterr().err
    assert not (folder / "pwned").exists(), "the pickle's payload ran"


@pytest.mark.parametrize("args,message", [
    (["--model", "nosuchmodule_xyz:build"], "cannot import module 'nosuchmodule_xyz'"),
    (["--model", "{module}:nope"], "has no callable 'nope'"),
    (["--model", "{module}"], "expected module:factory"),
    (["--model", "{module}:not_a_model"], "returned int, not a torch.nn.Module"),
    (["--model", "{module}:build", "--input-shape", "1x5x6x6"], "the model rejects this input"),
    (["--model", "{module}:build", "--input-shape", "1xAx6"], "expected positive integers joined by 'x'"),
    (["--model", "{module}:build", "--dynamic", "batch,time"], "unknown axis 'time'"),
    (["--model", "{module}:build", "--opset", "12"], "opset 12 is not supported"),
    (["--model", "{module}:build", "--weights", "missing.pt"], "--weights missing.pt: no such file"),
])
def test_export_usage_errors(project, capsys, args, message):
    folder, module = project
    args = [a.format(module=module) for a in args]
    if "--input-shape" not in args:
        args += ["--input-shape", "1x3x6x6"]
    assert run_cli("export", *args, "-o", "x.onnx") == 2
    assert message in capsys.readouterr().err
    assert not (folder / "x.onnx").exists()


def test_convert_and_inspect_errors(tmp_path, capsys):
    (tmp_path / "junk.onnx").write_text("hello")
    assert run_cli("convert", str(tmp_path / "junk.onnx"), "-o", str(tmp_path / "o.onnx")) == 2
    assert "is not an ONNX model" in capsys.readouterr().err
    assert run_cli("inspect", str(tmp_path / "none.onnx")) == 2
    assert "no such file" in capsys.readouterr().err
    assert not (tmp_path / "o.onnx").exists()


def test_console_script_and_module_entry_points():
    exe = Path(sys.executable).parent / "normdeploy"
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == f"normdeploy {normdeploy.__version__}"
    out = subprocess.run([sys.executable, "-P", "-m", "normdeploy", "convert"], capture_output=True, text=True)
    assert out.returncode == 2 and "the following arguments are required" in out.stderr


def test_negative_value_range_is_one_argument():
    """`--val-range -2,-1` is the option's value, not a second option (argparse alone refuses it)."""
    from normdeploy.cli.main import join_negative_values

    assert join_negative_values(["validate", "m.onnx", "--val-range", "-2,-1", "--atol", "-1"]) == \
        ["validate", "m.onnx", "--val-range=-2,-1", "--atol=-1"]
    assert join_negative_values(["validate", "m.onnx", "--val-range", "x:-2,-1"]) == \
        ["validate", "m.onnx", "--val-range", "x:-2,-1"]
    assert join_negative_values(["validate", "--no-html", "-h"]) == ["validate", "--no-html", "-h"]
    args = main_parser_args(["validate", "m.onnx", "--val-range", "-2,-1"])
    assert args.val_range == ["-2,-1"]


def main_parser_args(argv):
    from normdeploy.cli.main import build_parser, join_negative_values

    return build_parser().parse_args(join_negative_values(argv))


def _lrn_file(tmp_path, with_step: bool = False):
    """An LRN model with a dynamic batch and spatial dims (input X), and, optionally, an int64 0-d
    input 'step' feeding nothing but a second output."""
    from onnx import TensorProto, helper

    from normdeploy.graphs import IR_VERSION
    from normdeploy.ops import DOMAIN, VERSION, register_schemas

    register_schemas()
    nodes = [helper.make_node("LocalResponseNorm", ["X"], ["Y"], domain=DOMAIN, size=3)]
    inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["n", 5, "h", "w"])]
    outputs = [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["n", 5, "h", "w"])]
    if with_step:
        nodes.append(helper.make_node("Identity", ["step"], ["step_out"]))
        inputs.append(helper.make_tensor_value_info("step", TensorProto.INT64, []))
        outputs.append(helper.make_tensor_value_info("step_out", TensorProto.INT64, []))
    model = helper.make_model(helper.make_graph(nodes, "lrn", inputs, outputs), ir_version=IR_VERSION,
                              opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid(DOMAIN, VERSION)])
    path = tmp_path / "lrn.onnx"
    onnx.save(model, str(path))
    return path


def test_validate_and_bench_take_exports_input_syntax(tmp_path, capsys):
    """`--input NAME:[DTYPE:]SHAPE[:LOW..HIGH]` (export's syntax) is --input-shape plus --val-range:
    the same inputs reach the runners, for validate and for bench."""
    import json

    model = _lrn_file(tmp_path, with_step=True)
    reports = []
    for options, name in ((["--input", "X:2x5x7x9:-3..-1", "--input", "step:int64:[]"], "new"),
                          (["--input-shape", "X:2x5x7x9", "--val-range", "X:-3,-1"], "old")):
        out = tmp_path / name
        code = run_cli("validate", str(model), "--report-dir", str(out), "--no-html", "--no-progress", *options)
        assert code == 0, capsys.readouterr()
        reports.append(json.loads((out / "report.json").read_text()))
    assert reports[0]["inputs"] == reports[1]["inputs"]
    text = json.dumps(reports[0]["inputs"])
    assert "2, 5, 7, 9" in text.replace("[", "").replace("]", "") or "2x5x7x9" in text, text
    assert "-3" in text and "-1" in text, text
    bench_json = tmp_path / "bench.json"
    code = run_cli("bench", str(model), "--input", "X:1x5x6x4:0..2", "--warmup", "0", "--repeats", "1",
                   "--min-repeat-ms", "0", "--no-profile", "--no-html", "--no-progress", "--json", str(bench_json))
    assert code == 0, capsys.readouterr()
    timed = json.loads(bench_json.read_text())
    assert "1, 5, 6, 4" in json.dumps(timed).replace("[", "").replace("]", "") or "1x5x6x4" in json.dumps(timed)


@pytest.mark.parametrize("spec, message", [
    ("Z:2x5x7x9", "the model has no input 'Z'; its inputs are: X [float32, n x 5 x h x w]"),
    ("X:float16:2x5x7x9", "--input X: dtype float16, but the model's input is float32"),
    ("X:2x5x7", "--input X: shape 2x5x7 has rank 3, but the model's input is X [float32, n x 5 x h x w]"),
    ("X:2x5x7x9=1", "a constant (=VALUE) is not taken here"),
    ("X:2x5x7x9:3..1", "--input X: range low 3.0 > high 1.0"),
    ("X:2x6x7x9", "--input X: shape 2x6x7x9 has 6 at axis 1, but the model's input X [float32, n x 5 x h x w] "
                  "fixes it to 5"),
    ("X:bfloat:2x5", "--input X"),
])
def test_validate_input_syntax_errors(tmp_path, capsys, spec, message):
    model = _lrn_file(tmp_path)
    for command in ("validate", "bench"):
        code = run_cli(command, str(model), "--input", spec, "--no-progress", "--no-html")
        err = capsys.readouterr().err
        assert code == 2, err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err, err
