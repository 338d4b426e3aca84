"""Torch-side pieces of the exporter, in a module WITHOUT `from __future__ import annotations`:
torch.library and onnxscript read these signatures' annotations as real types.

- ``normdeploy::local_response_norm``: a torch custom op standing in for F.local_response_norm
  (which has no aten op) while exporting; registered once per process (torch's op registry is
  process-wide).
- the onnxscript translation functions that turn aten.group_norm and that op into our nodes.
"""

import torch
import torch.nn.functional as F
from onnxscript.values import Opset

from .ops import DOMAIN, PLUGIN_NAMESPACE, VERSION

_ORIGINAL_LRN = F.local_response_norm


def _define_lrn_op():
    if hasattr(torch.ops.normdeploy, "local_response_norm"):
        return torch.ops.normdeploy.local_response_norm

    @torch.library.custom_op("normdeploy::local_response_norm", mutates_args=())
    def local_response_norm(x: torch.Tensor, size: int, alpha: float, beta: float, k: float) -> torch.Tensor:
        return _ORIGINAL_LRN(x, size, alpha, beta, k)

    @local_response_norm.register_fake
    def _(x, size, alpha, beta, k):
        return torch.empty_like(x)

    return torch.ops.normdeploy.local_response_norm


LRN_OP = _define_lrn_op()


def patched_local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """F.local_response_norm while exporting: the custom op (inputs torch itself rejects keep
    torch's error)."""
    if input.dim() < 3:
        return _ORIGINAL_LRN(input, size, alpha, beta, k)
    return LRN_OP(input, int(size), float(alpha), float(beta), float(k))


_nd = Opset(DOMAIN, VERSION)


def _group_norm(input, num_groups: int, weight=None, bias=None, eps: float = 1e-5, cudnn_enabled: bool = True):
    return _nd.GroupNorm(input, weight, bias, num_groups=num_groups, epsilon=eps,
                         plugin_version="1", plugin_namespace=PLUGIN_NAMESPACE)


def _local_response_norm(x, size: int, alpha: float, beta: float, k: float):
    return _nd.LocalResponseNorm(x, size=size, alpha=alpha, beta=beta, bias=k, window="pytorch",
                                 plugin_version="1", plugin_namespace=PLUGIN_NAMESPACE)


def translation_table() -> dict:
    return {
        torch.ops.aten.group_norm.default: _group_norm,
        LRN_OP.default: _local_response_norm,
    }


# ---------------------------------------------------------------------------------------------
# outputs: whatever forward returns, as a flat tuple of tensors with the key path of each


class OutputStructureError(TypeError):
    """forward returned something that is not a tensor, None or a container of them."""


def flatten_output(value, path=()):
    """[(key path, tensor)] in order: tuples/lists by position, namedtuples by field, dicts and
    dict-like outputs (transformers ModelOutput, diffusers BaseOutput) by key, dataclasses by
    field; None entries dropped. A key path holds ints (positions) and strs (keys)."""
    import dataclasses
    from collections.abc import Mapping

    if value is None:
        return []
    if isinstance(value, torch.Tensor):
        return [(path, value)]
    if isinstance(value, Mapping):
        items = list(value.items())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)]
    elif isinstance(value, tuple) and hasattr(value, "_fields"):
        items = list(zip(value._fields, value))
    elif isinstance(value, (tuple, list)):
        items = list(enumerate(value))
    else:
        where = "output " + ".".join(str(p) for p in path) if path else "the output"
        raise OutputStructureError(f"forward returned a {type(value).__name__} as {where}; ONNX outputs must "
                                   f"be tensors (tuples, lists, dicts and dataclasses of them are flattened)")
    return [pair for key, item in items for pair in flatten_output(item, (*path, key))]


class FlatOutputs:
    """A forward hook that replaces the module's result by the flat tuple of its tensors (a lone
    tensor stays a lone tensor) and records their key paths: torch.export then sees only
    tensors, whatever the model returns, and the module tree (node metadata) is unchanged."""

    def __init__(self, module):
        self.paths = []
        self._handle = module.register_forward_hook(self._hook)

    def _hook(self, module, args, output):
        pairs = flatten_output(output)
        if not pairs:
            raise OutputStructureError("forward returned no tensor (only None)")
        self.paths = [path for path, _ in pairs]
        if len(pairs) == 1 and pairs[0][0] == ():
            return pairs[0][1]
        return tuple(tensor for _, tensor in pairs)

    def remove(self):
        self._handle.remove()
