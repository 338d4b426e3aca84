"""Model inputs: their specs, concrete shapes for dynamic dims, random data from polygraphy's
DataLoader, and user data (.npz, polygraphy JSON) checked against the model.

Dynamic dims without ``--input-shape``: a dim on axis 0 or whose name contains "batch" gets
BATCH_DEFAULT (2: one sample would hide batch-indexing bugs); every other dynamic dim gets the
next of OTHER_DEFAULTS (32, 48, 64, ...: distinct, so that a transposed height/width shows, and
divisible by 16 for models that downsample). A named dim keeps one value across all inputs.

bfloat16 inputs travel through polygraphy as float32 arrays holding bfloat16 values exactly (numpy
and polygraphy have no bfloat16 type); the runners cast them back.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import ValidateError

BATCH_DEFAULT = 2
OTHER_DEFAULTS = (32, 48, 64, 80, 96, 112, 128)
#: Random inputs above this many bytes per iteration (all inputs together) are refused before
#: anything is allocated: a model declaring [2**40, 3, 224, 224] must not take the machine down.
MAX_INPUT_BYTES = 1 << 30

Feed = dict[str, np.ndarray]


@dataclass(frozen=True)
class InputSpec:
    name: str
    dtype: np.dtype                       # the model's type (bfloat16 from ml_dtypes)
    dims: tuple[int | str | None, ...] | None  # None: the model gives no shape

    @property
    def carrier(self) -> np.dtype:
        """The numpy type polygraphy sees (bfloat16 travels as float32)."""
        return np.dtype(np.float32) if self.dtype.name == "bfloat16" else self.dtype

    def describe(self) -> str:
        dims = "?" if self.dims is None else " x ".join("?" if d is None else str(d) for d in self.dims)
        return f"{self.name} [{self.dtype.name}, {dims}]"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype.name, "shape": None if self.dims is None else list(self.dims)}


def _dtype(elem_type: int) -> np.dtype:
    from onnx import helper

    if elem_type == 16:
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type))


def value_info_spec(vi: Any) -> InputSpec:
    t = vi.type.tensor_type
    dims = None
    if t.HasField("shape"):
        dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim)
    return InputSpec(vi.name, _dtype(t.elem_type), dims)


def model_inputs(model: Any) -> list[InputSpec]:
    initializers = {i.name for i in model.graph.initializer}
    return [value_info_spec(vi) for vi in model.graph.input if vi.name not in initializers]


def _listing(specs: Sequence[InputSpec]) -> str:
    return ", ".join(s.describe() for s in specs)


def find_input(specs: Sequence[InputSpec], name: str, what: str) -> InputSpec:
    for spec in specs:
        if spec.name == name:
            return spec
    raise ValidateError(f"{what}: the model has no input {name!r}; its inputs are: {_listing(specs)}")


def parse_dims(text: str, what: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(p) for p in text.lower().replace(",", "x").split("x"))
    except ValueError:
        raise ValidateError(f"{what}: expected positive integers joined by 'x', e.g. 1x3x224x224") from None
    if any(d <= 0 for d in dims):
        raise ValidateError(f"{what}: every dim must be a positive integer")
    return dims


def parse_input_shapes(texts: Sequence[str], specs: Sequence[InputSpec]) -> dict[str, tuple[int, ...]]:
    """['X:1x3x8x8'] (or '1x3x8x8' for a one-input model) -> {'X': (1, 3, 8, 8)}."""
    shapes: dict[str, tuple[int, ...]] = {}
    for text in texts:
        what = f"--input-shape {text!r}"
        name, sep, dims = text.rpartition(":")
        if not sep:
            if len(specs) != 1:
                raise ValidateError(f"{what}: the model has {len(specs)} inputs, name one as NAME:DIMS; "
                                    f"its inputs are: {_listing(specs)}")
            name = specs[0].name
        find_input(specs, name, what)
        shapes[name] = parse_dims(dims, what)
    return shapes


def normalize_shapes(input_shapes: Mapping[str, Sequence[int]] | Sequence[str] | None,
                     specs: Sequence[InputSpec]) -> dict[str, tuple[int, ...]]:
    """{'X': (1, 3, 8, 8)} or ['X:1x3x8x8'] -> {'X': (1, 3, 8, 8)}, names and dims checked."""
    if not isinstance(input_shapes, Mapping):
        return parse_input_shapes(list(input_shapes or ()), specs)
    shapes = {}
    for name, dims in input_shapes.items():
        what = f"input_shapes[{name!r}]"
        find_input(specs, str(name), what)
        try:
            shape = tuple(int(d) for d in dims)
        except (TypeError, ValueError):
            raise ValidateError(f"{what}: {dims!r} is not a sequence of integers") from None
        if any(d <= 0 for d in shape):
            raise ValidateError(f"{what}: every dim must be a positive integer, got {shape}")
        shapes[str(name)] = shape
    return shapes


def check_shape(spec: InputSpec, shape: Sequence[int], what: str) -> None:
    """Raises when `shape` cannot feed `spec`: wrong rank or a fixed dim that differs."""
    if spec.dims is None:
        return
    if len(shape) != len(spec.dims):
        raise ValidateError(f"{what}: shape {_fmt(shape)} has rank {len(shape)}, but the model's input "
                            f"{spec.describe()} has rank {len(spec.dims)}")
    for axis, (want, got) in enumerate(zip(spec.dims, shape)):
        if isinstance(want, int) and want > 0 and want != got:
            raise ValidateError(f"{what}: shape {_fmt(shape)} has {got} at axis {axis}, but the model's input "
                                f"{spec.describe()} fixes it to {want}")


def _fmt(shape: Sequence[Any]) -> str:
    return "x".join(str(d) for d in shape) if len(shape) else "scalar"


def resolve_shapes(specs: Sequence[InputSpec], overrides: Mapping[str, Sequence[int]]) -> tuple[dict[str, tuple[int, ...]], list[str]]:
    """Concrete shapes for every input, and notes on the defaults chosen for dynamic dims."""
    shapes: dict[str, tuple[int, ...]] = {}
    notes: list[str] = []
    named: dict[str, int] = {}
    others = iter(OTHER_DEFAULTS)
    for spec in specs:
        if spec.name in overrides:
            shape = tuple(int(d) for d in overrides[spec.name])
            check_shape(spec, shape, f"--input-shape {spec.name}:{_fmt(shape)}")
            shapes[spec.name] = shape
            continue
        if spec.dims is None:
            raise ValidateError(f"input {spec.name!r} has no shape in the model; give one with --input-shape {spec.name}:DIMS")
        negative = [d for d in spec.dims if isinstance(d, int) and d < 0]
        if negative:
            raise ValidateError(f"input {spec.describe()} declares a negative dim ({negative[0]}); give its "
                                f"shape with --input-shape {spec.name}:DIMS")
        shape_list: list[int] = []
        chosen: list[str] = []
        for axis, dim in enumerate(spec.dims):
            if isinstance(dim, int) and dim > 0:
                shape_list.append(dim)
                continue
            if isinstance(dim, str) and dim in named:
                shape_list.append(named[dim])
                continue
            batch_like = axis == 0 or (isinstance(dim, str) and "batch" in dim.lower())
            value = BATCH_DEFAULT if batch_like else next(others, OTHER_DEFAULTS[-1])
            if isinstance(dim, str):
                named[dim] = value
            chosen.append(f"{dim if isinstance(dim, str) else f'axis {axis}'}={value}")
            shape_list.append(value)
        shapes[spec.name] = tuple(shape_list)
        if chosen:
            notes.append(f"input {spec.name}: dynamic dims set by default: {', '.join(chosen)} (override with --input-shape)")
    return shapes, notes


def _bytes(count: int) -> str:
    for unit, size in (("EiB", 1 << 60), ("PiB", 1 << 50), ("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20)):
        if count >= size:
            return f"{count / size:.3g} {unit}"
    return f"{count} bytes"


def check_sizes(specs: Sequence[InputSpec], shapes: Mapping[str, Sequence[int]], limit: int | None = None) -> None:
    """Refuses random inputs larger than `limit` (default MAX_INPUT_BYTES) bytes per iteration,
    naming the largest input, its shape and size (Python integers: no overflow, nothing allocated)."""
    limit = MAX_INPUT_BYTES if limit is None else limit
    sizes = {s.name: math.prod(int(d) for d in shapes[s.name]) * s.carrier.itemsize for s in specs}
    total = sum(sizes.values())
    if total <= limit:
        return
    name = max(sizes, key=lambda n: sizes[n])
    spec = find_input(specs, name, "input")
    size = f"{sizes[name]} bytes" + (f" ({_bytes(sizes[name])})" if sizes[name] >= 1 << 20 else "")
    raise ValidateError(f"input {name!r} of shape {_fmt(shapes[name])} ({spec.dtype.name}) would take {size}; validate "
                        f"makes at most {_bytes(limit)} of random inputs per iteration: give a smaller shape with "
                        f"--input-shape {name}:DIMS")


def parse_val_range(texts: Sequence[str]) -> dict[str, tuple[float, float]]:
    """['0,1', 'X:-1,1'] -> {'': (0.0, 1.0), 'X': (-1.0, 1.0)}."""
    ranges: dict[str, tuple[float, float]] = {}
    for text in texts:
        name, _, values = text.rpartition(":")
        parts = values.split(",")
        try:
            low, high = (float(p) for p in parts)
        except ValueError:
            raise ValidateError(f"--val-range {text!r}: expected LOW,HIGH or INPUT:LOW,HIGH, e.g. 0,1") from None
        if not (np.isfinite(low) and np.isfinite(high)) or low > high:
            raise ValidateError(f"--val-range {text!r}: need finite LOW <= HIGH")
        ranges[name] = (low, high)
    return ranges


def value_ranges(val_range: Any) -> tuple[float, float] | dict[str, tuple[float, float]]:
    """(low, high), {input: (low, high)} or CLI strings ['0,1', 'X:-1,1'] -> polygraphy's form:
    one (low, high) for every input, or {input: (low, high)} where '' is every other input.
    An empty sequence is the default (0, 1)."""
    if isinstance(val_range, (list, tuple)) and all(isinstance(v, str) for v in val_range):
        parsed = parse_val_range(list(val_range))
        return parsed[""] if list(parsed) == [""] else (parsed or (0.0, 1.0))
    items = {str(k): v for k, v in val_range.items()} if isinstance(val_range, Mapping) else {"": val_range}
    ranges = {}
    for name, value in items.items():
        try:
            low, high = (float(v) for v in value)
        except (TypeError, ValueError):
            raise ValidateError(f"val_range {value!r}: expected (low, high)") from None
        if not (math.isfinite(low) and math.isfinite(high)) or low > high:
            raise ValidateError(f"val_range {value!r}: need finite low <= high")
        ranges[name] = (low, high)
    return ranges[""] if list(ranges) == [""] else ranges


def range_json(ranges: tuple[float, float] | Mapping[str, tuple[float, float]]) -> Any:
    """value_ranges()'s result for a report: [low, high] or {input: [low, high]} ('*': the others)."""
    if isinstance(ranges, Mapping):
        return {k or "*": list(v) for k, v in ranges.items()}
    return list(ranges)


