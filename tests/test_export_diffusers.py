"""The README's UNet example for real: `normdeploy export` with per-input specs on diffusers'
UNet2DConditionModel (tiny config, random weights, nothing downloaded). Marked slow: the export
takes about 35 s of CPU time (measured: 36 s user, 97 s wall on 2 shared cores)."""

from __future__ import annotations

import importlib
import textwrap

import numpy as np
import onnx
import pytest
import torch

import normdeploy
from normdeploy.cli.main import main

pytest.importorskip("diffusers", reason="diffusers is not installed (requirements-dev.txt lists it)")

FACTORY = textwrap.dedent("""
    import torch
    from diffusers import UNet2DConditionModel

    def unet():
        torch.manual_seed(0)
        return UNet2DConditionModel(
            sample_size=16, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=32, attention_head_dim=8, norm_num_groups=32).eval()
""")


@pytest.mark.slow
def test_diffusers_unet_from_the_command_line(tmp_path, monkeypatch, capsys):
    name = f"export_unet_{abs(hash(str(tmp_path))) % 10**8}"
    (tmp_path / f"{name}.py").write_text(FACTORY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "unet.onnx"
    code = main(["export", "--model", f"{name}:unet", "--input", "sample:1x4x16x16", "--input", "timestep:int64:[]=500",
                 "--input", "encoder_hidden_states:1x7x32", "--dynamic", "sample:batch,height,width",
                 "--dynamic", "encoder_hidden_states:batch,1=seq", "-o", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    unet = importlib.import_module(name).unet()
    norms = sum(isinstance(m, torch.nn.GroupNorm) for m in unet.modules())
    model = onnx.load(str(out))
    ours = [n for n in model.graph.node if n.domain == "normdeploy" and n.op_type == "GroupNorm"]
    assert len(ours) == norms > 0
    assert not [n for n in model.graph.node if n.op_type in ("InstanceNormalization", "GroupNormalization")]
    dims = {i.name: (i.type.tensor_type.elem_type, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim])
            for i in model.graph.input}
    assert dims == {"sample": (onnx.TensorProto.FLOAT, ["batch", 4, "height", "width"]),
                    "timestep": (onnx.TensorProto.INT64, []),
                    "encoder_hidden_states": (onnx.TensorProto.FLOAT, ["batch", "seq", 32])}
    assert [o.name for o in model.graph.output] == ["out_sample"]  # diffusers' UNet2DConditionOutput.sample
    sess = normdeploy.make_session(out)
    g = torch.Generator().manual_seed(3)
    x, t, ehs = torch.randn(2, 4, 24, 32, generator=g), torch.tensor(17), torch.randn(2, 5, 32, generator=g)
    got = sess.run(None, {"sample": x.numpy(), "timestep": t.numpy(), "encoder_hidden_states": ehs.numpy()})[0]
    with torch.no_grad():
        want = unet(x, t, ehs).sample.numpy()
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-4 * max(1.0, float(np.abs(want).max()))
