"""Hostile and broken files for `normdeploy convert`, `inspect` and `validate` (and `export
--weights`), through the Python API, the CLI in this process (argument parsing, messages, exit
codes) and, for a representative case of every category, the real command in a subprocess with a
timeout (no traceback, no crash, no hang).

Every case must give a clear error: exit code 2 and a short message naming the file and what is
wrong (for our nodes: the op, the attribute and the value); never a traceback, a hang, a crash or
a silently wrong answer; never run code from a checkpoint; never read outside the model's folder;
never allocate what a hostile shape declares; never leave a partial output behind.

Categories (the parametrized case lists below; their sizes are the counts in the README table):
  1. broken files: truncated models, random bytes, bit flips, text, a directory, a FIFO, unreadable
  2. wrong attributes on our nodes (types, missing, out of range)
  3. broken graphs: cycles, missing inputs, names defined twice, unproduced outputs, no outputs,
     empty graph, wrong arity, unknown op, invalid UTF-8, malformed tensors; out of order (fixed up)
  4. huge and negative declared dims
  5. checkpoints: malicious pickles, truncated files, not a state dict
  6. external data outside the model's folder, missing, or beyond its file
  7. no partial outputs: convert's destination and validate's report folder
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import stat
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from normdeploy.cli.main import main
from normdeploy.conversion import ConvertError, convert, convert_model
from normdeploy.graphs import IR_VERSION, make_custom_node
from normdeploy.inspect import inspect_model
from normdeploy.ops import DOMAIN, VERSION
from normdeploy.validate import ValidateError, validate

SHAPE = [1, 4, 3, 3]
SUBPROCESS_TIMEOUT = 60


# ------------------------------------------------------------------------------------------------
# model builders


def vi(name: str, shape: Any = SHAPE, elem: int = onnx.TensorProto.FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def model_of(nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto] | None = None,
             outputs: list[onnx.ValueInfoProto] | None = None, inits: list[onnx.TensorProto] | None = None,
             opset: int = 18) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "hostile", [vi("X")] if inputs is None else inputs,
                              [vi("Y")] if outputs is None else outputs, inits or [])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid(DOMAIN, VERSION)],
                             ir_version=IR_VERSION, producer_name="normdeploy-tests")


def affine() -> list[onnx.TensorProto]:
    return [numpy_helper.from_array(np.linspace(0.5, 1.5, 4).astype(np.float32), "scale"),
            numpy_helper.from_array(np.linspace(-1, 1, 4).astype(np.float32), "bias")]


def gn(x: str = "X", y: str = "H", name: str = "gn", **attrs: Any) -> onnx.NodeProto:
    return make_custom_node("GroupNorm", [x, "scale", "bias"], [y], name=name, num_groups=2, **attrs)


def lrn(x: str = "H", y: str = "Y", name: str = "lrn") -> onnx.NodeProto:
    return make_custom_node("LocalResponseNorm", [x], [y], name=name, size=3)


def good_model() -> onnx.ModelProto:
    """X -> GroupNorm(scale, bias) -> LocalResponseNorm -> Y."""
    return model_of([gn(), lrn()], inits=affine())


def raw_node(op: str, inputs: list[str], outputs: list[str], name: str, **attrs: Any) -> onnx.NodeProto:
    """One of our nodes with its attributes unchecked (hostile on purpose)."""
    return helper.make_node(op, inputs, outputs, domain=DOMAIN, name=name, **attrs)


def single(op: str, attrs: dict[str, Any], name: str = "victim") -> onnx.ModelProto:
    inputs = ["X", "scale", "bias"] if op == "GroupNorm" else ["X"]
    return model_of([raw_node(op, inputs, ["Y"], name, **attrs)], inits=affine() if op == "GroupNorm" else [])


def save(model: onnx.ModelProto | bytes, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model if isinstance(model, bytes) else model.SerializeToString())
    return path


# ------------------------------------------------------------------------------------------------
# running the commands


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """The CLI in this process: argument parsing, error printing and exit codes."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def validate_args(model: Path, report: Path, *more: str) -> list[str]:
    return ["validate", str(model), "--no-progress", "--no-tensorrt", "--no-html", "--report-dir", str(report), *more]


def run_subprocess(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """The real command (python -P: the installed package, not the checkout), with a timeout."""
    return subprocess.run([sys.executable, "-P", "-m", "normdeploy", *argv], cwd=cwd, capture_output=True,
                          text=True, timeout=SUBPROCESS_TIMEOUT)


def assert_usage_error(code: int, out: str, err: str, command: str, *needles: str) -> None:
    assert code == 2, f"exit code {code}, expected 2\nstdout: {out}\nstderr: {err}"
    assert "Traceback" not in err + out
    assert err.startswith(f"normdeploy {command}: error: "), err
    assert len(err.strip().splitlines()) <= 3, f"the message should be short:\n{err}"
    for needle in needles:
        assert needle in err, f"{needle!r} not in the message:\n{err}"


def listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()} if folder.is_dir() else {}


def check_convert_refused(capsys: pytest.CaptureFixture[str], src: Path, out_dir: Path, *needles: str,
                          directions: tuple[str, ...] = ("custom", "standard")) -> None:
    """convert (API and CLI, both directions) refuses `src` naming it, and leaves no output: a new
    destination is not created, an existing one keeps its bytes, no temporary file is left."""
    for to in directions:
        fresh = out_dir / f"fresh-{to}" / "out.onnx"
        with pytest.raises(ConvertError) as info:
            convert(src, fresh, to=to)  # type: ignore[arg-type]
        for needle in (str(src), *needles):
            assert needle in str(info.value), f"{needle!r} not in {info.value}"
        assert not fresh.exists() and not listing(fresh.parent), "convert left output behind"
        kept = out_dir / f"kept-{to}" / "out.onnx"
        save(b"precious: must survive a failed convert", kept)
        before = listing(kept.parent)
        assert_usage_error(*run_cli(capsys, "convert", str(src), "-o", str(kept), "--to", to), "convert",
                           str(src), *needles)
        assert listing(kept.parent) == before, "the existing destination changed (or a temporary file was left)"


def check_inspect_refused(capsys: pytest.CaptureFixture[str], src: Path, *needles: str) -> None:
    with pytest.raises(ConvertError) as info:
        inspect_model(src)
    for needle in (str(src), *needles):
        assert needle in str(info.value)
    assert_usage_error(*run_cli(capsys, "inspect", str(src)), "inspect", str(src), *needles)


