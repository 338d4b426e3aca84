"""ConvertError: the one error type of the converter (the low module everyone imports)."""

from __future__ import annotations


class ConvertError(ValueError):
    """The input cannot be converted (not ONNX, unsupported opset, ...)."""
