#!/usr/bin/env python3
"""The README's "Models tried" table from a run of the model-zoo tests (tests/test_zoo.py).

The tests write their figures (per model: family, source package and version, wall and CPU
seconds; per check: node counts, errors, rewrites, status) to the JSON file named by
NORMDEPLOY_ZOO_JSON. This script runs them with it set (or reads an earlier run's file with
--json) and prints a Markdown table; --readme FILE also replaces the table between the
"zoo-table" markers in FILE. A check that failed shows as FAILED with its first error line as a
footnote.

usage: python scripts/zoo_table.py [--json figures.json] [--readme README.md] [-- pytest args]
exit code: 0, or 1 when the test run failed (the table is still printed), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- zoo-table:start -->", "<!-- zoo-table:end -->"
ORDER = ["vae_decoder", "unet", "ort_unet", "wav2vec2", "alexnet", "zfnet"]
HEADER = ["family", "source", "normdeploy nodes", "parity", "convert (opset: rewrites)", "float16", "validate",
          "time (s)"]


def run_tests(pytest_args: list[str]) -> tuple[dict[str, Any], int]:
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "zoo.json"
        env = dict(os.environ, NORMDEPLOY_ZOO_JSON=str(target))
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_zoo.py", *pytest_args]
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        lines = done.stdout.strip().splitlines()
        print(lines[-1] if lines else done.stderr.strip()[-2000:], file=sys.stderr)
        if not target.is_file():
            raise SystemExit(f"zoo_table: the test run wrote no figures (pytest exit code {done.returncode})")
        return json.loads(target.read_text()), done.returncode


def _nodes(counts: dict[str, int] | None) -> str:
    if not counts:
        return "-"
    return ", ".join(f"{op} x{n}" for op, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.1e}"


class Table:
    def __init__(self) -> None:
        self.rows: list[list[str]] = []
        self.notes: list[str] = []

    def cell(self, name: str, check: str, checks: dict[str, Any], text: str) -> str:
        """`text`, or FAILED with a footnote (or "not run") when the check did not pass."""
        record = checks.get(check)
        if record is None:
            return "not run"
        status = record.get("status", "not finished")
        if status == "passed":
            return text
        self.notes.append(f"{name}, {check}: {status}")
        return f"FAILED [{len(self.notes)}]"

    def add(self, name: str, figures: dict[str, Any]) -> None:
        checks = figures.get("checks", {})
        source = figures.get("source", "?")
        if "export" in checks:  # a torch model: exported by normdeploy.export
            nodes = self.cell(name, "export", checks, _nodes(checks["export"].get("nodes")))
            parity = self.cell(name, "export", checks, _number(checks["export"].get("parity")))
        else:  # a file: converted
            record = checks.get("convert 17", {})
            nodes = self.cell(name, "convert 17", checks, _nodes(record.get("nodes")))
            parity = self.cell(name, "convert 17", checks, _number(record.get("parity")))
        converts = []
        for check in sorted(c for c in checks if c.startswith("convert ")):
            opset = check.split()[1]
            record = checks[check]
            text = f"{record.get('rewrites', '?')}, {_number(record.get('parity'))}"
            converts.append(f"{opset}: {self.cell(name, check, checks, text)}")
        fp16 = self.cell(name, "fp16", checks, _number(checks.get("fp16", {}).get("error")))
        validate = self.cell(name, "validate", checks, f"exit {checks.get('validate', {}).get('exit_code')}")
        for check in ("calls", "input names", "dataclass outputs"):  # no column; a failure is a note
            if check in checks:
                self.cell(name, check, checks, "")
        seconds = f"{figures.get('seconds', 0):.0f} / {figures.get('cpu_seconds', 0):.0f}"
        self.rows.append([figures.get("family", name), source, nodes, parity, "; ".join(converts) or "-", fp16,
                          validate, seconds])

    def markdown(self) -> str:
        lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in self.rows]
        if self.notes:
            lines += ["", *(f"[{i}] {note}" for i, note in enumerate(self.notes, 1))]
        return "\n".join(lines)


def table(figures: dict[str, Any]) -> str:
    result = Table()
    for name in [n for n in ORDER if n in figures] + sorted(set(figures) - set(ORDER)):
        result.add(name, figures[name])
    return result.markdown()


def update_readme(path: Path, text: str) -> None:
    content = path.read_text()
    if content.count(START) != 1 or content.count(END) != 1 or content.index(START) > content.index(END):
        raise SystemExit(f"zoo_table: {path} needs one {START} line before one {END} line")
    head, rest = content.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{text}\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="figures of an earlier run (instead of running the tests)")
    parser.add_argument("--readme", type=Path, help="replace the table between the zoo-table markers in this file")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    if args.json is not None:
        if not args.json.is_file():
            parser.error(f"--json {args.json}: no such file")
        try:
            figures, code = json.loads(args.json.read_text()), 0
        except json.JSONDecodeError as exc:
            parser.error(f"--json {args.json}: not JSON ({exc})")
    else:
        figures, code = run_tests(args.pytest_args)
    text = table(figures)
    print(text)
    if args.readme is not None:
        update_readme(args.readme, text)
    return 1 if code else 0


if __name__ == "__main__":
    sys.exit(main())