def check_validate_refused(capsys: pytest.CaptureFixture[str], src: Path, work: Path, *needles: str) -> None:
    """validate refuses `src` with exit code 2 and writes no report folder."""
    report = work / "validate-report"
    with pytest.raises(ValidateError) as info:
        validate(src, report_dir=report, tensorrt=False, html=False, progress=False)
    for needle in (str(src), *needles):
        assert needle in str(info.value)
    assert_usage_error(*run_cli(capsys, *validate_args(src, report)), "validate", str(src), *needles)
    assert not report.exists(), "validate created a report folder for an input it refused"


# ------------------------------------------------------------------------------------------------
# 1. broken files


GOOD_BYTES = good_model().SerializeToString()
#: 20 points across the file: 0 bytes, 1 byte, then evenly up to the last byte.
TRUNCATION_OFFSETS = sorted({0, 1, *np.linspace(2, len(GOOD_BYTES) - 1, 18).astype(int).tolist()})
assert len(TRUNCATION_OFFSETS) == 20


def _keeps_graph(data: bytes) -> bool:
    """A prefix that still parses and holds the whole graph (cut within the opset imports, which
    come last): then a command may succeed, on the real graph."""
    try:
        model = onnx.load_model_from_string(data)
    except Exception:  # noqa: BLE001
        return False
    return model.graph == good_model().graph


@pytest.mark.parametrize("offset", TRUNCATION_OFFSETS)
def test_truncated_model(offset, tmp_path, capsys):
    src = save(GOOD_BYTES[:offset], tmp_path / f"cut{offset}.onnx")
    if _keeps_graph(GOOD_BYTES[:offset]):  # only the opset imports are cut: success or a clear error
        for argv in (["convert", str(src), "-o", str(tmp_path / "o.onnx")], ["inspect", str(src)],
                     validate_args(src, tmp_path / "report")):
            code, out, err = run_cli(capsys, *argv)
            assert code in (0, 2) and "Traceback" not in err, err
            if code == 2:
                assert str(src) in err
        return
    needle = "is empty (0 bytes)" if offset == 0 else ""
    check_convert_refused(capsys, src, tmp_path, needle)
    check_inspect_refused(capsys, src, needle)
    check_validate_refused(capsys, src, tmp_path, needle)


def _bit_flips(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    data = bytearray(GOOD_BYTES)
    for _ in range(3):
        data[int(rng.integers(len(data)))] ^= 1 << int(rng.integers(8))
    return bytes(data)


GARBAGE = {
    **{f"random-{seed}": (lambda s=seed: np.random.default_rng(s).bytes(100 + 997 * s), "is not an ONNX model")
       for seed in range(5)},
    "text": (lambda: b"this is a README, not a model\n" * 20, "is not an ONNX model"),
    "json": (lambda: b'{"graph": {"node": []}}', "is not an ONNX model"),
    "zip-header": (lambda: b"PK\x03\x04" + bytes(200), "is not an ONNX model"),
    "protobuf-but-not-onnx": (lambda: helper.make_tensor("t", 1, [2], [1.0, 2.0]).SerializeToString(), ""),
}


@pytest.mark.parametrize("name", list(GARBAGE))
def test_garbage_file(name, tmp_path, capsys):
    make, needle = GARBAGE[name]
    src = save(make(), tmp_path / f"{name}.onnx")
    check_convert_refused(capsys, src, tmp_path, needle)
    check_inspect_refused(capsys, src, needle)
    check_validate_refused(capsys, src, tmp_path, needle)


BIT_FLIP_SEEDS = list(range(40))


def test_bit_flips_never_crash(tmp_path, capsys):
    """40 models with 3 flipped bits each, through convert, inspect and validate: an error naming the
    file, or a success on what the file now says (a flip in a name or a value), never an exception
    of another kind."""
    errors = 0
    for seed in BIT_FLIP_SEEDS:
        src = save(_bit_flips(seed), tmp_path / f"flip{seed}.onnx")
        for run in (lambda: convert(src, tmp_path / "flip-out.onnx", to="standard"),
                    lambda: inspect_model(src).summary(),
                    lambda: validate(src, report_dir=False, tensorrt=False, html=False, progress=False)):
            try:
                run()  # a validation that runs may pass or fail (a flipped weight): both are answers
            except (ConvertError, ValidateError) as exc:
                errors += 1
                assert str(src) in str(exc) and "\n" not in str(exc), exc
        assert not list(tmp_path.glob(".*.tmp"))
    assert errors >= 2 * len(BIT_FLIP_SEEDS), "most bit flips break the file"


def test_directory_as_model(tmp_path, capsys):
    src = tmp_path / "model.onnx"
    src.mkdir()
    check_convert_refused(capsys, src, tmp_path / "out", "is a directory")
    check_inspect_refused(capsys, src, "is a directory")
    check_validate_refused(capsys, src, tmp_path, "is a directory")


def test_fifo_as_model_does_not_hang(tmp_path, capsys):
    src = tmp_path / "pipe.onnx"
    os.mkfifo(src)  # opening it for reading would block forever
    check_convert_refused(capsys, src, tmp_path / "out", "is not a regular file")
    check_inspect_refused(capsys, src, "is not a regular file")
    check_validate_refused(capsys, src, tmp_path, "is not a regular file")


def test_missing_file(tmp_path, capsys):
    src = tmp_path / "nowhere.onnx"
    check_convert_refused(capsys, src, tmp_path / "out", "no such file")
    check_inspect_refused(capsys, src, "no such file")
    check_validate_refused(capsys, src, tmp_path, "no such file")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="running as root: root reads a file whatever its mode, so chmod 000 cannot be tested")
def test_unreadable_file(tmp_path, capsys):
    src = save(GOOD_BYTES, tmp_path / "secret.onnx")
    src.chmod(0)
    try:
        check_convert_refused(capsys, src, tmp_path / "out", "cannot read", "Permission denied")
        check_inspect_refused(capsys, src, "cannot read")
        check_validate_refused(capsys, src, tmp_path, "cannot read")
    finally:
        src.chmod(stat.S_IRUSR | stat.S_IWUSR)


# ------------------------------------------------------------------------------------------------
# 2. wrong attributes on our nodes


def _tensor(value: Any) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value), "attr_value")


