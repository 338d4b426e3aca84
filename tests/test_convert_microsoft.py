"""convert: ONNX Runtime's com.microsoft contrib ops (GroupNorm, SkipGroupNorm, NhwcConv, BiasAdd,
BiasSplitGelu) on tiny hand-built graphs, checked against numpy/torch references of the contrib
semantics (ONNX Runtime has no CPU kernel for them, so the reference is written here), and the
malformed variants that must be left alone with the reason."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from normdeploy import make_session
from normdeploy.convert import ConvertError, convert_model

MS = "com.microsoft"
F32, F16 = TensorProto.FLOAT, TensorProto.FLOAT16
NP = {F32: np.float32, F16: np.float16}


# ---- references (the contrib ops' documented semantics) ---------------------------------------


def ref_group_norm(x: np.ndarray, gamma, beta, groups: int, eps: float, silu: bool, channels_last: bool) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if channels_last:
        x = x.transpose(0, 3, 1, 2)
    n, c = x.shape[:2]
    g = x.reshape(n, groups, -1)
    y = ((g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + eps)).reshape(x.shape)
    y = y * np.asarray(gamma, np.float64).reshape(1, c, 1, 1) + np.asarray(beta, np.float64).reshape(1, c, 1, 1)
    if silu:
        y = y / (1 + np.exp(-y))
    return y.transpose(0, 2, 3, 1) if channels_last else y


def ref_gelu(r: np.ndarray) -> np.ndarray:
    r = np.asarray(r, np.float64)
    return 0.5 * r * (1 + np.vectorize(math.erf)(r / math.sqrt(2)))


# ---- graph building ----------------------------------------------------------------------------


def model(nodes, inputs, outputs, inits=(), opset=17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, [numpy_helper.from_array(v, k) for k, v in inits])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid(MS, 1)])
    m.ir_version = 10
    return m


def vi(name: str, elem: int, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def run_both(m: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Converts to custom (run with our library) and to standard (plain ONNX Runtime); asserts
    nothing of com.microsoft is left and every rewrite is reported."""
    results = {}
    for to in ("custom", "standard"):
        converted, report = convert_model(m, to)
        onnx.checker.check_model(converted)
        left = [n.op_type for n in converted.graph.node if n.domain == MS]
        assert not left and not report.skipped, (to, left, report.summary())
        if to == "standard":
            assert {n.domain for n in converted.graph.node} <= {""}, report.summary()
            session = ort.InferenceSession(converted.SerializeToString(), providers=["CPUExecutionProvider"])
        else:
            session = make_session(converted)
        results[to] = session.run(None, feeds)
        results[to + "_model"] = converted
    return results


def close(actual: np.ndarray, ref: np.ndarray, dtype) -> None:
    tol = 2e-2 if dtype == np.float16 else 2e-5
    scale = max(1.0, float(np.abs(ref).max()))
    err = float(np.abs(np.asarray(actual, np.float64) - ref).max())
    assert err <= tol * scale, f"max error {err} > {tol} * {scale}"


def ops(m: onnx.ModelProto) -> Counter:
    return Counter(n.op_type for n in m.graph.node)


