"""What bench times: ONNX Runtime with and without normdeploy's library, PyTorch eager on the CPU,
and TensorRT with normdeploy's plugins. Each runner turns a feed into what it runs on once
(``prepare``, untimed) and runs it (``run``, timed: the outputs come back as arrays in the ONNX
model's output order, which is also what the output check compares)."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from ..validate.inputs import Feed, InputSpec
from ..validate.runners import CUSTOM, PYTORCH, REFERENCE, TENSORRT
from .errors import BenchError

__all__ = ["CUSTOM", "PYTORCH", "REFERENCE", "TENSORRT", "OrtRunner", "Settings", "TorchRunner", "TrtRunner",
           "default_threads", "ort_options", "torch_threads"]


def default_threads() -> int:
    """The cores this process may run on (all of the machine's unless restricted)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Settings:
    """Threads and spinning, set explicitly on every runner (ONNX Runtime's own default spins)."""

    threads: int
    spinning: bool = False

    def describe(self) -> str:
        return (f"{self.threads} thread(s) (ONNX Runtime intra-op, inter-op 1, sequential; torch.set_num_threads), "
                f"ONNX Runtime spinning {'on' if self.spinning else 'off'} (session.intra_op.allow_spinning="
                f"{int(self.spinning)})")

    def to_json(self) -> dict[str, Any]:
        return {"threads": self.threads, "ort_intra_op_threads": self.threads, "ort_inter_op_threads": 1,
                "ort_allow_spinning": self.spinning, "torch_threads": self.threads}


def ort_options(settings: Settings, options: Any = None) -> Any:
    """SessionOptions with the thread count and spinning of `settings` (filled into `options`)."""
    import onnxruntime as ort

    opts = options if options is not None else ort.SessionOptions()
    opts.intra_op_num_threads = settings.threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    spin = "1" if settings.spinning else "0"
    opts.add_session_config_entry("session.intra_op.allow_spinning", spin)
    opts.add_session_config_entry("session.inter_op.allow_spinning", spin)
    opts.log_severity_level = 3
    return opts


def ort_session(model: Any, settings: Settings, *, with_library: bool, options: Any = None) -> Any:
    """A CPU InferenceSession from a path or an onnx.ModelProto."""
    import onnxruntime as ort

    from ..runtime import session_options

    opts = ort_options(settings, options)
    if with_library:
        opts = session_options(opts)
    source = str(model) if isinstance(model, (str, os.PathLike)) else model.SerializeToString()
    return ort.InferenceSession(source, sess_options=opts, providers=["CPUExecutionProvider"])


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """torch.set_num_threads(threads) inside the block, the previous count restored after it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class OrtRunner:
    """An ONNX Runtime session; bfloat16 inputs (float32 carriers in the feed) are cast back in
    ``prepare``, and bfloat16 models run through normdeploy.runtime.run_arrays."""

    def __init__(self, session: Any, specs: Sequence[InputSpec], name: str, description: str) -> None:
        self.session = session
        self.specs = list(specs)
        self.name = name
        self.description = description
        types = [o.type for o in session.get_outputs()]
        self._bf16 = any(s.dtype.name == "bfloat16" for s in specs) or "tensor(bfloat16)" in types

    def prepare(self, feed: Feed) -> dict[str, np.ndarray]:
        return {s.name: np.ascontiguousarray(np.asarray(feed[s.name]).astype(s.dtype, copy=False)) for s in self.specs}

    def run(self, prepared: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        if self._bf16:
            from ..runtime import run_arrays

            return list(run_arrays(self.session, prepared))
        return self.session.run(None, prepared)  # type: ignore[no-any-return]

    def close(self) -> None:
        self.session = None


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _flatten(item)]
    if isinstance(value, Mapping):
        return [t for item in value.values() for t in _flatten(item)]
    return [value]


class TorchRunner:
    """A torch.nn.Module in eager mode on the CPU under torch.inference_mode(): inputs in the ONNX
    model's input order (made into tensors once), outputs flattened (tuples, lists, dicts)."""

    def __init__(self, module: Any, specs: Sequence[InputSpec], output_names: Sequence[str], description: str) -> None:
        self.module = module
        self.specs = list(specs)
        self.output_names = list(output_names)
        self.name = PYTORCH
        self.description = description

    def prepare(self, feed: Feed) -> list[Any]:
        import torch

        tensors = []
        for spec in self.specs:
            array = np.ascontiguousarray(feed[spec.name])
            if spec.dtype.name == "bfloat16":
                tensors.append(torch.from_numpy(array.astype(np.float32)).to(torch.bfloat16))
            else:
                tensors.append(torch.from_numpy(array))
        return tensors

    def run(self, prepared: Sequence[Any]) -> list[np.ndarray]:
        import torch

        with torch.inference_mode():
            result = self.module(*prepared)
        flat = _flatten(result)
        if len(flat) != len(self.output_names):
            raise BenchError(f"{PYTORCH}: the module returned {len(flat)} tensor(s), but the ONNX model has "
                             f"{len(self.output_names)} output(s) {self.output_names}")
        outputs = []
        for tensor in flat:
            if not isinstance(tensor, torch.Tensor):
                raise BenchError(f"{PYTORCH}: the module returned a {type(tensor).__name__}, not a tensor")
            tensor = tensor.detach()
            outputs.append((tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy())
        return outputs

    def close(self) -> None:
        self.module = None


class TrtRunner:
    """polygraphy's TrtRunner on the custom model with normdeploy's plugins (validate.trt builds it).
    A call includes the host-to-device and device-to-host copies of inputs and outputs."""

    def __init__(self, runner: Any, output_names: Sequence[str], description: str) -> None:
        self.runner = runner
        self.output_names = list(output_names)
        self.name = TENSORRT
        self.description = description
        runner.activate()

    def prepare(self, feed: Feed) -> dict[str, np.ndarray]:
        return {k: np.ascontiguousarray(v) for k, v in feed.items()}

    def run(self, prepared: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        result = self.runner.infer(dict(prepared))
        return [np.asarray(result[name]) for name in self.output_names]

    def close(self) -> None:
        if self.runner is not None and getattr(self.runner, "is_active", False):
            self.runner.deactivate()
        self.runner = None
