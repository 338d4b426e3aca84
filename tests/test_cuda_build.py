"""nvcc builds the CUDA launchers for every target architecture without register spills.

The kernels cannot run here (no GPU); this checks what the compiler can: that
plugins/group_norm/group_norm_cuda.cu and plugins/lrn/lrn_cuda.cu compile for sm_75, 80, 86, 89,
90, 100 and 120 plus PTX (compute_120, for later GPUs), and that ptxas reports
"0 bytes spill stores, 0 bytes spill loads" for every kernel on every architecture
(--resource-usage -Xptxas -warn-spills). One nvcc invocation per file (all architectures), the
two files in parallel: 2 processes on the 2 cores of the CI machine, about a minute.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NVCC = Path(os.environ.get("CUDACXX") or os.environ.get("NVCC") or "/usr/local/cuda/bin/nvcc")
REPO = Path(__file__).resolve().parents[1]
ARCHS = (75, 80, 86, 89, 90, 100, 120)
PTX_ARCH = 120
SOURCES = ("plugins/group_norm/group_norm_cuda.cu", "plugins/lrn/lrn_cuda.cu")
EXPECTED_KERNELS = {  # mangled-name fragments that must be compiled for every architecture
    SOURCES[0]: ("GroupNormOnePassKernel", "GroupNormPartialKernel", "GroupNormApplyKernel"),
    SOURCES[1]: ("LrnKernel",),
}

_ENTRY = re.compile(r"Compiling entry function '([^']+)' for '(sm_\d+)'")
_PROPS = re.compile(r"Function properties for (\S+)\s*\n\s*(\d+) bytes stack frame, (\d+) bytes spill stores, "
                    r"(\d+) bytes spill loads")


def _nvcc() -> Path:
    nvcc = NVCC if NVCC.is_file() else (Path(shutil.which("nvcc")) if shutil.which("nvcc") else None)
    if nvcc is None:
        pytest.skip(f"nvcc not found at {NVCC} (nor on PATH): set CUDACXX to build the CUDA kernels")
    return nvcc


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    nvcc = _nvcc()
    out_dir = tmp_path_factory.mktemp("nvcc")
    gencode = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in ARCHS]
    gencode.append(f"-gencode=arch=compute_{PTX_ARCH},code=compute_{PTX_ARCH}")
    procs = {}
    for src in SOURCES:
        obj = out_dir / (Path(src).stem + ".o")
        cmd = [str(nvcc), "-std=c++17", "-O3", "-Xcompiler=-fPIC", *gencode, "--resource-usage",
               "-Xptxas", "-warn-spills", "-c", str(ROOT / src), "-o", str(obj)]
        procs[src] = (subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True), obj)
    results = {}
    for src, (proc, obj) in procs.items():
        out, _ = proc.communicate(timeout=480)
        results[src] = (subprocess.CompletedProcess(proc.args, proc.returncode, out, ""), obj)
    return results


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES)
def test_compiles_for_every_arch_without_spills(builds, source):
    proc, obj = builds[source]
    assert proc.returncode == 0, f"nvcc failed for {source}:\n{proc.stdout[-6000:]}"
    log = proc.stdout
    entries = _ENTRY.findall(log)
    archs_seen = {arch for _, arch in entries}
    assert archs_seen == {f"sm_{a}" for a in ARCHS}, f"{source}: ptxas compiled for {sorted(archs_seen)}"
    for fragment in EXPECTED_KERNELS[source]:
        for a in ARCHS:
            assert any(fragment in name and arch == f"sm_{a}" for name, arch in entries), (
                f"{source}: no {fragment} compiled for sm_{a}")
    props = _PROPS.findall(log)
    assert len(props) >= len(entries), f"{source}: missing 'Function properties' lines in\n{log[-3000:]}"
    spilling = [(name, st, ld) for name, _, st, ld in props if st != "0" or ld != "0"]
    assert not spilling, f"{source}: register spills (function, store bytes, load bytes): {spilling}"
    assert "Registers are spilled" not in log, log[-3000:]
    cuobjdump = _nvcc().parent / "cuobjdump"
    if cuobjdump.is_file():
        listing = subprocess.run([str(cuobjdump), "--list-ptx", str(obj)], capture_output=True, text=True).stdout
        assert f"sm_{PTX_ARCH}" in listing, f"{source}: no PTX for compute_{PTX_ARCH} embedded:\n{listing}"


def _tensorrt_include() -> Path | None:
    roots = [os.environ.get("TENSORRT_ROOT", ""), "/opt/tensorrt", "/usr/local/tensorrt", "/usr"]
    for root in filter(None, roots):
        for inc in (Path(root) / "include", Path(root) / "include" / "x86_64-linux-gnu"):
            if (inc / "NvInferRuntime.h").is_file():
                return inc
    return None


@pytest.mark.slow
def test_tensorrt_plugin_library_builds_with_cuda(tmp_path):
    """The real libnormdeploy_trt.so (plugins + CUDA kernels, one architecture to keep CI short):
    it links, exports only setLoggerFinder/getCreators, and does not need libnvinfer."""
    nvcc = _nvcc()
    inc = _tensorrt_include()
    if inc is None:
        pytest.skip("TensorRT headers (NvInferRuntime.h) not found: set TENSORRT_ROOT (e.g. /opt/tensorrt)")
    import sys

    bindir = Path(sys.executable).parent
    cmake = shutil.which("cmake", path=str(bindir)) or shutil.which("cmake")
    ort_inc = Path(REPO / "third_party" / "onnxruntime" / "include")
    if not (ort_inc / "onnxruntime_c_api.h").is_file():
        ort_inc = Path("/usr/include/onnxruntime")
    env = dict(os.environ, CUDACXX=str(nvcc), PATH=f"{bindir}:{os.environ.get('PATH', '')}")
    configure = subprocess.run(
        [cmake, "-S", str(REPO), "-B", str(tmp_path), "-G", "Ninja", f"-DONNXRUNTIME_ROOT={ort_inc}",
         f"-DTensorRT_INCLUDE_DIR={inc}", "-DNORMDEPLOY_CUDA=ON", "-DCMAKE_CUDA_ARCHITECTURES=80-real",
         "-DNORMDEPLOY_SIMT_TESTS=OFF"], capture_output=True, text=True, env=env, timeout=300)
    assert configure.returncode == 0, configure.stdout[-3000:] + configure.stderr[-3000:]
    build = subprocess.run([cmake, "--build", str(tmp_path), "--target", "normdeploy_trt"], capture_output=True,
                           text=True, env=env, timeout=600)
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-2000:]
    lib = tmp_path / "libnormdeploy_trt.so"
    assert lib.is_file()
    nm = subprocess.run(["nm", "-D", "--defined-only", str(lib)], capture_output=True, text=True, check=True).stdout
    exported = sorted(line.split()[-1] for line in nm.splitlines() if " T " in line)
    assert exported == ["getCreators", "setLoggerFinder"], exported
    needed = subprocess.run(["readelf", "-d", str(lib)], capture_output=True, text=True, check=True).stdout
    assert "libnvinfer" not in needed


@pytest.mark.slow
def test_onnxruntime_library_with_cuda_ops_builds_and_still_runs_on_cpu(tmp_path):
    """Built with -DNORMDEPLOY_CUDA=ON, libnormdeploy_ort.so also registers both ops for the CUDA
    execution provider (kernels on the session's stream). Without a GPU we check that it builds
    for sm_80, carries the CUDA registrations, needs no CUDA shared library, and that a CPU-only
    ONNX Runtime still runs the CPU ops from it."""
    import sys

    nvcc = _nvcc()
    bindir = Path(sys.executable).parent
    cmake = shutil.which("cmake", path=str(bindir)) or shutil.which("cmake")
    ort_inc = REPO / "third_party" / "onnxruntime" / "include"
    if not (ort_inc / "onnxruntime_c_api.h").is_file():
        ort_inc = Path("/usr/include/onnxruntime")
    env = dict(os.environ, CUDACXX=str(nvcc), PATH=f"{bindir}:{os.environ.get('PATH', '')}")
    for cmd in ([cmake, "-S", str(REPO), "-B", str(tmp_path), "-G", "Ninja", f"-DONNXRUNTIME_ROOT={ort_inc}",
                 "-DNORMDEPLOY_CUDA=ON", "-DCMAKE_CUDA_ARCHITECTURES=80-real", "-DNORMDEPLOY_SIMT_TESTS=OFF"],
                [cmake, "--build", str(tmp_path), "--target", "normdeploy_ort"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    lib = tmp_path / "libnormdeploy_ort.so"
    assert b"CUDAExecutionProvider" in lib.read_bytes()
    needed = subprocess.run(["readelf", "-d", str(lib)], capture_output=True, text=True, check=True).stdout
    assert "libcudart" not in needed and "onnxruntime" not in needed
    script = ("import numpy as np, normdeploy as nd\n"
              "from normdeploy.graphs import single_op_model\n"
              "s = nd.make_session(single_op_model('GroupNorm', [2, 4, 3], 'float32', {'num_groups': 2}))\n"
              "x = np.arange(24, dtype=np.float32).reshape(2, 4, 3)\n"
              "y = s.run(None, {'X': x})[0]\n"
              "want = nd.ops.group_norm.reference(x, None, None, 2, np.float32(1e-5))\n"
              "assert np.abs(y - want).max() < 1e-5\nprint('ok')\n")
    out = subprocess.run([sys.executable, "-P", "-c", script], capture_output=True, text=True,
                         env=dict(os.environ, NORMDEPLOY_ORT_LIBRARY=str(lib)), timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-3000:]