def gn_model(*, channels_last: int, activation: int, elem: int, wrapped: bool, skip: str | None = None,
             bias: bool = False, s_out: bool = False, n=2, c=8, h=3, w=5, groups=4, eps=1e-5, gamma_elem=F32,
             rng=None):
    """X (NCHW when wrapped, else in the node's layout) -> [Transpose] -> (Skip)GroupNorm -> [Transpose]."""
    rng = rng or np.random.default_rng(0)
    nchw, nhwc = [n, c, h, w], [n, h, w, c]
    layout = nhwc if channels_last else nchw
    outer = nchw if wrapped else layout
    gamma = (rng.standard_normal(c) * 0.5 + 1).astype(NP[gamma_elem])
    beta = (rng.standard_normal(c) * 0.3).astype(NP[gamma_elem])
    nodes, inputs, outputs = [], [vi("X", elem, outer)], [vi("Y", elem, outer)]
    inits = [("gamma", gamma), ("beta", beta)]
    feeds = {"X": rng.standard_normal(outer).astype(NP[elem]) * 2 + 0.5}
    x_in, y_out = "X", "Y"
    if wrapped and channels_last:
        nodes.append(helper.make_node("Transpose", ["X"], ["X_nhwc"], perm=[0, 2, 3, 1]))
        x_in, y_out = "X_nhwc", "Y_nhwc"
    op_inputs = [x_in, "gamma", "beta"]
    skip_value = bias_value = None
    if skip is not None:
        skip_shape = {"full": layout, "broadcast": [n, 1, 1, c] if channels_last else [n, c, 1, 1], "nc": [n, c]}[skip]
        skip_value = rng.standard_normal(skip_shape).astype(NP[elem])
        inputs.append(vi("skip", elem, skip_shape))
        feeds["skip"] = skip_value
        op_inputs.append("skip")
        if bias:
            bias_value = rng.standard_normal(c).astype(NP[elem])
            inits.append(("bias", bias_value))
            op_inputs.append("bias")
    op_outputs = [y_out]
    if s_out:
        op_outputs.append("S")
        outputs.append(vi("S", elem, layout))
    attrs = dict(groups=groups, activation=activation, epsilon=eps)
    if channels_last != 1 or rng.random() < 0.5:  # the default is 1: write it or not
        attrs["channels_last"] = channels_last
    nodes.append(helper.make_node("SkipGroupNorm" if skip else "GroupNorm", op_inputs, op_outputs, domain=MS, **attrs))
    if wrapped and channels_last:
        nodes.append(helper.make_node("Transpose", ["Y_nhwc"], ["Y"], perm=[0, 3, 1, 2]))
    # reference
    x = feeds["X"].astype(np.float64)
    if wrapped and channels_last:
        x = x.transpose(0, 2, 3, 1)
    total = x
    if skip_value is not None:
        sv = skip_value.astype(np.float64)
        if skip == "nc":
            sv = sv.reshape(n, 1, 1, c) if channels_last else sv.reshape(n, c, 1, 1)
        total = total + sv
        if bias_value is not None:
            total = total + bias_value.astype(np.float64).reshape((1, 1, 1, c) if channels_last else (1, c, 1, 1))
    y = ref_group_norm(total, gamma, beta, groups, eps, bool(activation), bool(channels_last))
    if wrapped and channels_last:
        y = y.transpose(0, 3, 1, 2)
    refs = [y] + ([total] if s_out else [])
    return model(nodes, inputs, outputs, inits), feeds, refs


# ---- GroupNorm / SkipGroupNorm -----------------------------------------------------------------


@pytest.mark.parametrize("elem", [F32, F16], ids=["float32", "float16"])
@pytest.mark.parametrize("activation", [0, 1])
@pytest.mark.parametrize("channels_last", [1, 0])
def test_group_norm(channels_last: int, activation: int, elem: int) -> None:
    m, feeds, (ref,) = gn_model(channels_last=channels_last, activation=activation, elem=elem, wrapped=True)
    out = run_both(m, feeds)
    for to in ("custom", "standard"):
        close(out[to][0], ref, NP[elem])
    custom = out["custom_model"]
    # the optimizer's Transposes around the node cancel against ours: none is left
    assert ops(custom) == Counter({"GroupNorm": 1}), ops(custom)
    gn = next(n for n in custom.graph.node if n.op_type == "GroupNorm")
    attrs = {a.name: helper.get_attribute_value(a) for a in gn.attribute}
    assert attrs["activation"] == (b"silu" if activation else b"none")
    assert attrs["num_groups"] == 4


def test_group_norm_nhwc_io_gets_explicit_transposes() -> None:
    m, feeds, (ref,) = gn_model(channels_last=1, activation=1, elem=F32, wrapped=False)
    out = run_both(m, feeds)
    close(out["custom"][0], ref, np.float32)
    close(out["standard"][0], ref, np.float32)
    perms = [list(n.attribute[0].ints) for n in out["custom_model"].graph.node if n.op_type == "Transpose"]
    assert perms == [[0, 3, 1, 2], [0, 2, 3, 1]]


def test_group_norm_float16_gamma_with_float32_x_is_cast() -> None:
    m, feeds, (ref,) = gn_model(channels_last=1, activation=0, elem=F32, wrapped=True, gamma_elem=F16)
    out = run_both(m, feeds)
    close(out["custom"][0], ref, np.float32)


