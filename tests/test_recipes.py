"""The ready export recipes in export/: each exports through normdeploy.export to an ONNX model
that onnx.checker accepts, with one normdeploy node per norm layer call (GroupNorm fused with the
SiLU that follows it), and that ONNX Runtime with normdeploy's library runs to within 1e-4 of the
output scale of PyTorch, on the example input and on an input with other dynamic dims.

Nothing is skipped: without normdeploy.export these tests fail.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import normdeploy  # the installed package (with its library), before the repo root goes on the path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for `export`
from export import alexnet_lrn, detection_head, resnet_gn, unet_block  # noqa: E402

DOMAIN = normdeploy.ops.DOMAIN
TOLERANCE = 1e-4
RECIPES: dict[str, ModuleType] = {
    "resnet_gn": resnet_gn,
    "alexnet_lrn": alexnet_lrn,
    "unet_block": unet_block,
    "detection_head": detection_head,
}
# Standard ops that must not be left behind by the rewrite (decomposed norms).
STANDARD_NORMS = {"GroupNormalization", "InstanceNormalization", "LRN"}


# --------------------------------------------------------------------------------------------
# Helpers


def second_input(name: str) -> torch.Tensor:
    """An input with other sizes in every dynamic dim (batch 1; other height/width where dynamic)."""
    module = RECIPES[name]
    x = module.example_input()
    shape = list(x.shape)
    shape[0] = 1
    if 2 in module.DYNAMIC:
        shape[2] = x.shape[2] - 9
    if 3 in module.DYNAMIC:
        shape[3] = x.shape[3] - 7
    generator = torch.Generator().manual_seed(99)
    return x.std() * torch.randn(*shape, generator=generator)


def iter_nodes(graph: onnx.GraphProto) -> Iterator[onnx.NodeProto]:
    """Every node of ``graph`` and of its subgraphs."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from iter_nodes(attr.g)
            for sub in attr.graphs:
                yield from iter_nodes(sub)


def all_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    nodes = list(iter_nodes(model.graph))
    for function in model.functions:
        nodes.extend(function.node)
    return nodes


def nodes_of(model: onnx.ModelProto, op_type: str, domain: str = DOMAIN) -> list[onnx.NodeProto]:
    return [n for n in all_nodes(model) if n.op_type == op_type and n.domain == domain]


def attrs(node: onnx.NodeProto) -> dict[str, object]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def text(value: object) -> object:
    return value.decode() if isinstance(value, bytes) else value


def activation(node: onnx.NodeProto) -> str:
    return str(text(attrs(node).get("activation", "none")))


