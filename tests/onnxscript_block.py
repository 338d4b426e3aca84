"""An onnxscript function that calls both normdeploy ops (used by test_schema.py). No
`from __future__ import annotations` here: onnxscript reads the annotations as objects."""

from onnxscript import FLOAT, script
from onnxscript import opset18 as op
from onnxscript.values import Opset

from normdeploy import ops

ops.register_schemas()
nd = Opset("normdeploy", 1)


@script(default_opset=op)
def block(x: FLOAT["N", 8, "L"], scale: FLOAT[8], bias: FLOAT[8]) -> FLOAT["N", 8, "L"]:
    h = nd.GroupNorm(x, scale, bias, num_groups=4, epsilon=1e-5, activation="silu")
    return nd.LocalResponseNorm(h, size=3, alpha=0.1)
