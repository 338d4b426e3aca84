"""Model zoo: third-party model code through export, convert, validate and float16.

The models (tests/zoo_models.py) are built from diffusers, transformers and pytorchcv classes with
small configs and seeded random weights; nothing is downloaded. For each:

- the norms it calls: F.group_norm / F.local_response_norm calls recorded by a TorchFunctionMode,
  independently of normdeploy, and checked against the architecture's count;
- export: normdeploy.export gives one normdeploy node per call, with the call's constants, no
  standard norm op left, inputs named after the forward's parameters; kwargs (return_dict=False)
  and dataclass outputs (named after their keys) work;
- parity: ONNX Runtime with our library within 1e-4 of the output scale (max |PyTorch output|);
- convert: the plain torch.onnx.export(dynamo=True) at opsets 18 and 21 through
  normdeploy.convert_model: every norm rewritten (one node per call, with its constants; no
  InstanceNormalization / GroupNormalization / LRN and no LRN decomposition left), nothing left
  alone, parity kept;
- validate: normdeploy.validate against the standard-op reference and PyTorch, exit code 0;
- float16: a float16 copy (onnxconverter-common) runs through make_session, every normdeploy node
  takes float16 X, within 1e-2 of the output scale of PyTorch float32.

The ONNX Runtime-optimized UNet (tests/ort_optimized.py) goes through convert, parity, validate
and float16 the same way.

Figures (per model: nodes, errors, rewrites, seconds) go to a JSON file when NORMDEPLOY_ZOO_JSON
names one; scripts/zoo_table.py makes the README's "Models tried" table from it.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import logging
import os
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import onnx
import pytest
import torch
from torch import nn

import normdeploy
from ort_optimized import make_ort_optimized_unet, unet_inputs, unet_reference
from zoo_models import CASES, NormCall, run_recording

pytestmark = pytest.mark.slow  # about 100 s of CPU time for the file (still run by make test)

DOMAIN = normdeploy.ops.DOMAIN
NAMES = list(CASES)
PARITY = 1e-4           # of the output scale, float32
PARITY_FLOAT16 = 1e-2   # of the output scale, float16 model against PyTorch float32
STANDARD_NORMS = {"GroupNormalization", "InstanceNormalization", "LRN"}
FIGURES_ENV = "NORMDEPLOY_ZOO_JSON"

# The norms each model calls, counted from its architecture (not from any code under test).
EXPECTED_CALLS: dict[str, tuple[str, int]] = {
    # Decoder: mid block 2 ResnetBlock2D x 2 GroupNorm + 1 attention GroupNorm; 2 up blocks x
    # (layers_per_block + 1 = 2) ResnetBlock2D x 2; conv_norm_out
    "vae_decoder": ("GroupNorm", 5 + 2 * 2 * 2 + 1),
    # down: CrossAttnDownBlock2D (1 resnet x 2 + 1 transformer) + DownBlock2D (1 resnet x 2); mid:
    # 2 resnets x 2 + 1 transformer; up: UpBlock2D (2 resnets x 2) + CrossAttnUpBlock2D (2 resnets
    # x 2 + 2 transformers); conv_norm_out
    "unet": ("GroupNorm", (3 + 2) + 5 + (4 + 6) + 1),
    # feature encoder: GroupNorm(32, 32) after the first Conv1d only
    "wav2vec2": ("GroupNorm", 1),
    # AlexConv: LRN after the convolutions of stages 1 and 2
    "alexnet": ("LocalResponseNorm", 2),
    "zfnet": ("LocalResponseNorm", 2),
}
# pytorchcv's AlexConv: F.local_response_norm(x, size=5, k=2.0), alpha and beta PyTorch's defaults
PYTORCHCV_LRN = NormCall("LocalResponseNorm", (("size", 5.0), ("alpha", 1e-4), ("beta", 0.75), ("k", 2.0)))
# The ONNX Runtime-optimized UNet (tests/ort_optimized.py: the "unet" case's config, exported with
# a dynamic batch at opset 17, optimized with model_type "unet"): the com.microsoft ops that have
# no ONNX Runtime CPU kernel must all be rewritten; others may be left alone with a reason.
ORT_UNET = "ort_unet"
ORT_GROUP_NORMS = {"GroupNorm", "SkipGroupNorm"}
ORT_CUDA_ONLY = ORT_GROUP_NORMS | {"NhwcConv", "BiasAdd", "BiasSplitGelu"}
MS_DOMAIN = "com.microsoft"
# Outputs a dataclass-returning forward must give, named after the dataclass keys holding tensors
# (a key equal to an input name gets "out_" in front: ONNX names are unique; the UNet's input and
# output are both "sample").
DATACLASS_OUTPUTS = {"unet": ["out_sample"], "wav2vec2": ["last_hidden_state", "extract_features"]}


# --------------------------------------------------------------------------------------------
# Shared state: each model built and exported once per module, figures collected per model


@dataclass
class Built:
    name: str
    model: nn.Module
    inputs: dict[str, torch.Tensor]
    reference: list[np.ndarray]
    calls: list[NormCall]

    def feed(self, session: Any, float16: bool = False) -> dict[str, np.ndarray]:
        """The inputs, by position, under the session's input names (so that only the naming
        test depends on the names)."""
        names = [i.name for i in session.get_inputs()]
        assert len(names) == len(self.inputs), f"{self.name}: file inputs {names}, forward {list(self.inputs)}"
        feed = {}
        for name, value in zip(names, self.inputs.values()):
            array = value.numpy()
            feed[name] = array.astype(np.float16) if float16 and array.dtype == np.float32 else array
        return feed


class Zoo:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._built: dict[str, Built] = {}
        self._exported: dict[str, Any] = {}
        self._ort_unet: tuple[Path, onnx.ModelProto, Any] | None = None

    def built(self, name: str) -> Built:
        if name not in self._built:
            case = CASES[name]
            model = case.build()
            inputs = case.inputs()
            outputs, calls = run_recording(case, model, inputs)
            self._built[name] = Built(name, model, inputs, [o.numpy() for o in outputs], calls)
        return self._built[name]

    def exported(self, name: str) -> Any:
        """normdeploy.export of the model (the ExportResult)."""
        if name not in self._exported:
            built = self.built(name)
            self._exported[name] = normdeploy.export(built.model, tuple(built.inputs.values()),
                                                     self.directory / f"{name}.onnx", kwargs=dict(CASES[name].kwargs))
        return self._exported[name]

    def ort_unet(self) -> tuple[Path, onnx.ModelProto, Any]:
        """The ONNX Runtime-optimized UNet file, and its normdeploy.convert_model to custom
        (the converted model and the report)."""
        if self._ort_unet is None:
            path = make_ort_optimized_unet(self.directory)
            self._ort_unet = (path, *normdeploy.convert_model(onnx.load(str(path)), "custom"))
        return self._ort_unet


@pytest.fixture(scope="module")
def figures() -> Iterator[dict[str, dict[str, Any]]]:
    collected: dict[str, dict[str, Any]] = {}
    yield collected
    target = os.environ.get(FIGURES_ENV)
    if target:
        Path(target).write_text(json.dumps(collected, indent=2, sort_keys=True) + "\n")


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Zoo:
    return Zoo(tmp_path_factory.mktemp("zoo"))


@pytest.fixture(autouse=True)
def _timed(request: pytest.FixtureRequest, figures: dict[str, dict[str, Any]]) -> Iterator[None]:
    """Adds each test's wall and CPU (all threads) time to its model's figures (the models are
    built and exported lazily, inside the first test that needs them)."""
    start, start_cpu = time.perf_counter(), time.process_time()
    yield
    params = getattr(getattr(request.node, "callspec", None), "params", {})
    name = params.get("name", ORT_UNET if ORT_UNET in request.node.name else None)
    if name:
        entry = figures.setdefault(name, {})
        entry["seconds"] = round(entry.get("seconds", 0.0) + time.perf_counter() - start, 2)
        entry["cpu_seconds"] = round(entry.get("cpu_seconds", 0.0) + time.process_time() - start_cpu, 2)


@contextlib.contextmanager
def recorded(figures: dict[str, dict[str, Any]], name: str, check: str) -> Iterator[dict[str, Any]]:
    """The figures of one check of one model: the test fills the dict; its status is "passed",
    or "failed: " and the first line of the failure."""
    entry = figures.setdefault(name, {})
    if name in CASES:
        case = CASES[name]
        entry.update(family=case.family, source=f"{case.package} {case.version}")
    elif name == ORT_UNET:
        version = importlib.metadata.version
        entry.update(family="UNet2DConditionModel, ONNX Runtime-optimized (opset 17)",
                     source=f"diffusers {version('diffusers')}, onnxruntime.transformers {version('onnxruntime')}")
    record: dict[str, Any] = {}
    entry.setdefault("checks", {})[check] = record
    try:
        yield record
    except BaseException as exc:
        record["status"] = "failed: " + (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise
    record["status"] = "passed"


# --------------------------------------------------------------------------------------------
# Helpers


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """torch.onnx prints progress and warns about torchvision; keep the test log readable."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    with warnings.catch_warnings(), open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            logging.disable(previous)


