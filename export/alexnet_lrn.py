"""AlexNet with local response normalization: the layer order of Krizhevsky et al. (2012) and
Caffe's ``bvlc_alexnet`` (conv -> ReLU -> LRN -> max-pool for the first two convolutions, three
more convolutions, a fully connected head), with ``nn.LocalResponseNorm(5, alpha=1e-4,
beta=0.75, k=2.0)``. Narrow channels, a 3x127x143 input and a small head keep it fast.

``build(lrn_size=4)`` / ``build_even()`` give the even-window variant, where PyTorch's window
([c - 2, c + 1]) differs from ONNX LRN's ([c - 1, c + 2]): only normdeploy's
``LocalResponseNorm(window="pytorch")`` reproduces it.

The example input is on the scale of Caffe's mean-subtracted pixels (tens), where the LRN
divisor departs visibly from k and its window matters.

    python export/alexnet_lrn.py -o alexnet_lrn.onnx [--lrn-size 4] [--opset 18] [--weights ckpt.pt]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

if __package__ in (None, ""):  # run as a script: make `export` importable (after site-packages,
    sys.path.append(str(Path(__file__).resolve().parents[1]))  # so the installed normdeploy wins)
from export._common import run_cli, summary  # noqa: E402

NAME = "alexnet_lrn"
IMAGE_HEIGHT = 127
IMAGE_WIDTH = 143  # not square, so that no two input dims are equal
DYNAMIC: dict[int, str] = {0: "batch"}
LRN_ALPHA = 1e-4
LRN_BETA = 0.75
LRN_K = 2.0


def local_response_norm(size: int) -> nn.LocalResponseNorm:
    return nn.LocalResponseNorm(size, alpha=LRN_ALPHA, beta=LRN_BETA, k=LRN_K)


class AlexNetLRN(nn.Module):
    """Five convolutions (LRN after the first two), three max-pools, a two-layer classifier."""

    def __init__(self, lrn_size: int, widths: Sequence[int], hidden: int, num_classes: int) -> None:
        super().__init__()
        c1, c2, c3, c4, c5 = widths
        self.features = nn.Sequential(
            nn.Conv2d(3, c1, 11, 4, 2), nn.ReLU(inplace=True), local_response_norm(lrn_size),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(c1, c2, 5, 1, 2), nn.ReLU(inplace=True), local_response_norm(lrn_size),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(c2, c3, 3, 1, 1), nn.ReLU(inplace=True),
            nn.Conv2d(c3, c4, 3, 1, 1), nn.ReLU(inplace=True),
            nn.Conv2d(c4, c5, 3, 1, 1), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
        )
        features = c5 * _feature_size(IMAGE_HEIGHT) * _feature_size(IMAGE_WIDTH)
        self.classifier = nn.Sequential(
            nn.Dropout(0.5), nn.Linear(features, hidden), nn.ReLU(inplace=True),
            nn.Dropout(0.5), nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def _feature_size(size: int) -> int:
    """Spatial size after the feature extractor (127 -> 31 -> 15 -> 7 -> 3; 143 -> 35 -> 17 -> 8 -> 3)."""
    size = (size + 2 * 2 - 11) // 4 + 1
    for _ in range(3):
        size = (size - 3) // 2 + 1
    return size


def build(
    lrn_size: int = 5,
    widths: Sequence[int] = (24, 64, 96, 96, 64),
    hidden: int = 256,
    num_classes: int = 10,
    seed: int = 0,
) -> AlexNetLRN:
    """A randomly initialised (seeded) AlexNet-LRN in eval mode; ``lrn_size`` is the LRN window."""
    torch.manual_seed(seed)
    return AlexNetLRN(lrn_size, widths, hidden, num_classes).eval()


def build_even(**kwargs: object) -> AlexNetLRN:
    """The even-window variant (LRN size 4)."""
    return build(lrn_size=4, **kwargs)  # type: ignore[arg-type]


def example_input(batch: int = 2, scale: float = 50.0) -> torch.Tensor:
    """A batch (N, 3, 127, 143) of mean-subtracted-pixel-scale values."""
    generator = torch.Generator().manual_seed(2)
    return scale * torch.randn(batch, 3, IMAGE_HEIGHT, IMAGE_WIDTH, generator=generator)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lrn-size", type=int, default=5, help="LRN window (default 5; 4 for the even variant)")


def _build_from_args(args: argparse.Namespace) -> AlexNetLRN:
    if args.lrn_size != 5:
        args.default_name = f"{NAME}{args.lrn_size}"
    return build(lrn_size=args.lrn_size)


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(
        NAME, _build_from_args, example_input, DYNAMIC, argv, summary(__doc__, NAME), _add_arguments
    )


if __name__ == "__main__":
    sys.exit(main())
