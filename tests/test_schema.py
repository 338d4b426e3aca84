"""The op schemas are the single source of truth: the ONNX schema registration, the generated
C++ field table and the C++ parser must all follow them."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

import normdeploy
from normdeploy import ops
from normdeploy.graphs import single_op_model
from normdeploy.ops import REGISTRY, SchemaError, validate_attributes
from normdeploy.ops.schema import Attribute, OpSpec

REPO = Path(__file__).resolve().parents[1]


def test_generated_cpp_header_is_current():
    out = subprocess.run([sys.executable, "-P", "-m", "normdeploy.ops.codegen", "--check", "--root", str(REPO)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_generated_header_lists_every_attribute_in_order():
    text = (REPO / "plugins/common/op_fields.generated.h").read_text()
    for spec in REGISTRY:
        table = text[text.index(f"k{spec.name}Fields[]"):]
        table = table[: table.index("};")]
        names = [line.split('"')[1] for line in table.splitlines()[1:] if line.strip().startswith("{")]
        assert names == [a.name for a in spec.attributes]


@pytest.mark.parametrize("spec", REGISTRY, ids=lambda s: s.name)
def test_onnx_schema_registered_from_spec(spec: OpSpec):
    ops.register_schemas()
    ops.register_schemas()  # idempotent
    schema = onnx.defs.get_schema(spec.name, spec.version, spec.domain)
    assert set(schema.attributes) == {a.name for a in spec.attributes}
    for a in spec.attributes:
        assert schema.attributes[a.name].required == a.required
    assert [i.name for i in schema.inputs] == [i.name for i in spec.inputs]
    assert [o.name for o in schema.outputs] == [o.name for o in spec.outputs]
    constraints = {c.type_param_str: set(c.allowed_type_strs) for c in schema.type_constraints}
    assert constraints == {k: set(v[0]) for k, v in spec.type_constraints.items()}


def _invalid_values(attr: Attribute) -> list[object]:
    """Values that violate the attribute's declared type or range."""
    values: list[object] = []
    if attr.kind == "int":
        values += [2.5, "x"]
        if attr.min is not None:
            values += [int(attr.min) - 1, int(attr.min) - 7]
    elif attr.kind == "float":
        values += [3, "x"]
        if attr.finite:
            values += [math.nan, math.inf, -math.inf]
        if attr.min is not None:
            values += [attr.min - 0.5, -1e-05 + attr.min]
    else:
        values += [7]
        if attr.choices:
            values += ["bogus", attr.choices[0].upper()]
    return values


CASES = [(spec, attr, value) for spec in REGISTRY for attr in spec.attributes if attr.runtime
         for value in _invalid_values(attr)]


@pytest.mark.parametrize("spec,attr,value", CASES, ids=[f"{s.name}.{a.name}={v!r}" for s, a, v in CASES])
def test_cpp_and_python_reject_with_the_same_message(spec: OpSpec, attr: Attribute, value: object):
    attrs = {a.name: 3 if a.kind == "int" else a.default for a in spec.attributes if a.required}
    if spec.name == "GroupNorm":
        attrs["num_groups"] = 2
    attrs[attr.name] = value
    with pytest.raises(SchemaError) as py_err:
        validate_attributes(spec, attrs)
    model = single_op_model(spec.name, [2, 4, 3], "float32", attrs)
    with pytest.raises(Exception) as cpp_err:
        normdeploy.make_session(model)
    assert str(py_err.value) in str(cpp_err.value)


@pytest.mark.parametrize("spec", REGISTRY, ids=lambda s: s.name)
def test_missing_required_attribute_same_message(spec: OpSpec):
    required = [a for a in spec.attributes if a.required]
    assert required
    with pytest.raises(SchemaError) as py_err:
        validate_attributes(spec, {})
    model = single_op_model(spec.name, [2, 4, 3], "float32", {})
    with pytest.raises(Exception) as cpp_err:
        normdeploy.make_session(model)
    assert str(py_err.value) in str(cpp_err.value)


def test_validate_attributes_fills_defaults_and_rejects_unknown():
    spec = ops.get("LocalResponseNorm")
    assert validate_attributes(spec, {"size": 5}) == {**spec.defaults(), "size": 5}
    with pytest.raises(SchemaError, match=r"unknown attribute\(s\) \['sise'\]"):
        validate_attributes(spec, {"size": 5, "sise": 3})
    with pytest.raises(KeyError, match="no normdeploy op named 'LRN'"):
        ops.get("LRN")


def test_checker_accepts_models_with_every_op():
    ops.register_schemas()
    for spec, attrs in (("GroupNorm", {"num_groups": 2, "activation": "silu"}),
                        ("LocalResponseNorm", {"size": 4, "window": "pytorch"})):
        model = single_op_model(spec, ["N", 4, "H", 5], "float16", {**attrs, "plugin_version": "1",
                                                                      "plugin_namespace": "normdeploy"})
        onnx.checker.check_model(model, full_check=True)


def test_onnxscript_can_call_the_ops():
    from onnxscript_block import block

    model = block.to_model_proto()
    model.ir_version = 10
    for opset in model.opset_import:  # the function uses no standard op; stamp a released opset
        if opset.domain == "":
            opset.version = 18
    onnx.checker.check_model(model)
    sess = normdeploy.make_session(model)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 8, 5)).astype(np.float32)
    s, b = rng.standard_normal(8).astype(np.float32), rng.standard_normal(8).astype(np.float32)
    y = sess.run(None, {"x": x, "scale": s, "bias": b})[0]
    want = ops.lrn.reference(ops.group_norm.reference(x, s, b, 4, np.float32(1e-5), "silu"), 3, float(np.float32(0.1)))
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)


def test_readme_op_tables_are_current():
    out = subprocess.run([sys.executable, "-P", "-m", "normdeploy.ops.docs", "--check", str(REPO / "README.md")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
