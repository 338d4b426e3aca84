"""Fuzzing (fuzz/, see fuzz/README.md): the targets build with the GCC coverage-guided driver, the
committed corpus replays clean, a short bounded run of every target finds nothing and reaches
coverage the seeds alone do not, and the driver itself is shown able to fail: it finds a planted
bug behind a 4-byte magic that blind random search with the same budget does not, and reports
leaks. Nothing is written into the repository (builds go to build/fuzz, runs to tmp_path).

Environment: NORMDEPLOY_FUZZ_BUILD_DIR (default build/fuzz, shared with `make fuzz`),
NORMDEPLOY_FUZZ_CI_SECONDS (seconds per target of the short run, default 20), ONNXRUNTIME_ROOT /
TENSORRT_ROOT (header lookup, as for the main build). A target whose headers are missing is
skipped with the reason its CMake configure recorded.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FUZZ = REPO / "fuzz"
TARGETS = ["fuzz_trt_fields", "fuzz_ort_attributes"]
SECONDS = float(os.environ.get("NORMDEPLOY_FUZZ_CI_SECONDS", "20"))

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the fuzz driver needs Linux (sanitizers, signals)")


def _load_runner():
    """fuzz/run.py (the make fuzz runner) as a module: its build and stats parsing serve here too."""
    spec = importlib.util.spec_from_file_location("nd_fuzz_run", FUZZ / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RUNNER = _load_runner()


def _stats(stdout: str) -> dict:
    found = RUNNER.parse_stats(stdout)
    assert found is not None, f"no stats line in the output:\n{stdout[-2000:]}"
    return found


@pytest.fixture(scope="module")
def fuzz_build() -> tuple[Path, dict]:
    """Configures (first time) and builds fuzz/ into the build folder (fuzz/run.py's build); returns
    it and the status of each target ("" = built, else why not)."""
    if shutil.which("c++") is None and shutil.which("g++") is None:
        pytest.skip("no C++ compiler (c++ / g++) on PATH")
    if shutil.which("cmake", path=str(Path(sys.executable).parent)) is None and shutil.which("cmake") is None:
        pytest.skip("cmake not found (pip install cmake)")
    build = Path(os.environ.get("NORMDEPLOY_FUZZ_BUILD_DIR", REPO / "build" / "fuzz"))
    return build, RUNNER.build(build, [], quiet=True)


def _exe(fuzz_build, target: str) -> Path:
    build, status = fuzz_build
    if status.get(target, "not configured"):
        pytest.skip(f"{target} not built: {status.get(target, 'not configured')}")
    return build / target


def _env() -> dict:
    """The environment for the fuzz binaries: the driver's sanitizer defaults, not inherited ones
    (e.g. make test-sanitize's detect_leaks=0 or LD_PRELOAD)."""
    env = dict(os.environ)
    for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "LD_PRELOAD", "ND_FUZZ_VERBOSE"):
        env.pop(var, None)
    return env


def _run(cmd: list, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, env=_env())


# ---- the corpus ---------------------------------------------------------------------------------


def test_seed_files_are_what_make_seeds_writes():
    proc = _run([sys.executable, FUZZ / "make_seeds.py", "--check"])
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("target", TARGETS)
def test_committed_corpus_is_small(target):
    files = [p for p in (FUZZ / "corpus" / target).iterdir() if p.is_file()]
    assert 20 <= len(files) < 200, len(files)
    assert sum(p.stat().st_size for p in files) < (1 << 20)


@pytest.mark.parametrize("target", TARGETS)
def test_committed_corpus_replays_clean(fuzz_build, target, tmp_path):
    exe = _exe(fuzz_build, target)
    corpus = FUZZ / "corpus" / target
    proc = _run([exe, "-runs=0", f"-artifact_prefix={tmp_path}/", corpus])
    out = proc.stdout + proc.stderr[-6000:]
    assert proc.returncode == 0, out
    stats = _stats(proc.stdout)
    assert stats["result"] == "ok", out
    assert stats["corpus"] == len([p for p in corpus.iterdir() if p.is_file()]), out
    assert not list(tmp_path.iterdir()), "the replay wrote crash files"


# ---- the driver can fail ---------------------------------------------------------------------------

BUDGET = 200_000  # runs; the planted bug needs ~10^4 guided, ~2^32 blind


def test_driver_finds_the_planted_bug(fuzz_build, tmp_path):
    exe = _exe(fuzz_build, "fuzz_selftest")
    proc = _run([exe, "-seed=1", f"-runs={BUDGET}", f"-artifact_prefix={tmp_path}/found-"], timeout=120)
    assert proc.returncode != 0, proc.stderr[-3000:]
    assert "ERROR: AddressSanitizer: heap-buffer-overflow" in proc.stderr, proc.stderr[-3000:]
    assert "PlantedBug" in proc.stderr  # the stack trace names the function
    stats = _stats(proc.stdout)
    assert stats["result"] == "crash" and stats["runs"] < BUDGET, stats
    artifact = Path(stats["artifact"])
    assert artifact.parent == tmp_path and artifact.name.startswith("found-crash-"), artifact
    assert artifact.read_bytes().startswith(b"NDFZ")
    # the crash file reproduces it
    again = _run([exe, artifact])
    assert again.returncode != 0 and "heap-buffer-overflow" in again.stderr, again.stderr[-3000:]


def test_blind_search_does_not_find_it_in_the_same_budget(fuzz_build, tmp_path):
    exe = _exe(fuzz_build, "fuzz_selftest")
    proc = _run([exe, "-seed=1", f"-runs={BUDGET}", "-use_coverage=0", f"-artifact_prefix={tmp_path}/"], timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    stats = _stats(proc.stdout)
    assert stats["result"] == "ok" and stats["runs"] > BUDGET and stats["corpus"] == 1, stats
    assert not list(tmp_path.iterdir())


def test_driver_reports_leaks(fuzz_build, tmp_path):
    exe = _exe(fuzz_build, "fuzz_selftest")
    leaky = tmp_path / "leaky-input"
    leaky.write_bytes(b"LEAK-SELFTEST")
    proc = _run([exe, f"-artifact_prefix={tmp_path}/", leaky])
    assert proc.returncode != 0, proc.stderr[-3000:]
    assert "LeakSanitizer: detected memory leaks" in proc.stderr, proc.stderr[-3000:]
    assert _stats(proc.stdout)["result"] == "leak"
    assert [p.name.split("-")[0] for p in tmp_path.glob("leak-*")] == ["leak"]


def test_driver_options_and_replay_of_files(fuzz_build, tmp_path):
    exe = _exe(fuzz_build, "fuzz_selftest")
    assert "-max_total_time" in _run([exe, "-help=1"]).stderr
    harmless = tmp_path / "harmless"
    harmless.write_bytes(b"NDF")  # three of the four magic bytes: no crash
    proc = _run([exe, harmless])
    assert proc.returncode == 0 and f"Running: {harmless}" in proc.stderr, proc.stderr


# ---- short bounded runs of the real targets ---------------------------------------------------------


@pytest.fixture(scope="module")
def short_runs(fuzz_build, tmp_path_factory) -> dict:
    """Every built target for SECONDS seconds, all at once (one per core), from the committed
    corpus; new inputs stay in memory (no -output_corpus), crash files go to a temporary folder."""
    build, status = fuzz_build
    built = [t for t in TARGETS if not status.get(t, "not configured")]
    before = sorted(p.name for t in TARGETS for p in (FUZZ / "corpus" / t).iterdir())
    procs = {}
    for seed, target in enumerate(built, start=11):
        out = tmp_path_factory.mktemp(target)
        cmd = [str(build / target), f"-max_total_time={SECONDS:g}", f"-seed={seed}", f"-artifact_prefix={out}/",
               f"-dict={FUZZ / 'fuzz.dict'}", "-print_new=0", str(FUZZ / "corpus" / target)]
        procs[target] = (subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()),
                         out)
    results = {}
    for target, (proc, out) in procs.items():
        stdout, stderr = proc.communicate(timeout=SECONDS + 300)
        results[target] = {"returncode": proc.returncode, "stdout": stdout, "stderr": stderr, "artifacts": out}
    after = sorted(p.name for t in TARGETS for p in (FUZZ / "corpus" / t).iterdir())
    assert after == before, "the short runs changed fuzz/corpus"
    return {"results": results, "status": status}


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
def test_short_run_finds_nothing(short_runs, target):
    if short_runs["status"].get(target, "not configured"):
        pytest.skip(f"{target} not built: {short_runs['status'].get(target, 'not configured')}")
    r = short_runs["results"][target]
    assert r["returncode"] == 0, (f"{target} found something; the crash file is in {r['artifacts']}:\n"
                                  + r["stderr"][-8000:])
    stats = _stats(r["stdout"])
    assert stats["result"] == "ok" and stats["runs"] > 1000, stats
    assert not list(Path(r["artifacts"]).iterdir())


@pytest.mark.slow
def test_short_runs_reach_coverage_the_seeds_do_not(short_runs):
    done = {t: _stats(r["stdout"]) for t, r in short_runs["results"].items() if r["returncode"] == 0}
    if not done:
        pytest.skip("no fuzz target built or none ran clean: " + json.dumps(short_runs["status"]))
    gains = {t: (s["seed_cov"], s["cov"]) for t, s in done.items()}
    assert any(cov > seed_cov for seed_cov, cov in gains.values()), gains
