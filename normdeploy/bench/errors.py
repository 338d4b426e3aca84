"""The one error type of normdeploy.bench."""

from __future__ import annotations


class BenchError(ValueError):
    """Bad arguments or input (missing file, not ONNX, bad shapes, bad --repeats, unknown input
    name, a baseline that cannot run): nothing was timed. The CLI turns it into exit code 2; a
    runner that fails or disagrees with the baseline is not an error but a failed BenchResult
    (exit code 1)."""
