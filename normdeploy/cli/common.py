"""Pieces the commands share: errors that become exit code 2, loading a model factory and a
checkpoint. Input specs (shapes, dtypes, dynamic axes) are parsed in normdeploy.inputspec."""

from __future__ import annotations

import importlib
import os
import pickle
import sys
from pathlib import Path
from typing import Any, Callable

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class CliError(Exception):
    """A user error: printed as `normdeploy <cmd>: error: <message>`, exit code 2."""


def load_factory(spec: str, flag: str = "--model") -> Callable[..., Any]:
    """'package.module:factory' -> the callable. The current folder is importable (like python -m)."""
    if ":" not in spec:
        raise CliError(f"{flag} {spec!r}: expected module:factory, e.g. export.resnet_gn:build")
    module_name, _, attr = spec.partition(":")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CliError(f"{flag} {spec!r}: cannot import module {module_name!r}: {exc}") from exc
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        available = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise CliError(f"{flag} {spec!r}: module {module_name!r} has no callable {attr!r}; it has {available}")
    return factory


def build_model(spec: str, weights: str | None = None, flag: str = "--model") -> Any:
    """The torch.nn.Module a module:factory spec makes (in eval mode), with `weights` loaded."""
    import torch

    factory = load_factory(spec, flag)
    try:
        model = factory()
    except Exception as exc:  # noqa: BLE001 - user code
        raise CliError(f"{flag} {spec}: the factory raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, torch.nn.Module):
        raise CliError(f"{flag} {spec}: the factory returned {type(model).__name__}, not a torch.nn.Module")
    if weights:
        load_checkpoint(model, weights)
    return model.eval()


def load_checkpoint(model: Any, path: str) -> None:
    """Loads a state_dict (or a checkpoint dict holding one under 'state_dict' / 'model') with
    torch.load(weights_only=True): a pickle that would run code is refused, not executed."""
    import warnings

    import torch

    p = Path(path)
    if p.is_dir():
        raise CliError(f"--weights {path}: is a directory, not a checkpoint file")
    if not p.is_file():
        raise CliError(f"--weights {path}: no such file")
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the error says enough
            warnings.simplefilter("ignore")
            data = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a broken or hostile file raises anything (IndexError, struct.error, ...)
        raise CliError(f"--weights {path}: refused or unreadable: torch.load(weights_only=True) loads plain "
                       f"tensors only, and this file is not such a checkpoint ({_load_failure(exc)})") from exc
    state = data
    if isinstance(data, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            if key in data and isinstance(data[key], dict):
                state = data[key]
                break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        bad = next((f"; its entry {k!r} is of type {type(v).__name__}, not a tensor" for k, v in state.items()
                    if not isinstance(v, torch.Tensor)), "") if isinstance(state, dict) else ""
        raise CliError(f"--weights {path}: expected a state_dict (names -> tensors) or a checkpoint dict with "
                       f"'state_dict'/'model', got {type(state).__name__}{bad}")
    expected = set(model.state_dict())
    missing = sorted(expected - set(state))
    unexpected = sorted(set(state) - expected)
    if missing or unexpected:
        raise CliError(f"--weights {path}: keys do not match the model: missing {missing}, unexpected {unexpected}")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # shape mismatches
        raise CliError(f"--weights {path}: {exc}") from exc


def _load_failure(exc: Exception) -> str:
    """The informative line of torch.load's error (it wraps the reason in advice to turn
    weights_only off, which would run the file's code)."""
    noise = ("Weights only load failed", "Please file an issue", "Check the documentation", "In PyTorch 2.6")
    prefix = "" if isinstance(exc, pickle.UnpicklingError) else f"{type(exc).__name__}: "
    for line in str(exc).splitlines():
        line = line.replace("WeightsUnpickler error:", "").strip()
        if line and not line.startswith(noise):
            return prefix + line
    return type(exc).__name__
