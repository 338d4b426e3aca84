"""The op registry: every normdeploy op, listed explicitly."""

from __future__ import annotations

from . import group_norm, lrn
from .schema import DOMAIN, PLUGIN_NAMESPACE, VERSION, OpSpec, SchemaError, register_onnx_schemas, validate_attributes

#: Every op normdeploy ships, in a fixed order (codegen, docs and registration follow it).
REGISTRY: tuple[OpSpec, ...] = (group_norm.SPEC, lrn.SPEC)


def get(name: str) -> OpSpec:
    """The spec of op ``name`` (its ONNX op_type in the normdeploy domain)."""
    for spec in REGISTRY:
        if spec.name == name:
            return spec
    raise KeyError(f"no normdeploy op named {name!r}; known: {[s.name for s in REGISTRY]}")


def register_schemas() -> None:
    """Register every op's ONNX schema with onnx.defs (idempotent)."""
    register_onnx_schemas(REGISTRY)


__all__ = [
    "DOMAIN", "PLUGIN_NAMESPACE", "VERSION", "REGISTRY", "OpSpec", "SchemaError",
    "get", "register_schemas", "validate_attributes", "group_norm", "lrn",
]
