"""Rewrite ONNX models between standard ops and normdeploy's custom nodes.

to="custom" rewrites
    GroupNormalization-21 (scale/bias per channel) and -18 (per group, expanded to per channel);
    the InstanceNormalization decomposition both torch exporters emit for GroupNorm at opset <= 20;
    the standard LRN node; the pad/avg-pool/pow decomposition of F.local_response_norm from both
    exporters; GroupNorm followed by Sigmoid+Mul (SiLU), fused into one node with activation="silu";
    and the other domains' ops listed in registry.FOREIGN_RULES.
to="standard"
    rewrites our nodes back into standard ONNX (to_standard.py).

Every rewrite is counted per pattern; what looked similar but was left alone is reported with the
reason (ConvertReport). Nothing is rewritten unless its meaning is kept exactly.

Layout: errors (ConvertError), graph (the mutable graph view), checks (input checks), io (load,
save, checked writes), report, context (RewriteContext, what every rule receives), matcher (shared
matching helpers), rules/ (one module per pattern family), registry (the rule order), to_standard,
pipeline (the driver).

This package is also callable as the function convert(): `import normdeploy.convert` makes the
attribute normdeploy.convert this package, and normdeploy.convert(src, dst) must keep working.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

from .errors import ConvertError
from .io import EXTERNAL_DATA_THRESHOLD, MAX_MODEL_FILE_BYTES, checked_save, load_model, save_converted, save_model
from .matcher import MAX_EXPANDED_CHANNELS
from .pipeline import SUPPORTED_OPSETS, Direction, check_opset, convert_model
from .report import ConvertReport, Skipped


def convert(src: str | os.PathLike[str], dst: str | os.PathLike[str], to: Direction = "custom", *,
            strict: bool = False) -> ConvertReport:
    """Converts the ONNX file `src` and writes `dst`; returns what was rewritten and what was not.
    On any error nothing is written: `dst` is left as it was (written atomically).

    The result must pass onnx.checker. A node the checker rejects that was in the input and that
    convert left as it was (e.g. GroupNormalization-18, deprecated in onnx >= 1.23) does not stop
    the write: it is reported in report.warnings. strict=True refuses such a file instead."""
    if Path(dst).is_dir():
        raise ConvertError(f"output {dst} is a directory; give a file name")
    model = load_model(src)
    converted, report = convert_model(model, to, source=str(src))
    try:
        report.warnings += save_converted(model, converted, dst, strict=strict)
    except OSError as exc:
        raise ConvertError(f"cannot write {dst}: {exc.strerror or exc}") from exc
    return report


class _CallablePackage(types.ModuleType):
    """The package's type: calling it calls convert() (see the module docstring)."""

    def __call__(self, src: str | os.PathLike[str], dst: str | os.PathLike[str], to: Direction = "custom", *,
                 strict: bool = False) -> ConvertReport:
        return convert(src, dst, to, strict=strict)


sys.modules[__name__].__class__ = _CallablePackage

__all__ = ["EXTERNAL_DATA_THRESHOLD", "MAX_EXPANDED_CHANNELS", "MAX_MODEL_FILE_BYTES", "SUPPORTED_OPSETS",
           "ConvertError", "ConvertReport", "Direction", "Skipped", "check_opset", "checked_save", "convert",
           "convert_model", "load_model", "save_converted", "save_model"]
