"""What a conversion did: rewrites per pattern, what was left alone and why, notes and warnings."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Skipped:
    pattern: str
    node: str
    reason: str


@dataclass
class ConvertReport:
    direction: str
    counts: Counter = field(default_factory=Counter)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # fix-ups of the input, e.g. sorting its nodes
    #: problems of the written file that convert did not cause, e.g. onnx.checker refusing a
    #: deprecated op that was in the input and left as it was (strict checking refuses instead)
    warnings: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        lines = [f"converted to {self.direction}: {self.total} rewrite(s)"]
        lines += [f"  {pattern}: {count}" for pattern, count in sorted(self.counts.items())]
        if self.skipped:
            lines.append(f"left alone ({len(self.skipped)}):")
            lines += [f"  {s.pattern} at node '{s.node}': {s.reason}" for s in self.skipped]
        lines += [f"note: {note}" for note in self.notes]
        lines += [f"warning: {warning}" for warning in self.warnings]
        return "\n".join(lines)
