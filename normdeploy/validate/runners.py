"""polygraphy runners: ONNX Runtime with and without normdeploy's library, and PyTorch on the CPU.

polygraphy's own PyTorch runner calls the model with no arguments and moves it to CUDA; ours
feeds the inputs as CPU tensors, by forward() parameter name when the ONNX inputs carry those
names (else in the ONNX input order), and names the outputs after the ONNX model's outputs (by
dict key when the keys are those names, else in flattened order). bfloat16 tensors travel through polygraphy as float32 (exact).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Mapping, Sequence

import numpy as np
from polygraphy.backend.base import BaseRunner
from polygraphy.backend.onnxrt import OnnxrtRunner
from polygraphy.common import TensorMetadata

from .errors import ValidateError
from .inputs import InputSpec
from .ortopt import DEFAULT_OPT_LEVEL, session_at

CUSTOM = "onnxruntime+normdeploy"
REFERENCE = "onnxruntime-standard"
PYTORCH = "pytorch-cpu"
TENSORRT = "tensorrt"


def ort_session(model: Any, *, with_library: bool, level: str = DEFAULT_OPT_LEVEL) -> Any:
    """An InferenceSession on the CPU with idle-thread spinning off (2-core machines), from an
    onnx.ModelProto or a path, at graph optimization `level` (ortopt.OPT_LEVELS)."""
    return session_at(model, with_library=with_library, level=level)


def to_carrier(array: Any) -> np.ndarray:
    """bfloat16 -> float32 (exact); everything else unchanged."""
    array = np.asarray(array)
    return array.astype(np.float32) if array.dtype.name == "bfloat16" else array


class OrtRunner(OnnxrtRunner):
    """OnnxrtRunner on a session we build (so it can have our library registered), running through
    normdeploy.runtime.run_arrays so bfloat16 models work."""

    def __init__(self, session: Any, specs: Sequence[InputSpec], name: str) -> None:
        super().__init__(session, name=name)
        self._specs = {s.name: s for s in specs}

    def get_input_metadata_impl(self) -> TensorMetadata:
        meta = TensorMetadata()
        for node in self.sess.get_inputs():
            spec = self._specs.get(node.name)
            dtype = spec.carrier if spec is not None else np.dtype(np.float32)
            meta.add(node.name, dtype=dtype, shape=node.shape)
        return meta

    def infer_impl(self, feed_dict: Mapping[str, Any]) -> "OrderedDict[str, np.ndarray]":
        from ..runtime import run_arrays

        feeds = {}
        for name, value in feed_dict.items():
            spec = self._specs.get(name)
            feeds[name] = np.asarray(value).astype(spec.dtype) if spec is not None and spec.dtype != spec.carrier else value
        start = time.perf_counter()
        outputs = run_arrays(self.sess, feeds)
        self.inference_time = time.perf_counter() - start
        return OrderedDict((o.name, to_carrier(v)) for o, v in zip(self.sess.get_outputs(), outputs))


def flatten_outputs(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(key path, leaf) pairs of a module's result: tuples/lists by position, dicts (and
    dict-like model outputs) by key in their order, dataclasses by field; None entries are dropped
    everywhere (as torch.export and normdeploy.export drop them); a nested key path joins keys with
    '_', as normdeploy.export names its outputs."""
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type) and not isinstance(value, Mapping):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)
                 if getattr(value, f.name) is not None}
    if isinstance(value, Mapping):
        return [pair for key, item in value.items() if item is not None
                for pair in flatten_outputs(item, f"{prefix}_{key}" if prefix else str(key))]
    if isinstance(value, (list, tuple)):
        return [pair for index, item in enumerate(value) if item is not None
                for pair in flatten_outputs(item, f"{prefix}_{index}" if prefix else str(index))]
    return [(prefix, value)]


def _to_torch(array: np.ndarray, spec: InputSpec) -> Any:
    import torch

    if spec.dtype.name == "bfloat16":
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(torch.bfloat16)
    return torch.from_numpy(np.ascontiguousarray(array).copy())


def to_numpy(tensor: Any) -> np.ndarray:
    import torch

    if not isinstance(tensor, torch.Tensor):
        raise ValidateError(f"{PYTORCH}: the module returned a {type(tensor).__name__}, not a tensor")
    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.float()
    return tensor.numpy()


def _forward_parameters(module: Any) -> list[str] | None:
    import inspect

    try:
        params = inspect.signature(module.forward).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        return None
    return [p.name for p in params]


