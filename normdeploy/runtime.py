"""ONNX Runtime integration: where the custom-op library is, and sessions that load it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

if TYPE_CHECKING:  # onnxruntime is imported lazily so `import normdeploy` stays light
    import onnxruntime as ort

LIBRARY_ENV = "NORMDEPLOY_ORT_LIBRARY"
_LIBRARY_NAME = "libnormdeploy_ort.so"


class LibraryNotFoundError(FileNotFoundError):
    """The native library is not built/installed where normdeploy looks for it."""


def find_library(env: str, name: str) -> str | None:
    """A native library: ``$env`` when set (which must name a file), else ``normdeploy/lib/<name>``
    when installed; None when neither."""
    override = os.environ.get(env)
    if override:
        path = Path(override)
        if not path.is_file():
            raise LibraryNotFoundError(f"{env}={override} does not name a file")
        return str(path.resolve())
    packaged = Path(__file__).resolve().parent / "lib" / name
    return str(packaged) if packaged.is_file() else None


def library_path() -> str:
    """Absolute path of the ONNX Runtime custom-op library (``libnormdeploy_ort.so``).

    Looks at ``$NORMDEPLOY_ORT_LIBRARY`` first, then inside the installed package
    (``normdeploy/lib/``). Raises :class:`LibraryNotFoundError` naming both places otherwise.
    """
    found = find_library(LIBRARY_ENV, _LIBRARY_NAME)
    if found:
        return found
    packaged = Path(__file__).resolve().parent / "lib" / _LIBRARY_NAME
    raise LibraryNotFoundError(
        f"normdeploy's ONNX Runtime library is not at {packaged} (is this a source checkout "
        f"without a build?). Install the package (`make install` or `pip install .`) or point "
        f"{LIBRARY_ENV} at a built {_LIBRARY_NAME}."
    )


def session_options(
    options: "ort.SessionOptions | None" = None,
    *,
    intra_op_threads: int | None = None,
    allow_spinning: bool | None = None,
) -> "ort.SessionOptions":
    """SessionOptions with the normdeploy library registered (a new object unless given one).

    ``allow_spinning=False`` stops idle intra-op threads from spinning after a run (useful on
    small machines and in benchmarks).
    """
    import onnxruntime as ort

    opts = options if options is not None else ort.SessionOptions()
    opts.register_custom_ops_library(library_path())
    if intra_op_threads is not None:
        opts.intra_op_num_threads = intra_op_threads
    if allow_spinning is not None:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if allow_spinning else "0")
    return opts


def make_session(
    model: "str | os.PathLike[str] | bytes | Any",
    *,
    providers: Sequence[str] = ("CPUExecutionProvider",),
    options: "ort.SessionOptions | None" = None,
    intra_op_threads: int | None = None,
    allow_spinning: bool | None = None,
) -> "ort.InferenceSession":
    """An InferenceSession for ``model`` (path, serialized bytes or onnx.ModelProto) that can run
    normdeploy nodes."""
    import onnxruntime as ort

    if hasattr(model, "SerializeToString"):
        model = model.SerializeToString()
    elif isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if not path.is_file():
            raise FileNotFoundError(f"ONNX model not found: {path}")
        model = str(path)
    opts = session_options(options, intra_op_threads=intra_op_threads, allow_spinning=allow_spinning)
    return ort.InferenceSession(model, sess_options=opts, providers=list(providers))


def run(session: "ort.InferenceSession", feeds: Mapping[str, Any]) -> list[Any]:
    """Runs all outputs of ``session`` on ``feeds``."""
    return session.run(None, dict(feeds))


def _is_bfloat16(array: Any) -> bool:
    return getattr(getattr(array, "dtype", None), "name", "") == "bfloat16"


def run_arrays(session: "ort.InferenceSession", feeds: Mapping[str, Any]) -> list[Any]:
    """Like ``session.run(None, feeds)``, but bfloat16 (ml_dtypes) arrays work both ways.

    onnxruntime's Python binding cannot convert bfloat16 numpy arrays; this goes through
    OrtValues and copies bfloat16 outputs out by their data pointer.
    """
    import ctypes

    import numpy as np
    import onnxruntime as ort

    output_types = [o.type for o in session.get_outputs()]
    if not any(_is_bfloat16(v) for v in feeds.values()) and "tensor(bfloat16)" not in output_types:
        return session.run(None, dict(feeds))
    import ml_dtypes

    binding = session.io_binding()
    keep = []
    for name, value in feeds.items():
        array = np.ascontiguousarray(value)
        if _is_bfloat16(array):
            ort_value = ort.OrtValue.ortvalue_from_numpy_with_onnx_type(array.view(np.uint16), 16)
        else:
            ort_value = ort.OrtValue.ortvalue_from_numpy(array)
        keep.append((array, ort_value))
        binding.bind_ortvalue_input(name, ort_value)
    for out in session.get_outputs():
        binding.bind_output(out.name)
    session.run_with_iobinding(binding)
    results = []
    for value in binding.get_outputs():
        if value.data_type() == "tensor(bfloat16)":
            shape = tuple(value.shape())
            raw = np.empty(shape, dtype=np.uint16)
            if raw.size:
                ctypes.memmove(raw.ctypes.data, value.data_ptr(), raw.nbytes)
            results.append(raw.view(ml_dtypes.bfloat16))
        else:
            results.append(value.numpy())
    return results