@pytest.mark.parametrize("elem", [F32, F16], ids=["float32", "float16"])
@pytest.mark.parametrize("skip,bias,s_out,channels_last", [
    ("full", True, True, 1), ("broadcast", True, False, 1), ("nc", False, True, 1),
    ("full", False, True, 0), ("nc", True, False, 0), ("broadcast", False, False, 0),
])
def test_skip_group_norm(skip: str, bias: bool, s_out: bool, channels_last: int, elem: int) -> None:
    m, feeds, refs = gn_model(channels_last=channels_last, activation=1, elem=elem, wrapped=True, skip=skip,
                              bias=bias, s_out=s_out, rng=np.random.default_rng(7))
    out = run_both(m, feeds)
    for to in ("custom", "standard"):
        for got, ref in zip(out[to], refs):
            close(got, ref, NP[elem])
        assert len(out[to]) == len(refs)


def test_skip_group_norm_unknown_skip_rank_uses_runtime_shape() -> None:
    """When shape inference cannot tell the skip's rank (in optimized UNets it stops at contrib ops
    it does not know), the skip's layout is worked out from Shape(skip) at run time: both
    (N,H,W,C) and (N,C) must come out right."""
    for skip in ("full", "nc"):
        m, feeds, (ref,) = gn_model(channels_last=1, activation=0, elem=F32, wrapped=True, skip=skip, bias=True)
        node = next(n for n in m.graph.node if n.op_type == "SkipGroupNorm")
        # hide the skip's rank: a Reshape to a shape that is a graph input of unknown length
        m.graph.node.insert(0, helper.make_node("Reshape", ["skip", "skip_shape"], ["skip_hidden"]))
        node.input[3] = "skip_hidden"
        m.graph.input.append(vi("skip_shape", TensorProto.INT64, ["k"]))
        feeds["skip_shape"] = np.array(feeds["skip"].shape, np.int64)
        converted, report = convert_model(m, "custom")
        assert report.counts["com.microsoft.SkipGroupNorm"] == 1, report.summary()
        assert ops(converted)["Reshape"] == 2  # ours works out the layout from Shape(skip)
        (y,) = make_session(converted).run(None, feeds)
        close(y, ref, np.float32)


def test_skip_group_norm_unused_s_is_dropped() -> None:
    m, feeds, (ref,) = gn_model(channels_last=1, activation=0, elem=F32, wrapped=True, skip="full", bias=True)
    node = next(n for n in m.graph.node if n.op_type == "SkipGroupNorm")
    node.output.append("S_unused")
    converted, _ = convert_model(m, "custom")
    assert not any("S_unused" in n.output for n in converted.graph.node)
    close(make_session(converted).run(None, feeds)[0], ref, np.float32)


# ---- NhwcConv, BiasAdd, BiasSplitGelu ------------------------------------------------------------


