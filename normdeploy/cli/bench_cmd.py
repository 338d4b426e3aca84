"""normdeploy bench model.onnx [--torch module:factory [--weights ck.pt]] [--reference std.onnx]
[--input-shape NAME:DIMS ...] [--seed N] [--val-range LOW,HIGH] [--load-inputs FILE]
[--warmup N] [--repeats N] [--min-repeat-ms MS] [--threads N] [--spinning] [--profile-runs N]
[--no-profile] [--no-tensorrt] [--json PATH] [--no-html] [--no-progress]"""

from __future__ import annotations

import argparse

from .common import EXIT_FAILED, EXIT_OK, CliError
from .model_args import add_model_arguments, add_random_input_arguments, input_options, parse_int, parse_nonnegative

EPILOG = """\
runners: onnxruntime+normdeploy (the custom model, our library), onnxruntime-standard (the
baseline: plain ONNX Runtime on convert --to standard of the model, or --reference),
pytorch-cpu (with --torch), tensorrt (when tensorrt imports, a GPU is present and the plugin
library is built; otherwise the reason it was skipped is printed).

speed-up = baseline ms / runner ms in the same interleaved repeat, median over the repeats
(> 1: faster than onnxruntime-standard); the quartiles of those per-repeat ratios are its spread.
Every runner's outputs are compared with the baseline's before and after timing (max abs
difference within 1e-3 of the output scale in float32): one that differs is reported, not ranked.

exit codes: 0 every runner ran and agreed, 1 a runner failed or its outputs differ, 2 bad
arguments or input.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench", help="time a whole model: ONNX Runtime + normdeploy vs plain ONNX Runtime (standard ops), PyTorch, TensorRT",
        description="Time the model with normdeploy's library against plain ONNX Runtime on its standard-op\n"
                    "equivalent (the baseline), PyTorch eager and TensorRT, interleaved; show the time share per op\n"
                    "type (ONNX Runtime's profiler); write bench.json and bench.html.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(p, reference_help="a standard-op model to time as the baseline instead of converting the "
                        "model", torch_help="also time this PyTorch model (eager, CPU)")
    add_random_input_arguments(p, seed_help="seed of the random inputs (default 1)")
    p.add_argument("--load-inputs", metavar="FILE", help="time these inputs instead of random ones: .npz (one array "
                   "per input name) or polygraphy JSON (the first feed dict)")
    p.add_argument("--warmup", default="3", metavar="N", help="untimed calls per runner before timing (default 3)")
    p.add_argument("--repeats", default="10", metavar="N", help="timed repeats per runner, interleaved (default 10)")
    p.add_argument("--min-repeat-ms", default="20", metavar="MS", help="a repeat makes back-to-back calls until it "
                   "lasts at least this long (per-call mean; default 20; 0: one call per repeat)")
    p.add_argument("--threads", metavar="N", help="threads for ONNX Runtime (intra-op) and torch (default: all usable "
                   "cores)")
    p.add_argument("--spinning", action="store_true", help="let ONNX Runtime's idle threads spin "
                   "(session.intra_op.allow_spinning=1, ONNX Runtime's own default; off here unless given)")
    p.add_argument("--profile-runs", default="5", metavar="N", help="runs profiled per ONNX Runtime model (default 5, "
                   "after one dropped warm-up)")
    p.add_argument("--no-profile", action="store_true", help="skip ONNX Runtime profiling (no op-type time share)")
    p.add_argument("--no-tensorrt", action="store_true", help="do not try TensorRT")
    p.add_argument("--json", metavar="PATH", help="where the JSON report goes (default bench-report/<model stem>/"
                   "bench.json); the HTML page goes beside it (.html)")
    p.add_argument("--no-html", action="store_true", help="write the JSON report only")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it is off anyway when stderr is not a terminal)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..bench import BenchError, bench

    shapes, ranges = input_options(args)
    try:
        result = bench(
            args.model,
            reference=args.reference,
            torch_model=args.torch,
            weights=args.weights,
            input_shapes=shapes,
            inputs=args.load_inputs,
            seed=parse_int(args.seed, "--seed", 0),
            val_range=ranges or (0.0, 1.0),
            warmup=parse_int(args.warmup, "--warmup", 0),
            repeats=parse_int(args.repeats, "--repeats", 1),
            min_repeat_ms=parse_nonnegative(args.min_repeat_ms, "--min-repeat-ms"),
            threads=None if args.threads is None else parse_int(args.threads, "--threads", 1),
            spinning=args.spinning,
            profile=not args.no_profile,
            profile_runs=parse_int(args.profile_runs, "--profile-runs", 1),
            tensorrt=not args.no_tensorrt,
            report_path=args.json,
            html=not args.no_html,
            progress=False if args.no_progress else None,
        )
    except BenchError as exc:
        raise CliError(str(exc)) from exc
    print(result.summary())
    return EXIT_OK if result.passed else EXIT_FAILED
