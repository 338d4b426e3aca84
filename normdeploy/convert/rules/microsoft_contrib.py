"""The com.microsoft contrib ops that ONNX Runtime's transformers optimizer writes into diffusion
graphs, as one foreign rule visited in graph order (see microsoft_common.InGraphOrder):
GroupNorm, SkipGroupNorm (microsoft_group_norm), NhwcConv (microsoft_conv), BiasAdd and
BiasSplitGelu (microsoft_bias), SkipLayerNormalization (microsoft_layer_norm). Other contrib ops
are reported by microsoft_unhandled."""

from __future__ import annotations

from . import microsoft_bias, microsoft_conv, microsoft_group_norm, microsoft_layer_norm
from .microsoft_common import InGraphOrder

RULE = InGraphOrder("com.microsoft contrib ops",
                    (*microsoft_group_norm.RULES, *microsoft_conv.RULES, *microsoft_bias.RULES,
                     *microsoft_layer_norm.RULES))
