"""convert: the GroupNorm decompositions of every rank (2 to 5) from both torch exporters,
including the rank-3 GroupNorm(C, C) form with no second Reshape (wav2vec2's feature encoder),
static and dynamic shapes; near misses left alone with specific reasons; malformed nodes."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import helper, numpy_helper

import normdeploy
from normdeploy.convert import convert_model
from normdeploy.graphs import IR_VERSION
from normdeploy.ops import DOMAIN, group_norm
from torch_models import torch_export

FLOAT = onnx.TensorProto.FLOAT
PATTERN = "InstanceNormalization decomposition"


class AllRanks(torch.nn.Module):
    """GroupNorm on rank 3 (GroupNorm(C, C) after a Conv1d, as wav2vec2; and G < C), rank 4,
    rank 5 (affine=False) and rank 2; six GroupNorm calls in all."""

    CALLS = 6

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv1d(2, 6, 3, padding=1)
        self.gn_cc = torch.nn.GroupNorm(6, 6)
        self.gn_3 = torch.nn.GroupNorm(3, 6)
        self.gn_4 = torch.nn.GroupNorm(2, 6)
        self.gn_5 = torch.nn.GroupNorm(3, 6, affine=False)
        self.gn_2 = torch.nn.GroupNorm(2, 6)
        self.gn_cc_bare = torch.nn.GroupNorm(6, 6, affine=False)
        for gn in (self.gn_cc, self.gn_3, self.gn_4, self.gn_2):
            with torch.no_grad():
                gn.weight.normal_()
                gn.bias.normal_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.gn_cc(self.conv(x))                        # (N, 6, L), G == C
        h = self.gn_cc_bare(h * 1.5)                        # (N, 6, L), G == C, no affine
        h = self.gn_3(h)                                    # (N, 6, L)
        h4 = self.gn_4(h.unsqueeze(2) * 2.0)                # (N, 6, 1, L)
        h5 = self.gn_5(h4.unsqueeze(2) + 1.0)               # (N, 6, 1, 1, L)
        h2 = self.gn_2(h5.mean(dim=(2, 3, 4)))              # (N, 6)
        return h5.squeeze(2).squeeze(2) * h2.unsqueeze(2)


EXPORTS = [(True, 17, False), (True, 18, True), (True, 20, False), (True, 20, True),
           (False, 13, False), (False, 17, True)]


@pytest.mark.parametrize("dynamo,opset,dynamic", EXPORTS,
                         ids=[f"{'dynamo' if d else 'torchscript'}-opset{o}-{'dynamic' if y else 'static'}"
                              for d, o, y in EXPORTS])
def test_every_rank_converts_with_meaning_kept(dynamo, opset, dynamic):
    net = AllRanks().eval()
    x = torch.randn(2, 2, 7)
    original = torch_export(net, x, dynamo=dynamo, opset=opset, dynamic=dynamic)
    custom, report = convert_model(original)
    assert report.counts == {PATTERN: AllRanks.CALLS}, report.summary()
    assert report.skipped == [], report.summary()
    assert not [n for n in custom.graph.node if n.op_type == "InstanceNormalization"]
    onnx.checker.check_model(custom)
    session = normdeploy.make_session(custom)
    for xi in [x] + ([torch.randn(3, 2, 5)] if dynamic else []):
        want = net(xi).detach().numpy()
        got = session.run(None, {"x": xi.numpy()})[0]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(want).max())))


def test_no_second_reshape_form_is_what_the_exporter_wrote():
    """The premise of the G == C case: dynamo at opset <= 20 writes Reshape -> InstanceNormalization
    -> Mul -> Add with no Reshape back for a static rank-3 GroupNorm(C, C)."""
    net = torch.nn.Sequential(torch.nn.Conv1d(2, 4, 3), torch.nn.GroupNorm(4, 4)).eval()
    original = torch_export(net, torch.randn(1, 2, 9), dynamo=True, opset=18, dynamic=False)
    ops = [n.op_type for n in original.graph.node]
    assert ops[ops.index("InstanceNormalization") - 1:] == ["Reshape", "InstanceNormalization", "Mul", "Add"]
    custom, report = convert_model(original)
    assert report.counts == {PATTERN: 1} and [n.op_type for n in custom.graph.node if n.domain == DOMAIN] == ["GroupNorm"]
    # the exporter's node metadata (name scopes, class hierarchy) goes onto our node and back
    (norm,) = [n for n in original.graph.node if n.op_type == "InstanceNormalization"]
    assert _metadata(norm), "the premise: dynamo writes node metadata"
    (ours,) = [n for n in custom.graph.node if n.domain == DOMAIN]
    assert _metadata(ours) == _metadata(norm)
    back, _ = convert_model(custom, "standard")
    (again,) = [n for n in back.graph.node if n.op_type == "InstanceNormalization"]
    assert _metadata(again) == _metadata(norm)
    onnx.checker.check_model(custom)
    onnx.checker.check_model(back)


def _metadata(node: onnx.NodeProto) -> dict[str, str]:
    return {p.key: p.value for p in node.metadata_props}


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
def test_wav2vec2_feature_encoder(dynamo):
    """transformers' Wav2Vec2FeatureEncoder with feat_extract_norm="group" (GroupNorm(C, C) after
    the first Conv1d), small random config, both exporters (static shapes: dynamo writes the
    no-second-Reshape form)."""
    from transformers import Wav2Vec2Config
    from transformers.models.wav2vec2.modeling_wav2vec2 import Wav2Vec2FeatureEncoder

    torch.manual_seed(0)
    config = Wav2Vec2Config(feat_extract_norm="group", conv_dim=(16, 16), conv_kernel=(10, 3), conv_stride=(5, 2),
                            num_feat_extract_layers=2, conv_bias=False)
    encoder = Wav2Vec2FeatureEncoder(config).eval()
    with torch.no_grad():
        norm = encoder.conv_layers[0].layer_norm
        assert isinstance(norm, torch.nn.GroupNorm) and norm.num_groups == norm.num_channels == 16
        norm.weight.normal_()
        norm.bias.normal_()
    audio = torch.randn(2, 400)
    original = torch_export(encoder, audio, dynamo=dynamo, opset=17, dynamic=False)
    custom, report = convert_model(original)
    assert report.counts == {PATTERN: 1} and report.skipped == [], report.summary()
    want = encoder(audio).detach().numpy()
    got = normdeploy.make_session(custom).run(None, {"x": audio.numpy()})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(want).max())))


# ------------------------------------------------------------------------------------------------
# hand-made graphs: near misses and malformed nodes


def _vi(name, shape):
    return helper.make_tensor_value_info(name, FLOAT, shape)


def _decomposition(x_shape, groups, *, target=(0, None, -1), allowzero=None, second=True, affine=True,
                   in_attrs=None, extra_nodes=(), extra_outputs=(), channels=None):
    """X -> Reshape(target) -> InstanceNormalization -> [Reshape(Shape(X))] -> [Mul -> Add] -> Y."""
    channels = channels or x_shape[1]
    target = [groups if t is None else t for t in target]
    rank = len(x_shape)
    reshape_attrs = {} if allowzero is None else {"allowzero": allowzero}
    nodes = [helper.make_node("Reshape", ["X", "target"], ["grouped"], name="reshape_in", **reshape_attrs),
             helper.make_node("InstanceNormalization", ["grouped", "ones", "zeros"], ["normed"], name="in",
                              **({"epsilon": 1e-5} if in_attrs is None else in_attrs))]
    inits = [numpy_helper.from_array(np.array(target, np.int64), "target"),
             numpy_helper.from_array(np.ones(groups, np.float32), "ones"),
             numpy_helper.from_array(np.zeros(groups, np.float32), "zeros")]
    cur = "normed"
    if second:
        nodes += [helper.make_node("Shape", ["X"], ["shape_x"]),
                  helper.make_node("Reshape", ["normed", "shape_x"], ["restored"], name="reshape_out")]
        cur = "restored"
    if affine:
        column = [channels] + [1] * (rank - 2)
        rng = np.random.default_rng(0)
        inits += [numpy_helper.from_array(rng.standard_normal(column).astype(np.float32), "w"),
                  numpy_helper.from_array(rng.standard_normal(column).astype(np.float32), "b")]
        nodes += [helper.make_node("Mul", [cur, "w"], ["scaled"]), helper.make_node("Add", ["scaled", "b"], ["Y"])]
    else:
        nodes.append(helper.make_node("Identity", [cur], ["Y"]))
    nodes += list(extra_nodes)
    outputs = [_vi("Y", x_shape)] + [_vi(o, None) for o in extra_outputs]
    graph = helper.make_graph(nodes, "g", [_vi("X", x_shape)], outputs, initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=IR_VERSION)


def test_hand_made_no_second_reshape_form_runs_right(rng):
    model = _decomposition([2, 4, 5], 4, second=False)
    custom, report = convert_model(model)
    assert report.counts == {PATTERN: 1}, report.summary()
    x = rng.standard_normal((2, 4, 5)).astype(np.float32)
    w = numpy_helper.to_array(model.graph.initializer[3]).reshape(-1)
    b = numpy_helper.to_array(model.graph.initializer[4]).reshape(-1)
    got = normdeploy.make_session(custom).run(None, {"X": x})[0]
    np.testing.assert_allclose(got, group_norm.reference(x, w, b, 4, 1e-5), rtol=1e-4, atol=1e-4)


NEAR_MISSES = {
    # id -> (model kwargs, reason fragment)
    "no-second-reshape-rank-4": (dict(x_shape=[2, 4, 3, 5], groups=4, second=False),
                                 "no Reshape back to X's shape follows InstanceNormalization, and X has rank 4"),
    "no-second-reshape-groups-not-C": (dict(x_shape=[2, 6, 5], groups=3, second=False),
                                       "X has C=6 channels, not num_groups=3"),
    "no-second-reshape-C-unknown": (dict(x_shape=[2, "C", 5], groups=3, second=False, channels=3, affine=False),
                                    "X's channel count is not known statically (needed to show C == num_groups=3)"),
    "allowzero": (dict(x_shape=[2, 6, 5], groups=3, allowzero=1),
                  "allowzero=1, so its 0 is a zero-sized dim, not N"),
    "target-batch-mismatch": (dict(x_shape=[2, 6, 5], groups=3, target=(1, None, -1)),
                              "targets [1, 3, -1], whose 1 is not provably X's N (2)"),
    "target-not-grouped": (dict(x_shape=[2, 6, 5], groups=3, target=(0, None, 2, -1)),
                           "targets [0, 3, 2, -1], not (N, 3, -1)"),
    "groups-do-not-divide-C": (dict(x_shape=[2, 6, 4], groups=4, affine=False),
                               "4 groups do not divide X's C=6 (the grouped view mixes channels"),
    "epsilon-string": (dict(x_shape=[2, 6, 5], groups=3, in_attrs={"epsilon": "small"}),
                       "attribute 'epsilon' = 'small' is not a float"),
    "intermediate-used-elsewhere": (dict(x_shape=[2, 6, 5], groups=3, extra_nodes=[
        helper.make_node("Relu", ["grouped"], ["leak"])], extra_outputs=["leak"]),
        "the intermediate tensor 'grouped' is also used outside the pattern"),
}


@pytest.mark.parametrize("case", list(NEAR_MISSES))
def test_near_misses_are_left_alone_with_the_reason(case):
    kwargs, reason = NEAR_MISSES[case]
    model = _decomposition(**kwargs)
    custom, report = convert_model(model)
    assert report.total == 0, report.summary()
    assert [(s.pattern, s.node) for s in report.skipped] == [(PATTERN, "in")], report.summary()
    assert reason in report.skipped[0].reason, report.summary()
    assert [n.op_type for n in custom.graph.node] == [n.op_type for n in model.graph.node]


def test_rank_4_with_second_reshape_is_not_blamed_on_the_second_reshape():
    """The old reason ("the second Reshape does not provably restore X's shape") named a Reshape
    that is not there; the reason now says what is missing."""
    _, report = convert_model(_decomposition([2, 4, 3, 5], 4, second=False))
    assert "second Reshape" not in report.skipped[0].reason


MALFORMED = {
    "instance-norm-one-input": lambda m: m.graph.node[1].input.pop(),
    "reshape-one-input": lambda m: m.graph.node[0].input.pop(),
    "scale-two-dims": lambda m: m.graph.initializer[1].dims.extend([1]),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_nodes_are_left_alone_not_a_crash(case):
    model = _decomposition([2, 6, 5], 3)
    MALFORMED[case](model)
    custom, report = convert_model(model)
    assert report.total == 0, report.summary()
    assert len(report.skipped) == 1 and report.skipped[0].node == "in", report.summary()
    assert [n.op_type for n in custom.graph.node] == [n.op_type for n in model.graph.node]
