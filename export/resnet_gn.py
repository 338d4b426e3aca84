"""ResNet with GroupNorm: a ResNet-18-shaped classifier (BasicBlock, [2, 2, 2, 2]) in which every
BatchNorm is replaced by ``nn.GroupNorm(32, C)``, as in Wu & He, "Group Normalization" (ECCV 2018)
and the GN ResNets of Detectron / BiT. Widths 32-64-128-256 keep it small; at width 32 each group
holds one channel (instance norm), at 256 eight channels.

    python export/resnet_gn.py -o resnet_gn.onnx [--opset 18] [--weights ckpt.pt]
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

if __package__ in (None, ""):  # run as a script: make `export` importable (after site-packages,
    sys.path.append(str(Path(__file__).resolve().parents[1]))  # so the installed normdeploy wins)
from export._common import randomize_group_norm, run_cli, summary  # noqa: E402

NAME = "resnet_gn"
GROUPS = 32
DYNAMIC: dict[int, str] = {0: "batch", 2: "height", 3: "width"}


def group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(GROUPS, channels)


class BasicBlock(nn.Module):
    """conv3x3 -> GN -> ReLU -> conv3x3 -> GN, plus the (projected) identity, -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.gn1 = group_norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.gn2 = group_norm(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), group_norm(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.gn1(self.conv1(x)))
        out = self.gn2(self.conv2(out))
        return self.relu(out + self.downsample(x))


class ResNetGN(nn.Module):
    """Stem (conv7x7/2, GN, ReLU, maxpool), four stages of BasicBlocks, global pool, linear."""

    def __init__(self, widths: Sequence[int], depths: Sequence[int], num_classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, widths[0], 7, 2, 3, bias=False),
            group_norm(widths[0]),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        stages: list[nn.Module] = []
        in_channels = widths[0]
        for index, (width, depth) in enumerate(zip(widths, depths)):
            blocks = [BasicBlock(in_channels, width, 1 if index == 0 else 2)]
            blocks += [BasicBlock(width, width, 1) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*blocks))
            in_channels = width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.fc(torch.flatten(self.pool(x), 1))


def build(
    widths: Sequence[int] = (32, 64, 128, 256),
    depths: Sequence[int] = (2, 2, 2, 2),
    num_classes: int = 10,
    seed: int = 0,
) -> ResNetGN:
    """A randomly initialised (seeded) ResNet-GN in eval mode."""
    torch.manual_seed(seed)
    model = ResNetGN(widths, depths, num_classes)
    randomize_group_norm(model)
    return model.eval()


def example_input(batch: int = 2, height: int = 64, width: int = 72) -> torch.Tensor:
    """An image batch (N, 3, H, W) with all dims different."""
    generator = torch.Generator().manual_seed(1)
    return torch.randn(batch, 3, height, width, generator=generator)


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(NAME, lambda _args: build(), example_input, DYNAMIC, argv, summary(__doc__, NAME))


if __name__ == "__main__":
    sys.exit(main())
