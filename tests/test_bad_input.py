"""Bad attributes, shapes and dtypes give an ONNX Runtime error naming op, field and value;
never a crash. Each case runs the real library in this process: a crash fails the whole run."""

from __future__ import annotations

import math

import numpy as np
import pytest
from onnx import helper

import normdeploy
from normdeploy import runtime
from normdeploy.graphs import IR_VERSION, onnx_elem_type, single_op_model
from normdeploy.ops import DOMAIN, VERSION


def _run(model, feeds):
    sess = normdeploy.make_session(model)
    return runtime.run_arrays(sess, feeds)


def _gn_model(x_shape, attrs, scale=None, bias=None, dtype="float32"):
    extra = []
    if scale is not None:
        extra.append(("scale", list(scale.shape), scale.dtype.name))
    if bias is not None:
        extra.append(("bias", list(bias.shape), bias.dtype.name))
    return single_op_model("GroupNorm", list(x_shape), dtype, attrs, extra_inputs=extra)


GN_ATTR_CASES = [
    ({}, r"GroupNorm: required attribute 'num_groups' is missing"),
    ({"num_groups": 0}, r"GroupNorm: attribute 'num_groups' = 0 is invalid: must be >= 1"),
    ({"num_groups": -3}, r"GroupNorm: attribute 'num_groups' = -3 is invalid: must be >= 1"),
    ({"num_groups": 2.5}, r"GroupNorm: attribute 'num_groups' must be an int, got a float \(2.5\)"),
    ({"num_groups": "two"}, r"GroupNorm: attribute 'num_groups' must be an int, got a string \('two'\)"),
    ({"num_groups": 2, "epsilon": -1e-5}, r"GroupNorm: attribute 'epsilon' = -1e-05 is invalid: must be finite and >= 0"),
    ({"num_groups": 2, "epsilon": math.nan}, r"GroupNorm: attribute 'epsilon' = nan is invalid"),
    ({"num_groups": 2, "epsilon": math.inf}, r"GroupNorm: attribute 'epsilon' = inf is invalid"),
    ({"num_groups": 2, "epsilon": 1}, r"GroupNorm: attribute 'epsilon' must be a float, got an int \(1\)"),
    ({"num_groups": 2, "activation": "relu"}, r"GroupNorm: attribute 'activation' = 'relu' is invalid: must be one of 'none', 'silu'"),
    ({"num_groups": [2, 2]}, r"GroupNorm: attribute 'num_groups' must be an int, got a list of ints"),
]


@pytest.mark.parametrize("attrs,message", GN_ATTR_CASES)
def test_group_norm_bad_attributes(attrs, message):
    model = _gn_model((2, 4, 3), attrs)
    with pytest.raises(Exception, match=message) as info:
        _run(model, {"X": np.zeros((2, 4, 3), np.float32)})
    assert "groupnorm" in str(info.value), "the node name should be in the message"


def test_group_norm_groups_must_divide_channels():
    model = _gn_model((2, 64, 3), {"num_groups": 5})
    with pytest.raises(Exception, match=r"GroupNorm: num_groups=5 does not divide C=64"):
        _run(model, {"X": np.zeros((2, 64, 3), np.float32)})


@pytest.mark.parametrize("shape", [(6,), ()])
def test_group_norm_rank_below_two(shape):
    model = _gn_model(shape, {"num_groups": 1})
    with pytest.raises(Exception, match=rf"GroupNorm: input 'X' must have rank >= 2 .*got rank {len(shape)}"):
        _run(model, {"X": np.zeros(shape, np.float32)})


@pytest.mark.parametrize("which", ["scale", "bias"])
def test_group_norm_affine_wrong_length(which):
    good, bad = np.ones(6, np.float32), np.ones(5, np.float32)
    kwargs = {"scale": good, "bias": good}
    kwargs[which] = bad
    model = _gn_model((2, 6, 3), {"num_groups": 3}, **kwargs)
    feeds = {"X": np.zeros((2, 6, 3), np.float32), **kwargs}
    with pytest.raises(Exception, match=rf"GroupNorm: input '{which}' has 5 elements, expected C=6"):
        _run(model, feeds)


@pytest.mark.parametrize("dtype,x_dtype", [("int64", "float32"), ("float64", "float32"), ("float16", "float32"),
                                           ("bfloat16", "float16")])
def test_group_norm_affine_wrong_dtype(dtype, x_dtype):
    from normdeploy.graphs import np_dtype

    scale = np.ones(6, dtype=np_dtype(dtype))
    model = _gn_model((2, 6, 3), {"num_groups": 3}, scale=scale, dtype=x_dtype)
    names = {"int64": "int64", "float64": "float64", "float16": "float16", "bfloat16": "bfloat16"}
    with pytest.raises(Exception, match=rf"GroupNorm: input 'scale' has type {names[dtype]}; expected float32 or the type of X"):
        _run(model, {"X": np.zeros((2, 6, 3), np_dtype(x_dtype)), "scale": scale})


def test_group_norm_affine_rank_two():
    scale = np.ones((6, 1), np.float32)
    model = _gn_model((2, 6, 3), {"num_groups": 3}, scale=scale)
    with pytest.raises(Exception, match=r"GroupNorm: input 'scale' must have shape \(C\), got rank 2"):
        _run(model, {"X": np.zeros((2, 6, 3), np.float32), "scale": scale})


