"""The numpy references against independent implementations: PyTorch and ONNX Runtime's
standard ops. (onnx.reference's LRN is wrong when N != C, so it is not used.)"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from onnx import helper

from normdeploy.graphs import IR_VERSION
from normdeploy.ops import group_norm, lrn


def _ort_single(node, x: np.ndarray, inits=(), opset: int = 21) -> np.ndarray:
    graph = helper.make_graph(
        [node], "std", [helper.make_tensor_value_info("X", 1, list(x.shape))],
        [helper.make_tensor_value_info("Y", 1, None)], initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=IR_VERSION)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"X": x})[0]


@pytest.mark.parametrize("shape,groups", [((3, 6, 5, 7), 3), ((2, 15, 13), 5), ((4, 12), 4), ((2, 8, 3, 5, 7), 2),
                                          ((1, 32, 9, 11), 32), ((2, 9, 4, 6), 1)])
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm_reference_matches_torch(rng, shape, groups, affine):
    x = rng.standard_normal(shape) * 3 + 1
    c = shape[1]
    module = torch.nn.GroupNorm(groups, c, eps=1e-5, affine=affine).double()
    if affine:
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(rng.standard_normal(c)))
            module.bias.copy_(torch.from_numpy(rng.standard_normal(c)))
    want = module(torch.from_numpy(x)).detach().numpy()
    scale = module.weight.detach().numpy() if affine else None
    bias = module.bias.detach().numpy() if affine else None
    got = group_norm.reference(x, scale, bias, groups, 1e-5)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    # the functional form too, and the fused SiLU against torch's silu
    fn = torch.nn.functional.group_norm(torch.from_numpy(x), groups,
                                        None if scale is None else torch.from_numpy(scale),
                                        None if bias is None else torch.from_numpy(bias), 1e-5)
    np.testing.assert_allclose(got, fn.numpy(), rtol=1e-10, atol=1e-10)
    silu = group_norm.reference(x, scale, bias, groups, 1e-5, "silu")
    np.testing.assert_allclose(silu, torch.nn.functional.silu(fn).numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("size", range(1, 9))
@pytest.mark.parametrize("shape", [(3, 11, 5, 7), (2, 13, 9), (2, 5, 3, 4, 6)])
def test_lrn_reference_matches_torch(rng, size, shape):
    x = rng.standard_normal(shape) * 2
    layer = torch.nn.LocalResponseNorm(size, alpha=0.3, beta=0.75, k=1.5)
    want = layer(torch.from_numpy(x)).numpy()
    got = lrn.reference(x, size, 0.3, 0.75, 1.5, window="pytorch")
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    if size % 2 == 0:  # even sizes: the two alignments really differ (so the attribute matters)
        other = lrn.reference(x, size, 0.3, 0.75, 1.5, window="onnx")
        assert np.abs(other - want).max() > 1e-3


@pytest.mark.parametrize("shape,groups", [((3, 6, 5, 7), 3), ((2, 15, 13), 5), ((2, 12, 3, 5, 4), 4)])
def test_group_norm_reference_matches_ort_groupnormalization21(rng, shape, groups):
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(np.float32)
    c = shape[1]
    scale = rng.standard_normal(c).astype(np.float32)
    bias = rng.standard_normal(c).astype(np.float32)
    node = helper.make_node("GroupNormalization", ["X", "s", "b"], ["Y"], num_groups=groups, epsilon=1e-5)
    inits = [helper.make_tensor("s", 1, [c], scale), helper.make_tensor("b", 1, [c], bias)]
    want = _ort_single(node, x, inits, opset=21)
    got = group_norm.reference(x, scale, bias, groups, np.float32(1e-5))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("size", [1, 3, 5, 7])
def test_lrn_reference_matches_ort_lrn_for_odd_sizes(rng, size):
    x = (rng.standard_normal((3, 11, 5, 7)) * 2).astype(np.float32)
    node = helper.make_node("LRN", ["X"], ["Y"], size=size, alpha=0.3, beta=0.75, bias=1.5)
    want = _ort_single(node, x, opset=13)
    for window in ("onnx", "pytorch"):  # identical for odd sizes
        got = lrn.reference(x, size, float(np.float32(0.3)), 0.75, 1.5, window=window)
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)


def test_reference_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_groups=4 does not divide C=6"):
        group_norm.reference(np.zeros((1, 6, 2)), None, None, 4)
    with pytest.raises(ValueError, match="rank >= 2"):
        group_norm.reference(np.zeros(6), None, None, 2)
    with pytest.raises(ValueError, match="size=0"):
        lrn.reference(np.zeros((1, 6, 2)), 0)
    with pytest.raises(ValueError, match="window"):
        lrn.reference(np.zeros((1, 6, 2)), 3, window="caffe")