def plain_export(built: Built, opset: int) -> onnx.ModelProto:
    """torch.onnx.export(dynamo=True) as a user would run it, without normdeploy."""
    with quiet(), torch.no_grad():
        program = torch.onnx.export(built.model, tuple(built.inputs.values()), kwargs=dict(CASES[built.name].kwargs),
                                    dynamo=True, opset_version=opset, external_data=False)
    return program.model_proto


def all_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    nodes: list[onnx.NodeProto] = []
    graphs = [model.graph]
    while graphs:
        graph = graphs.pop()
        for node in graph.node:
            nodes.append(node)
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    graphs.append(attr.g)
                graphs.extend(attr.graphs)
    for function in model.functions:
        nodes.extend(function.node)
    return nodes


def attrs(node: onnx.NodeProto) -> dict[str, Any]:
    values = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in values.items()}


def f32(value: float) -> float:
    return float(np.float32(value))


def call_of(node: onnx.NodeProto) -> NormCall:
    """The norm call a normdeploy node stands for (defaults from the op schemas' docs)."""
    a = attrs(node)
    if node.op_type == "GroupNorm":
        return NormCall("GroupNorm", (("num_groups", float(a["num_groups"])), ("eps", f32(a.get("epsilon", 1e-5)))))
    if node.op_type == "LocalResponseNorm":
        assert a.get("window") == "pytorch", f"LocalResponseNorm '{node.name}': window {a.get('window')!r}"
        return NormCall("LocalResponseNorm", (("size", float(a["size"])), ("alpha", f32(a.get("alpha", 1e-4))),
                                              ("beta", f32(a.get("beta", 0.75))), ("k", f32(a.get("bias", 1.0)))))
    raise AssertionError(f"unexpected normdeploy node {node.op_type} '{node.name}'")


