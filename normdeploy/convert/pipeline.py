"""The driver: checks the input, runs the rules in registry order, lists what it left alone."""

from __future__ import annotations

from typing import Literal

import onnx
from onnx import helper

from ..graphs import IR_VERSION
from ..ops import DOMAIN, REGISTRY, VERSION, SchemaError, get, register_schemas
from . import registry
from .checks import check_custom_nodes, check_model, sort_nodes
from .context import RewriteContext
from .errors import ConvertError
from .matcher import node_name
from .registry import Rule
from .report import ConvertReport
from .to_standard import ToStandard

SUPPORTED_OPSETS = range(13, 27)
Direction = Literal["custom", "standard"]


def check_opset(model: onnx.ModelProto, what: str = "model") -> int:
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset not in SUPPORTED_OPSETS:
        raise ConvertError(f"{what}: unsupported ONNX opset {opset}; normdeploy converts opsets "
                           f"{SUPPORTED_OPSETS.start} to {SUPPORTED_OPSETS.stop - 1}")
    return opset


def attempt(ctx: RewriteContext, rule: Rule, node: onnx.NodeProto) -> None:
    """Runs one rule on one node; a malformed node is left alone with the reason, never a crash."""
    try:
        rule.apply(ctx, node)
    except ConvertError:
        raise  # a rule's deliberate refusal of the whole file
    except SchemaError as exc:  # e.g. an attribute value our op does not accept
        ctx.skip(rule.PATTERN, node, str(exc))
    except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError, OverflowError, AttributeError) as exc:
        # a malformed node (missing input, attribute of another type, ...): left as it is
        ctx.skip(rule.PATTERN, node, f"malformed node, left as it is ({type(exc).__name__}: {exc})")


def run_rules(ctx: RewriteContext, rules: list[Rule]) -> None:
    for rule in rules:
        anchors = {("" if d == "ai.onnx" else d, op) for d, op in rule.ANCHORS}
        for node in [n for n in ctx.g.nodes if ("" if n.domain == "ai.onnx" else n.domain, n.op_type) in anchors]:
            if any(node is n for n in ctx.g.nodes):  # not consumed by an earlier rewrite
                attempt(ctx, rule, node)


def add_plugin_fields(ctx: RewriteContext) -> None:
    """Our nodes written by other tools may lack the attributes TensorRT's parser needs."""
    known = {s.name for s in REGISTRY}
    for node in ctx.g.nodes:
        if node.domain != DOMAIN or node.op_type not in known:
            continue
        present = {a.name for a in node.attribute}
        missing = [a for a in get(node.op_type).attributes if not a.runtime and a.name not in present]
        for a in missing:
            node.attribute.append(helper.make_attribute(a.name, a.default))
        if missing:
            ctx.count("TensorRT plugin fields added")


def list_foreign(ctx: RewriteContext) -> None:
    """Every node of a non-standard domain (other than ours, and other than ops the model defines
    as local functions) that no rule rewrote is reported as left alone, with the reason."""
    local = {(f.domain, f.name) for f in ctx.g.model.functions}
    reported = {s.node for s in ctx.report.skipped}
    for node in ctx.g.nodes:
        domain = node.domain
        if domain in registry.STANDARD_DOMAINS or domain == DOMAIN or (domain, node.op_type) in local:
            continue
        if node_name(node) in reported:
            continue
        ctx.skip(f"{domain}.{node.op_type}", node, registry.left_alone_reason(domain, node.op_type))


def _domains(graph: onnx.GraphProto, into: set[str]) -> set[str]:
    """The domains of every node in `graph` and its subgraphs."""
    for node in graph.node:
        into.add(node.domain)
        for attr in node.attribute:
            for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                _domains(sub, into)
    return into


def fix_opsets(model: onnx.ModelProto) -> None:
    """Imports our domain when a node uses it, drops imports of non-standard domains no node uses
    any more (e.g. com.microsoft once its contrib ops are rewritten), caps the IR version."""
    used = _domains(model.graph, set())
    for function in model.functions:
        used.add(function.domain)
        for node in function.node:
            used.add(node.domain)
    uses_custom = DOMAIN in used
    imports = [o for o in model.opset_import
               if o.domain != DOMAIN and (o.domain in ("", "ai.onnx") or o.domain in used)]
    if uses_custom:
        imports.append(helper.make_opsetid(DOMAIN, VERSION))
    del model.opset_import[:]
    model.opset_import.extend(imports)
    model.ir_version = min(model.ir_version or IR_VERSION, IR_VERSION)


def convert_model(model: onnx.ModelProto, to: Direction = "custom", *,
                  source: str = "model") -> tuple[onnx.ModelProto, ConvertReport]:
    """Returns a converted copy of `model` and the report (the input is not modified).

    A broken graph (cycle, input nothing produces, a name produced twice, malformed tensor) or a
    normdeploy node that cannot run as written raises ConvertError naming `source`, the node, and
    for attributes the op, attribute and value; nodes out of topological order are sorted (noted
    in the report)."""
    if to not in ("custom", "standard"):
        raise ConvertError(f"convert: to={to!r} must be 'custom' or 'standard'")
    register_schemas()
    check_opset(model, source)
    in_order = check_model(model, source)
    check_custom_nodes(model, source)
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    report = ConvertReport(direction=to)
    if not in_order:
        sort_nodes(copy)
        report.notes.append("the nodes were not in topological order (ONNX requires it); they were sorted")
    ctx = RewriteContext(copy, report, source)
    run_rules(ctx, registry.FOREIGN_RULES)
    if to == "custom":
        run_rules(ctx, registry.TO_CUSTOM_RULES)
        add_plugin_fields(ctx)
        ctx.g.remove_dead()
    else:
        ToStandard(ctx).run()
    list_foreign(ctx)
    converted = ctx.g.commit()
    fix_opsets(converted)
    return converted, report
