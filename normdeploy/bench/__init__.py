"""normdeploy.bench: model-level timing of ONNX Runtime + normdeploy's library against plain ONNX
Runtime on the standard-op equivalent (the baseline), PyTorch eager and TensorRT.

    from normdeploy.bench import bench
    result = bench("model.onnx", torch_model="export.resnet_gn:build", repeats=10)
    print(result.summary()); result.ratios; result.json_path

Modules: runners (ORT/torch/TensorRT runners, threads and spinning), measure (interleaved timing,
statistics, ratios, output checks), profile (ORT profiler time share per op type), report (text),
html (page with charts), api (bench()). bench() needs normdeploy[validate] (polygraphy's data
loader and runner base, matplotlib for the page), and normdeploy[torch] for a --torch model.
"""

from __future__ import annotations

from typing import Any

from .errors import BenchError

_LAZY = {"bench": "api", "BenchResult": "api", "RunnerResult": "api"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'normdeploy.bench' has no attribute {name!r}")
    import importlib

    from ..extras import require

    require("validate", "normdeploy bench")  # before .api, which imports polygraphy
    return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)


__all__ = ["BenchError", "BenchResult", "RunnerResult", "bench"]