def in_float32(call: NormCall) -> NormCall:
    return NormCall(call.op, tuple((k, f32(v)) for k, v in call.constants))


def describe(calls: Counter) -> str:
    return ", ".join(f"{op} x{n}" for op, n in sorted(calls.items())) or "none"


def check_norm_nodes(model: onnx.ModelProto, built: Built, where: str) -> Counter:
    """One normdeploy node per norm call, with the call's constants; no standard norm op, no LRN
    decomposition (AveragePool: these models call no avg_pool of their own) and no node of a
    non-standard domain left. Returns the node counts (GroupNorm, GroupNorm(silu), ...)."""
    nodes = all_nodes(model)
    ours = [n for n in nodes if n.domain == DOMAIN]
    got = Counter(in_float32(call_of(n)) for n in ours)
    want = Counter(in_float32(c) for c in built.calls)
    assert got == want, (f"{built.name} {where}: normdeploy nodes {describe(Counter(c.op for c in got.elements()))} "
                         f"for torch calls {describe(Counter(c.op for c in want.elements()))}; "
                         f"constants differ: nodes-only {got - want}, calls-only {want - got}")
    standard = Counter(n.op_type for n in nodes if n.domain in ("", "ai.onnx"))
    left = {op: standard[op] for op in STANDARD_NORMS if standard[op]}
    assert not left, f"{built.name} {where}: standard norm ops left: {left}"
    if any(c.op == "LocalResponseNorm" for c in built.calls):
        pools = standard["AveragePool"]
        assert not pools, f"{built.name} {where}: {pools} AveragePool left (LRN decomposition)"
    foreign = Counter(f"{n.domain}.{n.op_type}" for n in nodes if n.domain not in ("", "ai.onnx", DOMAIN))
    assert not foreign, f"{built.name} {where}: non-standard nodes left: {dict(foreign)}"
    counts: Counter = Counter()
    for node in ours:
        activation = attrs(node).get("activation", "none")
        counts[node.op_type if activation == "none" else f"{node.op_type}({activation})"] += 1
    return counts