def group_norm_calls(model: nn.Module, x: torch.Tensor) -> list[nn.GroupNorm]:
    """The nn.GroupNorm modules in call order during one forward pass (a shared module once per
    call)."""
    calls: list[nn.GroupNorm] = []
    hooks = [
        m.register_forward_hook(lambda mod, _inp, _out: calls.append(mod))
        for m in model.modules()
        if isinstance(m, nn.GroupNorm)
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return calls


def parity(model: nn.Module, session: object, x: torch.Tensor) -> tuple[float, float]:
    """(max abs error of ONNX Runtime vs PyTorch, max(1, max |PyTorch output|))."""
    with torch.no_grad():
        expected = model(x).numpy()
    got = session.run(None, {"input": x.numpy()})[0]  # type: ignore[attr-defined]
    assert got.shape == expected.shape, f"ONNX output {got.shape} != PyTorch {expected.shape}"
    assert got.dtype == np.float32
    error = float(np.max(np.abs(got.astype(np.float64) - expected.astype(np.float64))))
    return error, max(1.0, float(np.max(np.abs(expected))))


def assert_parity(model: nn.Module, session: object, x: torch.Tensor) -> None:
    error, scale = parity(model, session, x)
    assert error <= TOLERANCE * scale, (
        f"input {tuple(x.shape)}: max abs error {error:.3e} > {TOLERANCE:g} x output scale {scale:.4g}"
    )


@dataclass
class Exported:
    """One recipe exported at one opset."""

    name: str
    module: ModuleType
    torch_model: nn.Module
    result: object
    onnx_model: onnx.ModelProto
    session: object


def export_recipe(
    name: str, opset: int, directory: Path, build: Callable[[], nn.Module] | None = None
) -> Exported:
    module = RECIPES[name]
    model = (build or module.build)()
    path = directory / f"{name}_opset{opset}.onnx"
    result = normdeploy.export(
        model, (module.example_input(),), path, opset=opset,
        input_names=["input"], output_names=["output"], dynamic_axes={"input": dict(module.DYNAMIC)},
    )
    assert Path(result.path) == path and path.is_file()
    onnx_model = onnx.load(str(path))
    session = normdeploy.make_session(path, allow_spinning=False)
    return Exported(name, module, model, result, onnx_model, session)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, int], Exported]:
    """Exports each (recipe, opset) once per module."""
    cache: dict[tuple[str, int], Exported] = {}
    directory = tmp_path_factory.mktemp("recipes")

    def get(name: str, opset: int = 18) -> Exported:
        if (name, opset) not in cache:
            cache[(name, opset)] = export_recipe(name, opset, directory)
        return cache[(name, opset)]

    return get


# --------------------------------------------------------------------------------------------
# Checks shared by the recipes


def check_model(model: onnx.ModelProto, opset: int) -> None:
    """onnx.checker (full check, our schemas registered), IR version, opsets, no standard norm left."""
    normdeploy.ops.register_schemas()
    onnx.checker.check_model(model, full_check=True)
    assert model.ir_version <= 10, "ONNX Runtime 1.31 rejects IR versions above 10"
    opsets = {o.domain: o.version for o in model.opset_import}
    assert opsets.get("", opsets.get("ai.onnx")) == opset and DOMAIN in opsets, opsets
    left = Counter(n.op_type for n in all_nodes(model) if n.domain in ("", "ai.onnx"))
    assert not STANDARD_NORMS & set(left), f"standard norm ops left: {left}"


def check_group_norm_nodes(name: str, model: onnx.ModelProto, torch_model: nn.Module) -> list[onnx.NodeProto]:
    """One normdeploy GroupNorm per nn.GroupNorm call, with its num_groups and epsilon."""
    calls = group_norm_calls(torch_model, RECIPES[name].example_input())
    nodes = nodes_of(model, "GroupNorm")
    assert len(nodes) == len(calls), f"{len(nodes)} GroupNorm nodes for {len(calls)} nn.GroupNorm calls"
    want = Counter((m.num_groups, round(m.eps, 12)) for m in calls)
    got = Counter((attrs(n)["num_groups"], round(float(attrs(n).get("epsilon", 1e-5)), 12)) for n in nodes)
    assert got == want
    return nodes


def check_lrn_nodes(model: onnx.ModelProto, size: int) -> None:
    """Two normdeploy LocalResponseNorm nodes with PyTorch's window and the module's constants."""
    nodes = nodes_of(model, "LocalResponseNorm")
    assert len(nodes) == 2
    for node in nodes:
        a = attrs(node)
        assert text(a["window"]) == "pytorch"
        assert a["size"] == size
        assert a["alpha"] == pytest.approx(alexnet_lrn.LRN_ALPHA, rel=1e-6)
        assert a["beta"] == pytest.approx(alexnet_lrn.LRN_BETA, rel=1e-6)
        assert a["bias"] == pytest.approx(alexnet_lrn.LRN_K, rel=1e-6)
    assert not nodes_of(model, "GroupNorm")
    assert not [n for n in all_nodes(model) if n.op_type in ("AveragePool", "Pow") and n.domain == ""]