@pytest.mark.parametrize("elem", [F32, F16], ids=["float32", "float16"])
@pytest.mark.parametrize("group,bias,wrapped", [(1, True, True), (2, False, False), (4, True, False)])
def test_nhwc_conv(group: int, bias: bool, wrapped: bool, elem: int) -> None:
    rng = np.random.default_rng(3)
    n, c, h, w, m_out, k = 2, 8, 7, 6, 12, 3
    weight = (rng.standard_normal((m_out, c // group, k, k)) * 0.3).astype(NP[elem])  # torch layout
    b = rng.standard_normal(m_out).astype(NP[elem])
    x = rng.standard_normal((n, c, h, w)).astype(NP[elem])
    inits = [("W", weight.transpose(0, 2, 3, 1).copy())] + ([("B", b)] if bias else [])
    attrs = dict(group=group, kernel_shape=[k, k], pads=[1, 0, 1, 2], strides=[2, 1], dilations=[1, 1])
    ins = ["X_nhwc", "W", *(["B"] if bias else [])]
    out_h, out_w = (h + 2 - k) // 2 + 1, (w + 2 - k) + 1
    if wrapped:
        nodes = [helper.make_node("Transpose", ["X"], ["X_nhwc"], perm=[0, 2, 3, 1]),
                 helper.make_node("NhwcConv", ins, ["Y_nhwc"], domain=MS, **attrs),
                 helper.make_node("Transpose", ["Y_nhwc"], ["Y"], perm=[0, 3, 1, 2])]
        io = [vi("X", elem, [n, c, h, w])], [vi("Y", elem, [n, m_out, out_h, out_w])]
        feeds = {"X": x}
    else:
        nodes = [helper.make_node("NhwcConv", ins, ["Y"], domain=MS, **attrs)]
        io = [vi("X_nhwc", elem, [n, h, w, c])], [vi("Y", elem, [n, out_h, out_w, m_out])]
        feeds = {"X_nhwc": x.transpose(0, 2, 3, 1).copy()}
    m = model(nodes, *io, inits)
    xt = torch.nn.functional.pad(torch.from_numpy(x.astype(np.float64)), (0, 2, 1, 1))  # pads: h0 w0 h1 w1
    ref = torch.nn.functional.conv2d(xt, torch.from_numpy(weight.astype(np.float64)),
                                     torch.from_numpy(b.astype(np.float64)) if bias else None,
                                     stride=(2, 1), groups=group).numpy()
    if not wrapped:
        ref = ref.transpose(0, 2, 3, 1)
    out = run_both(m, feeds)
    for to in ("custom", "standard"):
        close(out[to][0], ref, NP[elem])
    transposes = ops(out["standard_model"])["Transpose"]
    assert transposes == (0 if wrapped else 2)


@pytest.mark.parametrize("elem", [F32, F16], ids=["float32", "float16"])
def test_bias_add(elem: int) -> None:
    rng = np.random.default_rng(5)
    x, s = rng.standard_normal((2, 6, 10)).astype(NP[elem]), rng.standard_normal((2, 6, 10)).astype(NP[elem])
    b = rng.standard_normal(10).astype(NP[elem])
    m = model([helper.make_node("BiasAdd", ["X", "bias", "skip"], ["Y"], domain=MS)],
              [vi("X", elem, [2, 6, 10]), vi("skip", elem, [2, 6, 10])], [vi("Y", elem, [2, 6, 10])], [("bias", b)])
    out = run_both(m, {"X": x, "skip": s})
    for to in ("custom", "standard"):
        close(out[to][0], x.astype(np.float64) + b + s, NP[elem])


@pytest.mark.parametrize("opset", [17, 20])
@pytest.mark.parametrize("elem", [F32, F16], ids=["float32", "float16"])
def test_bias_split_gelu(elem: int, opset: int) -> None:
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 5, 12)).astype(NP[elem])
    b = rng.standard_normal(12).astype(NP[elem])
    m = model([helper.make_node("BiasSplitGelu", ["X", "bias"], ["Y"], domain=MS)],
              [vi("X", elem, ["batch", 5, 12])], [vi("Y", elem, ["batch", 5, 6])], [("bias", b)], opset=opset)
    out = run_both(m, {"X": x})
    a = x.astype(np.float64) + b
    ref = a[..., :6] * ref_gelu(a[..., 6:])
    for to in ("custom", "standard"):
        close(out[to][0], ref, NP[elem])
    assert ("Gelu" in ops(out["standard_model"])) == (opset >= 20)
    assert ("Erf" in ops(out["standard_model"])) == (opset < 20)


# ---- malformed contrib nodes: left alone with the reason, never a crash or a wrong file ---------


def _gn(**changes):
    m, _, _ = gn_model(channels_last=1, activation=0, elem=F32, wrapped=True, skip=changes.pop("skip", None),
                       bias=changes.pop("bias", False))
    node = next(n for n in m.graph.node if n.domain == MS)
    for key, value in changes.items():
        if key == "inputs":
            del node.input[:]
            node.input.extend(value)
        elif key == "drop":
            kept = [a for a in node.attribute if a.name != value]
            del node.attribute[:]
            node.attribute.extend(kept)
        else:
            kept = [a for a in node.attribute if a.name != key]
            del node.attribute[:]
            node.attribute.extend(kept + [helper.make_attribute(key, value)])
    return m


def _gn_gamma(length: int):
    m = _gn()
    gamma = next(i for i in m.graph.initializer if i.name == "gamma")
    gamma.CopyFrom(numpy_helper.from_array(np.ones(length, np.float32), "gamma"))
    return m


def _transposed_wrongly():
    """Transpose(0,3,2,1) before the node: not the inverse of ours, so it must stay (explicit)."""
    m, feeds, _ = gn_model(channels_last=1, activation=0, elem=F32, wrapped=True, h=4, w=4)
    m.graph.node[0].attribute[0].CopyFrom(helper.make_attribute("perm", [0, 3, 2, 1]))
    return m


MALFORMED = {
    "missing gamma": (lambda: _gn(inputs=["X_nhwc", "", "beta"]), "required input 'gamma' (#1) is missing"),
    "too many inputs": (lambda: _gn(inputs=["X_nhwc", "gamma", "beta", "beta"]), "4 inputs; GroupNorm takes at most 3"),
    "groups is a float": (lambda: _gn(groups=4.0), "attribute 'groups' has type float, expected int"),
    "activation missing": (lambda: _gn(drop="activation"), "required attribute 'activation' is missing"),
    "activation 2": (lambda: _gn(activation=2), "attribute 'activation' = 2: expected 0 (none) or 1 (SiLU)"),
    "channels_last string": (lambda: _gn(channels_last="yes"), "attribute 'channels_last' has type string"),
    "groups does not divide C": (lambda: _gn(groups=3), "groups=3 does not divide C=8"),
    "groups 0": (lambda: _gn(groups=0), "attribute 'groups' = 0 is not >= 1"),
    "negative epsilon": (lambda: _gn(epsilon=-1.0), "attribute 'epsilon' = -1.0 is not a finite number >= 0"),
    "unknown attribute": (lambda: _gn(alpha=1), "unknown attribute(s) ['alpha']"),
    "gamma of wrong length": (lambda: _gn_gamma(6), "input 'gamma' has 6 values; X has C=8 channels"),
    "skip with other channels": (
        lambda: _skip_channels(4), "input 'skip' has 4 channels; X has C=8"),
}


def _skip_channels(c: int):
    m = _gn(skip="full")
    skip = next(i for i in m.graph.input if i.name == "skip")
    skip.CopyFrom(vi("skip", F32, [2, 3, 5, c]))
    return m


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_contrib_node_left_alone(case: str) -> None:
    build, reason = MALFORMED[case]
    m = build()
    for to in ("custom", "standard"):
        converted, report = convert_model(m, to)
        kept = [n for n in converted.graph.node if n.domain == MS]
        assert len(kept) == 1 and not any(n.domain == "normdeploy" for n in converted.graph.node)
        reasons = [s.reason for s in report.skipped]
        assert len(reasons) == 1 and reason in reasons[0], reasons


def test_conflicting_transpose_stays_and_explicit_ones_are_added() -> None:
    m = _transposed_wrongly()
    converted, report = convert_model(m, "custom")
    assert report.counts["com.microsoft.GroupNorm"] == 1
    perms = [list(n.attribute[0].ints) for n in converted.graph.node if n.op_type == "Transpose"]
    assert [0, 3, 2, 1] in perms and [0, 3, 1, 2] in perms  # theirs kept, ours added before the GroupNorm
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 8, 4, 4)).astype(np.float32)
    node = next(n for n in m.graph.node if n.domain == MS)
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    gamma, beta = inits["gamma"], inits["beta"]
    ref = ref_group_norm(x.transpose(0, 3, 2, 1), gamma, beta, 4, 1e-5, False, True).transpose(0, 3, 1, 2)
    assert node.op_type == "GroupNorm"
    close(make_session(converted).run(None, {"X": x})[0], ref, np.float32)