def worst_error(outputs: list[np.ndarray], reference: list[np.ndarray], what: str) -> float:
    """max over outputs of max |out - ref| / max |ref| (float64)."""
    assert len(outputs) == len(reference), f"{what}: {len(outputs)} outputs, PyTorch gives {len(reference)}"
    worst = 0.0
    for index, (out, ref) in enumerate(zip(outputs, reference)):
        assert out.shape == ref.shape, f"{what}: output {index} has shape {out.shape}, PyTorch {ref.shape}"
        scale = float(np.max(np.abs(ref)))
        assert scale > 0, f"{what}: PyTorch output {index} is all zeros; the comparison would prove nothing"
        error = float(np.max(np.abs(out.astype(np.float64) - ref.astype(np.float64))))
        worst = max(worst, error / scale)
    return worst


def run(model: Any, built: Built, float16: bool = False) -> list[np.ndarray]:
    session = normdeploy.make_session(model, allow_spinning=False)
    return session.run(None, built.feed(session, float16))


def float16_copy(model: onnx.ModelProto) -> onnx.ModelProto:
    """onnxconverter-common's float16 conversion, float16 inputs and outputs. Two of its bugs are
    avoided: a Cast(to=FLOAT) keeps to=FLOAT while its output is retyped float16 (the UNet's
    timestep cast), so those Casts stay float32 with a cast after them (node_block_list); and
    keep_io_types=True leaves a graph output that other nodes also read (Wav2Vec2's
    extract_features) feeding them float32. Unnamed nodes are named first: the casts it inserts
    are named after the node, so two unnamed blocked nodes would give duplicate names."""
    from onnxconverter_common.float16 import convert_float_to_float16

    model = onnx.ModelProto.FromString(model.SerializeToString())
    taken = {n.name for n in model.graph.node}
    for index, node in enumerate(model.graph.node):  # it names its casts after the nodes
        if not node.name:
            node.name = next(f"fp16_node_{index}_{k}" for k in range(len(taken) + 1)
                             if f"fp16_node_{index}_{k}" not in taken)
            taken.add(node.name)
    to_float = [n.name for n in model.graph.node if n.op_type == "Cast"
                and any(a.name == "to" and a.i == onnx.TensorProto.FLOAT for a in n.attribute)]
    with warnings.catch_warnings():  # "the float32 number 1e-09 will be truncated to 1e-07", per weight
        warnings.simplefilter("ignore", UserWarning)
        return convert_float_to_float16(model, keep_io_types=False, node_block_list=to_float)


def norm_input_types(model: onnx.ModelProto) -> Counter:
    """The element types (onnx.TensorProto enum names) of X of every normdeploy node, by shape
    inference with our schemas."""
    normdeploy.ops.register_schemas()
    inferred = onnx.shape_inference.infer_shapes(model)
    graph = inferred.graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*graph.value_info, *graph.input, *graph.output]}
    types.update({t.name: t.data_type for t in graph.initializer})
    return Counter(onnx.TensorProto.DataType.Name(types.get(n.input[0], 0)) for n in graph.node if n.domain == DOMAIN)


# --------------------------------------------------------------------------------------------
# The torch models