def random_inputs(specs: Sequence[InputSpec], label: str, input_shapes: Any, seed: int, val_range: Any,
                  iterations: int) -> tuple[list[Feed], tuple[float, float] | dict[str, tuple[float, float]], list[str]]:
    """Random feeds for the model `label`: the shapes given (`input_shapes`, checked against the
    model) with defaults for the other dynamic dims, refused when too large; also the value ranges
    used (value_ranges()) and notes on the defaults chosen."""
    overrides = normalize_shapes(input_shapes, specs)
    try:  # what the model declares (negative or huge dims): name the model
        shapes, notes = resolve_shapes(specs, overrides)
        check_sizes(specs, shapes)
    except ValidateError as exc:
        raise ValidateError(f"model {label}: {exc}") from exc
    ranges = value_ranges(val_range)
    return random_feeds(specs, shapes, seed=seed, val_range=ranges, iterations=iterations), ranges, notes


def _round_bf16(array: np.ndarray) -> np.ndarray:
    import ml_dtypes

    return np.asarray(array).astype(ml_dtypes.bfloat16).astype(np.float32)


def random_feeds(specs: Sequence[InputSpec], shapes: Mapping[str, Sequence[int]], *, seed: int,
                 val_range: Mapping[str, tuple[float, float]] | tuple[float, float], iterations: int) -> list[Feed]:
    """`iterations` feeds from polygraphy's DataLoader (seed + i for iteration i)."""
    from polygraphy.common import TensorMetadata
    from polygraphy.comparator import DataLoader

    if isinstance(val_range, Mapping):
        for name in val_range:
            if name:
                find_input(specs, name, f"--val-range {name}:...")
    meta = TensorMetadata()
    for spec in specs:
        meta.add(spec.name, dtype=spec.carrier, shape=tuple(shapes[spec.name]))
    loader = DataLoader(seed=seed, iterations=iterations, input_metadata=meta,
                        val_range=dict(val_range) if isinstance(val_range, Mapping) else tuple(val_range))
    feeds = []
    for index in range(iterations):
        feed = {name: np.asarray(value) for name, value in loader[index].items()}
        for spec in specs:
            if spec.dtype.name == "bfloat16":
                feed[spec.name] = _round_bf16(feed[spec.name])
        feeds.append(feed)
    return feeds


