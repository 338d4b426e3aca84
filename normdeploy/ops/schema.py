"""Declarative op schemas: the single source of truth for every normdeploy op.

An :class:`OpSpec` lists the op's inputs, outputs, type constraints and attributes with their
types, defaults and valid ranges. From it follow:

* the ONNX schema registered with ``onnx.defs`` (:func:`to_onnx_schema`), so that
  ``onnx.checker`` and onnxscript accept models using the op;
* the C++ field table ``plugins/common/op_fields.generated.h`` (:mod:`normdeploy.ops.codegen`)
  that the ONNX Runtime adapter (and the TensorRT creators) parse attributes with;
* attribute validation in Python (:func:`validate_attributes`) with the same messages as C++;
* the attribute tables in the docs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Mapping, Sequence, Union

DOMAIN = "normdeploy"
VERSION = 1
#: Namespace under which the TensorRT plugins register; our nodes carry it as plugin_namespace.
PLUGIN_NAMESPACE = "normdeploy"

AttrKind = Literal["int", "float", "string"]
AttrValue = Union[int, float, str]

#: ONNX type strings for the float types every op supports.
FLOAT_TYPES: tuple[str, ...] = ("tensor(float)", "tensor(float16)", "tensor(bfloat16)")


@dataclass(frozen=True)
class Attribute:
    """One node attribute, with its valid range.

    ``default`` None means the attribute is required. Ranges are inclusive unless the
    ``*_exclusive`` flag is set. ``runtime`` False marks attributes that only tooling reads
    (TensorRT's parser consumes plugin_version/plugin_namespace); kernels ignore them.
    """

    name: str
    kind: AttrKind
    doc: str
    default: AttrValue | None = None
    min: float | None = None
    min_exclusive: bool = False
    max: float | None = None
    finite: bool = False
    choices: tuple[str, ...] = ()
    runtime: bool = True

    @property
    def required(self) -> bool:
        return self.default is None

    def describe_range(self) -> str:
        """Human-readable statement of what values are valid ("" when anything goes)."""
        parts: list[str] = []
        if self.choices:
            parts.append("one of " + ", ".join(repr(c) for c in self.choices))
        if self.finite:
            parts.append("finite")
        if self.min is not None:
            op = ">" if self.min_exclusive else ">="
            parts.append(f"{op} {_fmt(self.min)}")
        if self.max is not None:
            parts.append(f"<= {_fmt(self.max)}")
        return " and ".join(parts)


def tensorrt_attributes() -> tuple[Attribute, ...]:
    """plugin_version / plugin_namespace: read by TensorRT's ONNX parser to find the plugin (the
    plugin name is the op type); every op carries them, the kernels ignore them."""
    return (
        Attribute("plugin_version", "string", "TensorRT plugin version (read by TensorRT's ONNX parser).",
                  default="1", runtime=False),
        Attribute("plugin_namespace", "string", "TensorRT plugin namespace (read by TensorRT's ONNX parser).",
                  default=PLUGIN_NAMESPACE, runtime=False),
    )


@dataclass(frozen=True)
class TensorParam:
    name: str
    type_param: str
    doc: str
    optional: bool = False


@dataclass(frozen=True)
class OpSpec:
    name: str
    doc: str
    inputs: tuple[TensorParam, ...]
    outputs: tuple[TensorParam, ...]
    type_constraints: Mapping[str, tuple[tuple[str, ...], str]]
    attributes: tuple[Attribute, ...]
    #: Checks the kernels make beyond the attribute ranges, for the docs.
    checks: tuple[str, ...] = field(default_factory=tuple)
    domain: str = DOMAIN
    version: int = VERSION

    def attribute(self, name: str) -> Attribute:
        for attr in self.attributes:
            if attr.name == name:
                return attr
        raise KeyError(f"{self.name} has no attribute {name!r}")

    def defaults(self) -> dict[str, AttrValue]:
        return {a.name: a.default for a in self.attributes if a.default is not None}


def _fmt(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


class SchemaError(ValueError):
    """Raised by :func:`validate_attributes`; the message names op, attribute and value."""


_KIND_NAMES = {"int": "an int", "float": "a float", "string": "a string"}


def _describe_value(value: object) -> str:
    """How the C++ parser describes a value of the wrong type (messages match exactly)."""
    if isinstance(value, bool) or isinstance(value, int):
        return f"an int ({int(value)})"
    if isinstance(value, float):
        return f"a float ({value:g})"
    if isinstance(value, (str, bytes)):
        text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
        return f"a string ('{text}')"
    if isinstance(value, (list, tuple)):
        kinds = {type(v) for v in value}
        return "a list of ints" if kinds <= {int} else "a list of floats" if kinds <= {int, float} else "a list"
    # onnx attribute values the C++ parser does not read at all (onnx is not imported here)
    protos = {"TensorProto": "a tensor", "SparseTensorProto": "a sparse tensor", "GraphProto": "a graph",
              "TypeProto": "a type"}
    return protos.get(type(value).__name__, type(value).__name__)


def check_attribute(op: str, attr: Attribute, value: object) -> AttrValue:
    """Validate one attribute value; returns it normalised, raises SchemaError naming it.

    The messages are the ones the C++ parser (plugins/common/field_spec.cpp) produces, word for
    word; tests/test_schema.py holds the two to that.
    """
    where = f"{op}: attribute '{attr.name}'"
    wrong = f"{where} must be {_KIND_NAMES[attr.kind]}, got {_describe_value(value)}"
    if attr.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise SchemaError(wrong)
        number: float = value
    elif attr.kind == "float":
        if isinstance(value, bool) or not isinstance(value, float):
            raise SchemaError(wrong)
        number = float(value)
    else:
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        if not isinstance(value, str):
            raise SchemaError(wrong)
        if attr.choices and value not in attr.choices:
            raise SchemaError(f"{where} = '{value}' is invalid: must be {attr.describe_range()}")
        return value
    bad = (
        (attr.finite and not math.isfinite(number))
        or math.isnan(number)
        or (attr.min is not None and (number <= attr.min if attr.min_exclusive else number < attr.min))
        or (attr.max is not None and number > attr.max)
    )
    if bad:
        raise SchemaError(f"{where} = {_format_number(number, attr.kind)} is invalid: must be {attr.describe_range()}")
    return value


def _format_number(value: float, kind: AttrKind) -> str:
    """Numbers as the C++ side prints them: ints plainly, floats as their shortest float32 text."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "-inf" if value < 0 else "inf"
    if kind == "int":
        return str(int(value))
    import numpy as np

    # Like C++ std::to_chars(value): the shortest round-trip text, fixed or scientific, whichever
    # is shorter (fixed on a tie); float32 when the value is one (ONNX float attributes are).
    number = np.float32(value) if float(np.float32(value)) == value else np.float64(value)
    fixed = np.format_float_positional(number, unique=True, trim="-")
    scientific = np.format_float_scientific(number, unique=True, trim="-", exp_digits=2)
    return fixed if len(fixed) <= len(scientific) else scientific


