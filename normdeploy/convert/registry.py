"""The rules, in the order they run (explicit lists, no discovery).

FOREIGN_RULES: ops of other domains that convert understands (e.g. ONNX Runtime's com.microsoft
contrib ops); they run first, in both directions. TO_CUSTOM_RULES: standard patterns -> our nodes.
FOREIGN_REASONS / DOMAIN_REASONS: why a node of another domain that no rule rewrote is left alone
(listed in the report); a node without an entry gets a generic reason.
"""

from __future__ import annotations

from typing import Protocol

import onnx

from .context import RewriteContext
from .rules import gn_decomposition, gn_standard, lrn, lrn_decomposition, microsoft_contrib, silu
from .rules.microsoft_unhandled import unhandled_reason


class Rule(Protocol):
    PATTERN: str  # the name in the report (for malformed nodes; rules may count finer names)
    ANCHORS: tuple[tuple[str, str], ...]  # (domain, op_type) of the nodes it starts from; "" = standard

    def apply(self, ctx: RewriteContext, node: onnx.NodeProto) -> bool: ...


#: Other domains' ops, rewritten first in both directions (--to standard then rewrites the
#: normdeploy nodes they produced).
#: microsoft_contrib: ONNX Runtime's GroupNorm, SkipGroupNorm, NhwcConv, BiasAdd, BiasSplitGelu,
#: SkipLayerNormalization (one rule visiting them in graph order).
FOREIGN_RULES: list[Rule] = [microsoft_contrib.RULE]

#: Standard patterns -> normdeploy nodes, in order. LRN first: the TorchScript exporter's LRN
#: decomposition (with an If) hides shapes from shape inference, which the GroupNorm patterns need.
#: The SiLU fusion last: it starts from the GroupNorm nodes the others made.
TO_CUSTOM_RULES: list[Rule] = [lrn, lrn_decomposition, gn_standard, gn_decomposition, silu]

#: (domain, op_type) -> why convert leaves such a node alone.
FOREIGN_REASONS: dict[tuple[str, str], str] = {}

#: domain -> why convert leaves that domain's ops alone (when FOREIGN_REASONS has no entry).
DOMAIN_REASONS: dict[str, str] = {}

#: Domains of the ONNX standard itself: never listed as left alone.
STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training"})


def left_alone_reason(domain: str, op_type: str) -> str:
    # otherwise the installed onnxruntime is asked whether it can run the op, and where
    return FOREIGN_REASONS.get((domain, op_type)) or DOMAIN_REASONS.get(domain) or unhandled_reason(domain, op_type)
