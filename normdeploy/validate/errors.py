"""The one error type of normdeploy.validate."""

from __future__ import annotations


class ValidateError(ValueError):
    """Bad arguments or input (missing file, unknown input name, wrong shape, bad tolerance, a
    reference that cannot run the inputs): the validation could not be carried out. The CLI turns
    it into exit code 2; a mismatch is not an error but a failed ValidationResult (exit code 1)."""
