"""Small ONNX graphs built around normdeploy nodes (tests, demo, benchmarks, users' smoke tests)."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .ops import DOMAIN, VERSION, get, register_schemas

#: IR version we write: ONNX Runtime 1.31 rejects onnx 1.23's default (14).
IR_VERSION = 10
DEFAULT_OPSET = 18

_NP_TO_ONNX = {"float32": 1, "float16": 10, "bfloat16": 16, "float64": 11, "int64": 7, "int32": 6}


def onnx_elem_type(dtype: str | np.dtype) -> int:
    """ONNX TensorProto element type for a numpy dtype name (bfloat16 via ml_dtypes)."""
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    try:
        return _NP_TO_ONNX[name]
    except KeyError:
        raise ValueError(f"unsupported dtype {name!r}; expected one of {sorted(_NP_TO_ONNX)}") from None


def np_dtype(name: str) -> np.dtype:
    """numpy dtype for 'float32' | 'float16' | 'bfloat16'."""
    if name == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def make_custom_node(op_type: str, inputs: Sequence[str], outputs: Sequence[str], *, name: str | None = None,
                     **attrs: object):
    """A normdeploy node with its attributes checked against the schema and the TensorRT plugin
    attributes (plugin_version, plugin_namespace) filled in, so TensorRT's parser finds the plugin."""
    from onnx import helper

    from .ops import validate_attributes

    spec = get(op_type)
    values = validate_attributes(spec, attrs)
    # write what was given plus the attributes tooling needs; leave other defaults implicit
    written = {k: v for k, v in values.items() if k in attrs or not spec.attribute(k).runtime}
    return helper.make_node(spec.name, list(inputs), list(outputs), domain=DOMAIN, name=name, **written)


def single_op_model(
    op_type: str,
    x_shape: Sequence[int | str | None],
    dtype: str = "float32",
    attrs: Mapping[str, object] | None = None,
    *,
    extra_inputs: Sequence[tuple[str, Sequence[int | str | None], str]] = (),
    opset: int = DEFAULT_OPSET,
    node_name: str | None = None,
):
    """A model with one normdeploy node: inputs X (+ extra_inputs as (name, shape, dtype)), output Y.

    Attributes are passed through unchecked so that tests can build invalid nodes on purpose.
    """
    from onnx import TensorProto, helper

    spec = get(op_type)
    register_schemas()
    inputs = [helper.make_tensor_value_info("X", onnx_elem_type(dtype), list(x_shape))]
    node_inputs = ["X"]
    for name, shape, dt in extra_inputs:
        inputs.append(helper.make_tensor_value_info(name, onnx_elem_type(dt), list(shape)))
        node_inputs.append(name)
    output = helper.make_tensor_value_info("Y", onnx_elem_type(dtype), list(x_shape))  # our ops keep the shape
    node = helper.make_node(spec.name, node_inputs, ["Y"], domain=DOMAIN, name=node_name or spec.name.lower(),
                            **dict(attrs or {}))
    graph = helper.make_graph([node], f"{spec.name}_single", inputs, [output])
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid(DOMAIN, VERSION)],
        ir_version=IR_VERSION,
        producer_name="normdeploy",
    )
    del TensorProto
    return model
