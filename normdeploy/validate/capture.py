"""Forward hooks that record what every submodule of a PyTorch model reads and returns, in the
order the calls finish (a child before its parent), so the outputs can be set against the ONNX
tensors the exporter made from each module.

Each tensor is copied once to a numpy array when it is seen (a forward pre-hook copies the
inputs before an in-place module changes them); a tensor a later module reads unchanged (same
object, same version counter) is not copied again. ``Capture.bytes`` is what the copies hold.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from .runners import flatten_outputs


@dataclass
class ModuleCall:
    path: str                      # e.g. "stem.pool" (named_modules path)
    cls: str                       # class name, e.g. "MaxPool2d"
    qualname: str                  # module.Class
    call: int                      # 0 for the first call of this module, 1 for the second, ...
    order: int                     # when the call finished, over all calls
    module: Any                    # the nn.Module (for the class checks of the matcher)
    inputs: list[np.ndarray] = field(default_factory=list)   # floating-point tensor arguments, flattened
    outputs: list[np.ndarray] = field(default_factory=list)  # tensors returned, flattened

    @property
    def label(self) -> str:
        return f"{self.path}: {self.cls}" + (f" (call {self.call + 1})" if self.call else "")


@dataclass
class Capture:
    calls: list[ModuleCall]
    bytes: int                     # bytes of the numpy copies held
    tensors: int                   # distinct tensors copied

    def by_path(self) -> dict[str, list[ModuleCall]]:
        found: dict[str, list[ModuleCall]] = {}
        for call in self.calls:
            found.setdefault(call.path, []).append(call)
        return found


class _Recorder:
    def __init__(self) -> None:
        self.seen: dict[int, tuple[Any, int, np.ndarray]] = {}  # id -> (weakref, version, copy)
        self.bytes = 0
        self.tensors = 0

    def array(self, tensor: Any) -> np.ndarray:
        import torch

        entry = self.seen.get(id(tensor))
        if entry is not None and entry[0]() is tensor and entry[1] == tensor._version:
            return entry[2]
        data = tensor.detach()
        if data.dtype == torch.bfloat16 or data.dtype == torch.float16:
            data = data.float()
        copy = data.cpu().numpy().copy()
        try:
            self.seen[id(tensor)] = (weakref.ref(tensor), tensor._version, copy)
        except TypeError:  # some tensor subclasses refuse weak references: copy every time
            pass
        self.bytes += copy.nbytes
        self.tensors += 1
        return copy

    def floating(self, values: Sequence[Any]) -> list[np.ndarray]:
        import torch

        return [self.array(v) for v in values if isinstance(v, torch.Tensor) and v.is_floating_point()]


def _leaves(value: Any) -> list[Any]:
    return [leaf for _, leaf in flatten_outputs(value)]


def capture(model: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[Any, Capture]:
    """Calls model(*args, **kwargs) under torch.no_grad (inference_mode tensors have no version
    counter, which tells an in-place change) with hooks on every submodule;
    returns its result and the recorded calls (in finishing order). The hooks are removed after."""
    import torch

    recorder = _Recorder()
    calls: list[ModuleCall] = []
    pending: dict[int, list[list[np.ndarray]]] = {}
    counts: dict[str, int] = {}
    handles = []

    def pre_hook(path: str) -> Any:
        def hook(module: Any, hook_args: tuple, hook_kwargs: dict) -> None:
            tensors = recorder.floating(_leaves(list(hook_args)) + _leaves(dict(hook_kwargs)))
            pending.setdefault(id(module), []).append(tensors)
        return hook

    def post_hook(path: str) -> Any:
        def hook(module: Any, hook_args: tuple, hook_kwargs: dict, output: Any) -> None:
            stack = pending.get(id(module)) or [[]]
            inputs = stack.pop()
            index = counts.get(path, 0)
            counts[path] = index + 1
            outputs = [recorder.array(t) for t in _leaves(output) if isinstance(t, torch.Tensor)]
            cls = type(module)
            calls.append(ModuleCall(path, cls.__name__, f"{cls.__module__}.{cls.__qualname__}", index, len(calls),
                                    module, inputs, outputs))
        return hook

    for path, module in model.named_modules():
        if not path:
            continue
        handles.append(module.register_forward_pre_hook(pre_hook(path), with_kwargs=True))
        handles.append(module.register_forward_hook(post_hook(path), with_kwargs=True))
    try:
        with torch.no_grad():
            result = model(*args, **kwargs)
    finally:
        for handle in handles:
            handle.remove()
    return result, Capture(calls, recorder.bytes, recorder.tensors)