def call_arguments(module: Any, inputs: Sequence[InputSpec], feed: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any], str]:
    """The arguments to call `module` with: by keyword when every ONNX input is named after a
    parameter of its forward() (normdeploy.export names inputs so), else positionally in the ONNX
    model's input order (torch.onnx keeps forward's order). Returns (args, kwargs, how)."""
    tensors = {s.name: _to_torch(np.asarray(feed[s.name]), s) for s in inputs}
    params = _forward_parameters(module)
    if params is not None and tensors and set(tensors) <= set(params):
        ordered = [p for p in params if p in tensors]
        return [], {name: tensors[name] for name in ordered}, "by name"
    return [tensors[s.name] for s in inputs], {}, "in the ONNX input order"


def name_outputs(result: Any, output_names: Sequence[str]) -> "OrderedDict[str, np.ndarray]":
    """The module's result as {ONNX output name: array}: by key when its leaves are keyed by the
    ONNX output names (a dict output exported with its keys as names), else in flattened order."""
    flat = flatten_outputs(result)
    if len(flat) != len(output_names):
        raise ValidateError(f"{PYTORCH}: the module returned {len(flat)} tensor(s), but the ONNX model has "
                            f"{len(output_names)} output(s) {list(output_names)}")
    keys = [k for k, _ in flat]
    if len(set(keys)) == len(keys):
        by_key = dict(flat)
        # normdeploy.export names a keyed output by its key, with 'out_' in front when an input
        # already has that name (the UNet's 'sample' -> 'out_sample')
        matched = {name: _output_key(name, by_key) for name in output_names}
        if all(key is not None for key in matched.values()) and len(set(matched.values())) == len(keys):
            return OrderedDict((name, to_numpy(by_key[key])) for name, key in matched.items())  # type: ignore[index]
    return OrderedDict((name, to_numpy(t)) for name, (_, t) in zip(output_names, flat))


def _output_key(name: str, keys: Mapping[str, Any]) -> str | None:
    """The key path among `keys` that normdeploy.export would have named `name`: the path itself,
    'output_' + the path where it starts at a tuple position, and 'out_' in front of either when
    it clashed with an input name."""
    while True:
        if name in keys:
            return name
        positional = name.removeprefix("output_")
        if positional != name and positional[:1].isdigit() and positional in keys:
            return positional
        if not name.startswith("out_"):
            return None
        name = name[len("out_"):]


class TorchCpuRunner(BaseRunner):
    """Runs a torch.nn.Module on the CPU: inputs by forward() parameter name, or in the ONNX
    model's input order; outputs (a tensor, or nested tuples/lists/dicts/dataclasses of them,
    flattened) named after the ONNX outputs, by key where the keys are the ONNX names."""

    def __init__(self, module: Any, inputs: Sequence[InputSpec], output_names: Sequence[str], name: str = PYTORCH) -> None:
        super().__init__(name=name)
        self.module = module
        self.inputs = list(inputs)
        self.output_names = list(output_names)

    def get_input_metadata_impl(self) -> TensorMetadata:
        meta = TensorMetadata()
        for spec in self.inputs:
            meta.add(spec.name, dtype=spec.carrier, shape=spec.dims)
        return meta

    def infer_impl(self, feed_dict: Mapping[str, Any]) -> "OrderedDict[str, np.ndarray]":
        import torch

        args, kwargs, _ = call_arguments(self.module, self.inputs, feed_dict)
        start = time.perf_counter()
        with torch.inference_mode():
            result = self.module(*args, **kwargs)
        self.inference_time = time.perf_counter() - start
        return name_outputs(result, self.output_names)


def unstable_factory(spec: Any, module: Any) -> str | None:
    """When `spec` is a 'module:factory' string, calls the factory once more and compares the
    weights: a factory that initialises randomly (no seed, no checkpoint) gives a PyTorch model
    that cannot match a file exported from another call. Returns the warning, or None."""
    import torch

    if not isinstance(spec, str):
        return None
    again = load_torch_module(spec, None)
    mine, theirs = module.state_dict(), again.state_dict()
    for name, tensor in mine.items():
        other = theirs.get(name)
        if (other is None or other.shape != tensor.shape or
                (tensor.is_floating_point() and not torch.equal(tensor, other))):
            return (f"two calls of {spec} gave different weights (first: {name!r}), so this PyTorch model is "
                    f"not the one the file was exported from: seed the factory (torch.manual_seed) or pass "
                    f"--weights with the checkpoint the file was exported from")
    return None


def load_torch_module(spec: Any, weights: str | None) -> Any:
    """`spec` is a torch.nn.Module or 'module:factory' (imported like python -m, called with no
    arguments); `weights` a state_dict checkpoint (torch.load(weights_only=True))."""
    import torch

    from ..cli.common import CliError, build_model, load_checkpoint

    try:
        if isinstance(spec, torch.nn.Module):
            if weights is not None:
                load_checkpoint(spec, str(weights))
            return spec.eval()
        return build_model(str(spec), str(weights) if weights is not None else None, flag="--torch")
    except CliError as exc:
        raise ValidateError(str(exc)) from exc
