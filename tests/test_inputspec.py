"""normdeploy.inputspec: the one input-spec parser (--input, --dynamic, --kwarg), its example
tensors, and binding specs to a forward() signature. No export here: these run in milliseconds."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from normdeploy.inputspec import (InputSpec, InputSpecError, apply_dynamic, bind, bind_specs, parse_dynamic,
                                  parse_input, parse_kwarg, parse_legacy_shape, resolve_axes)


@pytest.mark.parametrize("text,name,shape,dtype,low,high,value", [
    ("sample:1x4x64x64", "sample", (1, 4, 64, 64), "float32", None, None, None),
    ("timestep:int64:[]", "timestep", (), "int64", None, None, None),
    ("timestep:int64:[]=500", "timestep", (), "int64", None, None, 500),
    ("timestep:int64:scalar=500", "timestep", (), "int64", None, None, 500),
    ("t:Scalar", "t", (), "float32", None, None, None),
    ("t:scalar:0..1", "t", (), "float32", 0.0, 1.0, None),
    ("t:5", "t", (5,), "float32", None, None, None),
    ("ids:int32:[2,77]:0..49407", "ids", (2, 77), "int32", 0, 49407, None),
    ("x:fp16:3x2:-1.5..2", "x", (3, 2), "float16", -1.5, 2.0, None),
    ("x:bf16:[]=0.25", "x", (), "bfloat16", None, None, 0.25),
    ("mask:bool:1x7=false", "mask", (1, 7), "bool", None, None, False),
    ("u:uint8:2x2:0..255", "u", (2, 2), "uint8", 0, 255, None),
])
def test_parse_input(text, name, shape, dtype, low, high, value):
    spec = parse_input(text)
    assert (spec.name, spec.shape, spec.dtype, spec.low, spec.high, spec.value) == (name, shape, dtype, low, high, value)
    again = parse_input(spec.describe())  # describe() writes the syntax back
    assert (again.name, again.shape, again.dtype, again.low, again.high, again.value) == (name, shape, dtype, low, high, value)


@pytest.mark.parametrize("text,message", [
    ("timestep:int65:[]", "--input timestep: unknown dtype 'int65'; use one of float32"),
    ("x:1x0x3", "--input x: bad shape '1x0x3'; every dim must be a positive integer"),
    ("x:1xAx3", "--input x: bad shape '1xAx3'; expected positive integers joined by 'x'"),
    ("x:[1,,3]", "--input x: bad shape '[1,,3]'"),
    ("x:", "--input x: no shape"),
    ("x:int64", "--input x: no shape after the dtype"),
    ("1x3x8x8", "'1x3x8x8' is not an input name"),
    ("x:3:5..1", "--input x: range low 5.0 > high 1.0"),
    ("x:int64:3:9..2", "--input x: range low 9 > high 2"),
    ("x:3:0..1=2", "--input x: both a value range and a constant"),
    ("x:3:0-1", "--input x: '0-1' is not a value range; write LOW..HIGH"),
    ("x:3:0..inf", "--input x: the value range '0..inf' must be finite"),
    ("x:int64:[]=0.5", "--input x: constant '0.5' is not an integer, as the dtype int64 needs"),
    ("x:int8:[]=200", "--input x: constant 200 does not fit int8 (-128..127)"),
    ("x:uint8:[]=-1", "--input x: constant -1 does not fit uint8 (0..255)"),
    ("x:bool:3=2", "--input x: constant '2' is not a bool"),
    ("x:bool:3:0..1", "--input x: a value range on a bool input"),
    ("x:[]=", "--input x: '=' without a value"),
    ("x:[]=nan", "--input x: constant is NaN"),
    ("x:3:0..1:7", "--input x: too many ':' fields"),
])
def test_parse_input_errors(text, message):
    with pytest.raises(InputSpecError) as info:
        parse_input(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_example_tensors_follow_the_spec():
    gen = torch.Generator().manual_seed(0)
    t = parse_input("t:int64:[]=500").torch_tensor(gen)
    assert t.dtype == torch.int64 and t.shape == () and int(t) == 500
    ids = parse_input("ids:int32:4x50:3..5").torch_tensor(gen)
    assert ids.dtype == torch.int32 and ids.shape == (4, 50)
    assert set(ids.unique().tolist()) == {3, 4, 5}, "LOW..HIGH is inclusive for integers"
    f = parse_input("f:float16:1000:-2..-1").torch_tensor(gen)
    assert f.dtype == torch.float16 and float(f.min()) >= -2 and float(f.max()) <= -1 and float(f.std()) > 0.2
    assert parse_input("m:bool:3").torch_tensor(gen).tolist() == [True, True, True]
    assert parse_input("z:int64:2").torch_tensor(gen).tolist() == [0, 0]
    n = parse_input("n:bfloat16:200").torch_tensor(gen)
    assert n.dtype == torch.bfloat16 and 0.5 < float(n.float().std()) < 1.5
    rng = np.random.default_rng(0)
    a = parse_input("a:uint8:100:250..255").numpy_array(rng)
    assert a.dtype == np.uint8 and a.min() >= 250 and a.max() == 255
    b = parse_input("b:bfloat16:[]=0.5").numpy_array(rng)
    assert b.dtype.name == "bfloat16" and float(b) == 0.5


def test_dynamic_axes_resolve_per_rank():
    sample = parse_input("sample:1x4x64x64")
    assert resolve_axes(["0", "2", "3"], sample) == {0: "sample_dim0", 2: "sample_dim2", 3: "sample_dim3"}
    assert resolve_axes(["batch", "height", "width"], sample) == {0: "batch", 2: "height", 3: "width"}
    assert resolve_axes(["0=batch", "-1"], sample) == {0: "batch", 3: "sample_dim3"}
    ehs = parse_input("ehs:1x77x768")
    assert resolve_axes(["batch", "1=seq"], ehs) == {0: "batch", 1: "seq"}
    assert resolve_axes(["batch"], parse_input("t:int64:2")) == {0: "batch"}
    assert parse_dynamic("sample:0,2,3") == ("sample", ["0", "2", "3"])
    assert parse_dynamic("batch,height") == (None, ["batch", "height"])


@pytest.mark.parametrize("text,spec,message", [
    ("4", "sample:1x4x8x8", "--dynamic sample: axis 4 is out of range for the rank-4 input sample:1x4x8x8 (axes 0..3)"),
    ("-5", "sample:1x4x8x8", "axis -5 is out of range"),
    ("height", "ehs:1x7x16", "--dynamic ehs: unknown axis 'height' for the rank-3 input ehs:1x7x16; use batch, channels, length"),
    ("0", "t:int64:[]", "--dynamic t: the input is 0-d (t:int64:[]); it has no axis to make dynamic"),
    ("1", "t:int64:5", "axis 1 is out of range for the rank-1 input t:int64:5"),
    ("0=9x", "t:5", "'9x' is not a dim name"),
])
def test_dynamic_axes_errors(text, spec, message):
    with pytest.raises(InputSpecError, match=None) as info:
        resolve_axes(text.split(","), parse_input(spec))
    assert message in str(info.value)


def test_apply_dynamic_by_name_and_old_form():
    specs = [parse_input("sample:1x4x8x8"), parse_input("t:int64:[]"), parse_input("ehs:1x7x16")]
    out = apply_dynamic(specs, ["sample:0,2", "ehs:batch", "sample:3"])
    assert [dict(s.dynamic) for s in out] == [{0: "sample_dim0", 2: "sample_dim2", 3: "sample_dim3"}, {}, {0: "batch"}]
    assert dict(apply_dynamic(specs, ["batch,height"])[0].dynamic) == {0: "batch", 2: "height"}
    with pytest.raises(InputSpecError, match=r"--dynamic foo:0: 'foo' is not an input; the inputs are sample:1x4x8x8, "
                                             r"t:int64:\[\], ehs:1x7x16"):
        apply_dynamic(specs, ["foo:0"])
    with pytest.raises(InputSpecError, match="no input name before ':'"):
        apply_dynamic(specs, [":0"])
    with pytest.raises(InputSpecError, match="no axes"):
        apply_dynamic(specs, ["sample:"])


def test_parse_kwarg():
    assert parse_kwarg("return_dict=False") == ("return_dict", False)
    assert parse_kwarg("scale= 0.5") == ("scale", 0.5)
    assert parse_kwarg("mode='nearest'") == ("mode", "nearest")
    assert parse_kwarg("sizes=(1, 2)") == ("sizes", (1, 2))
    with pytest.raises(InputSpecError, match=r"--kwarg mode: 'nearest' is not a Python literal .* quote strings"):
        parse_kwarg("mode=nearest")
    with pytest.raises(InputSpecError, match="expected NAME=VALUE"):
        parse_kwarg("return_dict")
    with pytest.raises(InputSpecError, match="expected NAME=VALUE"):
        parse_kwarg("2x=1")


def _signature(fn) -> inspect.Signature:
    return inspect.signature(fn)


def unet_forward(sample, timestep, encoder_hidden_states, class_labels=None, return_dict=True):
    raise AssertionError("never called")


def test_bind_orders_by_signature():
    sig = _signature(unet_forward)
    bound = bind(sig, ["S"], [("return_dict", False), ("encoder_hidden_states", "E"), ("timestep", "T")])
    assert bound.args == ("S", "T", "E")  # positional while no parameter is skipped
    assert bound.kwargs == {"return_dict": False}
    assert list(bound.arguments) == ["sample", "timestep", "encoder_hidden_states", "return_dict"]

    def varargs(x, *rest, scale=1.0, **extra):
        raise AssertionError("never called")

    bound = bind(_signature(varargs), ["X", "R0", "R1"], [("zz", "Z"), ("scale", 2.0)])
    assert bound.args == ("X", "R0", "R1") and bound.kwargs == {"scale": 2.0, "zz": "Z"}
    assert bound.arguments == {"x": "X", "rest": ("R0", "R1"), "scale": 2.0, "extra": {"zz": "Z"}}


@pytest.mark.parametrize("positional,named,message", [
    (["a", "b", "c", "d", "e", "f"], [], "6 inputs given, but forward(sample, timestep, encoder_hidden_states, "
                                        "class_labels=None, return_dict=True) takes at most 5"),
    ([], [("sample", 1), ("time", 2)], "'time' is not a parameter of forward(sample, timestep, encoder_hidden_states, "
                                       "class_labels=None, return_dict=True); accepted: sample, timestep, "
                                       "encoder_hidden_states, class_labels, return_dict"),
    (["s"], [("sample", 1)], "'sample' is given twice"),
    ([], [("sample", 1)], "missing required input(s) timestep, encoder_hidden_states of forward(sample, timestep"),
])
def test_bind_errors(positional, named, message):
    with pytest.raises(InputSpecError) as info:
        bind(_signature(unet_forward), positional, named)
    assert message in str(info.value)


def test_bind_specs_names_orders_and_checks():
    sig = _signature(unet_forward)
    specs = [parse_input("encoder_hidden_states:1x7x16"), parse_input("sample:1x4x8x8"), parse_input("timestep:int64:[]")]
    bound = bind_specs(sig, specs, [("return_dict", False)])
    assert [s.name for s in bound] == ["sample", "timestep", "encoder_hidden_states"]
    positional = bind_specs(sig, [parse_legacy_shape("1x4x8x8"), parse_legacy_shape("1"), parse_legacy_shape("1x7x16")])
    assert [(s.name, s.shape) for s in positional] == [("sample", (1, 4, 8, 8)), ("timestep", (1,)),
                                                       ("encoder_hidden_states", (1, 7, 16))]
    with pytest.raises(InputSpecError, match="'return_dict' is given twice"):
        bind_specs(sig, specs, [("return_dict", False), ("return_dict", True)])
    with pytest.raises(InputSpecError, match="not both"):
        bind_specs(sig, [parse_legacy_shape("1x4x8x8"), parse_input("timestep:[]")])

    def star(*xs):
        raise AssertionError("never called")

    assert [s.name for s in bind_specs(_signature(star), [parse_legacy_shape("2"), parse_legacy_shape("3")])] == ["xs_0", "xs_1"]


def test_describe_round_trip_of_defaults():
    assert InputSpec("x", (2, 3)).describe() == "x:2x3"
    assert InputSpec("t", (), "int64", value=7).describe() == "t:int64:[]=7"


def test_check_sizes_refuses_huge_examples_before_allocating():
    from normdeploy.inputspec import check_sizes

    small = [parse_input("a:int64:1024x1024"), parse_input("b:float16:1024x1024")]
    assert [s.nbytes for s in small] == [8 << 20, 2 << 20]
    check_sizes(small, limit=10 << 20)
    with pytest.raises(InputSpecError, match=r"--input a:int64:1024x1024: 8388608 bytes .* at most 0.00977 GiB together"):
        check_sizes(small, limit=(10 << 20) - 1)
    with pytest.raises(InputSpecError, match="x:99999999x99999999x99999999"):
        check_sizes([parse_input("x:99999999x99999999x99999999")])


def test_keyword_only_parameters_are_shown_and_not_positional():
    def kw_only(x, *, scale, shift=0.0):
        raise AssertionError("never called")

    with pytest.raises(InputSpecError, match=r"^2 inputs given, but forward\(x, \*, scale, shift=0.0\) takes at most 1$"):
        bind(_signature(kw_only), ["X", "S"], [])
    bound = bind(_signature(kw_only), ["X"], [("scale", 2.0)])
    assert bound.args == ("X",) and bound.kwargs == {"scale": 2.0}
