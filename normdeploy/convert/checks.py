"""Checks that make hostile or broken ONNX files fail with a clear message (naming the file, the
node and what is wrong) before convert, inspect or validate work on them.

- external data: every tensor stored in a side file must name a regular file inside the model's
  folder (no absolute path, no '..', no link leading out), and its offset/length must lie within
  that file and match the tensor's size; only then is anything read;
- tensors: no negative dims, an element type ONNX knows, and as much data as the dims declare;
- graph structure: every node input is produced (by a node, a graph input or an initializer),
  no name is produced twice, the graph has outputs and each is produced, there is no cycle;
  nodes out of topological order are legal to fix up (convert sorts them and says so);
- normdeploy nodes: a known op, the schema's number of inputs and outputs, and attributes of the
  right type and range (the message names op, attribute and value).

Everything raises ConvertError (exit code 2 in the CLI).
"""

from __future__ import annotations

import heapq
import math
from pathlib import Path
from typing import Iterator

import onnx
from onnx import helper

from ..ops import DOMAIN, REGISTRY, SchemaError, get, validate_attributes
from .errors import ConvertError
from .graph import subgraph_inputs

#: Element types packed below one byte per element (their data size is not checked here).
_SUB_BYTE_TYPES = frozenset({21, 22, 23, 25, 26, 27, 28})


def quoted(name: str, limit: int = 80) -> str:
    """A name from the file, quoted for a one-line message (control characters escaped, long names cut)."""
    if len(name) > limit:
        name = name[:limit] + "..."
    return f"'{name}'" if name.isprintable() and "'" not in name else repr(name)


def printable(text: str) -> str:
    """`text` on one line: control characters (from hostile names or values) escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def node_name(node: onnx.NodeProto, index: int | None = None) -> str:
    """A node's name, else its first output, else its position."""
    return node.name or next((o for o in node.output if o), None) or (f"#{index}" if index is not None else "?")


def node_label(node: onnx.NodeProto, index: int | None = None) -> str:
    """How messages name a node: 'name' (OpType)."""
    return f"node {quoted(node_name(node, index))} ({printable(node.op_type)})"


# ------------------------------------------------------------------------------------------------
# tensors and external data


def all_tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    """Initializers, sparse initializers' parts and tensor attributes, subgraphs included."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from all_tensors(attr.g)
            for sub in attr.graphs:
                yield from all_tensors(sub)


def _elements(tensor: onnx.TensorProto) -> int:
    return math.prod(int(d) for d in tensor.dims)


def _byte_size(tensor: onnx.TensorProto) -> int | None:
    """Bytes the tensor's data must have (None when not fixed: strings, sub-byte types)."""
    if tensor.data_type == onnx.TensorProto.STRING or tensor.data_type in _SUB_BYTE_TYPES:
        return None
    try:
        itemsize = helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
    except (KeyError, ValueError, TypeError):
        return None
    return _elements(tensor) * itemsize


def _external_entries(tensor: onnx.TensorProto, what: str) -> tuple[str, int, int | None]:
    entries = {e.key: e.value for e in tensor.external_data}
    location = entries.get("location", "")
    if not location:
        raise ConvertError(f"{what}: stored as external data but names no file (no 'location')")
    numbers: dict[str, int | None] = {}
    for key in ("offset", "length"):
        text = entries.get(key)
        if text is None:
            numbers[key] = None
            continue
        try:
            numbers[key] = int(text)
        except ValueError:
            raise ConvertError(f"{what}: external data {key} {text!r} is not an integer") from None
        if numbers[key] < 0:  # type: ignore[operator]
            raise ConvertError(f"{what}: external data {key} {text} is negative")
    return location, numbers["offset"] or 0, numbers["length"]


