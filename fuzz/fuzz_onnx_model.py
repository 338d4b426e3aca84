"""Coverage-guided fuzzing (atheris, libFuzzer for Python) of how normdeploy reads ONNX files:
loading, graph checks, our nodes' attributes, inspect, convert in both directions, and ONNX
Runtime session creation with our library for models that pass the checks.

The input bytes drive a structure-aware generator (atheris.FuzzedDataProvider): one to four nodes
drawn from our ops, the standard ops convert rewrites, and plain ops; attributes with real and
unknown names, every ONNX attribute type and hostile values; inputs wired to earlier outputs,
later outputs (cycles), or names nothing produces; declared dims huge, negative, symbolic or
zero; any element type; any opsets. One input in four is instead a generated model serialized and
then truncated or bit-flipped, or raw bytes.

The property: every input is either accepted or refused with normdeploy's ConvertError (the CLI's
exit 2 with a message); ONNX Runtime may refuse a checked model with its own exception (the error
then names our op when it is about our op). Any other exception, a crash, or a hang is a finding.

    python fuzz/fuzz_onnx_model.py [libFuzzer options] [corpus dirs]
    e.g. python fuzz/fuzz_onnx_model.py -max_total_time=600 fuzz/corpus/fuzz_onnx_model

make fuzz runs it after the C++ targets (fuzz/run.py); tests/test_fuzz_onnx.py runs it briefly.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import atheris

import numpy as np
import onnx
from onnx import TensorProto, helper

with atheris.instrument_imports(include=["normdeploy"]):  # coverage of our code only
    import normdeploy
    from normdeploy.conversion import ConvertError, convert, load_model
    from normdeploy.inspect import inspect_model
    from normdeploy.model_checks import check_custom_nodes, check_model
    from normdeploy.ops import DOMAIN

import onnxruntime as ort

OPS = [("GroupNorm", DOMAIN), ("LocalResponseNorm", DOMAIN), ("GroupNormalization", ""), ("LRN", ""),
       ("InstanceNormalization", ""), ("Relu", ""), ("Sigmoid", ""), ("Mul", ""), ("Identity", "")]
ATTR_NAMES = ["num_groups", "epsilon", "activation", "size", "alpha", "beta", "bias", "window",
              "plugin_version", "plugin_namespace", "stash_type", "epsilom", ""]
STRINGS = ["none", "silu", "onnx", "pytorch", "1", "normdeploy", "", "SILU", "\x00", "é", "x" * 300]
VALID_ATTRS = {"GroupNorm": {"num_groups": 2, "epsilon": 1e-5, "activation": "silu"},
               "LocalResponseNorm": {"size": 3, "alpha": 1e-4, "beta": 0.75, "bias": 1.0, "window": "pytorch"},
               "GroupNormalization": {"num_groups": 2, "epsilon": 1e-5}, "LRN": {"size": 3},
               "InstanceNormalization": {"epsilon": 1e-5}}
ELEM_TYPES = [TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.DOUBLE,
              TensorProto.INT64, TensorProto.STRING, 0, 999]
DIMS = [0, 1, 2, 3, 4, 6, 8, -1, -7, 2**31, 2**40, 2**62, 2**63 - 1]
_STATE = ort.capi.onnxruntime_pybind11_state
ORT_ERRORS = tuple(getattr(_STATE, n) for n in (
    "Fail", "InvalidArgument", "InvalidGraph", "InvalidProtobuf", "NoSuchFile", "NotImplemented",
    "RuntimeException", "ModelLoaded", "EPFail", "NoModel") if hasattr(_STATE, n))

WORK = Path(tempfile.mkdtemp(prefix="nd-fuzz-onnx-"))
# Self-test of the harness (tests/test_fuzz_onnx.py): a planted bug, an exception on any model
# with a LocalResponseNorm that passes every check, which the fuzzer must find and report.
PLANTED = os.environ.get("NORMDEPLOY_FUZZ_PLANTED_BUG") == "1"


def _attribute(fdp: atheris.FuzzedDataProvider, name: str) -> onnx.AttributeProto:
    kind = fdp.ConsumeIntInRange(0, 6)
    if kind == 0:
        value = fdp.PickValueInList([0, 1, 2, 3, 4, 5, -1, -(2**63), 2**63 - 1, fdp.ConsumeInt(8)])
    elif kind == 1:
        value = fdp.PickValueInList([1e-5, 0.0, -0.0, 1e-4, 0.75, 1.0, float("nan"), float("inf"), -1.0,
                                     3.5e38, fdp.ConsumeRegularFloat()])
    elif kind == 2:
        value = fdp.PickValueInList(STRINGS + [fdp.ConsumeUnicodeNoSurrogates(8)])
    elif kind == 3:
        value = [fdp.ConsumeIntInRange(-3, 8) for _ in range(fdp.ConsumeIntInRange(0, 3))] or [1]
    elif kind == 4:
        value = [fdp.ConsumeRegularFloat() for _ in range(fdp.ConsumeIntInRange(1, 3))]
    elif kind == 5:
        value = helper.make_tensor("t", TensorProto.INT64, [1], [fdp.ConsumeIntInRange(-2, 8)])
    else:
        attr = onnx.AttributeProto()
        attr.name = name
        attr.type = fdp.PickValueInList([0, 1, 2, 3, 13, 14])  # undefined or a type whose field is unset
        attr.i = fdp.ConsumeIntInRange(0, 4)
        return attr
    return helper.make_attribute(name, value)


def _model(fdp: atheris.FuzzedDataProvider) -> onnx.ModelProto:
    elem = fdp.PickValueInList(ELEM_TYPES[:3] * 3 + ELEM_TYPES)
    rank = fdp.ConsumeIntInRange(0, 5)
    dims: list[int | str] = []
    for _ in range(rank):
        dims.append(fdp.PickValueInList(DIMS[:7] * 3 + DIMS) if fdp.ConsumeBool() else "d")
    names = ["X"]
    nodes = []
    initializers = []
    for i in range(fdp.ConsumeIntInRange(1, 4)):
        op, domain = fdp.PickValueInList(OPS)
        inputs = []
        for _ in range(fdp.ConsumeIntInRange(1, 3)):
            choice = fdp.ConsumeIntInRange(0, 8)
            inputs.append(names[-1] if choice < 6 else
                          f"y{fdp.ConsumeIntInRange(0, 4)}" if choice == 6 else  # maybe later: a cycle
                          "" if choice == 7 else f"w{i}")
        if f"w{i}" in inputs:
            c = fdp.ConsumeIntInRange(0, 9)
            tensor = TensorProto(name=f"w{i}", dims=[c], data_type=fdp.PickValueInList(
                [TensorProto.FLOAT, TensorProto.FLOAT, TensorProto.INT64, TensorProto.FLOAT16]))
            filled = c if fdp.ConsumeBool() else fdp.ConsumeIntInRange(0, 3)  # maybe malformed
            if tensor.data_type == TensorProto.INT64:
                tensor.int64_data.extend([1] * filled)
            elif tensor.data_type == TensorProto.FLOAT:
                tensor.float_data.extend([1.0] * filled)
            else:
                tensor.raw_data = np.ones(filled, np.float16).tobytes()
            initializers.append(tensor)
        node = helper.make_node(op, inputs, [f"y{i}"], name=f"n{i}", domain=domain)
        if fdp.ConsumeIntInRange(0, 3):  # usually the op's own attributes, well formed
            for name, value in VALID_ATTRS.get(op, {}).items():
                if fdp.ConsumeIntInRange(0, 3):
                    node.attribute.append(helper.make_attribute(name, value))
        for _ in range(fdp.ConsumeIntInRange(0, 5) // 2):  # then hostile ones
            node.attribute.append(_attribute(fdp, fdp.PickValueInList(ATTR_NAMES)))
        nodes.append(node)
        names.append(f"y{i}")
    out = fdp.PickValueInList([names[-1]] * 5 + ["nowhere"])
    graph = helper.make_graph(nodes, "fuzz", [helper.make_tensor_value_info("X", elem, dims)],
                              [helper.make_tensor_value_info(out, elem, None)], initializer=initializers)
    opsets = [helper.make_opsetid("", fdp.PickValueInList([18, 18, 21, 17, 13, 1, 99])),
              helper.make_opsetid(DOMAIN, fdp.PickValueInList([1, 1, 2, 0]))]
    return helper.make_model(graph, opset_imports=opsets, ir_version=fdp.PickValueInList([10, 10, 3, 0, 99]))


def _bytes(fdp: atheris.FuzzedDataProvider) -> bytes:
    mode = fdp.ConsumeIntInRange(0, 11)
    if mode == 0:
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 4096))
    data = bytearray(_model(fdp).SerializeToString())
    if mode == 1 and data:
        del data[fdp.ConsumeIntInRange(0, len(data) - 1):]
    elif mode == 2 and data:
        for _ in range(fdp.ConsumeIntInRange(1, 4)):
            data[fdp.ConsumeIntInRange(0, len(data) - 1)] ^= 1 << fdp.ConsumeIntInRange(0, 7)
    return bytes(data)


def _session(model: onnx.ModelProto) -> None:
    try:
        normdeploy.make_session(model.SerializeToString(), intra_op_threads=1)
    except ORT_ERRORS as exc:
        message = str(exc)
        for node in model.graph.node:
            if node.domain == DOMAIN and f"node '{node.name}'" in message:
                assert node.op_type in message, f"ORT error about our node does not name the op: {message}"


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    path = WORK / "model.onnx"
    path.write_bytes(_bytes(fdp))
    checked = None  # the model, once every check validate also makes has passed
    try:
        model = load_model(path)
        inspect_model(model)
        check_model(model, str(path))
        check_custom_nodes(model, str(path))
        checked = model
    except ConvertError as exc:
        assert str(exc).strip(), "empty error message"
    for direction in ("custom", "standard"):
        out = WORK / f"out-{direction}.onnx"
        out.unlink(missing_ok=True)
        try:
            report = convert(path, out, direction)
        except ConvertError as exc:
            assert str(exc).strip(), "empty error message"
            assert not out.exists(), f"convert --to {direction} failed but left {out}"
            continue
        if not report.warnings:  # a warning names a node onnx.checker rejects that convert left as it was
            onnx.checker.check_model(onnx.load(str(out)))  # what convert writes is valid ONNX
        else:
            out.unlink()
            strict_ok = True
            try:
                convert(path, out, direction, strict=True)
            except ConvertError:
                strict_ok = False
            assert not strict_ok, f"convert --to {direction} warned {report.warnings} but strict checking passed"
    if checked is not None:
        if PLANTED and any(n.op_type == "LocalResponseNorm" for n in checked.graph.node):
            raise RuntimeError("planted bug: a checked LocalResponseNorm")
        _session(checked)


def main(argv: list[str]) -> None:
    os.environ.setdefault("ORT_LOGGING_LEVEL", "4")
    ort.set_default_logger_severity(4)  # ORT's own error log would flood the output
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