#: (op, attributes, what the message says after "<op>: ")
ATTRIBUTE_CASES = [
    ("GroupNorm", {"num_groups": 2.0}, "attribute 'num_groups' must be an int, got a float (2)"),
    ("GroupNorm", {"num_groups": "2"}, "attribute 'num_groups' must be an int, got a string ('2')"),
    ("GroupNorm", {"num_groups": _tensor([2])}, "attribute 'num_groups' must be an int, got a tensor"),
    ("GroupNorm", {"num_groups": [2, 2]}, "attribute 'num_groups' must be an int, got a list of ints"),
    ("GroupNorm", {"num_groups": 2, "epsilon": "small"}, "attribute 'epsilon' must be a float, got a string ('small')"),
    ("GroupNorm", {"num_groups": 2, "epsilon": _tensor(1e-5)}, "attribute 'epsilon' must be a float, got a tensor"),
    ("GroupNorm", {"num_groups": 2, "epsilon": 1}, "attribute 'epsilon' must be a float, got an int (1)"),
    ("GroupNorm", {"num_groups": 2, "activation": 1}, "attribute 'activation' must be a string, got an int (1)"),
    ("GroupNorm", {"num_groups": 2, "activation": "relu"}, "attribute 'activation' = 'relu' is invalid"),
    ("GroupNorm", {}, "required attribute 'num_groups' is missing"),
    ("GroupNorm", {"num_groups": 0}, "attribute 'num_groups' = 0 is invalid: must be >= 1"),
    ("GroupNorm", {"num_groups": -2}, "attribute 'num_groups' = -2 is invalid: must be >= 1"),
    ("GroupNorm", {"num_groups": 2, "epsilon": math.nan}, "attribute 'epsilon' = nan is invalid"),
    ("GroupNorm", {"num_groups": 2, "epsilon": math.inf}, "attribute 'epsilon' = inf is invalid"),
    ("GroupNorm", {"num_groups": 2, "epsilon": -1e-3}, "attribute 'epsilon' = -0.001 is invalid"),
    ("GroupNorm", {"num_groups": 2, "epsilom": 1e-3}, "unknown attribute(s) ['epsilom']"),
    ("GroupNorm", {"num_groups": 3}, "num_groups=3 does not divide C=4"),  # needs the shape: not inspect
    ("LocalResponseNorm", {"size": 3.0}, "attribute 'size' must be an int, got a float (3)"),
    ("LocalResponseNorm", {"size": "3"}, "attribute 'size' must be an int, got a string ('3')"),
    ("LocalResponseNorm", {"size": -1}, "attribute 'size' = -1 is invalid: must be >= 1"),
    ("LocalResponseNorm", {"size": 0}, "attribute 'size' = 0 is invalid: must be >= 1"),
    ("LocalResponseNorm", {}, "required attribute 'size' is missing"),
    ("LocalResponseNorm", {"size": 3, "window": 1}, "attribute 'window' must be a string, got an int (1)"),
    ("LocalResponseNorm", {"size": 3, "window": "caffe"}, "attribute 'window' = 'caffe' is invalid"),
    ("LocalResponseNorm", {"size": 3, "alpha": "big"}, "attribute 'alpha' must be a float, got a string ('big')"),
    ("LocalResponseNorm", {"size": 3, "beta": math.nan}, "attribute 'beta' = nan is invalid"),
    ("LocalResponseNorm", {"size": 3, "bias": [1.0, 2.0]}, "attribute 'bias' must be a float, got a list of floats"),
]


def _attr_id(case: tuple[str, dict[str, Any], str]) -> str:
    op, attrs, _ = case
    shown = ",".join(f"{k}={type(v).__name__ if isinstance(v, (onnx.TensorProto, list)) else v}" for k, v in attrs.items())
    return f"{op}-{shown or 'none'}"


@pytest.mark.parametrize("case", ATTRIBUTE_CASES, ids=[_attr_id(c) for c in ATTRIBUTE_CASES])
def test_wrong_attribute(case, tmp_path, capsys):
    op, attrs, what = case
    src = save(single(op, attrs), tmp_path / "attrs.onnx")
    message = f"{op}: {what}"
    needs_shape = "does not divide" in what
    check_convert_refused(capsys, src, tmp_path, "node 'victim'", message,
                          directions=("standard",) if needs_shape else ("custom", "standard"))
    check_validate_refused(capsys, src, tmp_path, "node 'victim'", message)
    if needs_shape:
        return
    # inspect lists the node and says what is wrong with it (exit 0: that is its job)
    info = inspect_model(src)
    assert len(info.custom_nodes) == 1 and (info.custom_nodes[0].problem or "").startswith(message)
    assert info.runtimes["onnxruntime + normdeploy library"][0] is False
    code, out, err = run_cli(capsys, "inspect", str(src))
    assert code == 0 and "Traceback" not in err
    assert f"!! {message}" in out and "no  onnxruntime + normdeploy library" in out


# ------------------------------------------------------------------------------------------------
# 3. broken graphs


def _add(a: str, b: str, out: str, name: str) -> onnx.NodeProto:
    return helper.make_node("Add", [a, b], [out], name=name)


def _bad_utf8_name() -> bytes:
    model = model_of([gn(name="gnXX"), lrn()], inits=affine())
    data = model.SerializeToString()
    assert data.count(b"gnXX") == 1
    return data.replace(b"gnXX", b"gn\xff\xfe")


def _tensor_with(edit: Callable[[onnx.TensorProto], None]) -> onnx.ModelProto:
    model = good_model()
    edit(model.graph.initializer[0])
    return model


def _short_raw(t: onnx.TensorProto) -> None:
    t.raw_data = t.raw_data[:8]


def _negative_dim(t: onnx.TensorProto) -> None:
    t.dims[0] = -4


def _unknown_type(t: onnx.TensorProto) -> None:
    t.data_type = 999


def _typed_short(t: onnx.TensorProto) -> None:
    t.ClearField("raw_data")
    t.float_data.extend([1.0, 2.0, 3.0])


def _untyped_attribute() -> onnx.ModelProto:
    node = raw_node("GroupNorm", ["X"], ["Y"], "victim")
    node.attribute.add().name = "num_groups"  # an AttributeProto without a type or value
    return model_of([node])


