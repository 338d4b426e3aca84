"""normdeploy.export: PyTorch -> ONNX with our nodes, every opset, dynamic shapes, parity."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F

import normdeploy
from normdeploy.exporter import ExportError, count_custom_nodes
from normdeploy.ops import DOMAIN, register_schemas
from torch_models import GnLrnNet


@pytest.mark.parametrize("opset", [17, 18, 19, 20, 21])
def test_export_every_opset_matches_torch(tmp_path, opset):
    net = GnLrnNet(4).eval()
    x = torch.randn(2, 3, 7, 9)
    result = normdeploy.export(net, (x,), tmp_path / "m.onnx", opset=opset,
                               dynamic_axes={"x": {0: "batch", 2: "height", 3: "width"}})
    register_schemas()
    onnx.checker.check_model(onnx.load(str(result.path)), full_check=True)
    assert next(o.version for o in result.model.opset_import if o.domain == "") == opset
    assert result.nodes == {"GroupNorm(silu)": 3, "LocalResponseNorm": 1}
    assert not [n for n in result.model.graph.node if n.op_type in ("InstanceNormalization", "GroupNormalization",
                                                                   "AveragePool", "Sigmoid")]
    lrn = next(n for n in result.model.graph.node if n.op_type == "LocalResponseNorm")
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in lrn.attribute}
    assert attrs["window"] == b"pytorch" and attrs["plugin_namespace"] == b"normdeploy" and attrs["plugin_version"] == b"1"
    sess = normdeploy.make_session(result.path)
    for xi in (x, torch.randn(1, 3, 11, 5), torch.randn(4, 3, 6, 13)):
        want = net(xi).detach().numpy()
        got = sess.run(None, {"x": xi.numpy()})[0]
        assert np.abs(got - want).max() <= 1e-4 * max(1.0, float(np.abs(want).max()))


def test_functional_forms_and_no_affine(tmp_path):
    class Net(torch.nn.Module):
        def forward(self, x):
            h = F.group_norm(x, 3)
            return F.local_response_norm(h, 2, alpha=0.1, beta=0.5, k=1.5)

    x = torch.randn(2, 6, 5)
    result = normdeploy.export(Net(), (x,), tmp_path / "f.onnx")
    assert count_custom_nodes(result.model) == {"GroupNorm": 1, "LocalResponseNorm": 1}
    got = normdeploy.make_session(result.path).run(None, {"x": x.numpy()})[0]
    np.testing.assert_allclose(got, Net()(x).numpy(), rtol=1e-5, atol=1e-5)


def test_silu_not_fused_when_norm_output_is_reused(tmp_path):
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gn = torch.nn.GroupNorm(2, 4)

        def forward(self, x):
            h = self.gn(x)
            return F.silu(h) + h

    x = torch.randn(2, 4, 3, 3)
    result = normdeploy.export(Net(), (x,), tmp_path / "r.onnx")
    assert count_custom_nodes(result.model) == {"GroupNorm": 1}
    got = normdeploy.make_session(result.path).run(None, {"x": x.numpy()})[0]
    np.testing.assert_allclose(got, Net().eval()(x).detach().numpy(), rtol=1e-5, atol=1e-5)


def test_export_restores_torch_functional(tmp_path):
    original = F.local_response_norm
    normdeploy.export(GnLrnNet(5).eval(), (torch.randn(1, 3, 4, 4),), tmp_path / "a.onnx")
    assert F.local_response_norm is original


def test_export_errors(tmp_path):
    net = GnLrnNet(4).eval()
    x = torch.randn(1, 3, 4, 4)
    with pytest.raises(ExportError, match="opset 16 is not supported; use 17 to 21"):
        normdeploy.export(net, (x,), tmp_path / "a.onnx", opset=16)
    with pytest.raises(ExportError, match="opset 22 is not supported"):
        normdeploy.export(net, (x,), tmp_path / "a.onnx", opset=22)
    with pytest.raises(ExportError, match="model must be a torch.nn.Module"):
        normdeploy.export(lambda t: t, (x,), tmp_path / "a.onnx")
    with pytest.raises(ExportError, match=r"dynamic_axes names \['images'\] are not inputs"):
        normdeploy.export(net, (x,), tmp_path / "a.onnx", dynamic_axes={"images": {0: "batch"}})
    with pytest.raises(ExportError, match="torch.onnx.export failed: RuntimeError: .* to have 3 channels, but got 5"):
        normdeploy.export(net, (torch.randn(1, 5, 4, 4),), tmp_path / "a.onnx")  # conv expects 3 channels
    assert not (tmp_path / "a.onnx").exists()
    assert not any(DOMAIN in p.name for p in tmp_path.iterdir())


def test_opset_17_lowers_ops_that_changed(tmp_path):
    """ReduceMean (axes input since 18) and Resize (new attributes in 18) must be lowered too."""
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gn = torch.nn.GroupNorm(2, 4)

        def forward(self, x):
            h = F.interpolate(self.gn(x), scale_factor=2.0, mode="nearest")
            return h - h.mean(dim=(2, 3), keepdim=True)

    x = torch.randn(2, 4, 5, 6)
    result = normdeploy.export(Net(), (x,), tmp_path / "m17.onnx", opset=17,
                               dynamic_axes={"x": {0: "batch", 2: "h", 3: "w"}})
    assert next(o.version for o in result.model.opset_import if o.domain == "") == 17
    assert result.nodes == {"GroupNorm": 1}
    sess = normdeploy.make_session(result.path)
    for xi in (x, torch.randn(1, 4, 3, 7)):
        np.testing.assert_allclose(sess.run(None, {"x": xi.numpy()})[0], Net()(xi).detach().numpy(),
                                   rtol=1e-5, atol=1e-5)


def test_output_names_mode_and_training_flag(tmp_path):
    import os
    import stat

    class Two(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gn = torch.nn.GroupNorm(2, 4)

        def forward(self, x):
            h = self.gn(x)
            return torch.sigmoid(h), torch.relu(h)

    net = Two().train()
    result = normdeploy.export(net, (torch.randn(1, 4, 3, 3),), tmp_path / "two.onnx")
    assert [o.name for o in result.model.graph.output] == ["output_0", "output_1"]
    assert net.training, "export must leave the caller's model in the mode it was in"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(result.path).st_mode) == 0o666 & ~umask
    named = normdeploy.export(net, (torch.randn(1, 4, 3, 3),), tmp_path / "named.onnx", output_names=["p", "q"])
    assert [o.name for o in named.model.graph.output] == ["p", "q"]


def test_large_models_keep_weights_in_a_side_file(tmp_path):
    """Models over the threshold (1 GiB by default; lowered here) are written with external data."""
    from normdeploy.conversion import load_model, save_model

    net = GnLrnNet(5).eval()
    result = normdeploy.export(net, (torch.randn(1, 3, 5, 5),), tmp_path / "small.onnx")
    path = save_model(result.model, tmp_path / "big" / "model.onnx", external_threshold=0)
    assert (path.parent / "model.onnx.data").is_file()
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.onnx", "model.onnx.data"]
    reloaded = load_model(path)
    x = torch.randn(1, 3, 5, 5)
    np.testing.assert_allclose(normdeploy.make_session(reloaded).run(None, {"x": x.numpy()})[0],
                               net(x).detach().numpy(), rtol=1e-5, atol=1e-5)