def test_malformed_conv_and_bias_ops_left_alone() -> None:
    w = np.ones((4, 3, 3, 2), np.float32)
    cases = {
        "NhwcConv pads": (helper.make_node("NhwcConv", ["X", "W"], ["Y"], domain=MS, pads=[1, 1]),
                          "attribute 'pads' has 2 values; expected 4"),
        "NhwcConv group": (helper.make_node("NhwcConv", ["X", "W"], ["Y"], domain=MS, group=3),
                           "X has C=2 channels but W takes 2 per group x group=3"),
        "NhwcConv kernel": (helper.make_node("NhwcConv", ["X", "W"], ["Y"], domain=MS, kernel_shape=[5, 5]),
                            "attribute 'kernel_shape' = [5, 5] but W (M, *kernel, C/group) has kernel [3, 3]"),
        "BiasAdd missing skip": (helper.make_node("BiasAdd", ["X", "b"], ["Y"], domain=MS),
                                 "required input 'skip' (#2) is missing"),
        "BiasSplitGelu odd": (helper.make_node("BiasSplitGelu", ["X3", "b3"], ["Y"], domain=MS),
                              "the hidden size D=3 is odd"),
        "BiasSplitGelu bias length": (helper.make_node("BiasSplitGelu", ["X3", "b"], ["Y"], domain=MS),
                                      "input 'bias' has 2 values; X's last dim is 3"),
    }
    for case, (node, reason) in cases.items():
        m = model([node], [vi("X", F32, [1, 5, 5, 2]), vi("X3", F32, [1, 4, 3])], [vi("Y", F32, None)],
                  [("W", w), ("b", np.zeros(2, np.float32)), ("b3", np.zeros(3, np.float32))])
        converted, report = convert_model(m, "custom")
        assert [n.domain for n in converted.graph.node] == [MS], case
        assert len(report.skipped) == 1 and reason in report.skipped[0].reason, (case, report.summary())


