"""The atheris fuzzer of normdeploy's ONNX reading (fuzz/fuzz_onnx_model.py): the committed corpus
replays clean, a short run from it finds nothing, and the harness is shown able to fail (a
planted bug is found and reported with its input). `make fuzz` runs it for longer."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

atheris = pytest.importorskip("atheris", reason="atheris is not installed (requirements-dev.txt pins it)")

REPO = Path(__file__).resolve().parents[1]
TARGET = REPO / "fuzz" / "fuzz_onnx_model.py"
CORPUS = REPO / "fuzz" / "corpus" / "fuzz_onnx_model"
SECONDS = int(float(os.environ.get("NORMDEPLOY_FUZZ_CI_SECONDS", "20")))


def _fuzz(tmp_path: Path, *args: str, planted: bool = False, seeds: bool = True) -> subprocess.CompletedProcess:
    corpus = tmp_path / "corpus"
    if seeds:
        shutil.copytree(CORPUS, corpus)
    else:
        corpus.mkdir()
    env = dict(os.environ, NORMDEPLOY_FUZZ_PLANTED_BUG="1" if planted else "0")
    return subprocess.run([sys.executable, "-P", str(TARGET), f"-artifact_prefix={tmp_path}/", "-seed=1", *args, str(corpus)],
                          capture_output=True, text=True, timeout=SECONDS + 120, cwd=tmp_path, env=env)


def _runs(stderr: str) -> int:
    found = re.findall(r"Done (\d+) runs", stderr)
    return int(found[-1]) if found else 0


def test_corpus_replays_clean(tmp_path):
    assert len(list(CORPUS.iterdir())) >= 20, "the committed corpus is missing"
    proc = _fuzz(tmp_path, "-runs=0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "INITED" in proc.stderr


def test_short_run_finds_nothing(tmp_path):
    proc = _fuzz(tmp_path, f"-max_total_time={SECONDS}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _runs(proc.stderr) > 1000, proc.stderr[-2000:]
    assert not list(tmp_path.glob("crash-*"))


def test_the_harness_reports_a_planted_bug(tmp_path):
    """From an empty corpus: the search itself has to reach a model that passes every check."""
    proc = _fuzz(tmp_path, f"-max_total_time={SECONDS}", planted=True, seeds=False)
    assert proc.returncode != 0, "the planted bug was not found"
    assert "planted bug: a checked LocalResponseNorm" in proc.stdout + proc.stderr
    assert list(tmp_path.glob("crash-*")), "no crash file written"
