"""Optional dependencies ("extras") and the one-line error when one is missing.

``pip install normdeploy`` gives the core: numpy, ml-dtypes, onnx, onnxruntime and the custom-op
library (run, convert, inspect models). Everything else is an extra, declared in pyproject.toml
under the same names as :data:`EXTRAS` (a test checks the two agree):

    normdeploy[torch]     export from PyTorch; validate/bench --torch (torch, onnxscript)
    normdeploy[validate]  validate, bench (polygraphy, onnx-graphsurgeon, matplotlib)
    normdeploy[triton]    triton, serve (tritonclient)
    normdeploy[all]       all of the above

:func:`require` is called where a feature starts (the CLI before dispatching, the Python API at
its entry points) and raises :class:`MissingExtraError`, an ImportError whose text is the line the
CLI prints: ``normdeploy export needs PyTorch: pip install 'normdeploy[torch]'``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass


@dataclass(frozen=True)
class Extra:
    name: str                        # normdeploy[<name>]
    what: str                        # what the message says is needed, e.g. "PyTorch"
    modules: tuple[str, ...]         # import names that must be importable
    requirements: tuple[str, ...]    # what pyproject.toml lists for it (checked by a test)


EXTRAS: dict[str, Extra] = {
    e.name: e
    for e in (
        Extra("torch", "PyTorch", ("torch", "onnxscript"), ("torch>=2.4", "onnxscript>=0.2")),
        Extra("validate", "polygraphy and matplotlib", ("polygraphy", "matplotlib"),
              ("polygraphy>=0.49", "onnx-graphsurgeon>=0.5", "matplotlib>=3.8")),
        Extra("triton", "tritonclient", ("tritonclient", "tritonclient.grpc", "grpc", "google.protobuf"),
              ("tritonclient[http,grpc]>=2.51",)),
    )
}
ALL = "all"  # normdeploy[all]: every extra above


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra that installs it."""


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing or broken
        return False


def missing_modules(extra: str) -> list[str]:
    """The import names of ``extra`` that cannot be imported here (nothing is imported but
    parent packages of dotted names)."""
    return [m for m in EXTRAS[extra].modules if not _importable(m)]


def message(feature: str, extra: str) -> str:
    """``<feature> needs <what>: pip install 'normdeploy[<extra>]'``."""
    return f"{feature} needs {EXTRAS[extra].what}: pip install 'normdeploy[{extra}]'"


def require(extra: str, feature: str) -> None:
    """Raises :class:`MissingExtraError` (an ImportError) with :func:`message` when a module of
    ``extra`` is missing. ``feature`` names what the user ran, e.g. "normdeploy export"."""
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; known: {', '.join(EXTRAS)}")
    missing = missing_modules(extra)
    if missing:
        error = MissingExtraError(message(feature, extra))
        error.name = missing[0]
        raise error
