"""Triton deployment: config.pbtxt for each backend (parsed into tritonclient's ModelConfig), CLI
errors, and an end-to-end run against a real tritonserver (nvidia-pytriton, python backend,
127.0.0.1 only) over HTTP and gRPC with concurrent clients."""

from __future__ import annotations

import importlib.util
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from normdeploy.cli.main import main as cli_main

pytest.importorskip("tritonclient.grpc", reason="tritonclient[http,grpc] is not installed")
from google.protobuf import text_format  # noqa: E402
from tritonclient.grpc import model_config_pb2  # noqa: E402

HAVE_PYTRITON = importlib.util.find_spec("pytriton") is not None
SKIP_SERVER = "nvidia-pytriton is not importable (it bundles tritonserver); pip install nvidia-pytriton"


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.gn = torch.nn.GroupNorm(4, 8)
        self.act = torch.nn.SiLU()
        self.lrn = torch.nn.LocalResponseNorm(3)

    def forward(self, x):
        return self.lrn(self.act(self.gn(self.conv(x))))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import normdeploy

    torch.manual_seed(0)
    model = Tiny().eval()
    d = tmp_path_factory.mktemp("tiny")
    dynamic = str(d / "dynamic.onnx")
    static = str(d / "static.onnx")
    x = torch.randn(2, 3, 8, 8)
    normdeploy.export(model, (x,), dynamic, input_names=["input"], dynamic_axes={"input": {0: "batch"}})
    normdeploy.export(model, (x,), static, input_names=["input"])
    return model, dynamic, static


def parse(path):
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


@pytest.mark.parametrize("backend", ["onnxruntime", "python", "tensorrt"])
def test_config_per_backend(tiny, tmp_path, backend, capsys):
    _, dynamic, _ = tiny
    rc = cli_main(["triton", dynamic, "--repo", str(tmp_path / "repo"), "--name", "m", "--backend", backend,
                   "--max-batch", "8", "--dynamic-batching", "--instances", "3"])
    out = capsys.readouterr().out
    assert rc == 0, out
    folder = tmp_path / "repo" / "m"
    cfg = parse(folder / "config.pbtxt")
    assert cfg.name == "m" and cfg.max_batch_size == 8 and cfg.HasField("dynamic_batching")
    assert [(i.name, list(i.dims), i.data_type) for i in cfg.input] == [("input", [3, 8, 8], model_config_pb2.TYPE_FP32)]
    assert [(o.name, list(o.dims)) for o in cfg.output] == [("output", [8, 8, 8])]
    assert cfg.instance_group[0].count == 3
    assert cfg.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_CPU
    assert "tritonserver" in out and "--model-repository" in out
    if backend == "onnxruntime":
        assert cfg.platform == "onnxruntime_onnx"
        lib = folder / "libnormdeploy_ort.so"
        assert lib.is_file() and list(cfg.model_operations.op_library_filename) == [str(lib.resolve())]
        assert (folder / "1" / "model.onnx").is_file()
    elif backend == "python":
        assert cfg.backend == "python" and not cfg.model_operations.op_library_filename
        assert (folder / "1" / "model.py").is_file() and (folder / "libnormdeploy_ort.so").is_file()
        compile((folder / "1" / "model.py").read_text(), "model.py", "exec")
    else:
        assert cfg.platform == "tensorrt_plan"
        if (folder / "libnormdeploy_trt.so").is_file():
            assert list(cfg.model_operations.op_library_filename) == [str((folder / "libnormdeploy_trt.so").resolve())]
            assert "LD_PRELOAD=" in out and "--backend-config=tensorrt,plugins=" in out
        else:
            assert "TensorRT plugin library is not built" in out
        assert "no --engine given" in out


def test_no_batching_keeps_full_dims(tiny, tmp_path):
    _, _, static = tiny
    assert cli_main(["triton", static, "--repo", str(tmp_path), "--name", "s", "--backend", "python"]) == 0
    cfg = parse(tmp_path / "s" / "config.pbtxt")
    assert cfg.max_batch_size == 0 and list(cfg.input[0].dims) == [2, 3, 8, 8]
    assert not cfg.HasField("dynamic_batching")


def test_typos_in_config_are_rejected():
    from normdeploy.triton import TritonConfigError, validate_config_text

    validate_config_text('name: "m"\nbackend: "python"\ninstance_group [ { kind: KIND_CPU } ]\n')
    with pytest.raises(TritonConfigError, match="invalid config.pbtxt"):
        validate_config_text('name: "m"\nmax_batch: 4\n')
    with pytest.raises(TritonConfigError, match="invalid config.pbtxt"):
        validate_config_text('name: "m"\ninstance_group [ { kind: KIND_CPUU } ]\n')


