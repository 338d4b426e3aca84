"""Moved to normdeploy.convert.graph (kept so older imports work)."""

from .convert.graph import Graph, attribute, copy_metadata, subgraph_inputs, value_shapes, value_types  # noqa: F401