def test_other_contrib_op_listed_with_the_runtime_reason() -> None:
    m = model([helper.make_node("FastGelu", ["X"], ["Y"], domain=MS),
               helper.make_node("GroupNorm", ["Y", "g", "g"], ["Z"], domain=MS, groups=1, activation=0)],
              [vi("X", F32, [1, 2, 2, 4])], [vi("Z", F32, [1, 2, 2, 4])], [("g", np.ones(4, np.float32))])
    converted, report = convert_model(m, "custom")
    assert report.counts["com.microsoft.GroupNorm"] == 1
    (skipped,) = report.skipped
    assert skipped.pattern == "com.microsoft.FastGelu"
    # onnxruntime has a CPU kernel for FastGelu: the reason says so (asked from the runtime)
    assert "runs it on the CPU" in skipped.reason
    m.graph.node[0].op_type = "NoSuchOp"
    _, report = convert_model(m, "custom")
    assert "does not know it" in report.skipped[0].reason


def test_non_tensor_dtype_is_refused_cleanly() -> None:
    m = model([helper.make_node("BiasAdd", ["X", "b", "X"], ["Y"], domain=MS)],
              [vi("X", TensorProto.INT64, [1, 2, 3])], [vi("Y", TensorProto.INT64, [1, 2, 3])],
              [("b", np.zeros(3, np.int64))])
    try:
        _, report = convert_model(m, "custom")
    except ConvertError as exc:  # acceptable: a clear error naming the problem
        assert "int64" in str(exc)
        return
    assert "input 'X' has type int64" in report.skipped[0].reason


# ---- SkipLayerNormalization ---------------------------------------------------------------------


@pytest.mark.parametrize("elem", [F32, F16], ids=["float32", "float16"])
@pytest.mark.parametrize("skip_shape,beta,bias,sum_out", [
    ((2, 5, 16), True, True, True), ((1, 5, 16), False, True, False), ((5, 16), True, False, True),
])
def test_skip_layer_norm(elem: int, skip_shape, beta: bool, bias: bool, sum_out: bool) -> None:
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 5, 16)).astype(NP[elem])
    skip = rng.standard_normal(skip_shape).astype(NP[elem])
    gamma, b, bias_v = (rng.standard_normal(16).astype(NP[elem]) for _ in range(3))
    inputs = ["X", "skip", "gamma", "beta" if beta else "", "bias" if bias else ""]
    while not inputs[-1]:
        inputs.pop()
    outputs = ["Y", "", "", "S"] if sum_out else ["Y"]
    node = helper.make_node("SkipLayerNormalization", inputs, outputs, domain=MS, epsilon=1e-5)
    inits = [("gamma", gamma)] + ([("beta", b)] if beta else []) + ([("bias", bias_v)] if bias else [])
    m = model([node], [vi("X", elem, [2, 5, 16]), vi("skip", elem, list(skip_shape))],
              [vi("Y", elem, [2, 5, 16])] + ([vi("S", elem, [2, 5, 16])] if sum_out else []), inits)
    out = run_both(m, {"X": x, "skip": skip})
    s = x.astype(np.float64) + skip + (bias_v.astype(np.float64) if bias else 0)
    y = (s - s.mean(-1, keepdims=True)) / np.sqrt(s.var(-1, keepdims=True) + 1e-5) * gamma + (b if beta else 0)
    for to in ("custom", "standard"):
        close(out[to][0], y, NP[elem])
        if sum_out:
            close(out[to][1], s, NP[elem])
    assert ops(out["standard_model"])["LayerNormalization"] == 1


