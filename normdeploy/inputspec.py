"""One input specification for every command that feeds a model (export today; validate and bench
can reuse it): one parser, one error style.

Syntax (documented in the README, section "From PyTorch"):
  --input  NAME:[DTYPE:]SHAPE[:LOW..HIGH | =VALUE]   e.g. sample:1x4x64x64, timestep:int64:[]=500,
                                                     ids:int64:1x77:0..49407
  --dynamic NAME:AXES                                e.g. sample:0,2,3  or  sample:batch,height,width
  --kwarg  NAME=LITERAL                              e.g. return_dict=False (ast.literal_eval)

SHAPE is `[]` or `scalar` (0-d), `5` (1-d), `1x4x64x64` or `[1,4,64,64]`. DTYPE is one of DTYPES (float32 when
left out). LOW..HIGH draws integers uniformly from LOW to HIGH inclusive and floats uniformly from
[LOW, HIGH); =VALUE fills every element with VALUE. Without either: floats are standard normal,
integers 0, bools True (the seed is fixed, so an export is reproducible).

This module imports no torch (numpy only when making arrays); errors are InputSpecError with one
line naming the option, the input and the problem.
"""

from __future__ import annotations

import ast
import inspect
import math
import re
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Mapping, Sequence, TypeVar

#: dtype names accepted in a spec (and the short aliases people type)
DTYPES = ("float32", "float16", "bfloat16", "float64", "int64", "int32", "int8", "uint8", "bool")
_ALIASES = {"fp32": "float32", "fp16": "float16", "half": "float16", "bf16": "bfloat16", "fp64": "float64",
            "double": "float64"}
FLOAT_DTYPES = ("float32", "float16", "bfloat16", "float64")
_ITEMSIZE = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int64": 8, "int32": 4, "int8": 1, "uint8": 1,
             "bool": 1}
#: example inputs larger than this (all together) are refused before anything is allocated
MAX_EXAMPLE_BYTES = 1 << 30

#: axis names --dynamic accepts, by the input's rank (axis numbers work for every rank)
AXIS_NAMES: dict[int, dict[str, int]] = {
    1: {"batch": 0},
    2: {"batch": 0, "channels": 1},
    3: {"batch": 0, "channels": 1, "length": 2},
    4: {"batch": 0, "channels": 1, "height": 2, "width": 3},
    5: {"batch": 0, "channels": 1, "depth": 2, "height": 3, "width": 4},
}

Number = int | float | bool


class InputSpecError(ValueError):
    """A bad input spec, dynamic-axes spec or keyword argument; the message is one line."""


@dataclass(frozen=True)
class InputSpec:
    """One model input: its name (None until bound to a forward() parameter when it was given by
    position), shape, dtype, and how to fill it (a value range or one constant)."""

    name: str | None
    shape: tuple[int, ...]
    dtype: str = "float32"
    low: Number | None = None
    high: Number | None = None
    value: Number | None = None
    dynamic: Mapping[int, str] = field(default_factory=dict)  # axis -> dim name

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOAT_DTYPES

    @property
    def nbytes(self) -> int:
        """Bytes of the example tensor (Python integers: no overflow, nothing allocated)."""
        return math.prod(self.shape) * _ITEMSIZE[self.dtype]

    def describe(self) -> str:
        """The spec in --input syntax (what the user would type to get it)."""
        parts = [self.name] if self.name else []
        if self.dtype != "float32":
            parts.append(self.dtype)
        parts.append(format_shape(self.shape))
        if self.low is not None:
            parts.append(f"{_num(self.low)}..{_num(self.high)}")
        text = ":".join(parts)
        return text + (f"={_num(self.value)}" if self.value is not None else "")

    def torch_tensor(self, generator: Any = None) -> Any:
        """An example tensor (torch.Generator for reproducible random values)."""
        import torch

        dtype = getattr(torch, self.dtype)
        if self.value is not None:
            return torch.full(self.shape, self.value, dtype=dtype)
        if self.is_float:
            if self.low is None:
                return torch.randn(self.shape, generator=generator, dtype=torch.float32).to(dtype)
            u = torch.rand(self.shape, generator=generator, dtype=torch.float64)
            return (float(self.low) + u * (float(self.high) - float(self.low))).to(dtype)  # type: ignore[arg-type]
        if self.low is None:
            return torch.full(self.shape, True if self.dtype == "bool" else 0, dtype=dtype)
        drawn = torch.randint(int(self.low), int(self.high) + 1, self.shape, generator=generator,  # type: ignore[arg-type]
                              dtype=torch.int64)
        return drawn.to(dtype)

    def numpy_array(self, rng: Any) -> Any:
        """An example array (numpy.random.Generator); bfloat16 as ml_dtypes.bfloat16."""
        import numpy as np

        if self.dtype == "bfloat16":
            import ml_dtypes

            dtype: Any = np.dtype(ml_dtypes.bfloat16)
        else:
            dtype = np.dtype(self.dtype)
        if self.value is not None:
            return np.full(self.shape, self.value, dtype=dtype)
        if self.is_float:
            if self.low is None:
                return rng.standard_normal(self.shape).astype(dtype)
            return rng.uniform(float(self.low), float(self.high), self.shape).astype(dtype)  # type: ignore[arg-type]
        if self.low is None:
            return np.full(self.shape, True if self.dtype == "bool" else 0, dtype=dtype)
        return rng.integers(int(self.low), int(self.high), self.shape, endpoint=True).astype(dtype)  # type: ignore[arg-type]


