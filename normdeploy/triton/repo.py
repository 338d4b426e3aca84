"""Writing one model folder of a Triton model repository, atomically: everything is written into a
hidden sibling folder first and renamed into place (an existing folder is replaced only with
``force``)."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .config import BACKENDS, TritonConfigError, model_io, render_config
from .model_py import render_model_py

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


@dataclass
class RepoResult:
    model_dir: Path
    config_text: str
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)      # printed after the summary
    server_command: str = ""


def _ort_library() -> Path:
    from ..runtime import LibraryNotFoundError, library_path

    try:
        return Path(library_path())
    except LibraryNotFoundError as exc:
        raise TritonConfigError(str(exc)) from None


def _trt_library(explicit: str | None) -> tuple[Path | None, str | None]:
    if explicit:
        p = Path(explicit)
        if not p.is_file():
            raise TritonConfigError(f"--plugin-library {explicit}: no such file")
        return p, None
    from ..runtime import LibraryNotFoundError
    from ..tensorrt import tensorrt_library_path

    try:
        return Path(tensorrt_library_path()), None
    except LibraryNotFoundError as exc:
        return None, str(exc)


def write_model_repository(model: str | Path, repo: str | Path, name: str, *, backend: str = "python",
                           max_batch: int = 0, dynamic_batching: bool = False, instances: int = 1,
                           engine: str | Path | None = None, plugin_library: str | None = None,
                           force: bool = False) -> RepoResult:
    """Writes ``repo/name/`` (config.pbtxt, version folder ``1/``, the custom-op library) for
    ``backend`` and returns what was written. Raises :class:`TritonConfigError` on bad input."""
    from ..extras import require
    require("triton", "normdeploy triton")
    if backend not in BACKENDS:
        raise TritonConfigError(f"--backend {backend!r}: unknown; use one of {', '.join(BACKENDS)}")
    if not _NAME_RE.match(name or ""):
        raise TritonConfigError(f"--name {name!r}: use letters, digits, '_', '-', '.' (no '/', not starting with '.')")
    model = Path(model)
    if not model.is_file():
        raise TritonConfigError(f"{model}: no such model file")
    if engine is not None and backend != "tensorrt":
        raise TritonConfigError("--engine is only for --backend tensorrt")
    if engine is not None and not Path(engine).is_file():
        raise TritonConfigError(f"--engine {engine}: no such file")
    repo = Path(repo)
    if repo.exists() and not repo.is_dir():
        raise TritonConfigError(f"--repo {repo}: exists and is not a folder")
    target = repo / name
    if target.exists() and not force:
        raise TritonConfigError(f"{target} already exists; pass --force to replace it")

    inputs, outputs = model_io(model)
    notes: list[str] = []
    lib_src: Path | None = None
    if backend in ("onnxruntime", "python"):
        lib_src = _ort_library()
    else:
        lib_src, missing = _trt_library(plugin_library)
        if lib_src is None:
            notes.append("the TensorRT plugin library is not built, so config.pbtxt names no op library and "
                         f"the engine's normdeploy plugins will not load: {missing} Build it (README: "
                         "'CUDA kernels and TensorRT plugins'), then rerun with --force or --plugin-library PATH.")
    final_lib = (target / lib_src.name).resolve() if lib_src else None
    # Absolute path of the copy inside the repository (the ORT and TensorRT backends dlopen it as given).
    op_libraries = [str(final_lib)] if (final_lib and backend != "python") else []
    text = render_config(name, backend, inputs, outputs, max_batch=max_batch, dynamic_batching=dynamic_batching,
                         instances=instances, op_libraries=op_libraries, model_path_hint=str(model))

    repo.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=repo))
    try:
        version = staging / "1"
        version.mkdir()
        (staging / "config.pbtxt").write_text(text)
        if backend == "tensorrt":
            if engine is not None:
                shutil.copyfile(engine, version / "model.plan")
            else:
                notes.append(f"no --engine given: build one with `normdeploy build-engine {model} -o "
                             f"{target / '1' / 'model.plan'}` on the serving GPU before starting tritonserver.")
        else:
            shutil.copyfile(model, version / "model.onnx")
        if backend == "python":
            (version / "model.py").write_text(render_model_py(lib_src.name))
        if lib_src is not None:
            shutil.copyfile(lib_src, staging / lib_src.name)
            os.chmod(staging / lib_src.name, 0o755)
        os.chmod(staging, 0o755)
        if target.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{name}.old-", dir=repo))
            os.replace(target, trash / name)
            os.replace(staging, target)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    files = sorted(p for p in target.rglob("*") if p.is_file())
    result = RepoResult(target, text, files, notes)
    result.server_command = server_command_line(repo, backend, final_lib)
    if backend == "tensorrt" and final_lib is not None:
        result.notes.append(
            "alternatives to model_operations for the plugins: start tritonserver with "
            f"`LD_PRELOAD={final_lib}` or with `--backend-config=tensorrt,plugins={final_lib}`.")
    return result


def server_command_line(repo: str | Path, backend: str, library: Path | None = None) -> str:
    """A copy-paste tritonserver command for ``repo`` (the bundled one from nvidia-pytriton for the
    python backend when it is installed, else a plain `tritonserver`)."""
    import shlex

    repo = Path(repo).resolve()
    base = ["tritonserver", f"--model-repository={repo}", "--http-address=127.0.0.1", "--grpc-address=127.0.0.1",
            "--allow-metrics=false"]
    if backend == "python":
        from .server import TritonUnavailableError, find_tritonserver

        try:
            dist = find_tritonserver()
        except TritonUnavailableError:
            return " ".join(shlex.quote(a) for a in base) + \
                "    # any Triton with the python backend; its Python needs numpy and onnxruntime"
        return dist.shell_command(repo)
    return " ".join(shlex.quote(a) for a in base)