def test_skip_layer_norm_left_alone_below_opset_17_and_when_training_outputs_are_read() -> None:
    gamma = np.ones(4, np.float32)
    for opset, outputs, reason in ((16, ["Y"], "opset 16 has no LayerNormalization"),
                                   (17, ["Y", "mean"], "training outputs 'mean'/'inv_std_var' are used")):
        node = helper.make_node("SkipLayerNormalization", ["X", "X", "gamma"], outputs, domain=MS)
        m = model([node], [vi("X", F32, [1, 2, 4])], [vi(o, F32, None) for o in outputs], [("gamma", gamma)],
                  opset=opset)
        converted, report = convert_model(m, "standard")
        assert [n.op_type for n in converted.graph.node] == ["SkipLayerNormalization"]
        assert reason in report.skipped[0].reason, report.summary()


# ---- random mutations of contrib nodes: never a crash, never a file ONNX Runtime cannot load ----

_MUTANT_VALUES = (0, 1, 2, -1, 3, 1.5, "x", [1, 2], [1.0], b"y")
_MUTANT_ATTRIBUTES = ("groups", "activation", "channels_last", "epsilon", "pads", "group", "strides", "other")


def _mutant_base(kind: str, rnd) -> onnx.ModelProto:
    if kind in ("GroupNorm", "SkipGroupNorm"):
        skip = rnd.choice(["full", "broadcast", "nc"]) if kind == "SkipGroupNorm" else None
        m, _, _ = gn_model(channels_last=rnd.choice([0, 1]), activation=rnd.choice([0, 1]), elem=rnd.choice([F32, F16]),
                           wrapped=rnd.random() < 0.5, skip=skip, bias=rnd.random() < 0.5, s_out=rnd.random() < 0.5)
        return m
    if kind == "NhwcConv":
        return model([helper.make_node(kind, ["X", "W"], ["Y"], domain=MS, kernel_shape=[3, 3])],
                     [vi("X", F32, [1, 5, 5, 2])], [vi("Y", F32, [1, "h", "w", "c"])],
                     [("W", np.ones((4, 3, 3, 2), np.float32))])
    inputs = {"BiasAdd": ["X", "b", "X"], "BiasSplitGelu": ["X", "b"], "SkipLayerNormalization": ["X", "X", "b"]}[kind]
    out = [1, 4, 3] if kind == "BiasSplitGelu" else [1, 4, 6]
    return model([helper.make_node(kind, inputs, ["Y"], domain=MS)], [vi("X", F32, [1, 4, 6])], [vi("Y", F32, out)],
                 [("b", np.ones(6, np.float32))])


def test_random_mutations_never_crash() -> None:
    import random

    rnd = random.Random(11)
    outcomes: Counter = Counter()
    for _ in range(60):
        kind = rnd.choice(["GroupNorm", "SkipGroupNorm", "NhwcConv", "BiasAdd", "BiasSplitGelu",
                           "SkipLayerNormalization"])
        m = _mutant_base(kind, rnd)
        node = next(n for n in m.graph.node if n.domain == MS)
        for _ in range(rnd.randint(0, 2)):
            roll = rnd.random()
            if roll < 0.4 and node.attribute:
                name = rnd.choice(list(node.attribute)).name
                kept = [a for a in node.attribute if a.name != name]
                del node.attribute[:]
                node.attribute.extend(kept + [helper.make_attribute(name, rnd.choice(_MUTANT_VALUES))])
            elif roll < 0.6 and not any(a.name in _MUTANT_ATTRIBUTES[-3:] for a in node.attribute):
                name = rnd.choice(_MUTANT_ATTRIBUTES[-3:])
                node.attribute.append(helper.make_attribute(name, rnd.choice(_MUTANT_VALUES)))
            elif roll < 0.8:
                node.input[rnd.randrange(len(node.input))] = rnd.choice(["", node.input[0], node.input[-1]])
            elif len(node.input) > 1:
                del node.input[-1]
        for to in ("custom", "standard"):
            try:
                converted, report = convert_model(m, to)
            except ConvertError as exc:  # the input itself is refused (e.g. a broken graph): fine
                assert str(exc)
                outcomes["refused"] += 1
                continue
            if any(n.domain == MS for n in converted.graph.node):
                assert report.skipped and all(s.reason for s in report.skipped)
                outcomes["left alone"] += 1
            else:
                onnx.checker.check_model(converted)
                make_session(converted)  # loads: a rewrite never writes a file ONNX Runtime rejects
                outcomes["rewritten"] += 1
    assert outcomes["left alone"] and outcomes["rewritten"], outcomes