def _num(value: Number | None) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def format_shape(shape: Sequence[int]) -> str:
    return "x".join(str(d) for d in shape) if len(shape) else "[]"


# ---------------------------------------------------------------------------------------------
# parsing

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def dtype_name(text: str) -> str | None:
    """The canonical dtype for `text`, or None when it is not one."""
    low = text.strip().lower()
    low = _ALIASES.get(low, low)
    return low if low in DTYPES else None


def parse_shape(text: str, what: str) -> tuple[int, ...]:
    """'[]' or 'scalar' -> (), '5' -> (5,), '1x4x64x64' or '[1,4,64,64]' -> (1, 4, 64, 64)."""
    body = text.strip()
    if body.lower() == "scalar":  # [] without brackets, for shells that glob them (zsh)
        return ()
    if body.startswith("[") and body.endswith("]"):
        body = body[1:-1].strip()
        if not body:
            return ()
        parts = body.split(",")
    else:
        parts = body.lower().split("x")
    try:
        dims = tuple(int(p.strip()) for p in parts)
    except ValueError:
        raise InputSpecError(f"{what}: bad shape {text!r}; expected positive integers joined by 'x' "
                             f"(1x4x64x64), one integer (5) for 1-d, or [] (or scalar) for 0-d") from None
    if any(d <= 0 for d in dims):
        raise InputSpecError(f"{what}: bad shape {text!r}; every dim must be a positive integer")
    return dims


def _parse_number(text: str, dtype: str, what: str, role: str) -> Number:
    t = text.strip()
    if dtype == "bool":
        if t.lower() in ("true", "1"):
            return True
        if t.lower() in ("false", "0"):
            return False
        raise InputSpecError(f"{what}: {role} {t!r} is not a bool; use true/false or 1/0")
    if dtype in FLOAT_DTYPES:
        try:
            number = float(t)
        except ValueError:
            raise InputSpecError(f"{what}: {role} {t!r} is not a number") from None
        if math.isnan(number):
            raise InputSpecError(f"{what}: {role} is NaN")
        return number
    try:
        number_i = int(t)
    except ValueError:
        raise InputSpecError(f"{what}: {role} {t!r} is not an integer, as the dtype {dtype} needs") from None
    info = {"int64": 63, "int32": 31, "int8": 7}.get(dtype)
    lowest, highest = ((-(1 << info), (1 << info) - 1) if info else (0, 255))
    if not lowest <= number_i <= highest:
        raise InputSpecError(f"{what}: {role} {number_i} does not fit {dtype} ({lowest}..{highest})")
    return number_i


def _parse_range(text: str, dtype: str, what: str) -> tuple[Number, Number]:
    low_text, sep, high_text = text.partition("..")
    if not sep:
        raise InputSpecError(f"{what}: {text!r} is not a value range; write LOW..HIGH, e.g. 0..1000")
    if dtype == "bool":
        raise InputSpecError(f"{what}: a value range on a bool input; give a constant (=true) or nothing")
    low = _parse_number(low_text, dtype, what, "range low")
    high = _parse_number(high_text, dtype, what, "range high")
    if not (math.isfinite(low) and math.isfinite(high)):
        raise InputSpecError(f"{what}: the value range {text!r} must be finite")
    if low > high:
        raise InputSpecError(f"{what}: range low {_num(low)} > high {_num(high)}")
    return low, high