#: id -> (model or serialized bytes, message, inspect refuses it too)
STRUCTURE_CASES: dict[str, tuple[Callable[[], onnx.ModelProto | bytes], str, bool]] = {
    "cycle": (lambda: model_of([gn(x="B", y="A", name="a"), _add("A", "X", "B", "b"), lrn(x="A")], inits=affine()),
              "the graph has a cycle: node 'a' (GroupNorm) -> node 'b' (Add) -> node 'a' (GroupNorm)", True),
    "self-loop": (lambda: model_of([_add("L", "X", "L", "loop"), gn(x="L"), lrn()], inits=affine()),
                  "the graph has a cycle: node 'loop' (Add) -> node 'loop' (Add)", True),
    "missing-input": (lambda: model_of([gn(x="nowhere"), lrn()], inits=affine()),
                      "node 'gn' (GroupNorm) reads 'nowhere', which no node, graph input or initializer produces", True),
    "duplicate-output": (lambda: model_of([gn(y="Y"), lrn(x="X")], inits=affine()),
                         "'Y' is defined twice: as an output of node 'gn' (GroupNorm) and as an output of node 'lrn' "
                         "(LocalResponseNorm)", True),
    "output-redefines-input": (lambda: model_of([gn(y="X"), lrn(x="X")], inits=affine()),
                               "'X' is defined twice: as a graph input and as an output of node 'gn' (GroupNorm)", True),
    "duplicate-initializer": (lambda: model_of([gn(), lrn()], inits=affine() + affine()[:1]),
                              "'scale' is defined twice: as an initializer and as an initializer", True),
    "output-not-produced": (lambda: model_of([gn(), lrn()], outputs=[vi("Y"), vi("Z")], inits=affine()),
                            "graph output 'Z' is produced by no node, graph input or initializer", True),
    "no-outputs": (lambda: model_of([gn(), lrn()], outputs=[], inits=affine()), "the graph declares no outputs", True),
    "empty-graph": (lambda: model_of([], inputs=[], outputs=[]), "an empty graph: no nodes, no outputs", True),
    "invalid-utf8-name": (_bad_utf8_name, "model.graph.node[0].name is not valid UTF-8", True),
    "tensor-short-raw-data": (lambda: _tensor_with(_short_raw),
                              "tensor 'scale' holds 8 bytes of data, but its shape [4] and type need 16", True),
    "tensor-negative-dim": (lambda: _tensor_with(_negative_dim), "tensor 'scale' has a negative dim", True),
    "tensor-unknown-type": (lambda: _tensor_with(_unknown_type), "tensor 'scale' has an unknown element type 999", True),
    "tensor-short-float-data": (lambda: _tensor_with(_typed_short),
                                "tensor 'scale' holds 3 values, but its shape [4] needs 4", True),
    # our nodes with the wrong number of inputs/outputs, or an op we do not have: inspect lists them
    "groupnorm-no-inputs": (lambda: model_of([raw_node("GroupNorm", [], ["Y"], "victim", num_groups=2)]),
                            "node 'victim': GroupNorm: takes 1 to 3 input(s) (X, scale, bias), got 0", False),
    "groupnorm-empty-x": (lambda: model_of([raw_node("GroupNorm", ["", "scale"], ["Y"], "victim", num_groups=2)],
                                           inits=affine()),
                          "node 'victim': GroupNorm: takes 1 to 3 input(s) (X, scale, bias), got 2 ['', 'scale']", False),
    "lrn-two-inputs": (lambda: model_of([raw_node("LocalResponseNorm", ["X", "X"], ["Y"], "victim", size=3)]),
                       "node 'victim': LocalResponseNorm: takes 1 input(s) (X), got 2", False),
    "groupnorm-two-outputs": (lambda: model_of([raw_node("GroupNorm", ["X"], ["Y", "Y2"], "victim", num_groups=2)]),
                              "node 'victim': GroupNorm: has 2 output(s) ['Y', 'Y2'], expected 1", False),
    "unknown-op": (lambda: model_of([raw_node("GroupNormalise", ["X"], ["Y"], "victim")]),
                   "node 'victim': unknown normdeploy op 'GroupNormalise'", False),
    "attribute-without-type": (_untyped_attribute, "node 'victim': GroupNorm: attribute 'num_groups' has no type "
                                                   "(an empty AttributeProto)", False),
}


@pytest.mark.parametrize("name", list(STRUCTURE_CASES))
def test_broken_graph(name, tmp_path, capsys):
    make, message, inspect_refuses = STRUCTURE_CASES[name]
    src = save(make(), tmp_path / f"{name}.onnx")
    check_convert_refused(capsys, src, tmp_path, message)
    check_validate_refused(capsys, src, tmp_path, message)
    if inspect_refuses:
        check_inspect_refused(capsys, src, message)
    else:
        code, out, err = run_cli(capsys, "inspect", str(src))
        assert code == 0 and "Traceback" not in err
        assert "!! " + message.split(": ", 1)[1] in out
        assert "no  onnxruntime + normdeploy library" in out


def test_nodes_out_of_topological_order_are_sorted(tmp_path, capsys):
    """Legal to fix up: convert sorts them (and says so), inspect and validate accept them."""
    src = save(model_of([lrn(), gn()], inits=affine()), tmp_path / "unsorted.onnx")
    for to in ("custom", "standard"):
        out = tmp_path / f"sorted-{to}.onnx"
        code, text, err = run_cli(capsys, "convert", str(src), "-o", str(out), "--to", to)
        assert code == 0, err
        assert "note: the nodes were not in topological order (ONNX requires it); they were sorted" in text
        written = onnx.load(str(out))
        onnx.checker.check_model(written)  # topological order is part of it
    code, text, err = run_cli(capsys, "inspect", str(src))
    assert code == 0 and "GroupNorm" in text
    result = validate(src, report_dir=False, tensorrt=False, html=False, progress=False)
    assert result.passed, result.summary()


# ------------------------------------------------------------------------------------------------
# 4. huge and negative declared dims


def _dims_model(dims: list[Any]) -> onnx.ModelProto:
    return model_of([gn(), lrn()], inputs=[vi("X", dims)], outputs=[vi("Y", dims)], inits=affine())


#: id -> (dims of X, what validate says)
HUGE_DIM_CASES = {
    "batch-2^40": ([2**40, 4, 224, 224], "input 'X' of shape 1099511627776x4x224x224 (float32) would take "
                                          "882705526964617216 bytes (784 PiB)"),
    "dim-2^62": ([1, 4, 2**62, 2], "input 'X' of shape 1x4x4611686018427387904x2 (float32) would take"),
    "dim-int64-max": ([1, 4, 2**63 - 1, 1], f"input 'X' of shape 1x4x{2**63 - 1}x1 (float32) would take"),
    "product-2^80": ([1, 4, 2**40, 2**40], "19342813113834066795298816 bytes (1.68e+07 EiB)"),
    "negative-batch": ([-3, 4, 3, 3], "input X [float32, -3 x 4 x 3 x 3] declares a negative dim (-3)"),
    "negative-spatial": ([1, 4, -1, 7], "declares a negative dim (-1)"),
}


