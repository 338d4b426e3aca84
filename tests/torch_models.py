"""Small PyTorch models for the export/convert tests (importable: tests/ is on sys.path)."""

from __future__ import annotations

import io
import logging
import warnings

import onnx
import torch
import torch.nn.functional as F


class GnLrnNet(torch.nn.Module):
    """GroupNorm + SiLU (module), LRN (module), GroupNorm without affine + x*sigmoid(x), F.group_norm."""

    def __init__(self, lrn_size: int = 4) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.gn = torch.nn.GroupNorm(4, 8)
        self.act = torch.nn.SiLU()
        self.lrn = torch.nn.LocalResponseNorm(lrn_size, alpha=0.05, beta=0.75, k=2.0)
        self.gn2 = torch.nn.GroupNorm(2, 8, affine=False)
        self.weight = torch.nn.Parameter(torch.randn(8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.gn(self.conv(x)))
        h = self.lrn(h)
        h = self.gn2(h)
        h = h * torch.sigmoid(h)
        return F.silu(F.group_norm(h, 8, self.weight, None, 1e-3))


def torch_export(model: torch.nn.Module, x: torch.Tensor, *, dynamo: bool, opset: int, dynamic: bool,
                 fold: bool = True) -> onnx.ModelProto:
    """The model through torch.onnx alone (standard ops), as a user's existing file would be."""
    axes = {"x": {0: "batch", 2: "height"}} if dynamic else None
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if dynamo:
                return torch.onnx.export(model, (x,), dynamo=True, opset_version=opset, input_names=["x"],
                                         dynamic_axes=axes, verbose=False).model_proto
            f = io.BytesIO()
            torch.onnx.export(model, (x,), f, dynamo=False, opset_version=opset, input_names=["x"], dynamic_axes=axes,
                              do_constant_folding=fold)
            return onnx.load_from_string(f.getvalue())
    finally:
        logging.disable(logging.NOTSET)
