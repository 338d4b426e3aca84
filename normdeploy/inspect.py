"""What a model holds of normdeploy's world: our nodes and their attributes, the standard ops
we could rewrite, ops of other domains (e.g. ONNX Runtime's com.microsoft contrib ops), its
opsets, and which runtimes can run it as it is.

Whether ONNX Runtime can run the model is asked from the installed onnxruntime itself, not from
a table: its kernel registry must have a CPU kernel for every op, and then an InferenceSession on
the CPU provider (graph optimizations off, so nothing is rewritten first) must load the model,
with normdeploy's library registered for "onnxruntime + normdeploy library". Models larger than
`max_load_bytes` are not loaded; their answer rests on the kernel registry and says so.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx
from onnx import helper

from .ops import DOMAIN, PLUGIN_NAMESPACE

_STANDARD_NORMS = ("GroupNormalization", "InstanceNormalization", "LRN")
#: Domains of the ONNX standard (ONNX Runtime implements them; not listed as foreign).
_STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training"})
#: com.microsoft ops `normdeploy convert` rewrites (normdeploy/convert/rules/microsoft_contrib.py).
_CONVERTIBLE = frozenset({"GroupNorm", "SkipGroupNorm", "NhwcConv", "BiasAdd", "BiasSplitGelu",
                          "SkipLayerNormalization"})
#: Models larger than this are not loaded into an InferenceSession by inspect (weights included).
DEFAULT_MAX_LOAD_BYTES = 1 << 30


@dataclass
class NodeInfo:
    name: str
    op_type: str
    attributes: dict[str, Any]
    problem: str | None = None


@dataclass
class Inspection:
    source: str
    ir_version: int
    opsets: dict[str, int]
    custom_nodes: list[NodeInfo] = field(default_factory=list)
    standard_norms: Counter = field(default_factory=Counter)
    runtimes: dict[str, tuple[bool, str]] = field(default_factory=dict)
    #: ops of non-standard domains other than normdeploy: "domain.op_type" -> count
    foreign_ops: Counter = field(default_factory=Counter)
    #: how each runtime answer was found: "session" (the runtime loaded the model), "kernel
    #: registry" (asked which ops have CPU kernels), or "static" (our nodes' attributes, plugin fields)
    checked_by: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source, "ir_version": self.ir_version, "opsets": self.opsets,
            "custom_nodes": [vars(n) for n in self.custom_nodes],
            "standard_norm_ops": dict(self.standard_norms),
            "foreign_ops": dict(self.foreign_ops),
            "runtimes": {k: {"can_run": ok, "why": why, "checked_by": self.checked_by.get(k, "static")}
                         for k, (ok, why) in self.runtimes.items()},
        }

    def summary(self) -> str:
        lines = [f"{self.source}: IR {self.ir_version}, opsets "
                 + ", ".join(f"{d or 'ai.onnx'} {v}" for d, v in sorted(self.opsets.items()))]
        lines.append(f"normdeploy nodes: {len(self.custom_nodes)}")
        for n in self.custom_nodes:
            attrs = ", ".join(f"{k}={v!r}" for k, v in n.attributes.items())
            lines.append(f"  {n.op_type:<18} {n.name:<24} {attrs}" + (f"  !! {n.problem}" if n.problem else ""))
        if self.standard_norms:
            found = ", ".join(f"{k}: {v}" for k, v in sorted(self.standard_norms.items()))
            lines.append(f"standard normalization ops (normdeploy convert can rewrite them): {found}")
        if self.foreign_ops:
            found = ", ".join(f"{k}: {v}" for k, v in sorted(self.foreign_ops.items()))
            lines.append(f"ops of other domains: {found}")
        lines.append("runtimes:")
        for runtime, (ok, why) in self.runtimes.items():
            lines.append(f"  {'yes' if ok else 'no ':<4}{runtime}: {why}")
        return "\n".join(lines)


def _shown(value: Any) -> Any:
    """An attribute value as inspect shows it: tensors and graphs as a one-line summary."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, float):
        return float(f"{value:.7g}")  # ONNX floats are float32: show them as such
    if isinstance(value, onnx.TensorProto):
        kind = onnx.TensorProto.DataType.Name(value.data_type) if value.data_type in onnx.TensorProto.DataType.values() \
            else str(value.data_type)
        return f"<tensor {kind.lower()} {list(value.dims)}>"
    if isinstance(value, onnx.GraphProto):
        return f"<graph {value.name!r}>"
    if isinstance(value, (list, tuple)):
        return [_shown(v) for v in value]
    if isinstance(value, (int, str)) or value is None:
        return value
    return f"<{type(value).__name__}>"


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    out = {}
    for a in sorted(node.attribute, key=lambda a: a.name):
        out[a.name] = _shown(helper.get_attribute_value(a)) if a.type != onnx.AttributeProto.UNDEFINED else None
    return out


