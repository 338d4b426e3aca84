"""Why a node from a non-standard domain is left as it is (the reason table for the report).

Nothing here is a static list of kernels: whether the installed ONNX Runtime knows the op
(its schema registry) and has a CPU kernel for it (its kernel registry) is asked from the
runtime itself, so the reasons stay true when onnxruntime is upgraded.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .microsoft_common import MS_DOMAIN


@dataclass(frozen=True)
class RuntimeOps:
    """What the installed onnxruntime knows: (domain, op) -> providers with a kernel, and schemas."""

    version: str
    providers: tuple[str, ...]
    kernels: dict[tuple[str, str], frozenset[str]]
    schemas: frozenset[tuple[str, str]]

    def kernel_providers(self, domain: str, op_type: str) -> frozenset[str]:
        return self.kernels.get((_domain(domain), op_type), frozenset())


def _domain(domain: str) -> str:
    return "" if domain in ("", "ai.onnx") else domain


@lru_cache(maxsize=1)
def runtime_ops() -> RuntimeOps | None:
    """The installed onnxruntime's kernel and schema registries (None when it is not installed)."""
    try:
        import onnxruntime
        from onnxruntime.capi import onnxruntime_pybind11_state as state
    except ImportError:
        return None
    kernels: dict[tuple[str, str], set[str]] = {}
    for k in state.get_all_opkernel_def():
        kernels.setdefault((_domain(k.domain), k.op_name), set()).add(k.provider)
    schemas = frozenset((_domain(s.domain), s.name) for s in state.get_all_operator_schema())
    return RuntimeOps(onnxruntime.__version__, tuple(onnxruntime.get_available_providers()),
                      {k: frozenset(v) for k, v in kernels.items()}, schemas)


def unhandled_reason(domain: str, op_type: str) -> str:
    """The report line for a node of `domain` that no rule rewrote."""
    ops = runtime_ops()
    where = "no rewrite to standard or normdeploy ops known"
    if ops is None:
        return f"{where} (onnxruntime is not installed, so whether it can run it is unknown)"
    providers = ops.kernel_providers(domain, op_type)
    if "CPUExecutionProvider" in providers:
        return (f"{where}; the installed onnxruntime {ops.version} runs it on the CPU "
                "(TensorRT's parser does not know it)")
    if providers:
        return (f"{where}; the installed onnxruntime {ops.version} has kernels for it only on "
                f"{', '.join(sorted(providers))}")
    if (_domain(domain), op_type) in ops.schemas:
        kind = "an ONNX Runtime contrib op" if domain == MS_DOMAIN else "an op ONNX Runtime knows"
        return (f"{where}; {kind} without a kernel in the installed onnxruntime {ops.version} "
                f"(providers {', '.join(ops.providers)}): it runs only on builds with other providers, e.g. CUDA")
    return f"{where}; the installed onnxruntime {ops.version} does not know it (it needs the library that defines it)"
