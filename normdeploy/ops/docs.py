"""Render the op reference (attribute tables, checks) from the schemas into README.md.

    python -m normdeploy.ops.docs --write README.md    # refresh the generated sections
    python -m normdeploy.ops.docs --check README.md    # exit 1 if they are stale (tests run this)

Each op's section sits between ``<!-- BEGIN GENERATED OP: Name -->`` and ``<!-- END GENERATED OP: Name -->``.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from . import REGISTRY
from .schema import OpSpec

_TYPE_NAMES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(bfloat16)": "bfloat16"}


def _value(value: object) -> str:
    return f"`{value!r}`" if isinstance(value, str) else f"`{value}`"


def render_op(spec: OpSpec) -> str:
    lines = [f"**`{spec.domain}::{spec.name}`** (version {spec.version}). {spec.doc}", ""]
    lines += ["| input/output | type | description |", "|---|---|---|"]
    for p in spec.inputs:
        lines.append(f"| {p.name}{' (optional)' if p.optional else ''} | {p.type_param} | {p.doc} |")
    for p in spec.outputs:
        lines.append(f"| {p.name} (output) | {p.type_param} | {p.doc} |")
    lines.append("")
    for name, (types, doc) in spec.type_constraints.items():
        lines.append(f"- `{name}`: {', '.join(_TYPE_NAMES.get(t, t) for t in types)}. {doc}")
    lines += ["", "| attribute | type | default | valid values | meaning |", "|---|---|---|---|---|"]
    for a in spec.attributes:
        default = "required" if a.required else _value(a.default)
        lines.append(f"| `{a.name}` | {a.kind} | {default} | {a.describe_range() or 'any'} | {a.doc} |")
    lines += ["", "Checked (a violation is an ONNX Runtime error naming the op, the field and the value):", ""]
    lines += [f"- {check}" for check in spec.checks]
    return "\n".join(lines)


def _markers(spec: OpSpec) -> tuple[str, str]:
    return f"<!-- BEGIN GENERATED OP: {spec.name} -->", f"<!-- END GENERATED OP: {spec.name} -->"


def update(text: str) -> str:
    for spec in REGISTRY:
        begin, end = _markers(spec)
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
        if not pattern.search(text):
            raise ValueError(f"README has no section for {spec.name}: add the lines\n{begin}\n{end}")
        text = pattern.sub(lambda _m, s=spec, b=begin, e=end: f"{b}\n{render_op(s)}\n{e}", text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", type=Path, metavar="README")
    group.add_argument("--check", type=Path, metavar="README")
    args = parser.parse_args(argv)
    path: Path = args.write or args.check
    text = path.read_text()
    new = update(text)
    if args.check:
        if new != text:
            print(f"{path}: the generated op sections are stale: run python -m normdeploy.ops.docs --write {path}",
                  file=sys.stderr)
            return 1
        print(f"{path}: op sections up to date")
        return 0
    path.write_text(new)
    print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