def check_external_data(model: onnx.ModelProto, model_file: Path) -> None:
    """Checks every external-data reference of `model` (read from `model_file` without its
    external data) and then loads the data; nothing outside the model's folder is opened."""
    label = str(model_file)
    folder = model_file.resolve().parent
    external = [t for t in all_tensors(model.graph) if t.data_location == onnx.TensorProto.EXTERNAL]
    for tensor in external:
        what = f"{label}: tensor {quoted(tensor.name)}"
        location, offset, length = _external_entries(tensor, what)
        relative = Path(location)
        if relative.is_absolute() or ".." in relative.parts:
            raise ConvertError(f"{what}: external data location {location!r} points outside the model's folder "
                               f"{folder}; refused (it must be a relative path inside that folder)")
        try:
            target = (folder / relative).resolve()
            inside = target.is_relative_to(folder)
            size = target.stat().st_size if inside and target.is_file() else None
        except (OSError, ValueError) as exc:
            raise ConvertError(f"{what}: external data location {location!r} cannot be read: {exc}") from None
        if not inside:
            raise ConvertError(f"{what}: external data location {location!r} leads outside the model's folder "
                               f"{folder} (through a link); refused")
        if size is None:
            state = "is not a regular file" if target.exists() else "does not exist"
            raise ConvertError(f"{what}: external data file {location!r} {state} (looked in {folder})")
        if offset > size or (length is not None and offset + length > size):
            end = "the end" if length is None else f"{offset + length}"
            raise ConvertError(f"{what}: external data at bytes {offset} to {end} lies beyond the end of "
                               f"{location!r} ({size} bytes)")
        have = length if length is not None else size - offset
        need = _byte_size(tensor)
        if need is not None and have != need:
            raise ConvertError(f"{what}: external data in {location!r} holds {have} bytes, but its shape "
                               f"{list(tensor.dims)} and type need {need}")
    if external:
        try:
            onnx.external_data_helper.load_external_data_for_model(model, str(folder))
        except Exception as exc:  # noqa: BLE001 - onnx raises several types
            raise ConvertError(f"{label}: cannot load its external data: {exc}") from exc


def tensor_problem(tensor: onnx.TensorProto) -> str | None:
    """What is wrong with a tensor's dims, type or amount of data (None when nothing is)."""
    if any(d < 0 for d in tensor.dims):
        return f"has a negative dim in its shape {list(tensor.dims)}"
    if tensor.data_type == onnx.TensorProto.UNDEFINED:
        return "has no element type"
    try:
        helper.tensor_dtype_to_np_dtype(tensor.data_type)
    except (KeyError, ValueError, TypeError):
        return f"has an unknown element type {tensor.data_type}"
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        return None  # not loaded (an in-memory model read without its external data)
    count = _elements(tensor)
    if tensor.HasField("raw_data"):
        need = _byte_size(tensor)
        have = len(tensor.raw_data)
        if need is not None and have != need:
            return f"holds {have} bytes of data, but its shape {list(tensor.dims)} and type need {need}"
        return None
    if tensor.data_type in _SUB_BYTE_TYPES:
        return None
    field = helper.tensor_dtype_to_field(tensor.data_type)
    have = len(getattr(tensor, field))
    need = count * (2 if tensor.data_type in (onnx.TensorProto.COMPLEX64, onnx.TensorProto.COMPLEX128) else 1)
    if have != need:
        return f"holds {have} values, but its shape {list(tensor.dims)} needs {need}"
    return None


# ------------------------------------------------------------------------------------------------
# strings


def _repeated(field: object) -> bool:
    flag = getattr(field, "is_repeated", None)
    if flag is None:
        return field.label == field.LABEL_REPEATED  # type: ignore[attr-defined]
    return bool(flag() if callable(flag) else flag)


def _bad_string(message: object, where: str) -> tuple[str, bytes] | None:
    """The first string field holding invalid UTF-8 (protobuf hands those over as bytes), skipping
    tensors' data so that big weights are not copied."""
    if isinstance(message, onnx.TensorProto):  # ListFields would copy raw_data
        strings = [("name", message.name), ("doc_string", message.doc_string)]
        strings += [(f"external_data[{i}].{k}", getattr(e, k)) for i, e in enumerate(message.external_data)
                    for k in ("key", "value")]
        return next(((f"{where}.{n}", v) for n, v in strings if isinstance(v, bytes)), None)
    for field, value in message.ListFields():  # type: ignore[attr-defined]
        items = list(value) if _repeated(field) else [value]
        for index, item in enumerate(items):
            here = f"{where}.{field.name}" + (f"[{index}]" if _repeated(field) else "")
            if field.type == field.TYPE_STRING and isinstance(item, bytes):
                return here, item
            if field.type == field.TYPE_MESSAGE:
                found = _bad_string(item, here)
                if found:
                    return found
    return None


