"""Triton Inference Server deployment: model repositories (config.pbtxt, model files, our custom-op
libraries) for the onnxruntime, tensorrt and python backends, and a local tritonserver from the
``nvidia-pytriton`` wheel (127.0.0.1 only).

Modules: :mod:`.config` (config.pbtxt text and its validation against tritonclient's ModelConfig),
:mod:`.repo` (writing a model folder), :mod:`.server` (starting / stopping tritonserver),
:mod:`.model_py` (the python-backend model.py template).
"""

from __future__ import annotations

from .config import BACKENDS, TritonConfigError, model_io, render_config, validate_config_text
from .repo import RepoResult, write_model_repository

__all__ = ["BACKENDS", "TritonConfigError", "model_io", "render_config", "validate_config_text",
           "RepoResult", "write_model_repository"]
