"""examples/cpp/nd_run_model: deployment without Python (ONNX Runtime's C++ API + our library),
built by CMake against the pip onnxruntime's shared library and the same headers; its outputs must
equal the Python session's."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch

import normdeploy
from torch_models import GnLrnNet

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def runner(tmp_path_factory) -> Path:
    libs = sorted((Path(onnxruntime.__file__).parent / "capi").glob("libonnxruntime.so*"))
    if not libs:
        pytest.skip(f"no libonnxruntime.so in {Path(onnxruntime.__file__).parent / 'capi'}")
    ort_inc = REPO / "third_party" / "onnxruntime" / "include"
    if not (ort_inc / "onnxruntime_c_api.h").is_file():
        ort_inc = Path("/usr/include/onnxruntime")
    build = tmp_path_factory.mktemp("cpp-example")
    bindir = Path(sys.executable).parent
    cmake = shutil.which("cmake", path=str(bindir)) or shutil.which("cmake")
    env = dict(os.environ, PATH=f"{bindir}:{os.environ.get('PATH', '')}")
    for cmd in ([cmake, "-S", str(REPO), "-B", str(build), "-G", "Ninja", f"-DONNXRUNTIME_ROOT={ort_inc}",
                 "-DNORMDEPLOY_BUILD_EXAMPLES=ON", f"-DONNXRUNTIME_LIBRARY={libs[0]}", "-DNORMDEPLOY_CUDA=OFF",
                 "-DNORMDEPLOY_SIMT_TESTS=OFF"],
                [cmake, "--build", str(build), "--target", "nd_run_model"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return build / "nd_run_model"


def test_cpp_example_matches_python(runner, tmp_path):
    net = GnLrnNet(4).eval()
    model = tmp_path / "net.onnx"
    normdeploy.export(net, (torch.randn(1, 3, 6, 7),), model, input_names=["input"],
                      dynamic_axes={"input": {0: "batch", 2: "h", 3: "w"}})
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 11)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = subprocess.run([str(runner), str(model), "--library", normdeploy.library_path(), "--input",
                          f"input={tmp_path / 'x.npy'}", "--output-dir", str(tmp_path), "--threads", "2"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "output: shape [2, 8, 9, 11]" in out.stdout
    got = np.load(tmp_path / "output.npy")
    want = normdeploy.make_session(model).run(None, {"input": x})[0]
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(got, net(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-5)


def test_cpp_example_random_inputs_and_errors(runner, tmp_path):
    net = GnLrnNet(5).eval()
    model = tmp_path / "net.onnx"
    normdeploy.export(net, (torch.randn(1, 3, 6, 7),), model, input_names=["input"], dynamic_axes={"input": {0: "batch"}})
    ok = subprocess.run([str(runner), str(model), "--library", normdeploy.library_path(), "--shape",
                         "input=3x3x6x7", "--seed", "4"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "shape [3, 8, 6, 7]" in ok.stdout, ok.stderr
    dyn = subprocess.run([str(runner), str(model), "--library", normdeploy.library_path()],
                         capture_output=True, text=True, timeout=120)
    assert dyn.returncode == 2 and "has a dynamic dim: pass --shape input=" in dyn.stderr
    no_lib = subprocess.run([str(runner), str(model)], capture_output=True, text=True, timeout=60)
    assert no_lib.returncode == 2 and "--library" in no_lib.stderr
    bad_lib = subprocess.run([str(runner), str(model), "--library", str(tmp_path / "nope.so"), "--shape",
                              "input=1x3x6x7"], capture_output=True, text=True, timeout=60)
    assert bad_lib.returncode == 1 and "ONNX Runtime" in bad_lib.stderr
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    bad_npy = subprocess.run([str(runner), str(model), "--library", normdeploy.library_path(), "--input",
                              f"input={tmp_path / 'bad.npy'}"], capture_output=True, text=True, timeout=60)
    assert bad_npy.returncode == 2 and "not a .npy file" in bad_npy.stderr