def _coerce(spec: InputSpec, value: Any, what: str, notes: list[str]) -> np.ndarray:
    array = np.asarray(value)
    check_shape(spec, array.shape, what)
    want_float = spec.dtype.kind == "f" or spec.dtype.name == "bfloat16"
    if (want_float and array.dtype.kind not in "fiu") or (not want_float and array.dtype.kind != spec.dtype.kind):
        raise ValidateError(f"{what}: dtype {array.dtype.name} cannot feed the model's input {spec.describe()}")
    if spec.dtype.name == "bfloat16":
        converted = _round_bf16(array)
    else:
        converted = array.astype(spec.dtype, copy=False)
    if array.dtype != spec.dtype:
        notes.append(f"{what}: cast from {array.dtype.name} to {spec.dtype.name}")
    return np.ascontiguousarray(converted)


def check_feed(feed: Mapping[str, Any], specs: Sequence[InputSpec], source: str, notes: list[str]) -> Feed:
    """Checks one feed dict against the model (names, ranks, fixed dims, dtypes) and casts it."""
    if not isinstance(feed, Mapping):
        raise ValidateError(f"{source}: expected a mapping of input names to arrays, got {type(feed).__name__}")
    for name in feed:
        find_input(specs, str(name), f"{source}: input {name!r}")
    missing = [s.name for s in specs if s.name not in feed]
    if missing:
        raise ValidateError(f"{source}: no data for input(s) {missing}; the model's inputs are: {_listing(specs)}")
    return {s.name: _coerce(s, feed[s.name], f"{source}: input {s.name!r}", notes) for s in specs}