def parse_input(text: str, option: str = "--input") -> InputSpec:
    """'NAME:[DTYPE:]SHAPE[:LOW..HIGH|=VALUE]' -> InputSpec (errors name the option and the text)."""
    what = f"{option} {text}"
    body, eq, constant = text.partition("=")
    fields = body.split(":")
    name = fields.pop(0).strip()
    if not name or not _NAME.match(name):
        raise InputSpecError(f"{what}: expected NAME:[DTYPE:]SHAPE[:LOW..HIGH|=VALUE], e.g. sample:1x4x64x64 "
                             f"or timestep:int64:[]; {name!r} is not an input name")
    what = f"{option} {name}"
    if not fields or not fields[0].strip():
        raise InputSpecError(f"{what}: no shape; write {name}:SHAPE, e.g. {name}:1x3x224x224 ({name}:[] for 0-d)")
    dtype = "float32"
    known = dtype_name(fields[0])
    if known is not None:
        dtype = known
        fields.pop(0)
    elif len(fields) >= 2 and _NAME.match(fields[0].strip()) and fields[0].strip().lower() != "scalar":
        raise InputSpecError(f"{what}: unknown dtype {fields[0].strip()!r}; use one of {', '.join(DTYPES)}")
    if not fields:
        raise InputSpecError(f"{what}: no shape after the dtype; write {name}:{dtype}:SHAPE")
    shape = parse_shape(fields.pop(0), what)
    low = high = value = None
    if fields:
        if len(fields) > 1:
            raise InputSpecError(f"{what}: too many ':' fields in {text!r}; expected NAME:[DTYPE:]SHAPE[:LOW..HIGH]")
        low, high = _parse_range(fields[0], dtype, what)
    if eq:
        if low is not None:
            raise InputSpecError(f"{what}: both a value range and a constant; give one")
        if not constant.strip():
            raise InputSpecError(f"{what}: '=' without a value; write {name}:...=VALUE")
        value = _parse_number(constant, dtype, what, "constant")
    return InputSpec(name, shape, dtype, low, high, value)


def parse_legacy_shape(text: str, option: str = "--input-shape") -> InputSpec:
    """'1x3x224x224' (the old --input-shape) -> an unnamed float32 InputSpec."""
    return InputSpec(None, parse_shape(text, f"{option} {text}"))


def parse_dynamic(text: str, option: str = "--dynamic") -> tuple[str | None, list[str]]:
    """'sample:0,2,3' -> ('sample', ['0', '2', '3']); 'batch,height' (the old form, first input) ->
    (None, ['batch', 'height']). Tokens are resolved against the input's rank by resolve_axes."""
    name, sep, axes = text.rpartition(":")
    tokens = [t.strip() for t in axes.split(",") if t.strip()]
    if sep and not name.strip():
        raise InputSpecError(f"{option} {text}: no input name before ':'; write NAME:AXES, e.g. sample:0,2,3")
    if not tokens:
        raise InputSpecError(f"{option} {text}: no axes; write NAME:AXES, e.g. sample:0,2,3 or sample:batch")
    return (name.strip() if sep else None), tokens


def resolve_axes(tokens: Sequence[str], spec: InputSpec, option: str = "--dynamic") -> dict[int, str]:
    """Axis tokens (numbers, named axes for the rank, or AXIS=DIMNAME) -> {axis: dim name}.
    Numbered axes are named NAME_dimAXIS (distinct per input: a shared name would tell runtimes
    the sizes are equal); named axes keep their name (batch on two inputs is one batch)."""
    what = f"{option} {spec.name}"
    if spec.rank == 0:
        raise InputSpecError(f"{what}: the input is 0-d ({spec.describe()}); it has no axis to make dynamic")
    names = AXIS_NAMES.get(spec.rank, {"batch": 0, "channels": 1})
    axes: dict[int, str] = {}
    for token in tokens:
        axis_text, eq, custom = token.partition("=")
        axis_text = axis_text.strip()
        if axis_text.lstrip("-").isdigit():
            axis = int(axis_text)
            if not -spec.rank <= axis < spec.rank:
                raise InputSpecError(f"{what}: axis {axis} is out of range for the rank-{spec.rank} input "
                                     f"{spec.describe()} (axes 0..{spec.rank - 1})")
            axis %= spec.rank
            dim = f"{spec.name}_dim{axis}"
        elif axis_text in names:
            axis, dim = names[axis_text], axis_text
        else:
            raise InputSpecError(f"{what}: unknown axis {axis_text!r} for the rank-{spec.rank} input "
                                 f"{spec.describe()}; use {', '.join(names)} or axis numbers 0..{spec.rank - 1}")
        if eq:
            if not _NAME.match(custom.strip()):
                raise InputSpecError(f"{what}: {custom.strip()!r} is not a dim name (letters, digits, _)")
            dim = custom.strip()
        axes[axis] = dim
    return axes


