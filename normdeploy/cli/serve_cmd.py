"""normdeploy serve model.onnx [--port-http P] [--port-grpc P]: a local tritonserver (nvidia-pytriton)
serving the model through the python backend, on 127.0.0.1, until Ctrl-C / SIGTERM."""

from __future__ import annotations

import argparse
import shutil
import signal
import tempfile
import threading
from pathlib import Path

from .common import CliError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve", help="serve an ONNX model with a local Triton server (python backend, 127.0.0.1)",
        description="Write a python-backend model repository into a temporary folder, start the tritonserver "
                    "bundled in nvidia-pytriton on 127.0.0.1, wait until it is READY, print the endpoints, and "
                    "stop it on Ctrl-C or SIGTERM.")
    p.add_argument("model", help="the ONNX file")
    p.add_argument("--name", help="model name (default: the file's stem)")
    p.add_argument("--port-http", type=int, metavar="P", help="HTTP port (default: a free one)")
    p.add_argument("--port-grpc", type=int, metavar="P", help="gRPC port (default: a free one)")
    p.add_argument("--max-batch", type=int, default=0, metavar="N", help="max_batch_size (first dim must be dynamic)")
    p.add_argument("--dynamic-batching", action="store_true", help="add dynamic_batching {}")
    p.add_argument("--instances", type=int, default=1, metavar="K", help="instance count (default 1)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for READY (default 60)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return serve(args.model, name=args.name, max_batch=args.max_batch, dynamic_batching=args.dynamic_batching,
                 instances=args.instances, http_port=args.port_http, grpc_port=args.port_grpc, timeout=args.timeout)


def serve(model: str, *, name: str | None = None, max_batch: int = 0, dynamic_batching: bool = False,
          instances: int = 1, http_port: int | None = None, grpc_port: int | None = None, timeout: float = 60.0,
          repo: str | None = None, stop_event: threading.Event | None = None) -> int:
    from ..triton import TritonConfigError, write_model_repository
    from ..triton.server import TritonServer, TritonServerError, TritonUnavailableError, find_tritonserver

    if not Path(model).is_file():
        raise CliError(f"{model}: no such model file")
    for flag, port in (("--port-http", http_port), ("--port-grpc", grpc_port)):
        if port is not None and not 0 < port < 65536:
            raise CliError(f"{flag} {port}: not a port number")
    if timeout <= 0:
        raise CliError(f"--timeout {timeout}: must be positive")
    try:
        find_tritonserver()
    except TritonUnavailableError as exc:
        raise CliError(str(exc)) from None
    name = name or Path(model).name.split(".")[0]
    tmp = Path(tempfile.mkdtemp(prefix="normdeploy-triton-"))
    repo_dir = Path(repo) if repo else tmp / "models"
    server = None
    stop = stop_event or threading.Event()
    previous = {}
    try:
        try:
            write_model_repository(model, repo_dir, name, backend="python", max_batch=max_batch,
                                   dynamic_batching=dynamic_batching, instances=instances, force=bool(repo))
            server = TritonServer.start(repo_dir, http_port=http_port, grpc_port=grpc_port,
                                        log_path=tmp / "tritonserver.log", backend_dir=tmp / "backends")
            if threading.current_thread() is threading.main_thread():
                for sig in (signal.SIGINT, signal.SIGTERM):
                    previous[sig] = signal.signal(sig, lambda *_: stop.set())
            server.wait_ready(timeout)
        except (TritonConfigError, TritonServerError, TritonUnavailableError) as exc:
            raise CliError(str(exc)) from None
        print(f"serving model {name!r} from {repo_dir} (tritonserver pid {server.pid}, log {server.log_path})")
        print(f"  HTTP  http://{server.http_url}/v2/models/{name}/infer")
        print(f"  gRPC  {server.grpc_url}")
        print("Ctrl-C or SIGTERM stops it.", flush=True)
        while not stop.wait(0.5):
            if server.process.poll() is not None:
                print(f"tritonserver exited with code {server.process.returncode}:\n{server.log_tail()}")
                return 1
        print("stopping tritonserver ...", flush=True)
        return 0
    finally:
        if server is not None:
            server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        shutil.rmtree(tmp, ignore_errors=True)
