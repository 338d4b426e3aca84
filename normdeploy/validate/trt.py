"""TensorRT: whether it can run here, and a polygraphy TrtRunner with normdeploy's plugins.

It runs when ``import tensorrt`` works, the CUDA driver sees a GPU, and normdeploy's TensorRT
plugin library is built (``normdeploy.tensorrt_library_path()``); otherwise the report records
``{"runner": "tensorrt", "skipped": "<reason>"}`` with the first reason that applies.
"""

from __future__ import annotations

import ctypes
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from .runners import TENSORRT


@dataclass(frozen=True)
class TrtProbe:
    available: bool
    reason: str | None = None
    plugin_library: str | None = None
    version: str | None = None


def _import_tensorrt() -> Any:
    return importlib.import_module("tensorrt")


def _cuda_gpu() -> tuple[bool, str]:
    """(True, description) when the CUDA driver reports at least one device, else (False, why)."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError as exc:
        return False, f"no CUDA driver (libcuda.so.1 cannot be loaded: {exc})"
    rc = cuda.cuInit(0)
    if rc != 0:
        return False, f"the CUDA driver failed to initialise (cuInit returned {rc})"
    count = ctypes.c_int(0)
    rc = cuda.cuDeviceGetCount(ctypes.byref(count))
    if rc != 0 or count.value == 0:
        return False, f"the CUDA driver sees no GPU (cuDeviceGetCount returned {rc}, count {count.value})"
    return True, f"{count.value} CUDA device(s)"


def _plugin_library() -> tuple[str | None, str | None]:
    import normdeploy

    finder = getattr(normdeploy, "tensorrt_library_path", None)
    if finder is None:
        return None, ("normdeploy's TensorRT plugin library is not built (this normdeploy has no "
                      "tensorrt_library_path())")
    try:
        return str(finder()), None
    except Exception as exc:  # noqa: BLE001 - LibraryNotFoundError and the like
        return None, f"normdeploy's TensorRT plugin library is not built: {exc}"


def probe() -> TrtProbe:
    try:
        trt = _import_tensorrt()
    except Exception as exc:  # noqa: BLE001 - ImportError, or a broken install
        return TrtProbe(False, f"tensorrt is not installed (import tensorrt failed: {type(exc).__name__}: {exc})")
    version = str(getattr(trt, "__version__", "unknown"))
    ok, why = _cuda_gpu()
    if not ok:
        return TrtProbe(False, f"no GPU: {why}", version=version)
    library, why = _plugin_library()
    if library is None:
        return TrtProbe(False, why, version=version)
    return TrtProbe(True, None, library, version)


def build_runner(model_path: Path, shape_ranges: Mapping[str, Sequence[Sequence[int]]], plugin_library: str,
                 fp16: bool) -> Any:
    """A TrtRunner for the custom model; `shape_ranges` maps each input to (min, opt, max).

    The plugin library is loaded with IPluginRegistry.load_library (what trtexec --dynamicPlugins
    does): it exports getCreators/setLoggerFinder rather than registering creators when loaded."""
    from polygraphy.backend.trt import CreateConfig, EngineFromNetwork, NetworkFromOnnxPath, Profile, TrtRunner

    handle = _import_tensorrt().get_plugin_registry().load_library(plugin_library)
    profile = Profile()
    for name, (low, opt, high) in shape_ranges.items():
        profile.add(name, min=tuple(low), opt=tuple(opt), max=tuple(high))
    engine = EngineFromNetwork(NetworkFromOnnxPath(str(model_path)), config=CreateConfig(profiles=[profile], fp16=fp16))
    runner = TrtRunner(engine, name=TENSORRT)
    runner.normdeploy_plugin_handle = handle  # keeps the library registered while the runner lives
    return runner
