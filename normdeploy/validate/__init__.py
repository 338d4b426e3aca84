"""normdeploy.validate: parity of a model with normdeploy nodes against its standard-op reference
(and PyTorch, and TensorRT where available), through polygraphy's Comparator.

    from normdeploy.validate import validate
    result = validate("model.onnx", torch_model="export.resnet_gn:build", iterations=3)
    print(result.summary()); result.passed; result.report_dir

Modules: models (the custom/reference pair), inputs (shapes and data), tolerances (defaults per
dtype), runners (ORT and PyTorch runners for polygraphy), trt (TensorRT probe and runner), compare
(Comparator run and statistics), localize (first diverging node), report (JSON and text), html
(page with plots), progress (progress bar), api (validate()).
"""

from __future__ import annotations

from .api import ValidationResult, validate
from .errors import ValidateError
from .tolerances import DEFAULT_TOLERANCES

__all__ = ["DEFAULT_TOLERANCES", "ValidateError", "ValidationResult", "validate"]