@pytest.mark.parametrize("name", list(HUGE_DIM_CASES))
def test_huge_or_negative_dims(name, tmp_path, capsys):
    dims, message = HUGE_DIM_CASES[name]
    src = save(_dims_model(dims), tmp_path / f"{name}.onnx")
    # validate refuses before allocating anything, naming the input and the shape / byte size
    check_validate_refused(capsys, src, tmp_path, message)
    # convert and inspect work on the declaration only: no crash, no overflow, the dims kept
    for to in ("standard", "custom"):
        out = tmp_path / f"out-{to}.onnx"
        code, _, err = run_cli(capsys, "convert", str(src), "-o", str(out), "--to", to)
        assert code == 0 and "Traceback" not in err, err
        written = onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim
        assert [d.dim_value for d in written] == dims
    code, out, err = run_cli(capsys, "inspect", str(src))
    assert code == 0 and "GroupNorm" in out


def test_input_size_limit_boundary(tmp_path, capsys, monkeypatch):
    """The limit counts every input of one iteration, in bytes (here lowered from 1 GiB to 1 KiB)."""
    from normdeploy.validate import inputs

    monkeypatch.setattr(inputs, "MAX_INPUT_BYTES", 1024)
    report = tmp_path / "report"
    over = save(_dims_model([1, 4, 8, 9]), tmp_path / "over.onnx")  # 1152 bytes
    assert_usage_error(*run_cli(capsys, *validate_args(over, report)), "validate",
                       "input 'X' of shape 1x4x8x9 (float32) would take 1152 bytes; validate makes at "
                       "most 1024 bytes of random inputs per iteration")
    assert not report.exists()
    exact = save(_dims_model([1, 4, 8, 8]), tmp_path / "exact.onnx")  # 1024 bytes: allowed
    assert validate(exact, report_dir=False, tensorrt=False, html=False, progress=False).passed


def test_huge_input_shape_argument(tmp_path, capsys):
    src = save(_dims_model(["N", 4, 3, 3]), tmp_path / "dynamic.onnx")
    report = tmp_path / "report"
    assert_usage_error(*run_cli(capsys, *validate_args(src, report, "--input-shape", "X:100000000x4x3x3")), "validate",
                       "input 'X' of shape 100000000x4x3x3 (float32) would take 14400000000 bytes (13.4 GiB)",
                       "--input-shape X:DIMS")
    assert not report.exists()


def test_group_normalization_with_huge_channel_count_is_not_expanded(tmp_path, capsys):
    """GroupNormalization-18 has per-group scale/bias that convert expands per channel: a declared
    C of 2**40 is left alone with the reason instead of allocating 4 TiB."""
    node = helper.make_node("GroupNormalization", ["X", "s", "b"], ["Y"], name="gn18", num_groups=2)
    dims = [1, 2**40, 2, 2]
    model = model_of([node], inputs=[vi("X", dims)], outputs=[vi("Y", dims)],
                     inits=[numpy_helper.from_array(np.ones(2, np.float32), "s"),
                            numpy_helper.from_array(np.zeros(2, np.float32), "b")])
    converted, report = convert_model(model, "custom")
    assert report.counts == {"GroupNormalization-18 (per-channel scale/bias computed at run time)": 1}
    assert max(int(np.prod(i.dims)) for i in converted.graph.initializer) <= 2  # nothing expanded
    node.attribute[0].i = 3  # num_groups must divide C
    model = model_of([node], inputs=[vi("X", [1, 4, 2, 2])], outputs=[vi("Y", [1, 4, 2, 2])],
                     inits=[numpy_helper.from_array(np.ones(3, np.float32), "s"),
                            numpy_helper.from_array(np.zeros(3, np.float32), "b")])
    _, report = convert_model(model, "custom")
    assert report.total == 0 and "num_groups=3 does not divide C=4" in report.summary()


def test_constant_of_huge_shape_is_not_folded(tmp_path):
    """A ConstantOfShape([2**40]) as a pattern operand is not evaluated (no 4 TiB allocation)."""
    shape = numpy_helper.from_array(np.array([2**40], np.int64), "huge_shape")
    nodes = [helper.make_node("Reshape", ["X", "to_groups"], ["g"]),
             helper.make_node("ConstantOfShape", ["huge_shape"], ["ones"]),
             helper.make_node("ConstantOfShape", ["huge_shape"], ["zeros"]),
             helper.make_node("InstanceNormalization", ["g", "ones", "zeros"], ["n"], name="in"),
             helper.make_node("Reshape", ["n", "back"], ["Y"])]
    model = model_of(nodes, inits=[shape, numpy_helper.from_array(np.array([0, 2, -1], np.int64), "to_groups"),
                                   numpy_helper.from_array(np.array(SHAPE, np.int64), "back")])
    _, report = convert_model(model, "custom")
    assert report.total == 0 and "scale/bias are not constants" in report.summary()


# ------------------------------------------------------------------------------------------------
# 5. checkpoints (validate --torch --weights, export --weights)


FACTORY = textwrap.dedent("""
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gn = torch.nn.GroupNorm(2, 4)

        def forward(self, x):
            return self.gn(x)

    def build():
        return Net().eval()
""")


class _SystemPayload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _ExecPayload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


