"""normdeploy.validate: parity of a model with normdeploy nodes against its standard-op reference
(and PyTorch, and TensorRT where available), through polygraphy's Comparator.

    from normdeploy.validate import validate
    result = validate("model.onnx", torch_model="export.resnet_gn:build", iterations=3)
    print(result.summary()); result.passed; result.report_dir

Modules: models (the custom/reference pair), inputs (shapes and data), tolerances (defaults per
dtype), runners (ORT and PyTorch runners for polygraphy), trt (TensorRT probe and runner), compare
(Comparator run and statistics), localize (first diverging node), torchloc (where the ONNX model
leaves PyTorch: capture (forward hooks), scopes (the torch exporter's node metadata), torchmatch
(module calls against ONNX tensors), torchresult (what it found), ortopt (ONNX Runtime's
optimization levels and optimized graph)), report (JSON and text), html (page with
plots), progress (progress bar), api (validate()).
"""

from __future__ import annotations

from typing import Any

# Loaded on first use, so that the submodules (inputs, models, report, ...) import without
# polygraphy: normdeploy bench uses them on a core install. validate() needs normdeploy[validate].
_LAZY = {"validate": "api", "ValidationResult": "api", "ValidateError": "errors", "DEFAULT_TOLERANCES": "tolerances"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'normdeploy.validate' has no attribute {name!r}")
    import importlib

    if _LAZY[name] == "api":
        from ..extras import require

        require("validate", "normdeploy validate")  # before .api, which imports polygraphy
    return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)


__all__ = ["DEFAULT_TOLERANCES", "ValidateError", "ValidationResult", "validate"]