def parse_kwarg(text: str, option: str = "--kwarg") -> tuple[str, Any]:
    """'return_dict=False' -> ('return_dict', False): a Python literal (ast.literal_eval)."""
    name, eq, literal = text.partition("=")
    name = name.strip()
    if not eq or not name.isidentifier():
        raise InputSpecError(f"{option} {text}: expected NAME=VALUE with a Python literal, e.g. return_dict=False")
    try:
        value = ast.literal_eval(literal.strip())
    except (ValueError, SyntaxError):
        raise InputSpecError(f"{option} {name}: {literal.strip()!r} is not a Python literal (numbers, True/False/None, "
                             f"quoted strings, tuples, lists, dicts); quote strings: {name}='text'") from None
    return name, value


# ---------------------------------------------------------------------------------------------
# forward() parameters

T = TypeVar("T")


@dataclass
class Bound(Generic[T]):
    """Values bound to a forward() signature, in its order: `args` for positional-only and
    leading positional parameters, `kwargs` for the rest (what torch.export wants: its dynamic
    shapes work only with arguments in signature order), `arguments` as {parameter: value} with
    *args as a tuple and **kwargs as a dict (torch.export's dynamic_shapes keys)."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    arguments: dict[str, Any]
    signature: inspect.Signature | None


def forward_signature(module: Any) -> inspect.Signature | None:
    """The signature of module.forward (without self), or None when Python cannot tell."""
    try:
        return inspect.signature(module.forward)
    except (TypeError, ValueError, AttributeError):
        return None


def describe_signature(signature: inspect.Signature | None) -> str:
    """'forward(sample, timestep, encoder_hidden_states, return_dict=True)' with long defaults cut."""
    if signature is None:
        return "forward(*args, **kwargs)"
    parts = []
    params = list(signature.parameters.values())
    starred = any(p.kind is p.VAR_POSITIONAL for p in params)
    for p in params:
        if p.kind is p.KEYWORD_ONLY and not starred:
            parts.append("*")  # the keyword-only marker, as Python writes it
            starred = True
        if p.kind is p.VAR_POSITIONAL:
            parts.append(f"*{p.name}")
        elif p.kind is p.VAR_KEYWORD:
            parts.append(f"**{p.name}")
        elif p.default is p.empty:
            parts.append(p.name)
        else:
            default = repr(p.default)
            parts.append(f"{p.name}={default if len(default) <= 12 else '...'}")
    return f"forward({', '.join(parts)})"


def bind(signature: inspect.Signature | None, positional: Sequence[T], named: Sequence[tuple[str, T]]) -> Bound[T]:
    """Binds positional values and (name, value) pairs to forward()'s parameters, or raises
    InputSpecError: a name given twice, a name that is not a parameter (the accepted ones are
    listed), more positional values than it takes, a required parameter without a value."""
    if signature is None:  # forward(*args, **kwargs) as far as anyone can tell
        kwargs: dict[str, Any] = {}
        for name, value in named:
            if name in kwargs:
                raise InputSpecError(f"{name!r} is given twice")
            kwargs[name] = value
        arguments: dict[str, Any] = {"args": tuple(positional)} if positional else {}
        if kwargs:
            arguments["kwargs"] = kwargs
        return Bound(tuple(positional), kwargs, arguments, None)
    params = list(signature.parameters.values())
    shown = describe_signature(signature)
    takes_positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    var_positional = next((p for p in params if p.kind is p.VAR_POSITIONAL), None)
    var_keyword = next((p for p in params if p.kind is p.VAR_KEYWORD), None)
    if len(positional) > len(takes_positional) and var_positional is None:
        raise InputSpecError(f"{len(positional)} inputs given, but {shown} takes at most {len(takes_positional)}")
    values: dict[str, Any] = {}
    for param, value in zip(takes_positional, positional):
        values[param.name] = value
    extra = tuple(positional[len(takes_positional):])
    by_name = {p.name: p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    accepted = ", ".join(p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY))
    var_kwargs: dict[str, Any] = {}
    for name, value in named:
        if name in values or name in var_kwargs:
            raise InputSpecError(f"{name!r} is given twice")
        param = by_name.get(name)
        if param is None or param.kind is param.POSITIONAL_ONLY:
            if var_keyword is None or param is not None:
                raise InputSpecError(f"{name!r} is not a parameter of {shown}; accepted: {accepted or '(none by name)'}")
            var_kwargs[name] = value
        else:
            values[name] = value
    missing = [p.name for p in params if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               and p.name not in values]
    if missing:
        raise InputSpecError(f"missing required input(s) {', '.join(missing)} of {shown}")
    args: list[Any] = []
    kwargs = {}
    arguments = {}
    in_order = True  # positional until the first parameter without a value
    for p in params:
        if p.kind is p.VAR_POSITIONAL:
            if extra:
                args.extend(extra)
                arguments[p.name] = extra
            continue
        if p.kind is p.VAR_KEYWORD:
            if var_kwargs:
                kwargs.update(var_kwargs)
                arguments[p.name] = var_kwargs
            continue
        if p.name not in values:
            in_order = False
            continue
        arguments[p.name] = values[p.name]
        if p.kind is p.POSITIONAL_ONLY or (p.kind is p.POSITIONAL_OR_KEYWORD and in_order):
            args.append(values[p.name])
        else:
            kwargs[p.name] = values[p.name]
    return Bound(tuple(args), kwargs, arguments, signature)


def bind_specs(signature: inspect.Signature | None, specs: Sequence[InputSpec],
               constants: Sequence[tuple[str, Any]] = ()) -> list[InputSpec]:
    """Names every spec after its forward() parameter (unnamed specs bind by position), checks
    the names and required parameters (with `constants`, the --kwarg values, counted as given),
    and returns the specs in forward()'s order."""
    unnamed = [s for s in specs if s.name is None]
    named = [(s.name, s) for s in specs if s.name is not None]
    if unnamed and named:
        raise InputSpecError("give every input by name (NAME:SHAPE) or every one by position, not both")
    seen: set[str] = set()
    for name, _ in [*named, *constants]:
        if name in seen:
            raise InputSpecError(f"{name!r} is given twice (as --input or --kwarg)")
        seen.add(name)
    bound = bind(signature, unnamed, [*named, *constants])  # type: ignore[list-item]
    ordered: list[InputSpec] = []
    for key, value in bound.arguments.items():
        if isinstance(value, InputSpec):
            ordered.append(value if value.name else replace(value, name=key))
        elif isinstance(value, tuple):  # *args: torch names them NAME_0, NAME_1, ...
            ordered.extend(v if v.name else replace(v, name=f"{key}_{i}") for i, v in enumerate(value)
                           if isinstance(v, InputSpec))
        elif isinstance(value, dict):  # **kwargs
            ordered.extend(v for v in value.values() if isinstance(v, InputSpec))
    return ordered