@pytest.mark.parametrize("extra, message", [
    (["--max-batch", "4"], "has a static first dim (2"),
    (["--backend", "tflite"], "--backend 'tflite': unknown"),
    (["--dynamic-batching"], "--dynamic-batching needs --max-batch"),
    (["--instances", "0"], "--instances 0: must be at least 1"),
    (["--name", "a/b"], "--name 'a/b'"),
    (["--engine", "x.plan"], "--engine is only for --backend tensorrt"),
])
def test_bad_arguments(tiny, tmp_path, capsys, extra, message):
    _, _, static = tiny
    assert cli_main(["triton", static, "--repo", str(tmp_path), "--name", "m", *extra]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_missing_model_and_existing_folder(tiny, tmp_path, capsys):
    _, dynamic, _ = tiny
    assert cli_main(["triton", str(tmp_path / "nope.onnx"), "--repo", str(tmp_path)]) == 2
    assert "nope.onnx: no such model file" in capsys.readouterr().err
    args = ["triton", dynamic, "--repo", str(tmp_path), "--name", "m"]
    assert cli_main(args) == 0
    (tmp_path / "m" / "marker").write_text("old")
    capsys.readouterr()
    assert cli_main(args) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert (tmp_path / "m" / "marker").exists()
    assert cli_main([*args, "--force"]) == 0
    assert not (tmp_path / "m" / "marker").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no staging folders left


def test_serve_errors(tiny, tmp_path, capsys):
    _, dynamic, _ = tiny
    assert cli_main(["serve", str(tmp_path / "nope.onnx")]) == 2
    assert "no such model file" in capsys.readouterr().err
    if not HAVE_PYTRITON:
        assert cli_main(["serve", dynamic]) == 2
        assert "nvidia-pytriton is not installed" in capsys.readouterr().err
        return
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert cli_main(["serve", dynamic, "--port-http", str(port)]) == 2
        assert f"port {port} on 127.0.0.1 is already in use" in capsys.readouterr().err


# ---- the real server -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tiny, tmp_path_factory):
    if not HAVE_PYTRITON:
        pytest.skip(SKIP_SERVER)
    from normdeploy.triton import write_model_repository
    from normdeploy.triton.server import TritonServer

    _, dynamic, _ = tiny
    d = tmp_path_factory.mktemp("triton")
    write_model_repository(dynamic, d / "models", "tiny", backend="python", max_batch=8, dynamic_batching=True,
                           instances=2)
    srv = TritonServer.start(d / "models", log_path=d / "server.log", backend_dir=d / "backends")
    try:
        srv.wait_ready(timeout=45)
        yield srv
    finally:
        srv.stop(timeout=15)
        assert srv.process.poll() is not None


def _expected(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def _check(model, x, got):
    want = _expected(model, x)
    scale = max(1.0, float(np.abs(want).max()))
    assert got.shape == want.shape
    assert float(np.abs(got - want).max()) <= 1e-4 * scale


def test_server_http_and_grpc_concurrent(server, tiny):
    import tritonclient.grpc as grpcclient
    import tritonclient.http as httpclient

    model, _, _ = tiny

    def http_call(seed):
        x = np.random.default_rng(seed).standard_normal((1 + seed % 4, 3, 8, 8)).astype(np.float32)
        client = httpclient.InferenceServerClient(server.http_url, connection_timeout=10, network_timeout=20)
        try:
            inp = httpclient.InferInput("input", list(x.shape), "FP32")
            inp.set_data_from_numpy(x)
            res = client.infer("tiny", [inp], outputs=[httpclient.InferRequestedOutput("output")], timeout=20)
            return x, res.as_numpy("output")
        finally:
            client.close()

    def grpc_call(seed):
        x = np.random.default_rng(seed).standard_normal((1 + seed % 4, 3, 8, 8)).astype(np.float32)
        client = grpcclient.InferenceServerClient(server.grpc_url)
        try:
            inp = grpcclient.InferInput("input", list(x.shape), "FP32")
            inp.set_data_from_numpy(x)
            res = client.infer("tiny", [inp], outputs=[grpcclient.InferRequestedOutput("output")], client_timeout=20)
            return x, res.as_numpy("output")
        finally:
            client.close()

    http = httpclient.InferenceServerClient(server.http_url, connection_timeout=10, network_timeout=20)
    assert http.is_server_ready() and http.is_model_ready("tiny")
    http.close()
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(http_call if i % 2 else grpc_call, i) for i in range(16)]
        results = [f.result(timeout=60) for f in futures]
    sizes = set()
    for x, got in results:
        _check(model, x, got)
        sizes.add(x.shape[0])
    assert {1, 2, 3, 4} <= sizes
    assert threading.active_count() < 50