def test_group_norm_scale_bias_types_must_match():
    from normdeploy.graphs import np_dtype

    scale = np.ones(6, np.float32)
    bias = np.ones(6, np_dtype("float16"))
    model = _gn_model((2, 6, 3), {"num_groups": 3}, scale=scale, bias=bias, dtype="float16")
    with pytest.raises(Exception, match=r"GroupNorm: inputs 'scale' \(float32\) and 'bias' \(float16\) must have the same type"):
        _run(model, {"X": np.zeros((2, 6, 3), np_dtype("float16")), "scale": scale, "bias": bias})


@pytest.mark.parametrize("op,attrs", [("GroupNorm", {"num_groups": 2}), ("LocalResponseNorm", {"size": 3})])
@pytest.mark.parametrize("dtype", ["int32", "float64"])
def test_unsupported_input_dtype(op, attrs, dtype):
    model = single_op_model(op, [2, 4, 3], dtype, attrs)
    with pytest.raises(Exception, match=rf"Type '.*' of input parameter \(X\) of operator \({op}\)"):
        normdeploy.make_session(model)


LRN_ATTR_CASES = [
    ({}, r"LocalResponseNorm: required attribute 'size' is missing"),
    ({"size": 0}, r"LocalResponseNorm: attribute 'size' = 0 is invalid: must be >= 1"),
    ({"size": -2}, r"LocalResponseNorm: attribute 'size' = -2 is invalid: must be >= 1"),
    ({"size": 3.0}, r"LocalResponseNorm: attribute 'size' must be an int, got a float \(3\)"),
    ({"size": 3, "alpha": math.nan}, r"LocalResponseNorm: attribute 'alpha' = nan is invalid: must be finite"),
    ({"size": 3, "alpha": math.inf}, r"LocalResponseNorm: attribute 'alpha' = inf is invalid: must be finite"),
    ({"size": 3, "beta": -math.inf}, r"LocalResponseNorm: attribute 'beta' = -inf is invalid: must be finite"),
    ({"size": 3, "bias": math.nan}, r"LocalResponseNorm: attribute 'bias' = nan is invalid: must be finite"),
    ({"size": 3, "window": "caffe"}, r"LocalResponseNorm: attribute 'window' = 'caffe' is invalid: must be one of 'onnx', 'pytorch'"),
    ({"size": 3, "window": 1}, r"LocalResponseNorm: attribute 'window' must be a string, got an int \(1\)"),
]


@pytest.mark.parametrize("attrs,message", LRN_ATTR_CASES)
def test_lrn_bad_attributes(attrs, message):
    model = single_op_model("LocalResponseNorm", [2, 4, 3], "float32", attrs)
    with pytest.raises(Exception, match=message):
        _run(model, {"X": np.zeros((2, 4, 3), np.float32)})


def test_lrn_rank_below_two():
    model = single_op_model("LocalResponseNorm", [7], "float32", {"size": 3})
    with pytest.raises(Exception, match=r"LocalResponseNorm: input 'X' must have rank >= 2 .*got rank 1"):
        _run(model, {"X": np.zeros(7, np.float32)})


def test_runtime_shape_change_is_checked_per_run():
    """Dynamic C: a run whose C the groups do not divide fails; the next good run still works."""
    model = _gn_model(("N", "C", "L"), {"num_groups": 4})
    sess = normdeploy.make_session(model)
    with pytest.raises(Exception, match=r"num_groups=4 does not divide C=6"):
        sess.run(None, {"X": np.zeros((1, 6, 5), np.float32)})
    out = sess.run(None, {"X": np.ones((1, 8, 5), np.float32)})[0]
    assert out.shape == (1, 8, 5)


def test_checker_rejects_unknown_attribute_but_ort_ignores_it():
    """ONNX Runtime does not tell custom ops about attributes they do not read, so the schema
    check (onnx.checker with our registered schemas) is where typos are caught."""
    import onnx

    normdeploy.ops.register_schemas()
    model = _gn_model((2, 4, 3), {"num_groups": 2, "epsilom": 1e-3})
    with pytest.raises(onnx.checker.ValidationError, match="epsilom"):
        onnx.checker.check_model(model)
    out = _run(model, {"X": np.ones((2, 4, 3), np.float32)})[0]
    assert out.shape == (2, 4, 3)


def test_omitted_optional_scale_with_bias():
    x = np.random.default_rng(0).standard_normal((2, 6, 3)).astype(np.float32)
    bias = np.arange(6, dtype=np.float32)
    node = helper.make_node("GroupNorm", ["X", "", "bias"], ["Y"], domain=DOMAIN, num_groups=3)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", 1, [2, 6, 3]),
                                             helper.make_tensor_value_info("bias", onnx_elem_type("float32"), [6])],
                              [helper.make_tensor_value_info("Y", 1, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid(DOMAIN, VERSION)],
                              ir_version=IR_VERSION)
    y = _run(model, {"X": x, "bias": bias})[0]
    from normdeploy.ops import group_norm

    np.testing.assert_allclose(y, group_norm.reference(x, None, bias, 3, np.float32(1e-5)), atol=1e-5)
