"""Checks of the Python API's arguments that validate() and bench() share, raising the caller's
error type (the CLI parses its own strings in normdeploy.cli.model_args)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ValidateError


def check_int(value: Any, what: str, minimum: int, error: type[ValueError] = ValidateError) -> int:
    """`value` as an int when it is an integer (not a bool) >= `minimum`; else raises `error`
    naming `what` and the value."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise error(f"{what}: expected an integer >= {minimum}, got {value!r}")
    return int(value)
