"""Stable-Diffusion-style UNet blocks: ResnetBlock2D (GroupNorm(32) -> SiLU -> conv ->
GroupNorm(32) -> SiLU -> conv, 1x1 skip conv when the channel count changes), a down block with a
strided downsample conv, an up block that upsamples and concatenates the skip, a GroupNorm ->
1x1 projection standing in for the attention block's ``norm``/``proj_in`` (GroupNorm with no
SiLU), and ``conv_norm_out`` -> SiLU -> ``conv_out``. Channels follow SD 1.x/2.x (320 -> 640 ->
1280 and back) on a 4-channel 16x24 latent; the time embedding is omitted.

The SiLU after GroupNorm is written in all three forms a model can use, so the exporter must fuse
each: the ``nn.SiLU`` module (first norm of each ResnetBlock, as diffusers), ``F.silu`` (second
norm) and ``x * torch.sigmoid(x)`` (the output norm, as the original LDM code's ``nonlinearity``).

    python export/unet_block.py -o unet_block.onnx [--opset 18] [--weights ckpt.pt]
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

NAME = "unet_block"
GROUPS = 32
EPS = 1e-5
LATENT_CHANNELS = 4
DYNAMIC: dict[int, str] = {0: "batch"}


def group_norm(channels: int, eps: float = EPS) -> nn.GroupNorm:
    return nn.GroupNorm(GROUPS, channels, eps=eps)


class ResnetBlock2D(nn.Module):
    """norm1 -> nn.SiLU -> conv1 -> norm2 -> F.silu -> conv2, plus the (1x1-projected) input."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.norm1 = group_norm(in_channels)
        self.nonlinearity = nn.SiLU()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.norm2 = group_norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1)
        self.conv_shortcut: nn.Module = nn.Identity()
        if in_channels != out_channels:
            self.conv_shortcut = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(self.nonlinearity(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.conv_shortcut(x) + h


class NormProjection(nn.Module):
    """GroupNorm -> 1x1 conv with a residual: the ``norm``/``proj_in`` entry of SD's
    Transformer2DModel without the attention (a GroupNorm that must not get a SiLU)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = group_norm(channels, eps=1e-6)
        self.proj_in = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.proj_in(self.norm(x))


class DownBlock2D(nn.Module):
    """ResnetBlock2D, then (optionally) a stride-2 3x3 conv; returns (output, skip)."""

    def __init__(self, in_channels: int, out_channels: int, downsample: bool) -> None:
        super().__init__()
        self.resnet = ResnetBlock2D(in_channels, out_channels)
        self.downsampler: nn.Module = nn.Identity()
        if downsample:
            self.downsampler = nn.Conv2d(out_channels, out_channels, 3, 2, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skip = self.resnet(x)
        return self.downsampler(skip), skip


class UpBlock2D(nn.Module):
    """(Optionally) nearest 2x upsample + 3x3 conv, concatenate the skip, ResnetBlock2D."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int, upsample: bool) -> None:
        super().__init__()
        self.upsample = upsample
        self.upsampler_conv: nn.Module = nn.Identity()
        if upsample:
            self.upsampler_conv = nn.Conv2d(in_channels, in_channels, 3, 1, 1)
        self.resnet = ResnetBlock2D(in_channels + skip_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = self.upsampler_conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        return self.resnet(torch.cat([x, skip], dim=1))


class UNetBlocks(nn.Module):
    """conv_in -> down blocks (320 -> 640 -> 1280) -> GN projection -> up blocks -> GN+SiLU -> conv_out."""

    def __init__(self, channels: Sequence[int]) -> None:
        super().__init__()
        c0, c1, c2 = channels
        self.conv_in = nn.Conv2d(LATENT_CHANNELS, c0, 3, 1, 1)
        self.down1 = DownBlock2D(c0, c1, downsample=True)      # 16x16 -> skip c1@16, out c1@8
        self.down2 = DownBlock2D(c1, c2, downsample=False)     # 8x8   -> skip c2@8,  out c2@8
        self.mid = NormProjection(c2)
        self.up2 = UpBlock2D(c2, c2, c1, upsample=False)       # cat(c2, c2)@8 -> c1
        self.up1 = UpBlock2D(c1, c1, c0, upsample=True)        # up to 16, cat(c1, c1) -> c0
        self.conv_norm_out = group_norm(c0)
        self.conv_out = nn.Conv2d(c0, LATENT_CHANNELS, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        h, skip1 = self.down1(h)
        h, skip2 = self.down2(h)
        h = self.mid(h)
        h = self.up2(h, skip2)
        h = self.up1(h, skip1)
        h = self.conv_norm_out(h)
        h = h * torch.sigmoid(h)
        return self.conv_out(h)


def count_group_norm_silu(model: nn.Module) -> tuple[int, int]:
    """(GroupNorm modules followed by a SiLU, GroupNorm modules without one) in a UNetBlocks:
    every ResnetBlock2D's two norms and ``conv_norm_out`` have one; NormProjection's has none."""
    fused = sum(2 for m in model.modules() if isinstance(m, ResnetBlock2D))
    fused += sum(1 for name, m in model.named_modules() if name == "conv_norm_out")
    plain = sum(1 for m in model.modules() if isinstance(m, NormProjection))
    return fused, plain


def build(channels: Sequence[int] = (320, 640, 1280), seed: int = 0) -> UNetBlocks:
    """A randomly initialised (seeded) UNet-blocks model in eval mode."""
    torch.manual_seed(seed)
    model = UNetBlocks(channels)
    randomize_group_norm(model)
    return model.eval()


def example_input(batch: int = 2, height: int = 16, width: int = 24) -> torch.Tensor:
    """A latent batch (N, 4, H, W); H and W must be even (one downsample)."""
    generator = torch.Generator().manual_seed(3)
    return torch.randn(batch, LATENT_CHANNELS, height, width, generator=generator)


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(NAME, lambda _args: build(), example_input, DYNAMIC, argv, summary(__doc__, NAME))


if __name__ == "__main__":
    sys.exit(main())