@pytest.mark.parametrize("name", NAMES)
def test_norm_calls_match_architecture(zoo: Zoo, figures: dict, name: str) -> None:
    """The recorder sees the norms the architecture has; for GroupNorm, forward hooks on the
    nn.GroupNorm modules agree; pytorchcv's LRN is a functional call (no module to hook)."""
    with recorded(figures, name, "calls") as record:
        built = zoo.built(name)
        op, count = EXPECTED_CALLS[name]
        seen = Counter(c.op for c in built.calls)
        record["calls"] = dict(seen)
        assert seen == Counter({op: count}), f"{name}: recorded {describe(seen)}, the architecture has {op} x{count}"
        hooked: list[nn.Module] = []
        handles = [m.register_forward_hook(lambda mod, _i, _o: hooked.append(mod))
                   for m in built.model.modules() if isinstance(m, (nn.GroupNorm, nn.LocalResponseNorm))]
        try:
            with torch.no_grad():
                built.model(*built.inputs.values(), **CASES[name].kwargs)
        finally:
            for handle in handles:
                handle.remove()
        if op == "GroupNorm":
            assert len(hooked) == count, f"{name}: {len(hooked)} nn.GroupNorm calls, {count} F.group_norm calls"
            groups = {m.num_groups for m in hooked}
            assert groups == {32}, f"{name}: num_groups {groups}, configured 32"
        else:
            assert not hooked, f"{name}: pytorchcv has nn.LocalResponseNorm modules now: {hooked[:2]}"
            assert built.calls == [PYTORCHCV_LRN] * count, f"{name}: LRN calls {built.calls}"


# --------------------------------------------------------------------------------------------
# normdeploy.export


@pytest.mark.parametrize("name", NAMES)
def test_export_nodes_and_parity(zoo: Zoo, figures: dict, name: str) -> None:
    with recorded(figures, name, "export") as record:
        built = zoo.built(name)
        result = zoo.exported(name)
        model = onnx.load(str(result.path))
        record["nodes"] = dict(check_norm_nodes(model, built, "export"))
        error = record["parity"] = worst_error(run(result.path, built), built.reference, f"{name} export")
        assert error <= PARITY, f"{name} export: max error {error:.3e} of the output scale > {PARITY:g}"


@pytest.mark.parametrize("name", NAMES)
def test_export_input_names(zoo: Zoo, figures: dict, name: str) -> None:
    """Inputs are named after the forward's parameters, as torch.onnx names them."""
    with recorded(figures, name, "input names") as record:
        result = zoo.exported(name)
        names = record["inputs"] = [i.name for i in onnx.load(str(result.path)).graph.input]
        params = list(zoo.built(name).inputs)
        assert names == params, f"{name}: inputs {names}, the forward's parameters {params}"


@pytest.mark.parametrize("name", sorted(DATACLASS_OUTPUTS))
def test_export_dataclass_outputs(zoo: Zoo, figures: dict, tmp_path: Path, name: str) -> None:
    """Without return_dict=False the forward returns a ModelOutput dataclass: the outputs are its
    keys that hold tensors, in order, with the tuple form's values."""
    with recorded(figures, name, "dataclass outputs") as record:
        built = zoo.built(name)
        result = normdeploy.export(built.model, tuple(built.inputs.values()), tmp_path / f"{name}_dataclass.onnx")
        names = record["outputs"] = [o.name for o in onnx.load(str(result.path)).graph.output]
        assert names == DATACLASS_OUTPUTS[name], f"{name}: outputs {names}"
        error = worst_error(run(result.path, built), built.reference, f"{name} dataclass export")
        assert error <= PARITY, f"{name} dataclass export: max error {error:.3e} of the output scale"


# --------------------------------------------------------------------------------------------
# normdeploy.convert on the plain torch.onnx export


@pytest.mark.parametrize("opset", [18, 21])
@pytest.mark.parametrize("name", NAMES)
def test_convert_plain_export(zoo: Zoo, figures: dict, name: str, opset: int) -> None:
    with recorded(figures, name, f"convert {opset}") as record:
        built = zoo.built(name)
        converted, report = normdeploy.convert_model(plain_export(built, opset), "custom")
        skipped = [f"{s.pattern} at {s.node}: {s.reason}" for s in report.skipped]
        record.update(rewrites=sum(report.counts.values()), patterns=dict(report.counts), left_alone=skipped)
        assert not skipped, f"{name} opset {opset}: left alone: {skipped}"
        record["nodes"] = dict(check_norm_nodes(converted, built, f"convert opset {opset}"))
        error = record["parity"] = worst_error(run(converted, built), built.reference, f"{name} convert opset {opset}")
        assert error <= PARITY, f"{name} convert opset {opset}: max error {error:.3e} of the output scale > {PARITY:g}"


