"""RewriteContext: what every rule receives (the graph, inferred shapes and types, the report)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import onnx

from .graph import Graph, value_shapes, value_types
from .matcher import node_name
from .report import ConvertReport, Skipped

Shape = list[int | str | None]


class RewriteContext:
    """The graph being rewritten plus what the rules ask of it. Shapes and types are inferred
    on demand and again after every edit (Graph.version changes with each one)."""

    def __init__(self, model: onnx.ModelProto, report: ConvertReport, source: str = "model") -> None:
        self.g = Graph(model)
        self.report = report
        self.source = source
        self._shapes: dict[str, Shape] | None = None
        self._types: dict[str, np.dtype] | None = None
        self._inferred_at = -1

    def _refresh(self) -> None:
        if self._inferred_at != self.g.version:
            self._shapes = self._types = None
            self._inferred_at = self.g.version

    @property
    def shapes(self) -> dict[str, Shape]:
        """Inferred shapes of the graph as it is now: name -> dims (int, symbolic name or None)."""
        self._refresh()
        if self._shapes is None:
            self._shapes = value_shapes(self.g.commit())
        return self._shapes

    @property
    def types(self) -> dict[str, np.dtype]:
        """Inferred element types of the graph as it is now."""
        self._refresh()
        if self._types is None:
            self._types = value_types(self.g.commit())
        return self._types

    def rank(self, name: str) -> int | None:
        shape = self.shapes.get(name)
        return len(shape) if shape is not None else None

    def channels(self, name: str) -> int | None:
        """dim 1 of `name` when it is a known positive int."""
        shape = self.shapes.get(name)
        if shape is None or len(shape) < 2 or not isinstance(shape[1], int) or shape[1] <= 0:
            return None
        return shape[1]

    def dtype_of(self, name: str, default: type = np.float32) -> type:
        """The numpy scalar type of `name` (a constant's own type, else the inferred one)."""
        value = self.g.constant(name)
        if value is not None:
            return value.dtype.type
        dtype = self.types.get(name)
        return dtype.type if dtype is not None else default

    def const(self, base: str, value: np.ndarray | list | float, dtype: type = np.int64) -> str:
        """A new initializer holding `value` as `dtype`; returns its name."""
        return self.g.add_initializer(base, np.asarray(value, dtype=dtype))

    def skip(self, pattern: str, node: onnx.NodeProto, reason: str) -> None:
        """Records that `node` looked like `pattern` but was left alone, and why."""
        self.report.skipped.append(Skipped(pattern, node_name(node), reason))

    def count(self, pattern: str) -> None:
        """Records one rewrite of `pattern`."""
        self.report.counts[pattern] += 1

    def replace(self, matched: Sequence[onnx.NodeProto], new: Sequence[onnx.NodeProto],
                origin: onnx.NodeProto) -> None:
        """Replaces the matched nodes by `new`, which take over origin's exporter metadata."""
        self.g.replace(matched, new, origin=origin)
