"""make gpu-check (scripts/gpu_check.sh): the self-contained GPU test binary of the CUDA kernels.

No GPU here. What this checks:
  * the real binary (nvcc, one architecture: sm_90) builds, carries the CUDA runtime statically
    (no libcudart / libstdc++ dependency), embeds the kernels, and on a machine without a usable
    CUDA device exits 3 with "no CUDA device" (CUDA_VISIBLE_DEVICES="" forces that path even
    where a GPU exists) and writes JSON saying so; usage errors exit 2;
  * its float64 host references and storage conversions, through `--host-reference`, against
    normdeploy.ops' numpy references and ml_dtypes;
  * the check's own logic (cases, layouts, sampled verification of big tensors, timing, goals,
    JSON) with the emulation build (`scripts/gpu_check.sh --emulated`: the same sources over the
    SIMT CPU layer and an emulated runtime), including that it FAILS when the results it reads
    back are wrong or differ between runs (fault injection in the emulated runtime).
The two builds run concurrently (one per core), started once for the module.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from normdeploy.ops import group_norm, lrn

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gpu_check.sh"
ARCH = "90"
NP = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16}


def _nvcc() -> str | None:
    for cand in (os.environ.get("NVCC"), os.environ.get("CUDACXX"), "/usr/local/cuda/bin/nvcc", shutil.which("nvcc")):
        if cand and Path(cand).is_file():
            return cand
    return None


class _Build:
    def __init__(self, out: Path, args: list[str], env: dict[str, str]):
        self.out = out
        self.start = time.monotonic()
        self.proc = subprocess.Popen(["bash", str(SCRIPT), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=env, cwd=ROOT)
        self.log: str | None = None
        self.seconds = 0.0

    def wait(self) -> str:
        if self.log is None:
            self.log, _ = self.proc.communicate(timeout=900)
            self.seconds = time.monotonic() - self.start
        assert self.proc.returncode == 0, f"{self.proc.args} failed:\n{self.log[-6000:]}"
        return self.log


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict[str, _Build | str]:
    """Starts both builds at once; a value that is a str is the reason that build cannot run."""
    out = tmp_path_factory.mktemp("gpu_check")
    result: dict[str, _Build | str] = {}
    nvcc = _nvcc()
    if nvcc is None:
        result["real"] = ("nvcc not found ($NVCC, $CUDACXX, /usr/local/cuda/bin/nvcc, PATH): "
                          "the CUDA toolkit is needed to build nd_gpu_check")
    else:
        result["real"] = _Build(out / "real", [ARCH], dict(os.environ, NVCC=nvcc, GPU_CHECK_OUT=str(out / "real")))
    if shutil.which(os.environ.get("CXX", "g++")) is None:
        result["emulated"] = "g++ not found: the emulation build needs a C++20 compiler ($CXX)"
    else:
        result["emulated"] = _Build(out / "emu", ["--emulated"], dict(os.environ, GPU_CHECK_OUT=str(out / "emu")))
    yield result
    for b in result.values():
        if isinstance(b, _Build) and b.proc.poll() is None:
            b.proc.kill()
            b.proc.wait()


def _binary(builds, key: str, name: str) -> Path:
    b = builds[key]
    if isinstance(b, str):
        pytest.skip(b)
    log = b.wait()
    print(f"{name}: built in {b.seconds:.0f} s: {log.strip().splitlines()[-1]}")
    return b.out / name


@pytest.fixture(scope="module")
def real(builds) -> Path:
    return _binary(builds, "real", "nd_gpu_check")


@pytest.fixture(scope="module")
def emulated(builds) -> Path:
    return _binary(builds, "emulated", "nd_gpu_check_emulated")


def _run(binary: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})))


# ---- the real binary ---------------------------------------------------------------------------

@pytest.mark.slow
def test_binary_is_self_contained(real):
    ldd = subprocess.run(["ldd", str(real)], capture_output=True, text=True).stdout
    assert "libcudart" not in ldd and "libcuda.so" not in ldd, ldd  # cudart static; libcuda is dlopen'ed
    needed = subprocess.run(["readelf", "-d", str(real)], capture_output=True, text=True).stdout
    libs = sorted(line.split("[")[1].rstrip("]") for line in needed.splitlines() if "(NEEDED)" in line)
    assert set(libs) <= {"libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1", "libdl.so.2", "librt.so.1",
                         "libpthread.so.0", "ld-linux-x86-64.so.2"}, libs
    size = real.stat().st_size
    assert size < 16 << 20, f"{size} bytes: too big to carry comfortably (64 MiB for everything)"
    sections = subprocess.run(["readelf", "-SW", str(real)], capture_output=True, text=True).stdout
    assert ".nv_fatbin" in sections, "no embedded GPU code"
    blob = real.read_bytes()
    for kernel in (b"GroupNormOnePassKernel", b"GroupNormPartialKernel", b"GroupNormFinalizeKernel",
                   b"GroupNormApplyKernel", b"LrnKernel"):
        assert kernel in blob, f"{kernel!r} not in the binary"
    cuobjdump = Path(_nvcc() or "").parent / "cuobjdump"
    if cuobjdump.is_file():
        listing = subprocess.run([str(cuobjdump), "--list-elf", str(real)], capture_output=True, text=True).stdout
        assert f"sm_{ARCH}" in listing, listing


@pytest.mark.slow
def test_no_cuda_device_exits_3_with_json(real, tmp_path):
    out = tmp_path / "gpu_check.json"
    proc = _run(real, "--json", str(out), env={"CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "nd_gpu_check: no CUDA device: cudaGetDeviceCount" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and "terminate" not in proc.stderr
    data = json.loads(out.read_text())
    assert data["status"] == "no_cuda_device"
    assert data["reason"].startswith("cudaGetDeviceCount")
    assert data["build"]["built_for"] == f"sm_{ARCH}"
    assert re.fullmatch(r"\d+\.\d+", data["build"]["cuda_runtime"]), data["build"]  # e.g. 13.0


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["--bogus"], "unknown argument '--bogus'"),
    (["--reps", "0"], "--reps needs an integer in 1..1000"),
    (["--reps", "many"], "--reps needs an integer in 1..1000"),
    (["--json"], "--json needs a file path"),
    (["--device", "-1"], "--device needs a device index"),
    (["--in", "x.f64"], "--in/--out go with --host-reference"),
    (["--host-reference", "lrn:n=1"], "--host-reference needs --in and --out"),
    (["--host-reference", "conv:n=1", "--in", "a", "--out", "b"], "op must be 'groupnorm' or 'lrn'"),
    (["--host-reference", "groupnorm:c=8,groups=3", "--in", "a", "--out", "b"], "groups=3 does not divide c=8"),
    (["--host-reference", "lrn:size=0", "--in", "a", "--out", "b"], "size=0 is not a valid value"),
    (["--host-reference", "lrn:window=caffe", "--in", "a", "--out", "b"], "window=caffe is not a valid value"),
    (["--host-reference", "groupnorm:groups=1,scale=2", "--in", "a", "--out", "b"], "'scale' is not a groupnorm field"),
])
def test_usage_errors_exit_2(real, args, message):
    proc = _run(real, *args)
    assert proc.returncode == 2, (args, proc.returncode, proc.stdout, proc.stderr)
    assert message in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") <= 8, proc.stderr


@pytest.mark.slow
def test_help(real):
    proc = _run(real, "--help")
    assert proc.returncode == 0 and "exit status: 0 all checks passed" in proc.stdout


@pytest.mark.slow
def test_case_list_covers_every_variant(real):
    proc = _run(real, "--list-cases")
    assert proc.returncode == 0, proc.stderr
    specs = proc.stdout.splitlines()[:-1]
    gn = [s for s in specs if s.startswith("groupnorm:")]
    lr = [s for s in specs if s.startswith("lrn:")]
    assert len(gn) + len(lr) == len(specs) and len(gn) > 500 and len(lr) > 50
    for dtype in ("float32", "float16", "bfloat16"):
        for layout in ("nchw", "nhwc"):
            assert any(f"dtype={dtype},layout={layout},strategy=auto," in s for s in gn), (dtype, layout)
            for strategy in ("one-pass", "split"):
                for extra in ("silu=1", "silu=0", "affine=none", "affine=same", "affine=float32"):
                    assert any(f"dtype={dtype},layout={layout},strategy={strategy}," in s and extra in s for s in gn), (
                        dtype, layout, strategy, extra)
        for window in ("onnx", "pytorch"):
            assert any(f"dtype={dtype}," in s and f"window={window}" in s for s in lr)
    # the GPU's edges: one-pass groups exactly at the budget of 48 KiB - 128 B (the kernels' static
    # scratch shares the 48 KiB: float32 12256, 16-bit 24512 elements), groups of 48 KiB and one
    # past (split only), misaligned X/Y, mean 1e4, grids wider than 65535 blocks
    assert any("dtype=float32" in s and "strategy=one-pass" in s and "c=4,s=6128,groups=2" in s for s in gn)
    assert any("dtype=float16" in s and "strategy=one-pass" in s and "c=4,s=12256,groups=2" in s for s in gn)
    assert not any("dtype=float32" in s and "strategy=one-pass" in s and "c=4,s=6144,groups=2" in s for s in gn)
    assert not any("dtype=float16" in s and "strategy=one-pass" in s and "c=4,s=12288,groups=2" in s for s in gn)
    assert any("dtype=float32" in s and "strategy=split" in s and "c=4,s=6144,groups=2" in s for s in gn)
    assert not any("strategy=one-pass" in s and "c=6,s=12289,groups=3" in s for s in gn)
    assert any("misalign=1" in s for s in gn) and any("mean=1e+04" in s for s in gn)
    assert any("n=70000" in s for s in gn) and any("n=70000" in s for s in lr) and any("c=70000" in s for s in lr)


def test_build_script_rejects_a_bad_arch():
    proc = subprocess.run(["bash", str(SCRIPT), "sm_90"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2 and "ARCH must be a compute capability" in proc.stderr, proc.stderr


# ---- the host side: references and conversions, against numpy / ml_dtypes --------------------

def _host_reference(binary: Path, tmp_path: Path, spec: str, *arrays: np.ndarray) -> np.ndarray:
    src, dst = tmp_path / "in.f64", tmp_path / "out.f64"
    np.concatenate([a.astype(np.float64).ravel() for a in arrays]).tofile(src)
    proc = _run(binary, "--host-reference", spec, "--in", str(src), "--out", str(dst))
    assert proc.returncode == 0, proc.stderr
    return np.fromfile(dst, dtype=np.float64)


def _assert_close(actual: np.ndarray, want: np.ndarray, what: str) -> None:
    scale = max(1.0, float(np.abs(want).max())) if want.size else 1.0
    err = float(np.abs(actual - want).max()) if want.size else 0.0
    assert err <= 1e-12 * scale, f"{what}: max abs err {err:.3e} (scale {scale:.3g})"


GN_HOST_CASES = [  # (n, c, s, groups, dtype, affine, silu, eps)
    (2, 6, 7, 3, "float32", "float32", False, 1e-5),
    (3, 16, 5, 4, "float16", "float32", True, 1e-5),
    (2, 12, 1, 12, "bfloat16", "same", False, 1e-5),   # G = C, S = 1: variance 0
    (1, 24, 131, 2, "float16", "same", True, 1e-3),
    (2, 20, 9, 5, "float32", "none", False, 1e-3),
    (3, 10, 1, 1, "bfloat16", "none", True, 1e-5),
]


@pytest.mark.parametrize("n, c, s, groups, dtype, affine, silu, eps", GN_HOST_CASES)
def test_host_group_norm_reference(emulated, tmp_path, n, c, s, groups, dtype, affine, silu, eps):
    rng = np.random.default_rng(n * 1000 + c * 10 + s)
    x = (rng.standard_normal((n, c, s)) * 2 + 0.5).astype(np.float32)  # float32-representable inputs
    spec = (f"groupnorm:dtype={dtype},n={n},c={c},s={s},groups={groups},eps={eps},silu={int(silu)},"
            f"affine={affine}")
    arrays = [x]
    if affine != "none":
        arrays += [rng.standard_normal(c).astype(np.float32), rng.standard_normal(c).astype(np.float32)]
    out = _host_reference(emulated, tmp_path, spec, *arrays)
    xq = x.astype(NP[dtype]).astype(np.float64)
    assert np.array_equal(out[: x.size], xq.ravel()), "x quantized differently from ml_dtypes/numpy"
    scale = bias = None
    pos = x.size
    if affine != "none":
        at = NP["float32" if affine == "float32" else dtype]
        scale = arrays[1].astype(at).astype(np.float64)
        bias = arrays[2].astype(at).astype(np.float64)
        assert np.array_equal(out[pos: pos + c], scale) and np.array_equal(out[pos + c: pos + 2 * c], bias)
        pos += 2 * c
    want = group_norm.reference(xq, scale, bias, groups, eps, "silu" if silu else "none")
    _assert_close(out[pos:].reshape(x.shape), want, spec)


LRN_HOST_CASES = [  # (shape, size, alpha, beta, bias)
    ((2, 7, 15), 5, 1e-4, 0.75, 1.0),
    ((3, 11, 13), 4, 2e-2, 0.6, 2.0),   # even size: the windows differ
    ((1, 5, 1), 8, 1.0, 0.5, 1.0),      # window wider than C
    ((2, 9, 1), 1, 0.5, 0.75, 1.0),
]


@pytest.mark.parametrize("window", ["onnx", "pytorch"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_host_lrn_reference(emulated, tmp_path, window, dtype):
    rng = np.random.default_rng(5)
    for shape, size, alpha, beta, bias in LRN_HOST_CASES:
        x = (rng.standard_normal(shape) * 3).astype(np.float32)
        n, c, s = shape
        spec = f"lrn:dtype={dtype},n={n},c={c},s={s},size={size},alpha={alpha},beta={beta},bias={bias},window={window}"
        out = _host_reference(emulated, tmp_path, spec, x)
        xq = x.astype(NP[dtype]).astype(np.float64)
        assert np.array_equal(out[: x.size], xq.ravel())
        _assert_close(out[x.size:].reshape(shape), lrn.reference(xq, size, alpha, beta, bias, window), spec)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_host_conversions_match_ml_dtypes(emulated, tmp_path, dtype):
    """Round to nearest even at the edges: ties, subnormals, the largest finite values, overflow."""
    special = [0.0, -0.0, 1.0, -2.5, 65504.0, 65519.0, 65520.0, 1e6, -1e6, 2.0**-14, 2.0**-24, 2.0**-25,
               3 * 2.0**-26, 2.0**-26, 1.0 + 2.0**-11, 1.0 + 3 * 2.0**-11, 1.0 + 2.0**-8, 1.0 + 3 * 2.0**-8,
               3.0e38, -3.4e38, 1e-40, 2.0**-133, 2.0**-134 * 3]
    rng = np.random.default_rng(0)
    wide = (rng.standard_normal(2000) * np.exp2(rng.integers(-30, 20, 2000))).astype(np.float32)
    x = np.concatenate([np.asarray(special, dtype=np.float32), wide])
    out = _host_reference(emulated, tmp_path, f"lrn:dtype={dtype},n=1,c=1,s={x.size},size=1", x)
    with np.errstate(over="ignore"):  # 1e6 and 3e38 overflow float16 to inf, as they should
        want = x.astype(NP[dtype]).astype(np.float64)
    got = out[: x.size]
    bad = np.flatnonzero(~((got == want) & (np.signbit(got) == np.signbit(want))))
    assert bad.size == 0, [(float(x[i]), got[i], want[i]) for i in bad[:10]]


def test_self_test_host(emulated):
    proc = _run(emulated, "--self-test-host")
    assert proc.returncode == 0, proc.stdout
    assert "self-test-host: 0 failure(s)" in proc.stdout
    assert proc.stdout.count("PASS") >= 15


# ---- the check's logic end to end, on the emulation build --------------------------------------

@pytest.mark.slow
def test_emulated_run_passes_and_reports(emulated, tmp_path):
    out = tmp_path / "gpu_check.json"
    proc = _run(emulated, "--json", str(out), "--reps", "1", timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "PASS:" in proc.stdout and "goals:" in proc.stdout
    data = json.loads(out.read_text())
    assert data["status"] == "pass" and data["failed"] == 0 and not data["context_lost"]
    specs = [c["spec"] for c in data["correctness"]]
    assert data["checks"] == len(data["correctness"]) + len(data["timing"]) + len(data["large"])
    for needle in ("dtype=float32", "dtype=float16", "dtype=bfloat16", "layout=nchw", "layout=nhwc",
                   "strategy=one-pass", "strategy=split", "strategy=auto", "silu=1", "affine=none", "affine=same",
                   "misalign=1", "window=onnx", "window=pytorch"):
        assert any(needle in s for s in specs), f"no correctness case with {needle}"
    for case in data["correctness"]:
        assert case["ok"] and case["deterministic"] and case["max_err"] <= case["tol"], case
        if "strategy=" in case["spec"] and "strategy=auto" not in case["spec"]:
            assert f"strategy={case['used']}" in case["spec"], case
    # the > 2^31-element cases do not fit the emulated 2 GiB: skipped with the reason
    assert len(data["skipped"]) == 4 and all("GiB free" in s for s in data["skipped"]), data["skipped"]
    kinds = {t["kind"] for t in data["timing"]}
    assert kinds == {"one-pass", "split", "lrn"}, kinds
    for t in data["timing"]:
        assert t["ok"] and t["kernel_ms"] > 0 and t["memcpy_ms"] > 0
        assert abs(t["ratio_to_floor"] - t["kernel_ms"] / t["memcpy_ms"]) <= 1e-9 * t["ratio_to_floor"]
    assert [g["goal"].split()[0] for g in data["goals"]] == ["one-pass", "split", "LRN"]


@pytest.mark.slow
@pytest.mark.parametrize("fault, message", [
    ("corrupt", "max err"),                      # wrong values read back
    ("flaky", "two runs gave different bits"),   # values that change between runs
])
def test_emulated_run_fails_when_results_are_wrong(emulated, tmp_path, fault, message):
    out = tmp_path / "gpu_check.json"
    proc = _run(emulated, "--json", str(out), "--skip-correctness", "--skip-large", "--reps", "1",
                env={"ND_GPU_CHECK_FAULT": fault}, timeout=600)
    assert proc.returncode == 1, proc.stdout[-4000:]
    assert "FAIL" in proc.stdout and message in proc.stdout, proc.stdout[-4000:]
    data = json.loads(out.read_text())
    assert data["status"] == "fail" and data["failed"] >= 1
    assert any(message in f for f in data["failures"]), data["failures"]
