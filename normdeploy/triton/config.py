"""config.pbtxt for a Triton model: inputs/outputs read from the ONNX file, batching, instance
groups, custom-op libraries; every generated text is parsed into tritonclient's ModelConfig."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

BACKENDS = ("onnxruntime", "tensorrt", "python")

# ONNX TensorProto element type -> Triton data type.
_ONNX_TO_TRITON = {
    1: "TYPE_FP32", 2: "TYPE_UINT8", 3: "TYPE_INT8", 4: "TYPE_UINT16", 5: "TYPE_INT16", 6: "TYPE_INT32",
    7: "TYPE_INT64", 8: "TYPE_STRING", 9: "TYPE_BOOL", 10: "TYPE_FP16", 11: "TYPE_FP64", 12: "TYPE_UINT32",
    13: "TYPE_UINT64", 16: "TYPE_BF16",
}


class TritonConfigError(ValueError):
    """A model or option that cannot become a Triton configuration (the message says why)."""


@dataclass(frozen=True)
class TensorSpec:
    name: str
    data_type: str          # Triton TYPE_*
    dims: tuple[int, ...]   # -1 for dynamic dims, full rank (batch dim included)


def model_io(model_path: str | Path) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Inputs and outputs of an ONNX file (initializers excluded), dynamic dims as -1. Output shapes
    missing from the file are taken from ONNX shape inference."""
    import onnx

    path = Path(model_path)
    if not path.is_file():
        raise TritonConfigError(f"{model_path}: no such file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - any parse error
        raise TritonConfigError(f"{model_path}: not a readable ONNX model ({type(exc).__name__}: {exc})") from None
    if any(o.type.tensor_type.elem_type and not o.type.tensor_type.HasField("shape") for o in model.graph.output):
        try:
            model = onnx.shape_inference.infer_shapes(model)
        except Exception:  # noqa: BLE001 - keep what the file has
            pass
    initializers = {i.name for i in model.graph.initializer}

    def spec(value, kind: str) -> TensorSpec:
        t = value.type.tensor_type
        if not value.type.HasField("tensor_type"):
            raise TritonConfigError(f"{model_path}: {kind} {value.name!r} is not a tensor")
        dtype = _ONNX_TO_TRITON.get(t.elem_type)
        if dtype is None:
            raise TritonConfigError(f"{model_path}: {kind} {value.name!r} has element type {t.elem_type}, "
                                    "which Triton has no data type for")
        if not t.HasField("shape"):
            raise TritonConfigError(f"{model_path}: {kind} {value.name!r} has no known rank; Triton needs dims")
        dims = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1 for d in t.shape.dim)
        return TensorSpec(value.name, dtype, dims)

    inputs = [spec(v, "input") for v in model.graph.input if v.name not in initializers]
    outputs = [spec(v, "output") for v in model.graph.output]
    return inputs, outputs


def _tensor_block(specs: Sequence[TensorSpec], max_batch: int) -> str:
    items = []
    for s in specs:
        dims = s.dims[1:] if max_batch > 0 else s.dims
        if not dims:  # a rank-1 tensor batched by Triton: one element per batch item
            dims = (1,)
        items.append(f'  {{\n    name: {json.dumps(s.name)}\n    data_type: {s.data_type}\n'
                     f'    dims: [ {", ".join(str(d) for d in dims)} ]\n  }}')
    return ",\n".join(items)


def render_config(name: str, backend: str, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec], *,
                  max_batch: int = 0, dynamic_batching: bool = False, instances: int = 1,
                  op_libraries: Sequence[str] = (), model_path_hint: str = "the model") -> str:
    """The config.pbtxt text. With ``max_batch > 0`` the first dim of every input and output is the
    batch dim Triton adds: it must be dynamic in the model (else :class:`TritonConfigError`)."""
    if backend not in BACKENDS:
        raise TritonConfigError(f"--backend {backend!r}: unknown; use one of {', '.join(BACKENDS)}")
    if max_batch < 0:
        raise TritonConfigError(f"--max-batch {max_batch}: must be 0 (no batching) or a positive number")
    if instances < 1:
        raise TritonConfigError(f"--instances {instances}: must be at least 1")
    if dynamic_batching and max_batch <= 0:
        raise TritonConfigError("--dynamic-batching needs --max-batch N > 0 (Triton batches along the first dim)")
    if max_batch > 0:
        for kind, specs in (("input", inputs), ("output", outputs)):
            for s in specs:
                if not s.dims:
                    raise TritonConfigError(f"--max-batch {max_batch}: {kind} {s.name!r} of {model_path_hint} is a "
                                            "scalar; it has no batch dim")
                if s.dims[0] != -1:
                    raise TritonConfigError(
                        f"--max-batch {max_batch}: {kind} {s.name!r} of {model_path_hint} has a static first dim "
                        f"({s.dims[0]}, shape {list(s.dims)}); Triton folds the first dim into max_batch_size, so "
                        "it must be dynamic (export with dynamic_axes={'input': {0: 'batch'}} / --dynamic batch), "
                        "or use --max-batch 0")
    lines = [f"name: {json.dumps(name)}"]
    if backend == "onnxruntime":
        lines += ['platform: "onnxruntime_onnx"', 'backend: "onnxruntime"']
    elif backend == "tensorrt":
        lines += ['platform: "tensorrt_plan"', 'backend: "tensorrt"']
    else:
        lines += ['backend: "python"']
    lines.append(f"max_batch_size: {max_batch}")
    lines.append("input [\n" + _tensor_block(inputs, max_batch) + "\n]")
    lines.append("output [\n" + _tensor_block(outputs, max_batch) + "\n]")
    lines.append(f"instance_group [\n  {{\n    count: {instances}\n    kind: KIND_CPU\n  }}\n]")
    if dynamic_batching:
        lines.append("dynamic_batching {\n  max_queue_delay_microseconds: 100\n}")
    if op_libraries:
        libs = ", ".join(json.dumps(p) for p in op_libraries)
        lines.append(f"model_operations {{\n  op_library_filename: [ {libs} ]\n}}")
    if backend == "python":
        # Each Triton instance runs one onnxruntime session; keep its threads modest.
        lines.append('parameters {\n  key: "intra_op_num_threads"\n  value: { string_value: "0" }\n}')
    text = "\n".join(lines) + "\n"
    validate_config_text(text)
    return text


def validate_config_text(text: str):
    """Parses config.pbtxt text into ``tritonclient.grpc.model_config_pb2.ModelConfig``; unknown
    fields or enum values raise :class:`TritonConfigError`. Returns the message."""
    try:
        from google.protobuf import text_format
        from tritonclient.grpc import model_config_pb2
    except ImportError as exc:
        raise TritonConfigError(f"validating config.pbtxt needs tritonclient[grpc] ({exc}); "
                                "pip install 'tritonclient[http,grpc]'") from None
    try:
        return text_format.Parse(text, model_config_pb2.ModelConfig())
    except text_format.ParseError as exc:
        raise TritonConfigError(f"invalid config.pbtxt: {exc}") from None
