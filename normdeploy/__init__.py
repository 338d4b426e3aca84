"""normdeploy: deploy models that use GroupNorm and LRN through ONNX Runtime and TensorRT.

Public API:
    library_path()       the ONNX Runtime custom-op library (libnormdeploy_ort.so)
    session_options()    SessionOptions with the library registered
    make_session()       an InferenceSession that can run normdeploy nodes
    ops                  op schemas (the single source of truth) and numpy references
"""

from __future__ import annotations

from . import ops
from .runtime import LibraryNotFoundError, library_path, make_session, session_options

__version__ = "0.1.0"

__all__ = ["LibraryNotFoundError", "library_path", "make_session", "ops", "session_options", "__version__"]