def inspect_model(model: onnx.ModelProto | str | Path, *,
                  max_load_bytes: int = DEFAULT_MAX_LOAD_BYTES) -> Inspection:
    """Inspects an ONNX file or ModelProto. `max_load_bytes`: larger models (weights included)
    are not loaded into an InferenceSession to answer whether ONNX Runtime runs them."""
    from .convert import load_model
    from .convert.checks import check_model, custom_node_problem

    source = str(model) if not isinstance(model, onnx.ModelProto) else "<model>"
    path = None if isinstance(model, onnx.ModelProto) else Path(model)
    if not isinstance(model, onnx.ModelProto):
        model = load_model(model)
    check_model(model, source)  # a broken graph is an error, not something to list
    info = Inspection(source=source, ir_version=model.ir_version,
                      opsets={o.domain: o.version for o in model.opset_import})
    local_functions = {(f.domain, f.name) for f in model.functions}
    even_lrn = 0
    for index, node in enumerate(model.graph.node):
        if node.domain == DOMAIN:
            name = node.name or next((o for o in node.output if o), f"#{index}")
            info.custom_nodes.append(NodeInfo(name, node.op_type, _attrs(node), custom_node_problem(node)))
        elif node.domain in ("", "ai.onnx") and node.op_type in _STANDARD_NORMS:
            info.standard_norms[node.op_type] += 1
            size = _attrs(node).get("size", 1)
            if node.op_type == "LRN" and isinstance(size, int) and size % 2 == 0:
                even_lrn += 1
        elif node.domain not in _STANDARD_DOMAINS and (node.domain, node.op_type) not in local_functions:
            info.foreign_ops[f"{node.domain}.{node.op_type}"] += 1
    probe = _RuntimeProbe(model, path, max_load_bytes)
    _onnxruntime(info, probe, even_lrn)
    _onnxruntime_with_library(info, probe)
    _tensorrt(info)
    return info


