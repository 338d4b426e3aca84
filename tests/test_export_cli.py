"""normdeploy export on the command line with per-input specs (--input NAME:[DTYPE:]SHAPE[...],
--dynamic NAME:AXES, --kwarg NAME=VALUE): a three-input diffusion-style model, the old
--input-shape form, and every bad spec as a one-line error with exit code 2."""

from __future__ import annotations

import importlib
import textwrap

import numpy as np
import onnx
import pytest
import torch

import normdeploy
from normdeploy.cli.main import main

FACTORY = textwrap.dedent("""
    import dataclasses
    import torch
    import torch.nn.functional as F

    @dataclasses.dataclass
    class Out:
        sample: torch.Tensor

    class Denoiser(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(4, 8, 3, padding=1)
            self.gn = torch.nn.GroupNorm(4, 8)
            self.ctx = torch.nn.Linear(16, 8)
            self.out = torch.nn.Conv2d(8, 4, 1)

        def forward(self, sample, timestep, encoder_hidden_states, return_dict=True):
            scale = torch.cos(timestep.float() / 1000.0)
            h = F.silu(self.gn(self.conv(sample))) * scale
            h = h + self.ctx(encoder_hidden_states).mean(1)[:, :, None, None]
            y = self.out(h)
            return Out(y) if return_dict else (y,)

    class Single(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gn = torch.nn.GroupNorm(1, 3)

        def forward(self, x):
            return self.gn(x)

    def denoiser():
        torch.manual_seed(0)
        return Denoiser().eval()

    def single():
        return Single().eval()
""")


