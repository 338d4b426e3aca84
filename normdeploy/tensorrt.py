"""TensorRT integration: where the plugin library is, engine building with it, and the equivalent
trtexec / polygraphy command lines.

The plugin library (``libnormdeploy_trt.so``) holds IPluginV3 plugins named like the ONNX nodes
(``GroupNorm`` and ``LocalResponseNorm``, version "1", namespace "normdeploy"); TensorRT's ONNX
parser maps normdeploy nodes to them once the library is loaded
(``trt.get_plugin_registry().load_library``, ``trtexec --dynamicPlugins``).

``tensorrt`` is imported lazily: everything except :func:`build_engine` works without it.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from .runtime import LibraryNotFoundError, find_library

TRT_LIBRARY_ENV = "NORMDEPLOY_TRT_LIBRARY"
_TRT_LIBRARY_NAME = "libnormdeploy_trt.so"
PRECISIONS = ("fp32", "fp16", "bf16")
DEFAULT_WORKSPACE_MIB = 1024


class TensorRTError(RuntimeError):
    """Engine building failed (parser or builder errors); the message carries TensorRT's errors."""


class TensorRTUnavailableError(TensorRTError):
    """The ``tensorrt`` Python package or a usable GPU is missing (a set-up problem, not a bug)."""


class ShapeSpecError(ValueError):
    """A --shapes value that does not parse."""


@dataclass(frozen=True)
class InputShapes:
    """Optimization-profile shapes of one network input."""

    name: str
    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]


def tensorrt_library_path() -> str:
    """Absolute path of the TensorRT plugin library (``libnormdeploy_trt.so``).

    Looks at ``$NORMDEPLOY_TRT_LIBRARY`` first, then inside the installed package
    (``normdeploy/lib/``). Raises :class:`LibraryNotFoundError` naming both places otherwise.
    """
    found = find_library(TRT_LIBRARY_ENV, _TRT_LIBRARY_NAME)
    if found:
        return found
    lib_dir = Path(__file__).resolve().parent / "lib"
    packaged = lib_dir / _TRT_LIBRARY_NAME
    reason = ""
    status = lib_dir / "tensorrt_build.txt"
    if status.is_file() and status.read_text().strip():
        reason = f" The build said: {status.read_text().strip()}."
    raise LibraryNotFoundError(
        f"normdeploy's TensorRT plugin library is not at {packaged} and {TRT_LIBRARY_ENV} is not set.{reason} "
        f"Build it with CUDA and TensorRT headers (TENSORRT_ROOT=<TensorRT dir> and the CUDA kernels, "
        f"see README 'TensorRT plugins'), or point {TRT_LIBRARY_ENV} at a built {_TRT_LIBRARY_NAME}."
    )


# ---- shapes ---------------------------------------------------------------------------------------

_DIMS = re.compile(r"^\d+(x\d+)*$")


def _dims(text: str, spec: str) -> tuple[int, ...]:
    text = text.strip().lower()
    if not _DIMS.match(text):
        raise ShapeSpecError(
            f"--shapes {spec!r}: {text!r} is not a shape; expected dims joined by 'x', e.g. 1x3x224x224")
    dims = tuple(int(d) for d in text.split("x"))
    if any(d <= 0 for d in dims):
        raise ShapeSpecError(f"--shapes {spec!r}: every dim of {text!r} must be a positive integer")
    return dims


def parse_shapes(specs: str | Sequence[str] | None) -> list[InputShapes]:
    """Parses ``name:MIN/OPT/MAX`` (or ``name:SHAPE`` for a fixed shape) entries, several per string
    separated by commas or given as separate strings, e.g.
    ``input:1x3x224x224/4x3x224x224/8x3x224x224``. Checks min <= opt <= max per dim."""
    if specs is None:
        return []
    items = [specs] if isinstance(specs, str) else list(specs)
    out: list[InputShapes] = []
    seen: set[str] = set()
    for item in items:
        for spec in (s.strip() for s in item.split(",") if s.strip()):
            name, sep, shapes = spec.rpartition(":")
            if not sep or not name:
                raise ShapeSpecError(
                    f"--shapes {spec!r}: expected NAME:MIN/OPT/MAX, e.g. input:1x3x224x224/4x3x224x224/8x3x224x224")
            parts = shapes.split("/")
            if len(parts) not in (1, 3):
                raise ShapeSpecError(
                    f"--shapes {spec!r}: expected one shape or three (min/opt/max) separated by '/', got {len(parts)}")
            dims = [_dims(p, spec) for p in parts]
            lo, opt, hi = (dims[0], dims[0], dims[0]) if len(dims) == 1 else dims
            if not len(lo) == len(opt) == len(hi):
                raise ShapeSpecError(f"--shapes {spec!r}: min, opt and max must have the same rank")
            if not all(a <= b <= c for a, b, c in zip(lo, opt, hi)):
                raise ShapeSpecError(f"--shapes {spec!r}: need min <= opt <= max in every dim")
            if name in seen:
                raise ShapeSpecError(f"--shapes: input {name!r} is given twice")
            seen.add(name)
            out.append(InputShapes(name, lo, opt, hi))
    return out