def check_counts(name: str, model: onnx.ModelProto, torch_model: nn.Module) -> None:
    """The recipe's normdeploy nodes: one per norm call, SiLU fused exactly where the model has it."""
    if name == "alexnet_lrn":
        check_lrn_nodes(model, size=5)
        return
    assert not nodes_of(model, "LocalResponseNorm")
    nodes = check_group_norm_nodes(name, model, torch_model)
    if name == "unet_block":
        fused, plain = unet_block.count_group_norm_silu(torch_model)
        assert Counter(activation(n) for n in nodes) == Counter({"silu": fused, "none": plain})
        leftover = [n.op_type for n in all_nodes(model) if n.op_type in ("Sigmoid", "Silu", "HardSigmoid")]
        assert not leftover, f"SiLU not fused into GroupNorm: {leftover}"
        return
    assert all(activation(n) == "none" for n in nodes)  # ReLU is not fused
    if name == "resnet_gn":  # every module is called once
        modules = [m for m in torch_model.modules() if isinstance(m, nn.GroupNorm)]
        assert len(nodes) == len(modules) == 20


# --------------------------------------------------------------------------------------------
# Tests


def test_export_api_is_present() -> None:
    assert callable(getattr(normdeploy, "export", None)), "normdeploy.export is missing"


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_interface(name: str) -> None:
    module = RECIPES[name]
    model = module.build()
    assert isinstance(model, nn.Module) and not model.training
    x = module.example_input()
    assert x.dtype == torch.float32 and len(set(x.shape)) == x.dim(), f"dims not all different: {x.shape}"
    assert set(module.DYNAMIC) <= set(range(x.dim())) and 0 in module.DYNAMIC
    again = module.build().state_dict()  # seeded: the same weights every time
    for key in list(again)[:3] + list(again)[-3:]:
        torch.testing.assert_close(again[key], model.state_dict()[key], rtol=0, atol=0)


@pytest.mark.parametrize("name", RECIPES)
def test_checker_accepts(name: str, exported: Callable[[str, int], Exported]) -> None:
    check_model(exported(name, 18).onnx_model, 18)


@pytest.mark.parametrize("name", RECIPES)
def test_node_counts(name: str, exported: Callable[[str, int], Exported]) -> None:
    e = exported(name, 18)
    check_counts(name, e.onnx_model, e.torch_model)


@pytest.mark.parametrize("name", RECIPES)
def test_result_node_counts(name: str, exported: Callable[[str, int], Exported]) -> None:
    """result.nodes counts every normdeploy node in the exported model, by op and activation."""
    e = exported(name, 18)
    group_norms = nodes_of(e.onnx_model, "GroupNorm")
    want = {
        "GroupNorm": sum(activation(n) == "none" for n in group_norms),
        "GroupNorm(silu)": sum(activation(n) == "silu" for n in group_norms),
        "LocalResponseNorm": len(nodes_of(e.onnx_model, "LocalResponseNorm")),
    }
    counts = dict(e.result.nodes)  # type: ignore[attr-defined]
    assert {k: counts.get(k, 0) for k in want} == want, f"result.nodes = {counts}"
    assert sum(want.values()) > 0


@pytest.mark.parametrize("which", ["example", "other_dims"])
@pytest.mark.parametrize("name", RECIPES)
def test_parity(name: str, which: str, exported: Callable[[str, int], Exported]) -> None:
    e = exported(name, 18)
    x = e.module.example_input() if which == "example" else second_input(name)
    assert_parity(e.torch_model, e.session, x)


def test_dynamic_dims_declared(exported: Callable[[str, int], Exported]) -> None:
    """The recipe's DYNAMIC dims are named dims of the ONNX input; the others are fixed."""
    for name, module in RECIPES.items():
        model = exported(name, 18).onnx_model
        dims = model.graph.input[0].type.tensor_type.shape.dim
        for axis, label in module.DYNAMIC.items():
            assert dims[axis].dim_param == label, f"{name}: input dim {axis} is {dims[axis]}, not {label!r}"
        static = [axis for axis in range(len(dims)) if axis not in module.DYNAMIC]
        assert all(dims[axis].HasField("dim_value") for axis in static)


