"""normdeploy triton model.onnx --repo DIR --name NAME [--backend onnxruntime|tensorrt|python]
[--max-batch N] [--dynamic-batching] [--instances K] [--engine PATH] [--force] [--serve]"""

from __future__ import annotations

import argparse

from .common import CliError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "triton", help="write a Triton model repository (config.pbtxt, model, custom-op library)",
        description="Write a Triton Inference Server model folder REPO/NAME: config.pbtxt (inputs/outputs from "
                    "the model, batching, instance groups), the model and normdeploy's custom-op library, "
                    "then print a tritonserver command line. --backend python serves the ONNX file through "
                    "ONNX Runtime inside Triton's python backend (runs on a CPU-only server).")
    p.add_argument("model", help="the ONNX file (normdeploy nodes allowed)")
    p.add_argument("--repo", help="the model repository folder (created if missing)")
    p.add_argument("--name", help="model name = folder name inside the repository (default: the file's stem)")
    p.add_argument("--backend", default="onnxruntime", help="onnxruntime (default), tensorrt or python")
    p.add_argument("--max-batch", type=int, default=0, metavar="N",
                   help="max_batch_size; N > 0 folds the model's first (dynamic) dim into Triton batching")
    p.add_argument("--dynamic-batching", action="store_true", help="add dynamic_batching {} (needs --max-batch)")
    p.add_argument("--instances", type=int, default=1, metavar="K", help="instance_group count, KIND_CPU (default 1)")
    p.add_argument("--engine", metavar="PATH", help="--backend tensorrt: the engine to copy as 1/model.plan")
    p.add_argument("--plugin-library", metavar="PATH",
                   help="--backend tensorrt: libnormdeploy_trt.so (default: the installed one)")
    p.add_argument("--force", action="store_true", help="replace an existing REPO/NAME folder")
    p.add_argument("--serve", action="store_true",
                   help="instead: serve the model now (like `normdeploy serve`; python backend in a temp repo)")
    p.add_argument("--port-http", type=int, metavar="P", help="with --serve: HTTP port (default: a free one)")
    p.add_argument("--port-grpc", type=int, metavar="P", help="with --serve: gRPC port (default: a free one)")
    p.add_argument("--timeout", type=float, default=60.0, help="with --serve: seconds to wait for READY (default 60)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..triton import BACKENDS, TritonConfigError, write_model_repository

    if args.serve:
        from .serve_cmd import serve

        if args.backend not in ("python", "onnxruntime") or args.engine:
            raise CliError("--serve uses the python backend (the bundled server has no onnxruntime/tensorrt backend)")
        return serve(args.model, name=args.name, max_batch=args.max_batch, dynamic_batching=args.dynamic_batching,
                     instances=args.instances, http_port=args.port_http, grpc_port=args.port_grpc,
                     timeout=args.timeout, repo=args.repo)
    if args.backend not in BACKENDS:
        raise CliError(f"--backend {args.backend!r}: unknown; use one of {', '.join(BACKENDS)}")
    if not args.repo:
        raise CliError("--repo DIR is required (the model repository to write into)")
    if not Path(args.model).is_file():
        raise CliError(f"{args.model}: no such model file")
    name = args.name or Path(args.model).name.split(".")[0]
    try:
        result = write_model_repository(args.model, args.repo, name, backend=args.backend, max_batch=args.max_batch,
                                        dynamic_batching=args.dynamic_batching, instances=args.instances,
                                        engine=args.engine, plugin_library=args.plugin_library, force=args.force)
    except TritonConfigError as exc:
        raise CliError(str(exc)) from None
    print(f"wrote {result.model_dir} ({args.backend} backend; config.pbtxt validated against Triton's ModelConfig)")
    for f in result.files:
        print(f"  {f.relative_to(result.model_dir.parent)}")
    for note in result.notes:
        print(f"note: {note}")
    print("start the server with:")
    print(f"  {result.server_command}")
    return 0
