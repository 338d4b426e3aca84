"""Time share per op type from ONNX Runtime's profiler (SessionOptions.enable_profiling).

The trace is a JSON list of Chrome-trace events. Each run of the session is one
``{"cat": "Session", "name": "model_run", "ts", "dur"}`` event; each node executed in it is one
``{"cat": "Node", "name": "<node>_kernel_time", "ts", "dur", "args": {"op_name", "provider"}}``
event (times in microseconds). Node events are assigned to the run whose span holds them; the
first ``skip_runs`` runs (warm-ups: allocations, first-touch) are dropped; each node counts with
its median over the other runs.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Collection, Mapping, Sequence

import numpy as np

KERNEL_SUFFIX = "_kernel_time"


@dataclass(frozen=True)
class OpShare:
    op_type: str
    ms_per_run: float       # summed over its nodes (each node: median over the kept runs)
    share: float            # of the kernel time of a run (0..1)
    nodes: int              # distinct nodes of this op type that ran
    normdeploy: bool

    def to_json(self) -> dict[str, Any]:
        return {"op_type": self.op_type, "ms_per_run": self.ms_per_run, "share": self.share, "nodes": self.nodes,
                "normdeploy": self.normdeploy}


@dataclass
class OpProfile:
    runner: str
    runs: int                       # runs kept
    kernel_ms_per_run: float        # sum over the nodes of their median kernel time
    wall_ms_per_run: float          # median of the model_run durations
    ops: list[OpShare] = field(default_factory=list)   # largest first

    @property
    def normdeploy_ms_per_run(self) -> float:
        return sum(o.ms_per_run for o in self.ops if o.normdeploy)

    @property
    def normdeploy_share(self) -> float:
        return sum(o.share for o in self.ops if o.normdeploy)

    def to_json(self) -> dict[str, Any]:
        return {"runner": self.runner, "runs": self.runs, "kernel_ms_per_run": self.kernel_ms_per_run,
                "wall_ms_per_run": self.wall_ms_per_run, "normdeploy_ms_per_run": self.normdeploy_ms_per_run,
                "normdeploy_share": self.normdeploy_share, "ops": [o.to_json() for o in self.ops]}


def summarize(events: Sequence[Mapping[str, Any]], runner: str, normdeploy_ops: Collection[str],
              skip_runs: int = 1) -> OpProfile:
    """Per-op-type time of the runs in `events` after the first `skip_runs`: each node's kernel time
    is its median over those runs (a run preempted by another process inflates one node once, and
    the median drops it), and an op type's time is the sum over its nodes. An op type is counted as
    normdeploy's when its name is in `normdeploy_ops` (the op types of the model's normdeploy-domain
    nodes; ONNX Runtime's CPU provider has no op of the same name)."""
    runs = sorted((float(e["ts"]), float(e["ts"]) + float(e.get("dur", 0)))
                  for e in events if e.get("cat") == "Session" and e.get("name") == "model_run")
    kept = runs[skip_runs:]
    if not kept:
        raise ValueError(f"the profile holds {len(runs)} run(s); need more than the {skip_runs} skipped")
    per_node: dict[tuple[str, str], list[float]] = defaultdict(list)
    for event in events:
        name = str(event.get("name", ""))
        if event.get("cat") != "Node" or not name.endswith(KERNEL_SUFFIX):
            continue
        ts = float(event["ts"])
        if not any(start <= ts <= end for start, end in kept):
            continue
        op = str(event.get("args", {}).get("op_name", "?"))
        per_node[(op, name[: -len(KERNEL_SUFFIX)])].append(float(event.get("dur", 0)))
    per_op: dict[str, float] = defaultdict(float)
    nodes: dict[str, int] = defaultdict(int)
    for (op, _), durations in per_node.items():
        per_op[op] += float(np.median(durations))
        nodes[op] += 1
    total = sum(per_op.values())
    ops = [OpShare(op, us / 1e3, us / total if total > 0 else 0.0, nodes[op], op in normdeploy_ops)
           for op, us in sorted(per_op.items(), key=lambda kv: (-kv[1], kv[0]))]
    wall = float(np.median([end - start for start, end in kept])) / 1e3
    return OpProfile(runner, len(kept), total / 1e3, wall, ops)


def profile_events(make_session: Callable[[Any], Any], feed: Mapping[str, Any], runs: int,
                   run: Callable[[Any, Mapping[str, Any]], Any]) -> list[dict[str, Any]]:
    """Builds a session with profiling on (``make_session(options)`` gets SessionOptions to fill
    in), runs it `runs` times on `feed` with ``run(session, feed)``, and returns the trace events;
    the trace file (in a temporary folder) is removed."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="normdeploy-bench-profile-") as tmp:
        options = ort.SessionOptions()
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(tmp, "profile")
        session = make_session(options)
        for _ in range(runs):
            run(session, feed)
        path = Path(session.end_profiling())
        try:
            return list(json.loads(path.read_text()))
        finally:
            path.unlink(missing_ok=True)