def _read_file(path: Path) -> list[Any]:
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                return [{k: data[k] for k in data.files}]
        except (OSError, ValueError) as exc:
            raise ValidateError(f"--load-inputs {path}: not a readable .npz file: {exc}") from exc
    if path.suffix == ".json":
        from polygraphy.json import load_json

        try:
            data = load_json(str(path))
        except Exception as exc:  # noqa: BLE001 - polygraphy raises several types
            raise ValidateError(f"--load-inputs {path}: not a polygraphy JSON input file: {exc}") from exc
        items = data if isinstance(data, list) else [data]
        if not items or not all(isinstance(i, Mapping) for i in items):
            raise ValidateError(f"--load-inputs {path}: expected a feed dict or a list of them (as written by "
                                f"polygraphy run --save-inputs), got {type(data).__name__}")
        return items
    raise ValidateError(f"--load-inputs {path}: unknown file type {path.suffix!r}; use .npz (one iteration: "
                        f"one array per input name) or polygraphy's .json (a list of feed dicts)")


def load_feeds(paths: Sequence[str | os.PathLike[str]], specs: Sequence[InputSpec]) -> tuple[list[Feed], list[str]]:
    """Feeds from files, in order; every file may hold several iterations (JSON lists)."""
    feeds: list[Feed] = []
    notes: list[str] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            raise ValidateError(f"--load-inputs {path}: no such file")
        items = _read_file(path)
        for index, item in enumerate(items):
            source = f"--load-inputs {path}" + (f" [iteration {index}]" if len(items) > 1 else "")
            feeds.append(check_feed(item, specs, source, notes))
    return feeds, notes
