"""What the localisation against PyTorch found (torchloc.py): one row per module call, the
optimizer's part, and the whole result, each with its JSON form for report.json."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .ortopt import GraphChange

MAX_ROWS = 2000  # rows kept in the report (execution order); the first divergence is always kept


@dataclass
class ModuleRow:
    label: str              # "stem.pool: MaxPool2d"
    path: str
    cls: str
    call: int
    tensor: str | None      # the ONNX tensor compared with the module's output
    node: str | None        # the node that makes it (in the graph that ran)
    op_type: str | None
    shape: list[int] | None
    atol: float
    rtol: float
    passed: bool | None     # None: not compared (note says why)
    max_abs: float = math.nan
    mean_abs: float = math.nan
    median_abs: float = math.nan
    max_rel: float = math.nan
    mean_rel: float = math.nan
    inputs_max_abs: float | None = None   # worst error of the matched inputs
    inputs_passed: bool | None = None
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class OptimizerAttribution:
    runner: str
    levels: dict[str, dict[str, Any]]    # ORT level name -> {"passed", "max_abs"}
    configured: str                      # ORT name of the level the runners used
    blamed: bool
    message: str
    differs_from: str | None = None      # the lowest level that changes the result
    optimized_nodes: list[GraphChange] = field(default_factory=list)  # changes around the divergence
    changes: int = 0                     # nodes the optimizer changed or wrote, in all
    removed: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"runner": self.runner, "levels": self.levels, "configured": self.configured, "blamed": self.blamed,
                "message": self.message, "differs_from": self.differs_from,
                "optimized_nodes": [c.to_json() for c in self.optimized_nodes], "nodes_changed": self.changes,
                "nodes_removed": self.removed}


@dataclass
class TorchLocalization:
    iteration: int
    model: str                          # which ONNX model was localised
    runner: str
    method: str | None = None           # "metadata" | "approximate" | None
    status: str = "error"               # diverged | no module outside tolerance | impossible | error
    reason: str | None = None
    graph: str = ""                     # which graph ran for the module comparison
    rows: list[ModuleRow] = field(default_factory=list)
    first: int | None = None            # index into rows
    module: str | None = None           # the module named as the divergence ("path: Class")
    nodes: list[dict[str, Any]] = field(default_factory=list)   # its ONNX nodes
    inputs: list[dict[str, Any]] = field(default_factory=list)  # its inputs' checks
    tensor: dict[str, Any] | None = None  # the diverging tensor: name, shape, statistics, what it was compared with
    explanation: str = ""
    optimizer: OptimizerAttribution | None = None
    modules_total: int = 0
    modules_compared: int = 0
    seconds: float = 0.0
    hook_bytes: int = 0
    hook_tensors: int = 0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        rows = self.rows
        first = self.first
        if len(rows) > MAX_ROWS:
            keep = set(range(MAX_ROWS)) | ({first} if first is not None else set())
            rows = [r for i, r in enumerate(rows) if i in keep]
            first = None if first is None else sorted(keep).index(first)
        return {
            "iteration": self.iteration, "model": self.model, "runner": self.runner, "method": self.method,
            "status": self.status, "reason": self.reason, "graph": self.graph,
            "module": self.module, "nodes": self.nodes, "inputs": self.inputs, "tensor": self.tensor,
            "explanation": self.explanation,
            "first_row": first, "modules": [r.to_json() for r in rows],
            "modules_total": self.modules_total, "modules_compared": self.modules_compared,
            "optimizer": self.optimizer.to_json() if self.optimizer else None,
            "seconds": round(self.seconds, 3), "hook_bytes": self.hook_bytes, "hook_tensors": self.hook_tensors,
            "notes": self.notes,
        }