def check_strings(model: onnx.ModelProto, label: str) -> None:
    """ONNX strings are UTF-8; a file with other bytes in a name is corrupt (and would make every
    later step fail in its own way)."""
    found = _bad_string(model, "model")
    if found:
        where, raw = found
        raise ConvertError(f"{label}: {where} is not valid UTF-8 ({raw[:40]!r}): the file is corrupt")


# ------------------------------------------------------------------------------------------------
# graph structure


def _reads(node: onnx.NodeProto) -> list[str]:
    return [i for i in node.input if i] + sorted(subgraph_inputs(node))


def value_info_problem(vi: onnx.ValueInfoProto) -> str | None:
    """What is wrong with a declared tensor type (graph input/output, value_info), or None."""
    if vi.type.WhichOneof("value") != "tensor_type":
        return None  # sequences, maps, optionals: not ours to judge
    elem = vi.type.tensor_type.elem_type
    if elem == onnx.TensorProto.UNDEFINED:
        return None  # allowed on outputs and intermediates; shape inference fills it in
    try:
        helper.tensor_dtype_to_np_dtype(elem)
    except (KeyError, ValueError, TypeError):
        return f"declares an unknown element type {elem}"
    return None


def check_model(model: onnx.ModelProto, label: str) -> bool:
    """Raises ConvertError when the top-level graph is broken (see the module docstring) or a
    tensor is malformed; returns whether the nodes are in topological order."""
    check_strings(model, label)
    graph = model.graph
    for tensor in all_tensors(graph):
        problem = tensor_problem(tensor)
        if problem:
            raise ConvertError(f"{label}: tensor {quoted(tensor.name)} {problem}")
    if not graph.output:
        raise ConvertError(f"{label}: the graph declares no outputs")
    for vi in [*graph.input, *graph.output, *graph.value_info]:
        problem = value_info_problem(vi)
        if problem:
            raise ConvertError(f"{label}: {quoted(vi.name)} {problem}")
    defined: dict[str, str] = {}

    def define(name: str, what: str) -> None:
        if name in defined:
            raise ConvertError(f"{label}: {quoted(name)} is defined twice: as {defined[name]} and as {what} "
                               f"(ONNX names must be unique)")
        defined[name] = what

    inputs = [vi.name for vi in graph.input]
    for name in inputs:
        define(name, "a graph input")
    for init in graph.initializer:
        if init.name in defined and defined[init.name] == "a graph input" and init.name in inputs:
            defined[init.name] = "a graph input with an initializer"  # IR < 4 style: allowed once
            continue
        define(init.name, "an initializer")
    for sparse in graph.sparse_initializer:
        define(sparse.values.name, "a sparse initializer")
    producer: dict[str, int] = {}
    for index, node in enumerate(graph.node):
        seen: set[str] = set()
        for attr in node.attribute:
            if attr.name in seen:  # which one counts would depend on the reader
                raise ConvertError(f"{label}: {node_label(node, index)} has attribute {quoted(attr.name)} more than "
                                   f"once (attribute names must be unique within a node)")
            seen.add(attr.name)
    for index, node in enumerate(graph.node):
        for out in node.output:
            if out:
                define(out, f"an output of {node_label(node, index)}")
                producer[out] = index
    for index, node in enumerate(graph.node):
        for name in node.input:
            if name and name not in defined:
                raise ConvertError(f"{label}: {node_label(node, index)} reads {quoted(name)}, which no node, graph input "
                                   f"or initializer produces")
    for out in graph.output:
        if out.name not in defined:
            raise ConvertError(f"{label}: graph output {quoted(out.name)} is produced by no node, graph input or initializer")
    return _order(graph, producer, label) == list(range(len(graph.node)))