# --------------------------------------------------------------------------------------------
# normdeploy validate


@pytest.mark.parametrize("name", NAMES)
def test_validate(zoo: Zoo, figures: dict, name: str) -> None:
    """normdeploy validate on the exported file, with PyTorch as a third runner: exit code 0."""
    from normdeploy.validate import validate

    with recorded(figures, name, "validate") as record:
        built = zoo.built(name)
        path = zoo.exported(name).path
        session = normdeploy.make_session(path, allow_spinning=False)
        result = validate(path, torch_model=built.model, inputs=[built.feed(session)], report_dir=False,
                          tensorrt=False, html=False, progress=False)
        record["exit_code"] = result.exit_code
        assert result.exit_code == 0, result.summary()
        ran = {r["runner"] for r in result.report["runners"] if r["ran"]}
        assert {"onnxruntime+normdeploy", "onnxruntime-standard", "pytorch-cpu"} <= ran, result.summary()


# --------------------------------------------------------------------------------------------
# float16


@pytest.mark.parametrize("name", NAMES)
def test_float16_copy(zoo: Zoo, figures: dict, name: str) -> None:
    with recorded(figures, name, "fp16") as record:
        built = zoo.built(name)
        model16 = float16_copy(onnx.load(str(zoo.exported(name).path)))
        types = norm_input_types(model16)
        record["x_types"] = dict(types)
        assert set(types) == {"FLOAT16"}, f"{name}: normdeploy nodes take X as {dict(types)}"
        outputs = run(model16, built, float16=True)
        assert all(o.dtype == np.float16 for o in outputs), [o.dtype for o in outputs]
        error = record["error"] = worst_error(outputs, built.reference, f"{name} float16")
        assert error <= PARITY_FLOAT16, f"{name} float16: max error {error:.3e} of the output scale"


# --------------------------------------------------------------------------------------------
# The ONNX Runtime-optimized UNet


def ort_feed(session: Any, float16: bool = False) -> dict[str, np.ndarray]:
    names = [i.name for i in session.get_inputs()]
    inputs = unet_inputs()
    assert sorted(names) == sorted(inputs), f"file inputs {names}, ort_optimized gives {list(inputs)}"
    return {k: v.astype(np.float16) if float16 and v.dtype == np.float32 else v for k, v in inputs.items()}


def test_ort_unet_convert(zoo: Zoo, figures: dict) -> None:
    """Every com.microsoft GroupNorm / SkipGroupNorm becomes one normdeploy GroupNorm (one per
    GroupNorm of the torch UNet), the other CUDA-only ops become standard ops, and the file then
    runs on the ONNX Runtime CPU with our library, within 1e-4 of PyTorch."""
    with recorded(figures, ORT_UNET, "convert 17") as record:
        path, converted, report = zoo.ort_unet()
        original = Counter(n.op_type for n in onnx.load(str(path)).graph.node if n.domain == MS_DOMAIN)
        record["original"] = dict(original)
        op, count = EXPECTED_CALLS["unet"]
        assert sum(original[o] for o in ORT_GROUP_NORMS) == count, (
            f"the optimized file has {dict(original)}; the UNet calls {op} x{count}")
        with pytest.raises(Exception, match="NOT_IMPLEMENTED|[Cc]ould not find an implementation"):
            normdeploy.make_session(path, allow_spinning=False)  # why convert is needed

        skipped = [f"{s.pattern} at {s.node}: {s.reason}" for s in report.skipped]
        record.update(rewrites=sum(report.counts.values()), patterns=dict(report.counts), left_alone=skipped)
        nodes = all_nodes(converted)
        cuda_only = Counter(n.op_type for n in nodes if n.domain == MS_DOMAIN and n.op_type in ORT_CUDA_ONLY)
        assert not cuda_only, f"CUDA-only com.microsoft ops left: {dict(cuda_only)}; left alone: {skipped}"
        ours = [n for n in nodes if n.domain == DOMAIN]
        assert Counter(n.op_type for n in ours) == Counter({"GroupNorm": count}), Counter(n.op_type for n in ours)
        groups = Counter(attrs(n)["num_groups"] for n in ours)
        assert groups == Counter({32: count}), f"num_groups {dict(groups)}"
        standard = Counter(n.op_type for n in nodes if n.domain in ("", "ai.onnx") and n.op_type in STANDARD_NORMS)
        assert not standard, f"standard norm ops: {dict(standard)}"
        record["nodes"] = dict(Counter(
            n.op_type if attrs(n).get("activation", "none") == "none" else f"{n.op_type}({attrs(n)['activation']})"
            for n in ours))

        session = normdeploy.make_session(converted, allow_spinning=False)
        error = record["parity"] = worst_error(session.run(None, ort_feed(session)), [unet_reference()],
                                               "ORT-optimized UNet, converted")
        assert error <= PARITY, f"ORT-optimized UNet converted: max error {error:.3e} of the output scale"