def _x(dims: Sequence[int]) -> str:
    return "x".join(str(d) for d in dims)


# ---- command lines ----------------------------------------------------------------------------------

def trtexec_command(onnx: str | os.PathLike[str], engine: str | os.PathLike[str], *,
                    plugin_library: str | None = None, shapes: Sequence[InputShapes] | str | None = None,
                    precision: str = "fp32", workspace_mib: int | None = None) -> list[str]:
    """The trtexec command line that builds the same engine (argv list; see :func:`format_command`).

    ``precision`` fp16/bf16 adds ``--fp16``/``--bf16``: that is for TensorRT <= 10. TensorRT 11
    networks are strongly typed (precision follows the model's types), see :func:`build_engine`.
    """
    shapes = parse_shapes(shapes) if shapes is None or isinstance(shapes, str) else list(shapes)
    _check_precision(precision)
    lib = plugin_library if plugin_library is not None else tensorrt_library_path()
    cmd = ["trtexec", f"--onnx={onnx}", f"--saveEngine={engine}", f"--dynamicPlugins={lib}"]
    if shapes:
        for flag, attr in (("--minShapes", "min"), ("--optShapes", "opt"), ("--maxShapes", "max")):
            cmd.append(f"{flag}=" + ",".join(f"{s.name}:{_x(getattr(s, attr))}" for s in shapes))
    if precision != "fp32":
        cmd.append(f"--{precision}")
    if workspace_mib is not None:
        cmd.append(f"--memPoolSize=workspace:{int(workspace_mib)}M")
    return cmd


def polygraphy_command(onnx: str | os.PathLike[str], engine: str | os.PathLike[str], *,
                       plugin_library: str | None = None, shapes: Sequence[InputShapes] | str | None = None,
                       precision: str = "fp32", workspace_mib: int | None = None) -> list[str]:
    """The ``polygraphy convert`` command line that builds the same engine."""
    shapes = parse_shapes(shapes) if shapes is None or isinstance(shapes, str) else list(shapes)
    _check_precision(precision)
    lib = plugin_library if plugin_library is not None else tensorrt_library_path()
    cmd = ["polygraphy", "convert", str(onnx), "--convert-to", "trt", "-o", str(engine), "--plugins", lib]
    if shapes:
        for flag, attr in (("--trt-min-shapes", "min"), ("--trt-opt-shapes", "opt"), ("--trt-max-shapes", "max")):
            cmd.append(flag)
            cmd.extend(f"{s.name}:[{','.join(str(d) for d in getattr(s, attr))}]" for s in shapes)
    if precision != "fp32":
        cmd.append(f"--{precision}")
    if workspace_mib is not None:
        cmd.extend(["--pool-limit", f"workspace:{int(workspace_mib)}M"])
    return cmd


def format_command(argv: Sequence[str]) -> str:
    return " ".join(shlex.quote(str(a)) for a in argv)


def _check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: expected one of {PRECISIONS}")


# ---- engine building --------------------------------------------------------------------------------

def import_tensorrt():
    """``import tensorrt`` or :class:`TensorRTUnavailableError` with what to do."""
    try:
        import tensorrt as trt  # noqa: PLC0415
    except ImportError as exc:
        raise TensorRTUnavailableError(
            "the TensorRT Python package is not installed (`import tensorrt` failed: "
            f"{exc}). Install TensorRT for your CUDA version (e.g. `pip install tensorrt`, on a machine with an "
            "NVIDIA GPU and driver), or use --print-commands to get the trtexec / polygraphy command lines."
        ) from exc
    if not hasattr(trt, "Builder"):  # the PyPI stub that failed to download the real wheel
        raise TensorRTUnavailableError(
            "the installed `tensorrt` package is a stub without the TensorRT bindings; install the real "
            "TensorRT wheel for your CUDA version, or use --print-commands.")
    return trt