def validate_attributes(spec: OpSpec, attrs: Mapping[str, object]) -> dict[str, AttrValue]:
    """Check a node's attributes against the schema; returns them with defaults filled in."""
    known = {a.name for a in spec.attributes}
    unknown = sorted(set(attrs) - known)
    if unknown:
        raise SchemaError(
            f"{spec.name}: unknown attribute(s) {unknown}; known: {sorted(known)}"
        )
    out: dict[str, AttrValue] = {}
    for attr in spec.attributes:
        if attr.name in attrs:
            out[attr.name] = check_attribute(spec.name, attr, attrs[attr.name])
        elif attr.required:
            raise SchemaError(f"{spec.name}: required attribute '{attr.name}' is missing")
        else:
            assert attr.default is not None
            out[attr.name] = attr.default
    return out


def to_onnx_schema(spec: OpSpec):  # -> onnx.defs.OpSchema (onnx imported lazily)
    """Build the ``onnx.defs.OpSchema`` for a spec."""
    from onnx import helper
    from onnx.defs import OpSchema

    def param(p: TensorParam) -> OpSchema.FormalParameter:
        option = OpSchema.FormalParameterOption.Optional if p.optional else OpSchema.FormalParameterOption.Single
        return OpSchema.FormalParameter(p.name, p.type_param, p.doc, param_option=option)

    attributes = []
    for a in spec.attributes:
        doc = a.doc + (f" Valid: {a.describe_range()}." if a.describe_range() else "")
        if a.required:
            kind = {"int": OpSchema.AttrType.INT, "float": OpSchema.AttrType.FLOAT,
                    "string": OpSchema.AttrType.STRING}[a.kind]
            attributes.append(OpSchema.Attribute(a.name, kind, doc, required=True))
        else:
            attributes.append(OpSchema.Attribute(a.name, helper.make_attribute(a.name, a.default), doc))
    return OpSchema(
        spec.name,
        spec.domain,
        spec.version,
        spec.doc,
        inputs=[param(p) for p in spec.inputs],
        outputs=[param(p) for p in spec.outputs],
        type_constraints=[(k, list(v[0]), v[1]) for k, v in spec.type_constraints.items()],
        attributes=attributes,
        node_determinism=OpSchema.NodeDeterminism.Deterministic,
    )


def register_onnx_schemas(specs: Sequence[OpSpec]) -> None:
    """Register the specs with onnx.defs once per process (idempotent)."""
    from onnx import defs

    for spec in specs:
        if defs.has(spec.name, spec.version, spec.domain):
            continue
        defs.register_schema(to_onnx_schema(spec))
