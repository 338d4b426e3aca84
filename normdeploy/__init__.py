"""normdeploy: deploy models that use GroupNorm and LRN through ONNX Runtime and TensorRT.

Public API:
    library_path()       the ONNX Runtime custom-op library (libnormdeploy_ort.so)
    session_options()    SessionOptions with the library registered
    make_session()       an InferenceSession that can run normdeploy nodes
    ops                  op schemas (the single source of truth) and numpy references
    export()             a PyTorch model to ONNX with normdeploy nodes
    convert()            an ONNX file between standard ops and normdeploy nodes
    inspect_model()      what normdeploy nodes a model has and which runtimes can run it
"""

from __future__ import annotations

from typing import Any

from . import ops
from .runtime import LibraryNotFoundError, library_path, make_session, session_options

__version__ = "0.1.0"

# Loaded on first use: they pull in onnx (and torch, for export).
_LAZY = {
    "export": ("exporter", "export"),
    "ExportError": ("exporter", "ExportError"),
    "convert": ("conversion", "convert"),
    "convert_model": ("conversion", "convert_model"),
    "ConvertError": ("conversion", "ConvertError"),
    "inspect_model": ("inspect", "inspect_model"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'normdeploy' has no attribute {name!r}")


__all__ = ["LibraryNotFoundError", "library_path", "make_session", "ops", "session_options", "__version__",
           *_LAZY]
