"""convert: GroupNormalization-18/21 of every kind (scale/bias graph inputs, dynamic C, ranks 2-5),
the checker policy for nodes convert left as they were (warnings; strict refuses), and bad nodes."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

import normdeploy
from normdeploy.convert import ConvertError, convert, convert_model
from normdeploy.graphs import IR_VERSION
from normdeploy.ops import DOMAIN, group_norm

FLOAT = onnx.TensorProto.FLOAT


def _model(nodes, inputs, outputs, inits=(), opset=18):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=IR_VERSION)


def _vi(name, shape, elem=FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def _gn18(x_shape, groups, *, scale_input: bool, eps=1e-3, opset=18, values=None):
    """X -> GroupNormalization(num_groups) -> Y; scale/bias as graph inputs or initializers."""
    node = helper.make_node("GroupNormalization", ["X", "s", "b"], ["Y"], name="gn", num_groups=groups, epsilon=eps)
    inputs = [_vi("X", x_shape)]
    inits = []
    if scale_input:
        n = groups if opset < 21 else x_shape[1]
        inputs += [_vi("s", [n]), _vi("b", [n])]
    else:
        s, b = values
        inits = [numpy_helper.from_array(s, "s"), numpy_helper.from_array(b, "b")]
    return _model([node], inputs, [_vi("Y", x_shape)], inits, opset=opset)


def _ort(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)[0]


SHAPES = {  # rank -> (declared shape with symbolic dims, concrete shapes to run)
    2: (["N", "C"], [(3, 6), (2, 4)]),
    3: (["N", "C", "L"], [(2, 6, 5), (1, 8, 3)]),
    4: (["N", "C", 3, "W"], [(2, 6, 3, 4), (1, 4, 3, 2)]),
    5: (["N", "C", 2, 3, "W"], [(1, 6, 2, 3, 2), (2, 2, 2, 3, 1)]),
}


@pytest.mark.parametrize("rank", sorted(SHAPES))
def test_gn18_with_scale_bias_inputs_and_dynamic_channels_converts(rank, rng):
    """Every valid GroupNormalization-18 converts: scale/bias graph inputs, C unknown until run
    time; the per-channel values are expanded by a subgraph, checked against ONNX Runtime running
    the original at opset 18 for two different C."""
    groups = 2
    declared, runs = SHAPES[rank]
    model = _gn18(declared, groups, scale_input=True)
    custom, report = convert_model(model)
    assert report.counts == {"GroupNormalization-18 (per-channel scale/bias computed at run time)": 1}, report.summary()
    assert report.skipped == []
    assert [n.op_type for n in custom.graph.node if n.domain == DOMAIN] == ["GroupNorm"]
    assert not [n for n in custom.graph.node if n.op_type == "GroupNormalization"]
    onnx.checker.check_model(custom, full_check=True)  # our rewrite is always checker-valid
    session = normdeploy.make_session(custom)
    for shape in runs:
        x = rng.standard_normal(shape).astype(np.float32)
        s = rng.standard_normal(groups).astype(np.float32)
        b = rng.standard_normal(groups).astype(np.float32)
        feeds = {"X": x, "s": s, "b": b}
        got = session.run(None, feeds)[0]
        np.testing.assert_allclose(got, _ort(model, feeds), rtol=1e-4, atol=1e-4)
        rep = shape[1] // groups
        want = group_norm.reference(x, np.repeat(s, rep), np.repeat(b, rep), groups, np.float32(1e-3))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_gn18_constant_scale_with_dynamic_channels_converts(rng):
    groups = 3
    s, b = rng.standard_normal(groups).astype(np.float32), rng.standard_normal(groups).astype(np.float32)
    model = _gn18(["N", "C", 4], groups, scale_input=False, values=(s, b))
    custom, report = convert_model(model)
    assert report.total == 1 and report.skipped == [], report.summary()
    session = normdeploy.make_session(custom)
    for c in (3, 9):
        x = rng.standard_normal((2, c, 4)).astype(np.float32)
        want = group_norm.reference(x, np.repeat(s, c // groups), np.repeat(b, c // groups), groups, np.float32(1e-3))
        np.testing.assert_allclose(session.run(None, {"X": x})[0], want, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(session.run(None, {"X": x})[0], _ort(model, {"X": x}), rtol=1e-4, atol=1e-4)


def test_gn18_float16_with_scale_inputs(rng):
    groups = 2
    node = helper.make_node("GroupNormalization", ["X", "s", "b"], ["Y"], num_groups=groups)
    f16 = onnx.TensorProto.FLOAT16
    model = _model([node], [_vi("X", ["N", "C", 5], f16), _vi("s", [groups], f16), _vi("b", [groups], f16)],
                   [_vi("Y", ["N", "C", 5], f16)])
    custom, report = convert_model(model)
    assert report.total == 1, report.summary()
    onnx.checker.check_model(custom, full_check=True)
    x = rng.standard_normal((2, 4, 5)).astype(np.float16)
    s, b = rng.standard_normal(groups).astype(np.float16), rng.standard_normal(groups).astype(np.float16)
    got = normdeploy.make_session(custom).run(None, {"X": x, "s": s, "b": b})[0]
    assert got.dtype == np.float16
    want = group_norm.reference(x.astype(np.float32), np.repeat(s, 2).astype(np.float32),
                                np.repeat(b, 2).astype(np.float32), groups, 1e-5)
    np.testing.assert_allclose(got.astype(np.float32), want, rtol=1e-2, atol=1e-2)


def test_gn18_converted_then_back_to_standard_runs_on_plain_ort(rng):
    model = _gn18(["N", "C", 5], 2, scale_input=True)
    custom, _ = convert_model(model)
    back, report = convert_model(custom, "standard")
    assert not any(n.domain == DOMAIN for n in back.graph.node), report.summary()
    onnx.checker.check_model(back, full_check=True)
    x = rng.standard_normal((2, 6, 5)).astype(np.float32)
    feeds = {"X": x, "s": np.array([1.5, -2.0], np.float32), "b": np.array([0.25, 3.0], np.float32)}
    np.testing.assert_allclose(_ort(back, feeds), _ort(model, feeds), rtol=1e-4, atol=1e-4)


def test_gn21_with_dynamic_channels_and_scale_inputs(rng):
    model = _gn18(["N", "C", 5], 2, scale_input=True, opset=21)
    model.graph.input[1].type.tensor_type.shape.dim[0].dim_param = "C"
    model.graph.input[2].type.tensor_type.shape.dim[0].dim_param = "C"
    custom, report = convert_model(model)
    assert report.counts == {"GroupNormalization-21": 1}, report.summary()
    x = rng.standard_normal((2, 6, 5)).astype(np.float32)
    feeds = {"X": x, "s": rng.standard_normal(6).astype(np.float32), "b": rng.standard_normal(6).astype(np.float32)}
    np.testing.assert_allclose(normdeploy.make_session(custom).run(None, feeds)[0], _ort(model, feeds),
                               rtol=1e-4, atol=1e-4)


BAD = {  # id -> (node attributes/inputs changes, declared X shape, scale length, reason fragment)
    "groups-do-not-divide-C": ({"num_groups": 4}, ["N", 6, 5], 4, "num_groups=4 does not divide C=6"),
    "num-groups-zero": ({"num_groups": 0}, ["N", 6, 5], 0, "'num_groups' = 0 is not an int >= 1"),
    "num-groups-float": ({"num_groups": 2.0}, ["N", 6, 5], 2, "'num_groups' = 2.0 is not an int >= 1"),
    "scale-not-per-group": ({"num_groups": 2}, ["N", 6, 5], 3, "scale has 3 values; expected num_groups=2"),
    "epsilon-string": ({"num_groups": 2, "epsilon": "tiny"}, ["N", 6, 5], 2, "epsilon"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_gn18_is_left_alone_with_the_reason(case, tmp_path):
    attrs, shape, n, reason = BAD[case]
    node = helper.make_node("GroupNormalization", ["X", "s", "b"], ["Y"], name="gn", **attrs)
    inits = [numpy_helper.from_array(np.ones(n, np.float32), "s"), numpy_helper.from_array(np.zeros(n, np.float32), "b")]
    model = _model([node], [_vi("X", shape)], [_vi("Y", None)], inits)
    custom, report = convert_model(model)
    assert report.total == 0
    assert len(report.skipped) == 1 and reason in report.skipped[0].reason, report.summary()
    assert report.skipped[0].node == "gn"
    assert [n.op_type for n in custom.graph.node] == ["GroupNormalization"]


def test_gn18_on_a_model_without_opset_18_is_left_alone():
    node = helper.make_node("GroupNormalization", ["X", "s", "b"], ["Y"], num_groups=2)
    model = _model([node], [_vi("X", ["N", 4, 5]), _vi("s", [2]), _vi("b", [2])], [_vi("Y", None)], opset=17)
    _, report = convert_model(model)
    assert report.total == 0 and "needs opset >= 18; the model imports opset 17" in report.skipped[0].reason


def _left_alone_gn18_model() -> onnx.ModelProto:
    """A GroupNormalization-18 convert cannot rewrite (4 groups do not divide C=6) next to an LRN it can."""
    nodes = [helper.make_node("LRN", ["X"], ["l"], size=3, name="lrn"),
             helper.make_node("GroupNormalization", ["l", "s", "b"], ["Y"], num_groups=4, name="gn")]
    inits = [numpy_helper.from_array(np.ones(4, np.float32), "s"), numpy_helper.from_array(np.zeros(4, np.float32), "b")]
    return _model(nodes, [_vi("X", [1, 6, 5, 5])], [_vi("Y", [1, 6, 5, 5])], inits)


def test_untouched_deprecated_node_is_a_warning_not_a_refusal(tmp_path):
    """onnx >= 1.23 rejects GroupNormalization-18 (deprecated); convert did not touch it, so the
    file is written and the report says so. strict=True keeps the refusal."""
    src, dst = tmp_path / "in.onnx", tmp_path / "out.onnx"
    onnx.save(_left_alone_gn18_model(), src)
    with pytest.raises(onnx.checker.ValidationError, match="deprecated"):
        onnx.checker.check_model(onnx.load(src))  # the premise: the input itself fails the checker
    report = convert(src, dst)
    assert report.counts == {"LRN": 1}
    assert len(report.warnings) == 1 and "'gn'" in report.warnings[0] and "deprecated" in report.warnings[0]
    assert "warning: onnx.checker rejects node 'gn'" in report.summary()
    written = onnx.load(dst)
    assert [n.op_type for n in written.graph.node] == ["LocalResponseNorm", "GroupNormalization"]
    dst.unlink()
    with pytest.raises(ConvertError, match="not written: the result fails onnx.checker \\(strict checking\\)"):
        convert(src, dst, strict=True)
    assert not dst.exists()


def test_checker_failure_in_a_node_convert_wrote_is_never_excused(tmp_path, monkeypatch):
    """If a node convert wrote failed the checker, the file is refused even without strict."""
    from normdeploy.convert import io as convert_io

    model = _left_alone_gn18_model()
    converted, _ = convert_model(model)
    broken = onnx.ModelProto()
    broken.CopyFrom(converted)
    broken.graph.node[0].op_type = "NoSuchStandardOp"
    broken.graph.node[0].domain = ""
    with pytest.raises(ConvertError, match="not written: the result fails onnx.checker"):
        convert_io.save_converted(model, broken, tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()


def test_graph_level_checker_failure_is_never_excused(tmp_path):
    """An untouched bad node does not excuse a failure elsewhere (here: an output nothing produces)."""
    from normdeploy.convert import io as convert_io

    model = _left_alone_gn18_model()
    converted, _ = convert_model(model)
    converted.graph.output.append(_vi("ghost", [1]))
    with pytest.raises(ConvertError, match="not written: the result fails onnx.checker"):
        convert_io.save_converted(model, converted, tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()


def test_cli_strict_flag(tmp_path, capsys):
    from normdeploy.cli.main import main

    src, dst = tmp_path / "in.onnx", tmp_path / "out.onnx"
    onnx.save(_left_alone_gn18_model(), src)
    assert main(["convert", str(src), "-o", str(dst)]) == 0
    out = capsys.readouterr().out
    assert "warning: onnx.checker rejects node 'gn'" in out and dst.is_file()
    dst.unlink()
    assert main(["convert", str(src), "-o", str(dst), "--strict"]) == 2
    err = capsys.readouterr().err
    assert "strict checking" in err and "Traceback" not in err and not dst.exists()


def test_rewrites_carry_the_exporters_node_metadata():
    model = _gn18(["N", "C", 5], 2, scale_input=True)
    entry = model.graph.node[0].metadata_props.add()
    entry.key, entry.value = "pkg.torch.onnx.name_scopes", "['', 'block.norm']"
    custom, _ = convert_model(model)
    assert custom.graph.node, "nothing written"
    for node in custom.graph.node:
        assert {p.key: p.value for p in node.metadata_props} == {"pkg.torch.onnx.name_scopes": "['', 'block.norm']"}, node
    onnx.checker.check_model(custom)


def test_checker_policy_for_models_checked_from_the_written_file(tmp_path, monkeypatch):
    """Models too large to check in memory are checked from the written file: the same policy,
    and a refused file is removed again."""
    from normdeploy.convert import io as convert_io

    monkeypatch.setattr(convert_io, "EXTERNAL_DATA_THRESHOLD", 0)  # every model counts as large
    model = _left_alone_gn18_model()
    converted, _ = convert_model(model)
    dst = tmp_path / "out.onnx"
    warnings = convert_io.save_converted(model, converted, dst)
    assert len(warnings) == 1 and "'gn'" in warnings[0] and dst.is_file()
    assert not [p.name for p in tmp_path.iterdir() if p.name != "out.onnx"], "a temporary file was left"
    dst.unlink()
    with pytest.raises(ConvertError, match="strict checking"):
        convert_io.save_converted(model, converted, dst, strict=True)
    assert not dst.exists()
    broken = onnx.ModelProto()
    broken.CopyFrom(converted)
    broken.graph.output.append(_vi("ghost", [1]))
    with pytest.raises(ConvertError, match="not written: the result fails onnx.checker"):
        convert_io.save_converted(model, broken, dst)
    assert list(tmp_path.iterdir()) == []


def test_gn18_with_a_huge_declared_channel_count_converts_without_allocating():
    """C = 2**40 declared: the per-channel values are not stored (that would be 4 TiB); the run-time
    expansion is used, so the initializers stay as small as the input's."""
    node = helper.make_node("GroupNormalization", ["X", "s", "b"], ["Y"], name="gn", num_groups=2)
    dims = [1, 2**40, 2, 2]
    inits = [numpy_helper.from_array(np.ones(2, np.float32), "s"), numpy_helper.from_array(np.zeros(2, np.float32), "b")]
    model = _model([node], [_vi("X", dims)], [_vi("Y", dims)], inits)
    custom, report = convert_model(model)
    assert report.counts == {"GroupNormalization-18 (per-channel scale/bias computed at run time)": 1}, report.summary()
    assert max(int(np.prod(i.dims)) for i in custom.graph.initializer) <= 2
    assert custom.ByteSize() < 4096
