"""Moved to the package normdeploy.convert (kept so older imports work)."""

import os  # noqa: F401 - tests patch normdeploy.conversion.os.replace

from .convert import (  # noqa: F401
    EXTERNAL_DATA_THRESHOLD, MAX_EXPANDED_CHANNELS, MAX_MODEL_FILE_BYTES, SUPPORTED_OPSETS, ConvertError, ConvertReport,
    Direction, Skipped, check_opset, checked_save, convert, convert_model, load_model, save_converted, save_model,
)
