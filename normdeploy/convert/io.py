"""Reading and writing ONNX files: clear errors for what is not a readable model, atomic writes,
external data for large models, and onnx.checker before anything is written."""

from __future__ import annotations

import os
from pathlib import Path

import onnx

from .checks import check_external_data
from .errors import ConvertError

#: Largest file protobuf can parse as one ONNX model (bigger models keep weights in side files).
MAX_MODEL_FILE_BYTES = (1 << 31) - 1

#: Models above this size are written with their tensors in a side file (protobuf's 2 GiB limit).
EXTERNAL_DATA_THRESHOLD = 1 << 30


def load_model(path: str | os.PathLike[str]) -> onnx.ModelProto:
    """Loads an ONNX file with a clear error when it is missing, unreadable or not ONNX. External
    data is checked before it is read (checks.check_external_data): only regular files inside the
    model's folder, within their size."""
    p = Path(path)
    if p.is_dir():
        raise ConvertError(f"{p} is a directory, not an ONNX file")
    if not p.exists():
        raise ConvertError(f"no such file: {p}")
    if not p.is_file():
        raise ConvertError(f"{p} is not a regular file (a device, pipe or socket); give an ONNX file")
    try:
        size = p.stat().st_size
        if size > MAX_MODEL_FILE_BYTES:
            raise ConvertError(f"{p} is {size} bytes, more than protobuf can read as one ONNX model (2 GiB); "
                               f"larger models keep their weights in external data files")
        if size == 0:
            raise ConvertError(f"{p} is empty (0 bytes), not an ONNX model")
        model = onnx.load(str(p), load_external_data=False)  # the external data once checked, below
    except OSError as exc:
        raise ConvertError(f"cannot read {p}: {exc.strerror or exc}") from exc
    except ConvertError:
        raise
    except Exception as exc:  # noqa: BLE001 - protobuf raises several types
        raise ConvertError(f"{p} is not an ONNX model (truncated or corrupt?): {exc}") from exc
    if not model.HasField("graph"):
        raise ConvertError(f"{p} is not an ONNX model (no graph)")
    if not model.graph.node and not model.graph.output:
        raise ConvertError(f"{p} is not an ONNX model (an empty graph: no nodes, no outputs)")
    check_external_data(model, p)
    return model


def save_model(model: onnx.ModelProto, path: str | os.PathLike[str], *,
               external_threshold: int = EXTERNAL_DATA_THRESHOLD) -> Path:
    """Writes atomically (temporary files in the same folder, then renames), readable as the
    umask allows. Models larger than `external_threshold` bytes keep their weights in
    `<name>.data` beside the file (ONNX external data)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    umask = os.umask(0)
    os.umask(umask)
    mode = 0o666 & ~umask
    tmp = p.parent / f".{p.name}.{os.getpid()}.tmp"
    data_name = f"{p.name}.data"
    tmp_data = p.parent / f".{data_name}.{os.getpid()}.tmp"
    external = model.ByteSize() > external_threshold if external_threshold >= 0 else True
    try:
        if external:
            copy = onnx.ModelProto()
            copy.CopyFrom(model)
            onnx.save_model(copy, str(tmp), save_as_external_data=True, all_tensors_to_one_file=True,
                            location=tmp_data.name, size_threshold=0)
            _point_external_data(tmp, data_name)
            if tmp_data.exists():  # absent when the model has no tensor data at all
                os.chmod(tmp_data, mode)
                os.replace(tmp_data, p.parent / data_name)
        else:
            tmp.write_bytes(model.SerializeToString())
        os.chmod(tmp, mode)
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        tmp_data.unlink(missing_ok=True)
        raise
    return p


def _point_external_data(model_file: Path, data_name: str) -> None:
    """After writing the weights to a temporary side file, make the model name the final one."""
    model = onnx.load(str(model_file), load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = data_name
    model_file.write_bytes(model.SerializeToString())


def checked_save(model: onnx.ModelProto, path: str | os.PathLike[str]) -> Path:
    """onnx.checker, then save_model; a model too large to check in memory is checked from the
    written files, which are removed again if it fails."""
    if model.ByteSize() <= EXTERNAL_DATA_THRESHOLD:
        try:
            onnx.checker.check_model(model)
        except onnx.checker.ValidationError as exc:
            raise invalid(path, exc) from exc
        return save_model(model, path)
    saved = save_model(model, path)
    try:
        onnx.checker.check_model(str(saved))
    except Exception as exc:
        saved.unlink(missing_ok=True)
        (saved.parent / f"{saved.name}.data").unlink(missing_ok=True)
        if isinstance(exc, onnx.checker.ValidationError):
            raise invalid(path, exc) from exc
        raise
    return saved


def first_line(exc: Exception) -> str:
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)


def invalid(path: str | os.PathLike[str], exc: Exception) -> ConvertError:
    return ConvertError(f"{path}: not written: the result fails onnx.checker: {first_line(exc)}")



def _check(model: onnx.ModelProto, folder: Path) -> None:
    """onnx.checker on `model`; one too large for protobuf in memory is checked from a temporary
    file in `folder` (removed again)."""
    if model.ByteSize() <= EXTERNAL_DATA_THRESHOLD:
        onnx.checker.check_model(model)
        return
    tmp = folder / f".check.{os.getpid()}.onnx"
    try:
        save_model(model, tmp)
        onnx.checker.check_model(str(tmp))
    finally:
        tmp.unlink(missing_ok=True)
        (folder / f"{tmp.name}.data").unlink(missing_ok=True)


#: Stand-in domain for the nodes onnx.checker rejects but convert left as they were in the input
_UNCHECKED_DOMAIN = "normdeploy.unchecked"


def untouched_failures(original: onnx.ModelProto, converted: onnx.ModelProto) -> list[tuple[onnx.NodeProto, str]]:
    """The nodes of `converted` that onnx.checker rejects on their own, each with the checker's
    message, when every one of them is exactly as it was in `original` (convert did not touch it);
    [] when convert's own nodes are among them or no single node is to blame."""
    ctx = onnx.checker.C.CheckerContext()
    ctx.ir_version = converted.ir_version
    ctx.opset_imports = {o.domain: o.version for o in converted.opset_import}
    as_written = {n.SerializeToString(deterministic=True) for n in original.graph.node}
    failing: list[tuple[onnx.NodeProto, str]] = []
    for node in converted.graph.node:
        try:
            onnx.checker.check_node(node, ctx)
        except onnx.checker.ValidationError as exc:
            if node.SerializeToString(deterministic=True) not in as_written:
                return []  # a node convert wrote or changed: our fault, never excused
            failing.append((node, first_line(exc)))
    return failing


