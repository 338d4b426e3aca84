"""The converter package: old import paths, the rule registry, nodes of other domains listed as
left alone (exporter metadata: test_convert_decompositions.py)."""

from __future__ import annotations

import importlib

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from normdeploy.convert import convert_model, registry
from normdeploy.graphs import IR_VERSION
from normdeploy.ops import DOMAIN

FLOAT = onnx.TensorProto.FLOAT


def _model(nodes, *, opset=18, functions=(), extra_opsets=()):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("X", FLOAT, [1, 4, 5])],
                              [helper.make_tensor_value_info(nodes[-1].output[0], FLOAT, [1, 4, 5])])
    imports = [helper.make_opsetid("", opset), *[helper.make_opsetid(d, 1) for d in extra_opsets]]
    return helper.make_model(graph, opset_imports=imports, ir_version=IR_VERSION, functions=list(functions))


@pytest.mark.parametrize("old,new", [("normdeploy.conversion", "normdeploy.convert"),
                                     ("normdeploy.graph_rewrite", "normdeploy.convert.graph"),
                                     ("normdeploy.model_checks", "normdeploy.convert.checks")])
def test_old_modules_re_export_the_new_ones(old, new):
    shim, module = importlib.import_module(old), importlib.import_module(new)
    public = [name for name in vars(shim) if not name.startswith("_") and name not in ("os", "annotations")]
    assert public, f"{old} exports nothing"
    for name in public:
        assert getattr(shim, name) is getattr(module, name), f"{old}.{name} is not {new}.{name}"


def test_convert_error_lives_in_the_low_module():
    from normdeploy.convert.checks import ConvertError as from_checks
    from normdeploy.convert.errors import ConvertError
    from normdeploy.conversion import ConvertError as from_shim

    assert from_checks is ConvertError is from_shim


@pytest.mark.parametrize("direction", ["custom", "standard"])
def test_other_domains_nodes_are_listed_as_left_alone(direction):
    nodes = [helper.make_node("Relu", ["X"], ["r"]),
             helper.make_node("FancyNorm", ["r"], ["f"], domain="com.example", name="fancy"),
             helper.make_node("LocalHelper", ["f"], ["Y"], domain="my.functions", name="local")]
    body = onnx.helper.make_function("my.functions", "LocalHelper", ["a"], ["b"],
                                     [helper.make_node("Identity", ["a"], ["b"])], [helper.make_opsetid("", 18)])
    model = _model(nodes, functions=[body], extra_opsets=["com.example", "my.functions"])
    converted, report = convert_model(model, direction)
    assert [(s.pattern, s.node) for s in report.skipped] == [("com.example.FancyNorm", "fancy")], report.summary()
    assert "no rewrite" in report.skipped[0].reason
    assert [n.op_type for n in converted.graph.node] == ["Relu", "FancyNorm", "LocalHelper"]


def test_foreign_reason_table_and_rules_are_used(monkeypatch):
    """registry.FOREIGN_RULES run first (both directions) and FOREIGN_REASONS name the reason."""

    class Rule:
        PATTERN = "com.example.Double"
        ANCHORS = (("com.example", "Double"),)

        @staticmethod
        def apply(ctx, node):
            new = helper.make_node("Add", [node.input[0], node.input[0]], [node.output[0]])
            ctx.replace([node], [new], node)
            ctx.count(Rule.PATTERN)
            return True

    monkeypatch.setattr(registry, "FOREIGN_RULES", [Rule])
    monkeypatch.setitem(registry.FOREIGN_REASONS, ("com.example", "Other"), "runs only on the example runtime")
    nodes = [helper.make_node("Double", ["X"], ["d"], domain="com.example"),
             helper.make_node("Other", ["d"], ["Y"], domain="com.example", name="other")]
    for direction in ("custom", "standard"):
        converted, report = convert_model(_model(nodes, extra_opsets=["com.example"]), direction)
        assert report.counts == {"com.example.Double": 1}, report.summary()
        assert [(s.node, s.reason) for s in report.skipped] == [("other", "runs only on the example runtime")]
        assert [n.op_type for n in converted.graph.node] == ["Add", "Other"]


def test_a_rule_crashing_on_a_malformed_node_leaves_it_alone(monkeypatch):
    class Broken:
        PATTERN = "com.example.Broken"
        ANCHORS = (("com.example", "Broken"),)

        @staticmethod
        def apply(ctx, node):
            return node.input[5] == "x"  # IndexError: a malformed node

    monkeypatch.setattr(registry, "FOREIGN_RULES", [Broken])
    nodes = [helper.make_node("Broken", ["X"], ["Y"], domain="com.example", name="b")]
    converted, report = convert_model(_model(nodes, extra_opsets=["com.example"]))
    assert len(report.skipped) == 1 and "malformed node, left as it is (IndexError" in report.skipped[0].reason
    assert converted.graph.node[0].op_type == "Broken"


def test_gn18_static_expansion_keeps_the_graph_input_names():
    """The static GN-18 path adds new initializers; the node's other inputs and outputs stay."""
    node = helper.make_node("GroupNormalization", ["X", "s", "b"], ["Y"], num_groups=2)
    model = _model([node])
    model.graph.initializer.extend([numpy_helper.from_array(np.ones(2, np.float32), "s"),
                                    numpy_helper.from_array(np.zeros(2, np.float32), "b")])
    custom, report = convert_model(model)
    assert report.counts == {"GroupNormalization-18": 1}
    (gn,) = custom.graph.node
    assert gn.input[0] == "X" and gn.output[0] == "Y"
    assert [numpy_helper.to_array(i).tolist() for i in custom.graph.initializer] == [[1, 1, 1, 1], [0, 0, 0, 0]]