def build_engine(onnx: str | os.PathLike[str], engine: str | os.PathLike[str], *,
                 shapes: Sequence[InputShapes] | str | None = None, precision: str = "fp32",
                 workspace_mib: int = DEFAULT_WORKSPACE_MIB, plugin_library: str | None = None,
                 verbose: bool = False) -> Path:
    """Builds a serialized TensorRT engine (plan) from an ONNX file with normdeploy nodes.

    Loads the plugin library into TensorRT's plugin registry, parses the model, adds one
    optimization profile from ``shapes`` (required for every dynamic input), applies the
    precision and workspace limit, and writes the plan to ``engine``. Raises
    :class:`TensorRTUnavailableError` when tensorrt or a GPU is missing, :class:`TensorRTError`
    on parser/builder failures, :class:`ShapeSpecError` for bad shapes.
    """
    onnx_path = Path(onnx)
    if not onnx_path.is_file():
        raise FileNotFoundError(f"ONNX model not found: {onnx_path}")
    shapes = parse_shapes(shapes) if shapes is None or isinstance(shapes, str) else list(shapes)
    _check_precision(precision)
    lib = plugin_library if plugin_library is not None else tensorrt_library_path()
    if not Path(lib).is_file():
        raise LibraryNotFoundError(f"--plugin-library {lib}: no such file")
    trt = import_tensorrt()

    logger = _RecordingLogger(trt, verbose)
    try:
        builder = trt.Builder(logger)
    except Exception as exc:  # noqa: BLE001 - TensorRT raises plain exceptions without a GPU
        raise TensorRTUnavailableError(f"TensorRT could not create a builder (no usable NVIDIA GPU or driver?): "
                                       f"{exc}{logger.tail()}") from exc
    if builder is None:
        raise TensorRTUnavailableError(f"TensorRT could not create a builder (no usable NVIDIA GPU or driver?)"
                                       f"{logger.tail()}")
    registry = builder.get_plugin_registry() if hasattr(builder, "get_plugin_registry") else trt.get_plugin_registry()
    handle = registry.load_library(str(lib))
    if handle is None:
        raise TensorRTError(f"TensorRT could not load the plugin library {lib}{logger.tail()}")

    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "\n".join(f"  {parser.get_error(i)}" for i in range(parser.num_errors))
        raise TensorRTError(f"TensorRT's ONNX parser rejected {onnx_path}:\n{errors}{logger.tail()}")

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mib) << 20)
    if precision != "fp32":
        flag = getattr(trt.BuilderFlag, precision.upper(), None)
        if flag is None:
            raise TensorRTError(
                f"--{precision}: TensorRT {trt.__version__} builds strongly typed networks only, so the precision "
                f"follows the ONNX model's types. Convert the model first (e.g. `polygraphy convert {onnx_path} "
                f"--fp-to-fp16 -o model_fp16.onnx`) and build that without --{precision}.")
        config.set_flag(flag)

    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    by_name = {t.name: t for t in inputs}
    unknown = [s.name for s in shapes if s.name not in by_name]
    if unknown:
        raise ShapeSpecError(f"--shapes names {unknown}, but the network inputs are {sorted(by_name)}")
    given = {s.name for s in shapes}
    dynamic = [t.name for t in inputs if any(d < 0 for d in t.shape) and t.name not in given]
    if dynamic:
        raise ShapeSpecError(f"inputs {dynamic} have dynamic dims: give their min/opt/max with --shapes "
                             f"NAME:MIN/OPT/MAX (shapes in the model: "
                             f"{ {t.name: tuple(t.shape) for t in inputs} })")
    if shapes:
        profile = builder.create_optimization_profile()
        for s in shapes:
            if len(s.min) != len(by_name[s.name].shape):
                raise ShapeSpecError(f"--shapes {s.name}: rank {len(s.min)} but the input has rank "
                                     f"{len(by_name[s.name].shape)} ({tuple(by_name[s.name].shape)})")
            profile.set_shape(s.name, s.min, s.opt, s.max)
        config.add_optimization_profile(profile)

    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise TensorRTError(f"TensorRT failed to build the engine for {onnx_path}{logger.tail()}")
    out = Path(engine)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(bytes(plan))
    return out


def _RecordingLogger(trt, verbose: bool):  # noqa: N802 - a factory for a trt.ILogger subclass
    class RecordingLogger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.errors: list[str] = []

        def log(self, severity, msg):  # noqa: D401
            if severity <= trt.ILogger.Severity.ERROR:
                self.errors.append(str(msg))
            if verbose or severity <= trt.ILogger.Severity.WARNING:
                print(f"[TensorRT] {msg}")

        def tail(self) -> str:
            return ("\nTensorRT errors:\n" + "\n".join(f"  {e}" for e in self.errors[-10:])) if self.errors else ""

    return RecordingLogger()


def engine_commands(onnx: str, engine: str, *, plugin_library: str | None, shapes: Sequence[InputShapes],
                    precision: str, workspace_mib: int | None) -> str:
    """The text --print-commands prints: trtexec and polygraphy lines (and the TensorRT 11 note)."""
    lib = plugin_library if plugin_library is not None else _library_or_placeholder()
    kw: Mapping = dict(plugin_library=lib, shapes=list(shapes), precision=precision, workspace_mib=workspace_mib)
    lines = ["# trtexec", format_command(trtexec_command(onnx, engine, **kw)),
             "# polygraphy", format_command(polygraphy_command(onnx, engine, **kw))]
    if precision != "fp32":
        lines.append(f"# --{precision} is a builder flag up to TensorRT 10; TensorRT 11 networks are strongly typed "
                     f"(precision follows the model): convert the model first, e.g. "
                     f"polygraphy convert {shlex.quote(str(onnx))} --fp-to-fp16 -o model_fp16.onnx")
    return "\n".join(lines)


def _library_or_placeholder() -> str:
    try:
        return tensorrt_library_path()
    except LibraryNotFoundError:
        return f"<path to {_TRT_LIBRARY_NAME}: not built here; set {TRT_LIBRARY_ENV} or --plugin-library>"
