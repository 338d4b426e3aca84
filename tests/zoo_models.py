"""Third-party model definitions for the model-zoo tests (tests/test_zoo.py), built from their
packages' own classes with small configs and seeded random weights: nothing is downloaded
(no from_pretrained, no pretrained=True).

- diffusers: AutoencoderKL's decode path (post_quant_conv + Decoder) and UNet2DConditionModel with
  its three inputs (sample, an int64 0-d timestep, encoder_hidden_states); norm_num_groups=32.
- transformers: Wav2Vec2Model with feat_extract_norm="group": GroupNorm(C, C) on the rank-3
  output of the first Conv1d.
- pytorchcv: AlexNet and ZFNet (pytorchcv.models.alexnet.AlexNet; ZFNet is the same class with
  ZFNet's kernels, strides and paddings), whose AlexConv calls F.local_response_norm(x, size=5,
  k=2.0) after the first two convolutions. Channel counts are scaled down; pytorchcv's output
  block (4096-wide, fixed in its code) is kept as it is.

Each case also counts the norms the torch model really calls, independently of normdeploy: a
TorchFunctionMode sees every F.group_norm and F.local_response_norm call (nn.GroupNorm and
nn.LocalResponseNorm go through them), however the caller looked the function up.
"""

from __future__ import annotations

import importlib.metadata
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

NORM_FUNCTIONS: dict[Any, str] = {F.group_norm: "GroupNorm", F.local_response_norm: "LocalResponseNorm"}


@dataclass(frozen=True)
class ZooCase:
    """One third-party model: how to build it and call it."""

    name: str                     # test id
    family: str                   # what the README table calls it
    package: str                  # the distribution it comes from
    build: Callable[[], nn.Module]
    inputs: Callable[[], dict[str, torch.Tensor]]  # keyword = the forward's parameter name, in order
    kwargs: dict[str, Any] = field(default_factory=dict)  # constant keyword arguments (return_dict=False)

    @property
    def version(self) -> str:
        return importlib.metadata.version(self.package)


@dataclass(frozen=True)
class NormCall:
    """One F.group_norm / F.local_response_norm call: the op and its constants (num_groups and
    eps; size, alpha, beta and k), with the functions' defaults filled in."""

    op: str
    constants: tuple[tuple[str, float], ...]


_CONSTANTS = {"GroupNorm": ("num_groups", "eps"), "LocalResponseNorm": ("size", "alpha", "beta", "k")}


class _NormRecorder(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[NormCall] = []

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        op = NORM_FUNCTIONS.get(func)
        if op is not None:
            bound = inspect.signature(func).bind(*args, **kwargs)
            bound.apply_defaults()
            self.calls.append(NormCall(op, tuple((k, float(bound.arguments[k])) for k in _CONSTANTS[op])))
        return func(*args, **kwargs)


def run_recording(case: ZooCase, model: nn.Module,
                  inputs: dict[str, torch.Tensor]) -> tuple[list[torch.Tensor], list[NormCall]]:
    """One forward pass: the outputs as a flat list of tensors, and every F.group_norm and
    F.local_response_norm call the model made, in order."""
    recorder = _NormRecorder()
    with torch.no_grad(), recorder:
        out = model(*inputs.values(), **case.kwargs)
    return flatten_outputs(out), recorder.calls


def flatten_outputs(out: Any) -> list[torch.Tensor]:
    """Tensors of a tensor / tuple / list / dict output in order (None entries dropped), as
    torch.onnx flattens them."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (tuple, list)):
        return [t for item in out if item is not None for t in flatten_outputs(item)]
    raise TypeError(f"unexpected model output type {type(out).__name__}")


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------------------------
# diffusers


class VaeDecode(nn.Module):
    """AutoencoderKL.decode(latents).sample: post_quant_conv and the Decoder (GroupNorm(32) in
    every ResnetBlock2D, the mid-block attention and conv_norm_out)."""

    def __init__(self, vae: nn.Module) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(latents).sample


def build_vae_decoder() -> nn.Module:
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(32, 64), layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        norm_num_groups=32, sample_size=32,
    )
    return VaeDecode(vae).eval()


def vae_inputs() -> dict[str, torch.Tensor]:
    return {"latents": torch.randn(1, 4, 8, 8, generator=_generator(1))}


def build_unet() -> nn.Module:
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    return UNet2DConditionModel(
        sample_size=16, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, attention_head_dim=8, norm_num_groups=32,
    ).eval()


def unet_inputs() -> dict[str, torch.Tensor]:
    g = _generator(2)
    return {
        "sample": torch.randn(1, 4, 16, 16, generator=g),
        "timestep": torch.tensor(10, dtype=torch.int64),
        "encoder_hidden_states": torch.randn(1, 7, 32, generator=g),
    }


# --------------------------------------------------------------------------------------------
# transformers


def build_wav2vec2() -> nn.Module:
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(0)
    config = Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
        conv_dim=(32, 32), conv_kernel=(10, 3), conv_stride=(5, 2), conv_bias=False,
        feat_extract_norm="group", do_stable_layer_norm=False,
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
    )
    return Wav2Vec2Model(config).eval()


def wav2vec2_inputs() -> dict[str, torch.Tensor]:
    return {"input_values": torch.randn(1, 400, generator=_generator(3))}


# --------------------------------------------------------------------------------------------
# pytorchcv


def _pytorchcv_alexnet(kernel_sizes: list[list[int]], strides: list[list[int]],
                       paddings: list[list[int]]) -> nn.Module:
    from pytorchcv.models.alexnet import AlexNet

    torch.manual_seed(0)
    return AlexNet(channels=[[16], [32], [32, 32, 16]], kernel_sizes=kernel_sizes, strides=strides,
                   paddings=paddings, use_lrn=True, in_size=(224, 224), num_classes=10).eval()


def build_alexnet() -> nn.Module:
    # pytorchcv get_alexnet(version="a") geometry
    return _pytorchcv_alexnet([[11], [5], [3, 3, 3]], [[4], [1], [1, 1, 1]], [[0], [2], [1, 1, 1]])


def build_zfnet() -> nn.Module:
    # pytorchcv get_zfnet(version="a") geometry
    return _pytorchcv_alexnet([[7], [5], [3, 3, 3]], [[2], [2], [1, 1, 1]], [[1], [0], [1, 1, 1]])


def image_inputs() -> dict[str, torch.Tensor]:
    # the output block's first Linear expects 6x6 features: 224x224 for both geometries
    return {"x": torch.randn(1, 3, 224, 224, generator=_generator(4))}


CASES: dict[str, ZooCase] = {case.name: case for case in [
    ZooCase("vae_decoder", "AutoencoderKL decoder", "diffusers", build_vae_decoder, vae_inputs),
    ZooCase("unet", "UNet2DConditionModel", "diffusers", build_unet, unet_inputs, {"return_dict": False}),
    ZooCase("wav2vec2", "Wav2Vec2Model (feat_extract_norm=group)", "transformers", build_wav2vec2,
            wav2vec2_inputs, {"return_dict": False}),
    ZooCase("alexnet", "AlexNet", "pytorchcv", build_alexnet, image_inputs),
    ZooCase("zfnet", "ZFNet", "pytorchcv", build_zfnet, image_inputs),
]}