class _RuntimeProbe:
    """Asks the installed onnxruntime about one model: CPU kernels (its kernel registry) and
    whether an InferenceSession on the CPU provider loads it."""

    def __init__(self, model: onnx.ModelProto, path: Path | None, max_load_bytes: int) -> None:
        from .convert.rules.microsoft_unhandled import runtime_ops

        self.model = model
        self.path = path
        self.ops = runtime_ops()
        self.size = _model_bytes(model, path)
        self.max_load_bytes = max_load_bytes

    @property
    def version(self) -> str:
        return self.ops.version if self.ops else "?"

    def without_cpu_kernel(self, skip_domains: tuple[str, ...] = ()) -> Counter:
        """Ops of non-standard domains (domain.op_type -> count) the installed onnxruntime has no
        CPU kernel for. Standard ops are left to the session: ONNX Runtime runs some without a
        kernel of their own (Constant becomes an initializer, function ops are expanded)."""
        assert self.ops is not None
        local = {(f.domain, f.name) for f in self.model.functions}  # ONNX Runtime inlines these
        missing: Counter = Counter()
        for node in self.model.graph.node:
            if node.domain in _STANDARD_DOMAINS or node.domain in skip_domains or (node.domain, node.op_type) in local:
                continue
            if "CPUExecutionProvider" not in self.ops.kernel_providers(node.domain, node.op_type):
                missing[f"{node.domain}.{node.op_type}"] += 1
        return missing

    def too_big(self) -> str | None:
        if self.size <= self.max_load_bytes:
            return None
        return (f"not loaded: {self.size / 2**20:.0f} MiB is more than the {self.max_load_bytes / 2**20:.0f} MiB "
                "inspect loads (--max-load-mib); every op has a CPU kernel in its kernel registry")

    def load(self, with_library: bool) -> str | None:
        """None when an InferenceSession on the CPU loads the model, else the runtime's error."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        options.intra_op_num_threads = 1
        options.log_severity_level = 4  # the error comes back as the exception; no log lines
        if with_library:
            from .runtime import session_options

            options = session_options(options)
        source: str | bytes = str(self.path) if self.path is not None else self.model.SerializeToString()
        try:
            ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - every refusal is the answer, whatever its type
            return _first_line(exc)
        return None


def _model_bytes(model: onnx.ModelProto, path: Path | None) -> int:
    """What loading the model reads: the file plus its external data files."""
    if path is None:
        return model.ByteSize()
    total = path.stat().st_size
    locations = {e.value for t in model.graph.initializer for e in t.external_data if e.key == "location"}
    for location in locations:
        data = path.parent / location
        if data.is_file():
            total += data.stat().st_size
    return total


def _first_line(exc: Exception) -> str:
    text = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    return text if len(text) <= 300 else text[:297] + "..."


def _listed(ops: Counter) -> str:
    return ", ".join(f"{op} x{count}" for op, count in sorted(ops.items()))


def _convert_hint(ops: Counter) -> str:
    convertible = sorted(op.rsplit(".", 1)[1] for op in ops
                         if op.startswith("com.microsoft.") and op.rsplit(".", 1)[1] in _CONVERTIBLE)
    if not convertible:
        return ""
    return f" (`normdeploy convert` rewrites com.microsoft {', '.join(convertible)} to ops that run on the CPU)"


def _ask(info: Inspection, key: str, probe: _RuntimeProbe, with_library: bool, missing: Counter,
         why_yes: str) -> None:
    """Sets info.runtimes[key] from the kernel registry (`missing`) and, when that passes, a session."""
    if missing:
        info.runtimes[key] = (False, f"no CPU kernel in onnxruntime {probe.version} for {_listed(missing)}"
                              + _convert_hint(missing))
        info.checked_by[key] = "kernel registry"
        return
    too_big = probe.too_big()
    if too_big:
        info.runtimes[key] = (True, too_big)
        info.checked_by[key] = "kernel registry"
        return
    error = probe.load(with_library)
    info.runtimes[key] = (error is None, why_yes if error is None else
                          f"onnxruntime {probe.version} on the CPU does not load it: {error}")
    info.checked_by[key] = "session"


def _onnxruntime(info: Inspection, probe: _RuntimeProbe, even_lrn: int) -> None:
    key = "onnxruntime"
    if info.custom_nodes:
        info.runtimes[key] = (False, "has normdeploy nodes: register normdeploy's library "
                              "(normdeploy.make_session) or `normdeploy convert --to standard`")
    elif even_lrn:
        info.runtimes[key] = (False, f"{even_lrn} LRN node(s) with an even size, which ONNX Runtime "
                              "rejects: `normdeploy convert` them to custom nodes")
    elif probe.ops is None:
        info.runtimes[key] = (False, "onnxruntime is not installed")
    else:
        _ask(info, key, probe, False, probe.without_cpu_kernel(),
             f"onnxruntime {probe.version} loads it on the CPU "
             + ("(standard ops only)" if not info.foreign_ops else "(its CPU kernels cover every op)"))


def _onnxruntime_with_library(info: Inspection, probe: _RuntimeProbe) -> None:
    from .runtime import LibraryNotFoundError, library_path

    key = "onnxruntime + normdeploy library"
    broken = [n for n in info.custom_nodes if n.problem]
    if broken:
        info.runtimes[key] = (False, f"{len(broken)} node(s) with invalid attributes")
    elif not info.custom_nodes:
        info.runtimes[key] = info.runtimes["onnxruntime"]
        if "onnxruntime" in info.checked_by:
            info.checked_by[key] = info.checked_by["onnxruntime"]
    elif probe.ops is None:
        info.runtimes[key] = (False, "onnxruntime is not installed")
    else:
        try:
            library_path()
        except LibraryNotFoundError as exc:
            info.runtimes[key] = (False, f"cannot check: {exc}")
            return
        _ask(info, key, probe, True, probe.without_cpu_kernel(skip_domains=(DOMAIN,)),
             f"onnxruntime {probe.version} with normdeploy's library loads it on the CPU "
             "(CPU kernels for every normdeploy node)")


def _tensorrt(info: Inspection) -> None:
    key = "tensorrt + normdeploy plugins"
    if info.foreign_ops:
        info.runtimes[key] = (False, f"TensorRT's ONNX parser does not know {_listed(info.foreign_ops)}"
                              + _convert_hint(info.foreign_ops).replace("run on the CPU", "TensorRT parses"))
        return
    if not info.custom_nodes:
        info.runtimes[key] = (True, "no normdeploy nodes (standard ops only)")
        return
    broken = [n for n in info.custom_nodes if n.problem]
    unmapped = [n for n in info.custom_nodes
                if n.attributes.get("plugin_namespace") != PLUGIN_NAMESPACE or "plugin_version" not in n.attributes]
    if unmapped:
        info.runtimes[key] = (
            False, f"{len(unmapped)} node(s) lack plugin_version/plugin_namespace='{PLUGIN_NAMESPACE}' "
            "(TensorRT's parser needs them to find the plugin): re-run `normdeploy convert`")
    else:
        info.runtimes[key] = (
            bool(not broken), "every node maps to a normdeploy plugin by op type, version and namespace "
            "(needs normdeploy's TensorRT plugin library loaded)")