@pytest.mark.parametrize("opset", [17, 21])
def test_other_opsets(opset: int, exported: Callable[[str, int], Exported]) -> None:
    """ResNet-GN at opset 17 (built at 18 by torch.onnx, lowered) and 21 (GroupNormalization-21)."""
    e = exported("resnet_gn", opset)
    check_model(e.onnx_model, opset)
    check_counts("resnet_gn", e.onnx_model, e.torch_model)
    assert_parity(e.torch_model, e.session, e.module.example_input())
    assert_parity(e.torch_model, e.session, second_input("resnet_gn"))


def onnx_window_lrn(module: nn.LocalResponseNorm) -> Callable[[torch.Tensor], torch.Tensor]:
    """LRN with ONNX's window ([c - (n-1)//2, c + n//2]) instead of PyTorch's."""
    n = module.size

    def forward(x: torch.Tensor) -> torch.Tensor:
        squares = F.pad((x * x).unsqueeze(1), (0, 0, 0, 0, (n - 1) // 2, n // 2)).squeeze(1)
        window = sum(squares[:, i : i + x.shape[1]] for i in range(n))
        return x / (module.k + module.alpha / n * window) ** module.beta

    return forward


def test_alexnet_even_lrn_window(tmp_path: Path) -> None:
    """LRN size 4: exported with PyTorch's window, which ORT reproduces and ONNX's would not."""
    e = export_recipe("alexnet_lrn", 18, tmp_path, build=alexnet_lrn.build_even)
    check_model(e.onnx_model, 18)
    check_lrn_nodes(e.onnx_model, size=4)
    for x in (alexnet_lrn.example_input(), second_input("alexnet_lrn")):
        assert_parity(e.torch_model, e.session, x)
    # The check can tell the windows apart: ONNX's window is off by far more than the tolerance.
    onnx_model = alexnet_lrn.build_even()
    for module in onnx_model.modules():
        if isinstance(module, nn.LocalResponseNorm):
            module.forward = onnx_window_lrn(module)  # type: ignore[method-assign]
    error, scale = parity(onnx_model, e.session, alexnet_lrn.example_input())
    assert error > 10 * TOLERANCE * scale


# main() at opset 18, except the UNet at 21 (GroupNormalization-21 followed by the three SiLU forms).
MAIN_OPSETS = {"resnet_gn": 18, "alexnet_lrn": 18, "unet_block": 21, "detection_head": 18}


@pytest.mark.parametrize("name", RECIPES)
def test_main(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The command line exports, checks parity itself (0 = within tolerance) and writes a model
    with the right nodes."""
    out = tmp_path / f"{name}.onnx"
    opset = MAIN_OPSETS[name]
    argv = ["-o", str(out)] + ([] if opset == 18 else ["--opset", str(opset)])
    assert RECIPES[name].main(argv) == 0
    assert "max abs error" in capsys.readouterr().out
    model = onnx.load(str(out))
    check_model(model, opset)
    check_counts(name, model, RECIPES[name].build())


def test_main_loads_weights(tmp_path: Path) -> None:
    """--weights loads a state_dict into the model that is exported (here at opset 17)."""
    trained = alexnet_lrn.build(seed=7)
    checkpoint = tmp_path / "weights.pt"
    torch.save(trained.state_dict(), checkpoint)
    out = tmp_path / "alexnet.onnx"
    assert alexnet_lrn.main(["-o", str(out), "--weights", str(checkpoint), "--opset", "17"]) == 0
    initializers = [onnx.numpy_helper.to_array(t) for t in onnx.load(str(out)).graph.initializer]
    first_conv = trained.features[0].weight.detach().numpy()
    assert any(a.shape == first_conv.shape and np.array_equal(a, first_conv) for a in initializers)