def _order(graph: onnx.GraphProto, producer: dict[str, int], label: str) -> list[int]:
    """A topological order of the nodes (stable: the file's order where it is one); raises on a cycle."""
    nodes = list(graph.node)
    deps = [{producer[name] for name in _reads(node) if name in producer} for node in nodes]
    users: list[list[int]] = [[] for _ in nodes]
    for index, needed in enumerate(deps):
        for d in needed:
            users[d].append(index)
    waiting = [len(d) for d in deps]
    ready = [i for i, n in enumerate(waiting) if n == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        index = heapq.heappop(ready)
        order.append(index)
        for user in users[index]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, user)
    if len(order) < len(nodes):
        stuck = {i for i, n in enumerate(waiting) if n > 0}
        cycle = [min(stuck)]
        while True:  # walk back along producers inside the stuck set until a node repeats
            nxt = min(d for d in deps[cycle[-1]] if d in stuck)
            if nxt in cycle:
                cycle = cycle[cycle.index(nxt):] + [nxt]
                break
            cycle.append(nxt)
        path = " -> ".join(node_label(nodes[i], i) for i in reversed(cycle))
        raise ConvertError(f"{label}: the graph has a cycle: {path}")
    return order


def sort_nodes(model: onnx.ModelProto) -> None:
    """Puts the nodes in topological order (check_model must have passed)."""
    graph = model.graph
    producer = {out: i for i, node in enumerate(graph.node) for out in node.output if out}
    nodes = [graph.node[i] for i in _order(graph, producer, "model")]
    copies = [onnx.NodeProto() for _ in nodes]
    for copy, node in zip(copies, nodes):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)


# ------------------------------------------------------------------------------------------------
# normdeploy nodes


def attribute_values(node: onnx.NodeProto) -> dict[str, object]:
    """A node's attributes as Python values (bytes decoded; an attribute without a type as None)."""
    values: dict[str, object] = {}
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.UNDEFINED:
            values[attr.name] = None
            continue
        value = helper.get_attribute_value(attr)
        values[attr.name] = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
    return values


def custom_node_problem(node: onnx.NodeProto) -> str | None:
    """What keeps a normdeploy node from running (unknown op, wrong arity, bad attribute), or None
    (on one line: hostile names and values have their control characters escaped)."""
    problem = _custom_node_problem(node)
    return printable(problem) if problem else None


def _custom_node_problem(node: onnx.NodeProto) -> str | None:
    known = [spec.name for spec in REGISTRY]
    if node.op_type not in known:
        return f"unknown normdeploy op {node.op_type!r} (known: {known})"
    spec = get(node.op_type)
    required = sum(1 for p in spec.inputs if not p.optional)
    given = list(node.input)
    if not required <= len(given) <= len(spec.inputs) or not all(given[:required]):
        names = ", ".join(p.name for p in spec.inputs)
        count = str(required) if required == len(spec.inputs) else f"{required} to {len(spec.inputs)}"
        return f"{spec.name}: takes {count} input(s) ({names}), got {len(given)} {given}"
    if len(node.output) != len(spec.outputs) or not all(node.output):
        return f"{spec.name}: has {len(node.output)} output(s) {list(node.output)}, expected {len(spec.outputs)}"
    values = attribute_values(node)
    untyped = [name for name, value in values.items() if value is None]
    if untyped:
        return f"{spec.name}: attribute {quoted(untyped[0])} has no type (an empty AttributeProto)"
    try:
        validate_attributes(spec, values)
    except SchemaError as exc:
        return str(exc)
    return None


def check_custom_nodes(model: onnx.ModelProto, label: str) -> None:
    """Raises ConvertError naming the first normdeploy node that cannot run as written."""
    for index, node in enumerate(model.graph.node):
        if node.domain != DOMAIN:
            continue
        problem = custom_node_problem(node)
        if problem:
            raise ConvertError(f"{label}: node {quoted(node_name(node, index))}: {problem}")