def test_ort_unet_validate(zoo: Zoo, figures: dict) -> None:
    from normdeploy.validate import validate

    with recorded(figures, ORT_UNET, "validate") as record:
        _, converted, _ = zoo.ort_unet()
        session = normdeploy.make_session(converted, allow_spinning=False)
        result = validate(converted, inputs=[ort_feed(session)], report_dir=False, tensorrt=False, html=False,
                          progress=False)
        record["exit_code"] = result.exit_code
        assert result.exit_code == 0, result.summary()


def test_ort_unet_float16(zoo: Zoo, figures: dict) -> None:
    with recorded(figures, ORT_UNET, "fp16") as record:
        _, converted, _ = zoo.ort_unet()
        model16 = float16_copy(converted)
        types = norm_input_types(model16)
        record["x_types"] = dict(types)
        assert set(types) == {"FLOAT16"}, f"normdeploy nodes take X as {dict(types)}"
        session = normdeploy.make_session(model16, allow_spinning=False)
        outputs = session.run(None, ort_feed(session, float16=True))
        assert all(o.dtype == np.float16 for o in outputs), [o.dtype for o in outputs]
        error = record["error"] = worst_error(outputs, [unet_reference()], "ORT-optimized UNet float16")
        assert error <= PARITY_FLOAT16, f"ORT-optimized UNet float16: max error {error:.3e} of the output scale"


# --------------------------------------------------------------------------------------------
# The checks above can fail


@pytest.mark.parametrize("name", ["vae_decoder", "alexnet"])
def test_checks_catch_a_wrong_node(zoo: Zoo, name: str) -> None:
    """A node with another epsilon (GroupNorm) or beta (LRN) than the torch call fails the node
    check and the parity check; a missing node fails the node check."""
    built = zoo.built(name)
    model = onnx.load(str(zoo.exported(name).path))
    node = next(n for n in model.graph.node if n.domain == DOMAIN)
    field, value = ("epsilon", 0.1) if node.op_type == "GroupNorm" else ("beta", 0.5)
    wrong = onnx.ModelProto.FromString(model.SerializeToString())
    target = next(n for n in wrong.graph.node if n.name == node.name)
    kept = [a for a in target.attribute if a.name != field]
    del target.attribute[:]
    target.attribute.extend([*kept, onnx.helper.make_attribute(field, value)])
    with pytest.raises(AssertionError, match="constants differ"):
        check_norm_nodes(wrong, built, "mutated")
    error = worst_error(run(wrong, built), built.reference, f"{name} mutated")
    assert error > PARITY, f"{name}: {field}={value} on '{node.name}' changes the output by only {error:.3e}"

    missing = onnx.ModelProto.FromString(model.SerializeToString())
    target = next(n for n in missing.graph.node if n.name == node.name)
    identity = onnx.helper.make_node("Identity", [target.input[0]], [target.output[0]], name=target.name)
    target.CopyFrom(identity)
    with pytest.raises(AssertionError, match="normdeploy nodes"):
        check_norm_nodes(missing, built, "mutated")