def save_converted(original: onnx.ModelProto, converted: onnx.ModelProto, path: str | os.PathLike[str], *,
                   strict: bool = False) -> list[str]:
    """Checks and writes the result of convert; returns warnings for the written file.

    The result must pass onnx.checker, except for nodes the checker rejects on their own that
    convert left exactly as they were in the input (a deprecated GroupNormalization-18 under onnx
    >= 1.23, an op unknown to this onnx version): those are reported as warnings and the file is
    written, after checking that the model with those nodes masked passes. strict=True refuses
    such a file too (nothing is written)."""
    p = Path(path)
    big = converted.ByteSize() > EXTERNAL_DATA_THRESHOLD  # checked from the written files
    try:
        if big:
            save_model(converted, p)
            onnx.checker.check_model(str(p))
        else:
            onnx.checker.check_model(converted)
            save_model(converted, p)
        return []
    except onnx.checker.ValidationError as exc:
        failure = exc
    try:
        return _excused(original, converted, p, failure, strict=strict, written=big)
    except BaseException:
        if big:
            p.unlink(missing_ok=True)
            (p.parent / f"{p.name}.data").unlink(missing_ok=True)
        raise


def _excused(original: onnx.ModelProto, converted: onnx.ModelProto, p: Path, failure: Exception, *,
             strict: bool, written: bool) -> list[str]:
    """After onnx.checker rejected `converted`: the warnings when only nodes convert left as they
    were are to blame (the file is then written), else ConvertError."""
    if strict:
        raise ConvertError(f"{p}: not written: the result fails onnx.checker (strict checking): "
                           f"{first_line(failure)}")
    blamed = untouched_failures(original, converted)
    if not blamed:
        raise invalid(p, failure)
    masked = onnx.ModelProto()
    masked.CopyFrom(converted)
    ids = {node.SerializeToString(deterministic=True) for node, _ in blamed}
    for node in masked.graph.node:
        if node.SerializeToString(deterministic=True) in ids:
            inputs, outputs, op_type = list(node.input), list(node.output), node.op_type
            node.Clear()
            node.op_type, node.domain = op_type, _UNCHECKED_DOMAIN
            node.input.extend(inputs)
            node.output.extend(outputs)
    masked.opset_import.append(onnx.helper.make_opsetid(_UNCHECKED_DOMAIN, 1))
    try:
        _check(masked, p.parent)
    except onnx.checker.ValidationError as exc:
        raise invalid(p, exc) from exc
    if not written:
        save_model(converted, p)
    return [f"onnx.checker rejects node '{node.name or node.output[0]}' ({node.domain or 'ai.onnx'}.{node.op_type}), "
            f"which was in the input and left as it was: {message} (written anyway; strict checking refuses)"
            for node, message in blamed]
