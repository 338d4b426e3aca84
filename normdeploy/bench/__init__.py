"""normdeploy.bench: model-level timing of ONNX Runtime + normdeploy's library against plain ONNX
Runtime on the standard-op equivalent (the baseline), PyTorch eager and TensorRT.

    from normdeploy.bench import bench
    result = bench("model.onnx", torch_model="export.resnet_gn:build", repeats=10)
    print(result.summary()); result.ratios; result.json_path

Modules: runners (ORT/torch/TensorRT runners, threads and spinning), measure (interleaved timing,
statistics, ratios, output checks), profile (ORT profiler time share per op type), report (text),
html (page with charts), api (bench()).
"""

from __future__ import annotations

from .api import BenchResult, RunnerResult, bench
from .errors import BenchError

__all__ = ["BenchError", "BenchResult", "RunnerResult", "bench"]
