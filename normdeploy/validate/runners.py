"""polygraphy runners: ONNX Runtime with and without normdeploy's library, and PyTorch on the CPU.

polygraphy's own PyTorch runner calls the model with no arguments and moves it to CUDA; ours
feeds the inputs as CPU tensors in the ONNX model's input order and names the outputs after the
ONNX model's outputs, in order. bfloat16 tensors travel through polygraphy as float32 (exact).
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from typing import Any, Mapping, Sequence

import numpy as np
from polygraphy.backend.base import BaseRunner
from polygraphy.backend.onnxrt import OnnxrtRunner
from polygraphy.common import TensorMetadata

from .errors import ValidateError
from .inputs import InputSpec

CUSTOM = "onnxruntime+normdeploy"
REFERENCE = "onnxruntime-standard"
PYTORCH = "pytorch-cpu"
TENSORRT = "tensorrt"


def ort_session(model: Any, *, with_library: bool) -> Any:
    """An InferenceSession on the CPU with idle-thread spinning off (2-core machines), from an
    onnx.ModelProto or a path."""
    import onnxruntime as ort

    from ..runtime import make_session

    if with_library:
        return make_session(model, allow_spinning=False)
    opts = ort.SessionOptions()
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = str(model) if isinstance(model, (str, os.PathLike)) else model.SerializeToString()
    return ort.InferenceSession(source, sess_options=opts, providers=["CPUExecutionProvider"])


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


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _flatten(item)]
    if isinstance(value, Mapping):
        return [t for item in value.values() for t in _flatten(item)]
    return [value]


def _to_torch(array: np.ndarray, spec: InputSpec) -> Any:
    import torch

    if spec.dtype.name == "bfloat16":
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(torch.bfloat16)
    return torch.from_numpy(np.ascontiguousarray(array))


def _to_numpy(tensor: Any) -> np.ndarray:
    import torch

    if not isinstance(tensor, torch.Tensor):
        raise ValidateError(f"{PYTORCH}: the module returned a {type(tensor).__name__}, not a tensor")
    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.float()
    return tensor.numpy()


class TorchCpuRunner(BaseRunner):
    """Runs a torch.nn.Module on the CPU: inputs in the ONNX model's input order, outputs (a
    tensor, or nested tuples/lists/dicts of them, flattened) named after the ONNX outputs."""

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

        args = [_to_torch(np.asarray(feed_dict[s.name]), s) for s in self.inputs]
        start = time.perf_counter()
        with torch.inference_mode():
            result = self.module(*args)
        self.inference_time = time.perf_counter() - start
        flat = _flatten(result)
        if len(flat) != len(self.output_names):
            raise ValidateError(f"{PYTORCH}: the module returned {len(flat)} tensor(s), but the ONNX model has "
                                f"{len(self.output_names)} output(s) {self.output_names}")
        return OrderedDict((name, _to_numpy(t)) for name, t in zip(self.output_names, flat))


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