@pytest.fixture
def project(tmp_path, monkeypatch):
    name = f"export_cli_models_{abs(hash(str(tmp_path))) % 10**8}"
    (tmp_path / f"{name}.py").write_text(FACTORY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path, name


UNET_INPUTS = ["--input", "sample:1x4x8x8", "--input", "timestep:int64:[]=500", "--input", "encoder_hidden_states:1x7x16"]


def test_three_inputs_by_name(project, capsys):
    folder, module = project
    out = folder / "unet.onnx"
    code = main(["export", "--model", f"{module}:denoiser", *UNET_INPUTS, "--dynamic", "sample:batch,height,width",
                 "--dynamic", "encoder_hidden_states:batch,1=seq", "--kwarg", "return_dict=False", "-o", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert ("inputs: sample float32[batch,4,height,width], timestep int64[], encoder_hidden_states "
            "float32[batch,seq,16]; outputs: output_0 float32[batch,4,height,width]") in printed
    model = onnx.load(str(out))
    assert [(i.name, i.type.tensor_type.elem_type, len(i.type.tensor_type.shape.dim)) for i in model.graph.input] == [
        ("sample", onnx.TensorProto.FLOAT, 4), ("timestep", onnx.TensorProto.INT64, 0),
        ("encoder_hidden_states", onnx.TensorProto.FLOAT, 3)]
    net = importlib.import_module(module).denoiser()
    sess = normdeploy.make_session(out)
    x, t, ehs = torch.randn(3, 4, 5, 7), torch.tensor(250), torch.randn(3, 2, 16)
    got = sess.run(None, {"sample": x.numpy(), "timestep": t.numpy(), "encoder_hidden_states": ehs.numpy()})[0]
    with torch.no_grad():
        want = net(x, t, ehs).sample.numpy()
    assert np.abs(got - want).max() <= 1e-4 * max(1.0, float(np.abs(want).max()))


def test_dataclass_output_keyed_and_inputs_in_any_order(project, capsys):
    folder, module = project
    out = folder / "unet_dict.onnx"
    reordered = [UNET_INPUTS[4], UNET_INPUTS[5], UNET_INPUTS[2], UNET_INPUTS[3], UNET_INPUTS[0], UNET_INPUTS[1]]
    assert main(["export", "--model", f"{module}:denoiser", *reordered, "-o", str(out)]) == 0
    assert "outputs: out_sample float32[1,4,8,8]" in capsys.readouterr().out
    model = onnx.load(str(out))
    assert [i.name for i in model.graph.input] == ["sample", "timestep", "encoder_hidden_states"]


def test_old_input_shape_form_names_after_forward(project, capsys):
    folder, module = project
    out = folder / "single.onnx"
    assert main(["export", "--model", f"{module}:single", "--input-shape", "2x3x5x6", "--dynamic", "batch,width",
                 "-o", str(out)]) == 0
    assert "inputs: x float32[batch,3,5,width]; outputs: output float32[batch,3,5,width]" in capsys.readouterr().out


@pytest.mark.parametrize("args,message", [
    (["--input", "sample:1x4x8x8", "--input", "timestep:int65:[]", "--input", "encoder_hidden_states:1x7x16"],
     "--input timestep: unknown dtype 'int65'; use one of float32, float16, bfloat16"),
    (["--input", "sample:1x4xeightx8"], "--input sample: bad shape '1x4xeightx8'"),
    ([*UNET_INPUTS, "--dynamic", "sample:4"],
     "--dynamic sample: axis 4 is out of range for the rank-4 input sample:1x4x8x8 (axes 0..3)"),
    ([*UNET_INPUTS, "--dynamic", "timestep:0"], "--dynamic timestep: the input is 0-d (timestep:int64:[]=500)"),
    ([*UNET_INPUTS, "--dynamic", "encoder_hidden_states:height"],
     "--dynamic encoder_hidden_states: unknown axis 'height' for the rank-3 input"),
    ([*UNET_INPUTS, "--dynamic", "latents:0"], "--dynamic latents:0: 'latents' is not an input; the inputs are sample:1x4x8x8"),
    (["--input", "sample:1x4x8x8:1..0"], "--input sample: range low 1.0 > high 0.0"),
    (["--input", "timestep:int64:[]:0..1000=5"], "--input timestep: both a value range and a constant"),
    (["--input", "timestep:int64:[]=0.5"], "--input timestep: constant '0.5' is not an integer"),
    ([*UNET_INPUTS, "--input", "sample:1x4x8x8"], "--input: 'sample' is given twice"),
    ([*UNET_INPUTS, "--kwarg", "sample=1"], "--input: 'sample' is given twice"),
    (["--input-shape", "1x4x8x8", "--input-shape", "1", "--input-shape", "1x7x16", "--input-shape", "1", "--input-shape", "2"],
     "--input-shape: 5 inputs given, but forward(sample, timestep, encoder_hidden_states, return_dict=True) takes at most 4"),
    (["--input", "sample:1x4x8x8"],
     "--input: missing required input(s) timestep, encoder_hidden_states of forward(sample, timestep, encoder_hidden_states"),
    (["--input", "sample:1x4x8x8", "--input", "t:int64:[]", "--input", "encoder_hidden_states:1x7x16"],
     "--input: 't' is not a parameter of forward(sample, timestep, encoder_hidden_states, return_dict=True); "
     "accepted: sample, timestep, encoder_hidden_states, return_dict"),
    (["--input", "sample:1x4x8x8", "--input", "timestep:int64:[]", "--input", "encoder_hidden_states:1x7x15"],
     "the model rejects these inputs (sample:1x4x8x8 timestep:int64:[] encoder_hidden_states:1x7x15): RuntimeError: "
     "mat1 and mat2 shapes cannot be multiplied"),
    ([*UNET_INPUTS, "--kwarg", "return_dict=Flase"], "--kwarg return_dict: 'Flase' is not a Python literal"),
    ([*UNET_INPUTS, "--input-shape", "1x4x8x8"], "give the inputs with --input NAME:SHAPE or with --input-shape, not both"),
    ([], "no inputs: give each forward() input with --input NAME:[DTYPE:]SHAPE"),
    (["--input", "1x4x8x8"], "'1x4x8x8' is not an input name"),
    (["--input", "sample:100000x4x1000x1000", "--input", "timestep:int64:[]", "--input", "encoder_hidden_states:1x7x16"],
     "--input sample:100000x4x1000x1000: 1600000000000 bytes (1.49e+03 GiB); the example inputs may take at most 1 GiB"),
])
def test_bad_specs_are_one_line_errors(project, capsys, args, message):
    folder, module = project
    code = main(["export", "--model", f"{module}:denoiser", *args, "-o", "bad.onnx"])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err, err
    assert err.startswith("normdeploy export: error: ") and err.count("\n") == 1, err
    assert not (folder / "bad.onnx").exists()


def test_model_rejecting_one_input_names_its_spec(project, capsys):
    folder, module = project
    assert main(["export", "--model", f"{module}:single", "--input", "x:int64:1x3x4x4", "-o", "bad.onnx"]) == 2
    err = capsys.readouterr().err
    assert "the model rejects this input (x:int64:1x3x4x4): RuntimeError:" in err and err.count("\n") == 1
