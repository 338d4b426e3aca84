"""What validate() and bench() share beyond their inputs (inputs.py): the check of integer
arguments (raising the caller's error type; the CLI parses its own strings in
normdeploy.cli.model_args), the TensorRT runner of the custom model and the model's part of the
reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import ValidateError
from .models import ModelPair


def check_int(value: Any, what: str, minimum: int, error: type[ValueError] = ValidateError) -> int:
    """`value` as an int when it is an integer (not a bool) >= `minimum`; else raises `error`
    naming `what` and the value."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise error(f"{what}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def tensorrt_runner(enabled: bool, pair: ModelPair, workdir: Path,
                    build: Callable[[Path, str, bool], Any]) -> tuple[Any, str | None, str | None]:
    """TensorRT on the custom model with normdeploy's plugins: saves it under `workdir` and calls
    ``build(path, plugin_library, fp16)``. Returns (runner, None, None), or (None, why it was
    skipped, None) when disabled or TensorRT is not available, or (None, None, the error) when
    the build fails."""
    from . import trt

    if not enabled:
        return None, "disabled (--no-tensorrt)", None
    probe = trt.probe()
    if not probe.available:
        return None, probe.reason, None
    from ..conversion import save_model

    path = save_model(pair.custom, workdir / "custom.onnx")
    fp16 = any(s.dtype.name == "float16" for s in pair.inputs)
    try:
        return build(path, str(probe.plugin_library), fp16), None, None
    except Exception as exc:  # noqa: BLE001 - TensorRT's errors
        return None, None, f"{type(exc).__name__}: {exc}"


def model_json(pair: ModelPair) -> dict[str, Any]:
    """The model's part of a report: the file, its normdeploy nodes, what each side runs, the
    inputs and outputs, and the notes on how the pair was made."""
    return {"path": pair.label, "custom_nodes": pair.custom_nodes, "custom_side": pair.custom_origin,
            "reference_side": pair.reference_origin, "inputs": [s.to_json() for s in pair.inputs],
            "outputs": [s.to_json() for s in pair.outputs], "notes": pair.notes}
