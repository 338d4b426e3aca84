"""FCOS-style detector head on a tiny backbone and FPN, with GroupNorm in every tower conv, as in
FCOS (Tian et al., 2019) and RetinaNet/ATSS heads with GN (torchvision ``FCOSHead``, mmdet
``norm_cfg=dict(type="GN", num_groups=32)``). One head is shared over four FPN levels P3-P6
(strides 8, 16, 32, 64); each of its two towers is 4 x (conv3x3 -> GroupNorm(32, 128) -> ReLU).
The backbone also uses GroupNorm(32, C).

The model takes one image batch whose batch, height and width are dynamic, and returns the
per-location predictions of all levels concatenated: (N, sum_l H_l*W_l, classes + 4 + 1) with
class logits, box distances (ReLU(scale_l * x) * stride_l) and centerness.

    python export/detection_head.py -o detection_head.onnx [--opset 18] [--weights ckpt.pt]
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

if __package__ in (None, ""):  # run as a script: make `export` importable (after site-packages,
    sys.path.append(str(Path(__file__).resolve().parents[1]))  # so the installed normdeploy wins)
from export._common import randomize_group_norm, run_cli, summary  # noqa: E402

NAME = "detection_head"
GROUPS = 32
STRIDES: tuple[int, ...] = (8, 16, 32, 64)
DYNAMIC: dict[int, str] = {0: "batch", 2: "height", 3: "width"}


def conv_gn_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
        nn.GroupNorm(GROUPS, out_channels),
        nn.ReLU(inplace=True),
    )


class TinyBackbone(nn.Module):
    """Five stride-2 conv-GN-ReLU stages; returns C3, C4, C5 (strides 8, 16, 32)."""

    def __init__(self, widths: Sequence[int]) -> None:
        super().__init__()
        stages: list[nn.Module] = []
        in_channels = 3
        for width in widths:
            stages.append(conv_gn_relu(in_channels, width, stride=2))
            in_channels = width
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features[2:]


class FPN(nn.Module):
    """Lateral 1x1 convs, nearest top-down path, 3x3 output convs; P6 from P5 by a stride-2 conv."""

    def __init__(self, in_channels: Sequence[int], channels: int) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in in_channels)
        self.output = nn.ModuleList(nn.Conv2d(channels, channels, 3, 1, 1) for _ in in_channels)
        self.p6 = nn.Conv2d(channels, channels, 3, 2, 1)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        laterals = [conv(f) for conv, f in zip(self.lateral, features)]
        top = laterals[-1]
        merged = [top]
        for lateral in reversed(laterals[:-1]):
            top = lateral + F.interpolate(top, size=lateral.shape[-2:], mode="nearest")
            merged.insert(0, top)
        levels = [conv(m) for conv, m in zip(self.output, merged)]
        return levels + [self.p6(levels[-1])]


class FCOSHead(nn.Module):
    """Classification and regression towers shared over the levels, with per-level box scales."""

    def __init__(self, channels: int, num_convs: int, num_classes: int, num_levels: int) -> None:
        super().__init__()
        self.cls_tower = nn.Sequential(*(conv_gn_relu(channels, channels) for _ in range(num_convs)))
        self.bbox_tower = nn.Sequential(*(conv_gn_relu(channels, channels) for _ in range(num_convs)))
        self.cls_logits = nn.Conv2d(channels, num_classes, 3, 1, 1)
        self.bbox_pred = nn.Conv2d(channels, 4, 3, 1, 1)
        self.centerness = nn.Conv2d(channels, 1, 3, 1, 1)
        self.scales = nn.Parameter(torch.linspace(0.8, 1.2, num_levels))

    def forward(self, levels: list[torch.Tensor], strides: Sequence[int]) -> torch.Tensor:
        outputs = []
        for index, (feature, stride) in enumerate(zip(levels, strides)):
            cls_feature = self.cls_tower(feature)
            box_feature = self.bbox_tower(feature)
            boxes = F.relu(self.scales[index] * self.bbox_pred(box_feature)) * float(stride)
            level = torch.cat([self.cls_logits(cls_feature), boxes, self.centerness(box_feature)], dim=1)
            outputs.append(level.flatten(2).transpose(1, 2))
        return torch.cat(outputs, dim=1)


class FCOSDetector(nn.Module):
    """Backbone -> FPN (P3-P6) -> shared FCOS head; raw per-location predictions."""

    def __init__(self, backbone_widths: Sequence[int], channels: int, num_convs: int, num_classes: int) -> None:
        super().__init__()
        self.backbone = TinyBackbone(backbone_widths)
        self.fpn = FPN(backbone_widths[2:], channels)
        self.head = FCOSHead(channels, num_convs, num_classes, len(STRIDES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.fpn(self.backbone(x)), STRIDES)


def build(
    backbone_widths: Sequence[int] = (32, 64, 96, 128, 160),
    channels: int = 128,
    num_convs: int = 4,
    num_classes: int = 8,
    seed: int = 0,
) -> FCOSDetector:
    """A randomly initialised (seeded) FCOS detector in eval mode."""
    torch.manual_seed(seed)
    model = FCOSDetector(backbone_widths, channels, num_convs, num_classes)
    randomize_group_norm(model)
    return model.eval()


def example_input(batch: int = 2, height: int = 96, width: int = 128) -> torch.Tensor:
    """An image batch (N, 3, H, W); any H, W >= 64 work (sizes need not divide 64)."""
    generator = torch.Generator().manual_seed(4)
    return torch.randn(batch, 3, height, width, generator=generator)


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(NAME, lambda _args: build(), example_input, DYNAMIC, argv, summary(__doc__, NAME))


if __name__ == "__main__":
    sys.exit(main())