class _EvalInTensor:
    """A payload hidden where a tensor is expected, inside a real state_dict."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"__import__('pathlib').Path({str(self.marker)!r}).touch()",))


def _good_state() -> dict[str, Any]:
    import torch

    return {"gn.weight": torch.ones(4), "gn.bias": torch.zeros(4)}


def _zip_bytes(obj: Any) -> bytes:
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _legacy_bytes(obj: Any) -> bytes:
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=False)
    return buffer.getvalue()


def _evil(kind: str, marker: Path) -> bytes:
    if kind == "pickle-os.system":
        return pickle.dumps({"state_dict": _SystemPayload(marker)})
    if kind == "pickle-exec-protocol-0":
        return pickle.dumps(_ExecPayload(marker), protocol=0)
    if kind == "torch.save-os.system":
        return _zip_bytes({"gn.weight": _SystemPayload(marker)})
    if kind == "torch.save-eval-in-state-dict":
        return _zip_bytes({**_good_state(), "gn.bias": _EvalInTensor(marker)})
    if kind == "legacy-torch.save-exec":
        return _legacy_bytes({"state_dict": _ExecPayload(marker)})
    raise AssertionError(kind)


EVIL_CHECKPOINTS = ["pickle-os.system", "pickle-exec-protocol-0", "torch.save-os.system",
                    "torch.save-eval-in-state-dict", "legacy-torch.save-exec"]


def _cut(data: bytes, fraction: float) -> bytes:
    return data[:max(1, int(len(data) * fraction))]


#: id -> (bytes of the file, what the message says)
BROKEN_CHECKPOINTS: dict[str, tuple[Callable[[], bytes], str]] = {
    **{f"zip-cut-{f}": (lambda f=f: _cut(_zip_bytes(_good_state()), f), "refused or unreadable")
       for f in (0.01, 0.25, 0.5, 0.75, 0.99)},
    **{f"legacy-cut-{f}": (lambda f=f: _cut(_legacy_bytes(_good_state()), f), "refused or unreadable")
       for f in (0.01, 0.25, 0.5, 0.75, 0.99)},
    "empty": (lambda: b"", "refused or unreadable"),
    "random-bytes": (lambda: np.random.default_rng(7).bytes(3000), "refused or unreadable"),
    "onnx-model-as-weights": (lambda: GOOD_BYTES, "refused or unreadable"),
    "list-of-tensors": (lambda: _zip_bytes(list(_good_state().values())), "got list"),
    "a-tensor": (lambda: _zip_bytes(_good_state()["gn.weight"]), "got Tensor"),
    "dict-of-ints": (lambda: _zip_bytes({"gn.weight": 1, "gn.bias": 2}),
                     "its entry 'gn.weight' is of type int, not a tensor"),
    "a-string": (lambda: _zip_bytes("state_dict"), "got str"),
    "nested-dicts": (lambda: _zip_bytes({"state_dict": {"gn": _good_state()}}),
                     "its entry 'gn' is of type dict, not a tensor"),
    "wrong-keys": (lambda: _zip_bytes({"conv.weight": _good_state()["gn.weight"]}),
                   "keys do not match the model: missing ['gn.bias', 'gn.weight'], unexpected ['conv.weight']"),
}


@pytest.fixture(scope="module")
def torch_project(tmp_path_factory) -> Iterator[tuple[Path, str]]:
    """A folder with a model module (unique name) and the matching ONNX model."""
    folder = tmp_path_factory.mktemp("checkpoints")
    module = f"hostile_net_{uuid.uuid4().hex[:8]}"
    (folder / f"{module}.py").write_text(FACTORY)
    save(model_of([gn(y="Y")], inits=affine()), folder / "net.onnx")
    yield folder, module
    sys.modules.pop(module, None)


def _check_weights_refused(capsys: pytest.CaptureFixture[str], folder: Path, module: str, weights: Path,
                           *needles: str) -> None:
    report = folder / "report"
    with pytest.raises(ValidateError) as info:
        validate(folder / "net.onnx", torch_model=f"{module}:build", weights=weights, report_dir=report,
                 tensorrt=False, html=False, progress=False)
    for needle in (f"--weights {weights}", *needles):
        assert needle in str(info.value)
    assert_usage_error(*run_cli(capsys, *validate_args(folder / "net.onnx", report, "--torch", f"{module}:build",
                                                      "--weights", str(weights))),
                       "validate", f"--weights {weights}", *needles)
    assert not report.exists()
    out = folder / "exported.onnx"
    assert_usage_error(*run_cli(capsys, "export", "--model", f"{module}:build", "--weights", str(weights),
                                "--input-shape", "1x4x3x3", "-o", str(out)), "export", f"--weights {weights}", *needles)
    assert not out.exists()


@pytest.mark.parametrize("kind", EVIL_CHECKPOINTS)
def test_malicious_checkpoint_is_refused_not_run(kind, torch_project, capsys, monkeypatch):
    folder, module = torch_project
    monkeypatch.chdir(folder)
    marker = folder / f"pwned-{kind}"
    weights = save(_evil(kind, marker), folder / f"{kind}.pt")
    _check_weights_refused(capsys, folder, module, weights, "refused or unreadable")
    assert not marker.exists(), "the checkpoint's payload ran"


@pytest.mark.parametrize("name", list(BROKEN_CHECKPOINTS))
def test_broken_checkpoint(name, torch_project, capsys, monkeypatch):
    folder, module = torch_project
    monkeypatch.chdir(folder)
    make, needle = BROKEN_CHECKPOINTS[name]
    weights = save(make(), folder / f"{name}.pt")
    _check_weights_refused(capsys, folder, module, weights, needle)


def test_checkpoint_is_a_directory(torch_project, capsys, monkeypatch):
    folder, module = torch_project
    monkeypatch.chdir(folder)
    weights = folder / "ckpt_dir.pt"
    weights.mkdir(exist_ok=True)
    _check_weights_refused(capsys, folder, module, weights, "is a directory, not a checkpoint file")


# ------------------------------------------------------------------------------------------------
# 6. external data


_OPENED: list[str] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _OPENED is not None and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        _OPENED.append(os.path.realpath(os.fsdecode(args[0])))


sys.addaudithook(_audit)  # records open() calls only while _OPENED is a list


@contextlib.contextmanager
def opened_files() -> Iterator[list[str]]:
    global _OPENED
    _OPENED = []
    try:
        yield _OPENED
    finally:
        _OPENED = None


def _external_model(location: str, offset: Any = None, length: Any = None, *, no_location: bool = False) -> onnx.ModelProto:
    model = good_model()
    scale = model.graph.initializer[0]
    scale.ClearField("raw_data")
    scale.data_location = onnx.TensorProto.EXTERNAL
    entries = [] if no_location else [("location", location)]
    entries += [(k, str(v)) for k, v in (("offset", offset), ("length", length)) if v is not None]
    for key, value in entries:
        entry = scale.external_data.add()
        entry.key, entry.value = key, value
    return model


#: id -> (location, offset, length, message)
EXTERNAL_CASES: dict[str, tuple[str, Any, Any, str]] = {
    "parent-folder": ("../secret.bin", None, None, "external data location '../secret.bin' points outside the model's folder"),
    "etc-passwd": ("../../../../../../../../etc/passwd", None, None, "points outside the model's folder"),
    "absolute-path": ("{outside}/secret.bin", None, None, "points outside the model's folder"),
    "absolute-etc-passwd": ("/etc/passwd", None, None, "external data location '/etc/passwd' points outside"),
    "dotdot-inside-path": ("sub/../../secret.bin", None, None, "points outside the model's folder"),
    "link-leading-out": ("link.bin", None, None, "external data location 'link.bin' leads outside the model's folder"),
    "missing-file": ("nope.bin", None, None, "external data file 'nope.bin' does not exist"),
    "a-directory": ("sub", None, None, "external data file 'sub' is not a regular file"),
    "offset-beyond-file": ("weights.bin", 100, None, "external data at bytes 100 to the end lies beyond the end of "
                                                    "'weights.bin' (16 bytes)"),
    "length-beyond-file": ("weights.bin", 0, 10**12, "external data at bytes 0 to 1000000000000 lies beyond the end"),
    "offset-plus-length-beyond": ("weights.bin", 8, 16, "external data at bytes 8 to 24 lies beyond the end"),
    "length-too-short": ("weights.bin", 0, 8, "external data in 'weights.bin' holds 8 bytes, but its shape [4] and "
                                              "type need 16"),
    "negative-offset": ("weights.bin", -5, None, "external data offset -5 is negative"),
    "offset-not-a-number": ("weights.bin", "abc", None, "external data offset 'abc' is not an integer"),
    "no-location": ("", None, None, "stored as external data but names no file (no 'location')"),
}


def _external_folder(tmp_path: Path) -> tuple[Path, Path]:
    outside = tmp_path / "outside"
    models = outside / "models"
    (models / "sub").mkdir(parents=True)
    (outside / "secret.bin").write_bytes(np.full(4, 7, np.float32).tobytes())
    (models / "weights.bin").write_bytes(np.linspace(0.5, 1.5, 4).astype(np.float32).tobytes())
    (models / "link.bin").symlink_to(outside / "secret.bin")
    return outside, models


@pytest.mark.parametrize("name", list(EXTERNAL_CASES))
def test_external_data(name, tmp_path, capsys):
    outside, models = _external_folder(tmp_path)
    location, offset, length, message = EXTERNAL_CASES[name]
    src = save(_external_model(location.format(outside=outside), offset, length, no_location=name == "no-location"),
               models / "model.onnx")
    with opened_files() as opened:
        check_convert_refused(capsys, src, tmp_path / "out", "tensor 'scale'", message)
        check_inspect_refused(capsys, src, "tensor 'scale'", message)
        check_validate_refused(capsys, src, tmp_path, "tensor 'scale'", message)
    assert str(src.resolve()) in opened, "the audit hook sees the files opened"
    outside_dir, models_dir = str(outside.resolve()) + os.sep, str(models.resolve()) + os.sep
    leaked = [p for p in opened if p.startswith(outside_dir) and not p.startswith(models_dir) or p == "/etc/passwd"]
    assert not leaked, f"read outside the model's folder: {leaked}"


def test_external_data_inside_the_folder_still_works(tmp_path, capsys):
    _, models = _external_folder(tmp_path)
    src = save(_external_model("weights.bin", 0, 16), models / "model.onnx")
    code, _, err = run_cli(capsys, "convert", str(src), "-o", str(tmp_path / "o.onnx"), "--to", "standard")
    assert code == 0, err
    scale = next(i for i in onnx.load(str(tmp_path / "o.onnx")).graph.initializer if i.name == "scale")
    np.testing.assert_array_equal(numpy_helper.to_array(scale), np.linspace(0.5, 1.5, 4).astype(np.float32))
    assert validate(src, report_dir=False, tensorrt=False, html=False, progress=False).passed


# ------------------------------------------------------------------------------------------------
# 7. no partial outputs


def _checker_fails_after_conversion() -> onnx.ModelProto:
    # a standard LRN with a float size: convert leaves it alone, onnx.checker refuses the result
    return model_of([helper.make_node("LRN", ["X"], ["Y"], name="lrn", size=3.0)])


#: id -> (how the destination is broken, message)
OUTPUT_CASES = {
    "destination-is-a-directory": ("dir", "is a directory; give a file name"),
    "destination-folder-is-a-file": ("parent-file", "cannot write"),
    "result-fails-onnx-checker": ("checker", "not written: the result fails onnx.checker"),
    "unknown-standard-op": ("unknown-op", "not written: the result fails onnx.checker"),
    "disk-full-while-renaming": ("disk-full", "cannot write"),
}


@pytest.mark.parametrize("name", list(OUTPUT_CASES))
def test_failed_write_leaves_nothing(name, tmp_path, capsys, monkeypatch):
    kind, message = OUTPUT_CASES[name]
    src = save(good_model(), tmp_path / "in" / "model.onnx")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    dst = out_dir / "model.out.onnx"
    if kind == "dir":
        dst.mkdir()
    elif kind == "parent-file":
        (out_dir / "folder").write_text("a file where a folder should be")
        dst = out_dir / "folder" / "model.out.onnx"
    elif kind == "checker":
        save(_checker_fails_after_conversion(), src)
    elif kind == "unknown-op":
        save(model_of([helper.make_node("NoSuchOp", ["X"], ["Y"], name="mystery")]), src)
    elif kind == "disk-full":
        save(b"precious", dst)

        def full(*args: Any) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr("normdeploy.conversion.os.replace", full)
    before = listing(out_dir)
    # nodes convert left as they were only warn unless checking is strict
    strict = kind in ("checker", "unknown-op")
    with pytest.raises(ConvertError, match=message.replace("(", r"\(")):
        convert(src, dst, strict=strict)
    assert listing(out_dir) == before
    assert_usage_error(*run_cli(capsys, "convert", str(src), "-o", str(dst), *(["--strict"] if strict else [])),
                       "convert", message)
    assert listing(out_dir) == before, "a failed convert left or changed files"
    if kind in ("dir", "parent-file"):
        assert not list(out_dir.rglob(".*.tmp"))


def test_validate_report_folder_is_untouched_on_refusal(tmp_path, capsys):
    src = save(single("GroupNorm", {"num_groups": 0}), tmp_path / "bad.onnx")
    report = tmp_path / "report"
    report.mkdir()
    (report / "report.json").write_text('{"earlier": "run"}')
    before = listing(report)
    assert_usage_error(*run_cli(capsys, *validate_args(src, report)), "validate", "num_groups")
    assert listing(report) == before
    (tmp_path / "a-file").write_text("not a folder")
    assert_usage_error(*run_cli(capsys, *validate_args(save(good_model(), tmp_path / "good.onnx"), tmp_path / "a-file")),
                       "validate", "exists and is not a folder")
    assert (tmp_path / "a-file").read_text() == "not a folder"


def test_validate_report_is_never_half_written(tmp_path, monkeypatch):
    src = save(good_model(), tmp_path / "good.onnx")
    report = tmp_path / "report"
    result = validate(src, report_dir=report, tensorrt=False, html=True, progress=False)
    assert result.passed
    assert sorted(p.name for p in report.iterdir()) == ["report.html", "report.json"], "stray temporary files"
    before = listing(report)
    from normdeploy.validate import html

    def broken(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("matplotlib exploded")

    monkeypatch.setattr(html, "render", broken)
    with pytest.raises(RuntimeError, match="matplotlib exploded"):
        validate(src, report_dir=report, tensorrt=False, html=True, progress=False)
    assert listing(report) == before, "a failed report left a mix of old and new files"
    fresh = tmp_path / "fresh-report"
    with pytest.raises(RuntimeError):
        validate(src, report_dir=fresh, tensorrt=False, html=True, progress=False)
    assert not fresh.exists()


# ------------------------------------------------------------------------------------------------
# the real commands in a subprocess: one case per category and command


def _subprocess_cases(tmp: Path, project: tuple[Path, str]) -> list[tuple[str, list[str], Path, list[str]]]:
    """(id, argv, cwd, needles) for the CLI in a subprocess."""
    folder, module = project
    cut = save(GOOD_BYTES[:len(GOOD_BYTES) // 2], tmp / "cut.onnx")
    noise = save(np.random.default_rng(3).bytes(4096), tmp / "noise.onnx")
    text = save(b"just text\n", tmp / "text.onnx")
    directory = tmp / "dir.onnx"
    directory.mkdir()
    attr = save(single("GroupNorm", {"num_groups": 2.5}), tmp / "attr.onnx")
    cycle = save(STRUCTURE_CASES["cycle"][0](), tmp / "cycle.onnx")
    huge = save(_dims_model([2**40, 4, 224, 224]), tmp / "huge.onnx")
    outside = tmp / "ext"
    models = outside / "models"
    models.mkdir(parents=True)
    os.mkfifo(outside / "secret.fifo")  # reading it would hang: proves nothing is read outside
    dotdot = save(_external_model("../secret.fifo"), models / "dotdot.onnx")
    absolute = save(_external_model(str(outside / "secret.fifo")), models / "abs.onnx")
    evil = save(_evil("torch.save-os.system", folder / "pwned-subprocess"), folder / "evil-subprocess.pt")
    report = tmp / "report"
    out = tmp / "out.onnx"
    return [
        ("convert-truncated", ["convert", str(cut), "-o", str(out)], tmp, [str(cut), "is not an ONNX model"]),
        ("inspect-random-bytes", ["inspect", str(noise)], tmp, [str(noise), "is not an ONNX model"]),
        ("validate-text", validate_args(text, report), tmp, [str(text), "is not an ONNX model"]),
        ("validate-directory", validate_args(directory, report), tmp, ["is a directory"]),
        ("convert-bad-attribute", ["convert", str(attr), "-o", str(out), "--to", "standard"], tmp,
         ["node 'victim'", "GroupNorm: attribute 'num_groups' must be an int, got a float (2.5)"]),
        ("inspect-cycle", ["inspect", str(cycle)], tmp, ["the graph has a cycle"]),
        ("validate-bad-attribute", validate_args(attr, report), tmp, ["attribute 'num_groups'"]),
        ("validate-huge-dims", validate_args(huge, report), tmp, ["input 'X' of shape 1099511627776x4x224x224"]),
        ("convert-external-dotdot-fifo", ["convert", str(dotdot), "-o", str(out)], tmp, ["points outside"]),
        ("validate-external-absolute-fifo", validate_args(absolute, report), tmp, ["points outside"]),
        ("validate-evil-weights", validate_args(folder / "net.onnx", report, "--torch", f"{module}:build", "--weights",
                                                str(evil)), folder, ["refused or unreadable"]),
        ("export-evil-weights", ["export", "--model", f"{module}:build", "--weights", str(evil), "--input-shape",
                                 "1x4x3x3", "-o", str(out)], folder, ["refused or unreadable"]),
    ]


SUBPROCESS_IDS = ["convert-truncated", "inspect-random-bytes", "validate-text", "validate-directory",
                  "convert-bad-attribute", "inspect-cycle", "validate-bad-attribute", "validate-huge-dims",
                  "convert-external-dotdot-fifo", "validate-external-absolute-fifo", "validate-evil-weights",
                  "export-evil-weights"]


@pytest.mark.parametrize("case_id", SUBPROCESS_IDS)
def test_real_command_in_a_subprocess(case_id, tmp_path, torch_project):
    cases = {c[0]: c for c in _subprocess_cases(tmp_path, torch_project)}
    _, argv, cwd, needles = cases[case_id]
    try:
        done = run_subprocess(cwd, *argv)
    except subprocess.TimeoutExpired:
        pytest.fail(f"normdeploy {' '.join(argv)} hung (over {SUBPROCESS_TIMEOUT} s)")
    assert done.returncode == 2, f"exit code {done.returncode} (a negative one is a signal)\n{done.stderr}"
    assert_usage_error(done.returncode, done.stdout, done.stderr, argv[0], *needles)
    assert not (tmp_path / "out.onnx").exists() and not (tmp_path / "report").exists()
    assert not (torch_project[0] / "pwned-subprocess").exists(), "the checkpoint's payload ran"


# ---- found by fuzz/fuzz_onnx_model.py (kept as regressions) ------------------------------------

def _duplicate_attribute() -> onnx.ModelProto:
    model = single("GroupNorm", {"num_groups": -1})
    model.graph.node[0].attribute.append(helper.make_attribute("num_groups", 2))  # which one counts?
    return model


FUZZ_FINDINGS = {
    "unknown element type of a graph input": (
        lambda: model_of([gn(), lrn()], inputs=[vi("X", elem=999)], inits=affine()), ("unknown element type 999",)),
    "attribute given twice": (_duplicate_attribute, ("'num_groups' more than once",)),
    "num_groups too large to decompose": (
        lambda: model_of([raw_node("GroupNorm", ["X"], ["Y"], "big", num_groups=2**62)], inputs=[vi("X", ["N", "C", 5])]),
        ("num_groups=4611686018427387904 is too large",)),
    "X of a non-float type": (
        lambda: model_of([gn(), lrn()], inputs=[vi("X", elem=onnx.TensorProto.STRING)],
                         outputs=[vi("Y", elem=onnx.TensorProto.STRING)], inits=affine()),
        ("input 'X' has type string", "expected float32, float16 or bfloat16")),
}


@pytest.mark.parametrize("case", list(FUZZ_FINDINGS))
def test_fuzz_findings_are_refused_clearly(case, tmp_path, capsys):
    build, needles = FUZZ_FINDINGS[case]
    src = save(build(), tmp_path / "model.onnx")
    directions = ("standard",) if "decompose" in case or "non-float" in case else ("custom", "standard")
    check_convert_refused(capsys, src, tmp_path / "out", *needles, directions=directions)