def apply_dynamic(specs: Sequence[InputSpec], texts: Sequence[str], option: str = "--dynamic") -> list[InputSpec]:
    """Attaches --dynamic NAME:AXES (or the old AXES, meaning the first input) to the named specs."""
    by_name = {s.name: s for s in specs}
    result = {s.name: dict(s.dynamic) for s in specs}
    for text in texts:
        name, tokens = parse_dynamic(text, option)
        if name is None:
            if not specs:
                raise InputSpecError(f"{option} {text}: there is no input")
            name = specs[0].name
        spec = by_name.get(name)
        if spec is None:
            raise InputSpecError(f"{option} {text}: {name!r} is not an input; the inputs are "
                                 f"{', '.join(s.describe() for s in specs)}")
        result[name].update(resolve_axes(tokens, spec, option))
    return [replace(s, dynamic=result[s.name]) for s in specs]


def check_sizes(specs: Sequence[InputSpec], limit: int = MAX_EXAMPLE_BYTES, option: str = "--input") -> None:
    """Refuses example inputs over `limit` bytes together, naming the largest."""
    total = sum(s.nbytes for s in specs)
    if total <= limit:
        return
    big = max(specs, key=lambda s: s.nbytes)
    raise InputSpecError(f"{option} {big.describe()}: {big.nbytes} bytes ({big.nbytes / (1 << 30):.3g} GiB); the example "
                         f"inputs may take at most {limit / (1 << 30):.3g} GiB together: give a smaller shape (dims "
                         f"that must vary can be made dynamic with --dynamic)")
