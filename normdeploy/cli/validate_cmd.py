"""normdeploy validate model.onnx [--torch module:factory [--weights ck.pt]] [--input-shape NAME:DIMS ...]
[--seed N] [--val-range LOW,HIGH] [--iterations N] [--load-inputs FILE ...] [--atol [OUT:]V] [--rtol [OUT:]V]
[--reference std.onnx] [--report-dir DIR] [--ort-opt-level disable|basic|extended|all] [--no-localize]
[--no-progress] [--no-tensorrt]"""

from __future__ import annotations

import argparse

from .common import EXIT_FAILED, EXIT_OK, CliError
from .model_args import add_model_arguments, add_random_input_arguments, input_options, parse_int

EPILOG = """\
runners: onnxruntime+normdeploy (the custom model, our library), onnxruntime-standard (the
reference: convert --to standard of the model, or the model itself when it has no normdeploy
nodes, or --reference), pytorch-cpu (with --torch), tensorrt (when tensorrt imports, a GPU is
present and the plugin library is built; otherwise the report says why it was skipped).

default tolerances (atol = rtol): float32 1e-4, float16 1e-2, bfloat16 5e-2, float64 1e-7,
integers exact. An element fails when it is outside both atol and rtol.

localisation on a mismatch: our library vs the reference -> the first diverging node; PyTorch vs
ONNX -> the first module (path: Class) whose output leaves tolerance while its inputs agree,
mapped through the torch exporter's node metadata, and whether ONNX Runtime's graph optimizer
causes it (rerun at ORT_DISABLE_ALL/BASIC/EXTENDED, the optimized node named).

exit codes: 0 every comparison passed, 1 a mismatch (or a runner failed), 2 bad arguments or input.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate", help="compare a model's outputs across ONNX Runtime (+normdeploy), standard ONNX, PyTorch, TensorRT",
        description="Run the model with normdeploy's library and its standard-op reference (plus PyTorch and\n"
                    "TensorRT when available) through polygraphy's Comparator, compare every output, localise the\n"
                    "first diverging node on a mismatch, and write report.json and report.html.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(p, reference_help="a standard-op model to use as the reference instead of converting the "
                        "model", torch_help="also run this PyTorch model on the CPU")
    add_random_input_arguments(p, seed_help="seed of the random inputs (iteration i uses seed + i; default 1)")
    p.add_argument("--iterations", default="1", metavar="N", help="number of random inputs to compare (default 1)")
    p.add_argument("--load-inputs", action="append", default=[], metavar="FILE",
                   help="use these inputs instead of random ones: .npz (one iteration, one array per input name) "
                        "or polygraphy JSON (a list of feed dicts); repeatable")
    p.add_argument("--atol", action="append", default=[], metavar="[OUTPUT:]VALUE",
                   help="absolute tolerance for every output, or for one output (repeatable)")
    p.add_argument("--rtol", action="append", default=[], metavar="[OUTPUT:]VALUE",
                   help="relative tolerance for every output, or for one output (repeatable)")
    p.add_argument("--report-dir", metavar="DIR", help="where report.json and report.html go "
                   "(default validate-report/<model stem>/); written only once the comparison ran, each file "
                   "atomically: on exit code 2 nothing there is created or changed")
    p.add_argument("--ort-opt-level", default="all", metavar="LEVEL",
                   help="graph optimization level of the ONNX Runtime runners: disable, basic, extended or all "
                        "(ORT's default; validate the level you deploy)")
    p.add_argument("--no-localize", action="store_true", help="on a mismatch, do not look for the first diverging "
                   "node or module")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it is off anyway when stderr is not a terminal)")
    p.add_argument("--no-tensorrt", action="store_true", help="do not try TensorRT")
    p.add_argument("--no-html", action="store_true", help="write report.json only")
    p.add_argument("--verbose", action="store_true", help="show polygraphy's log")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..validate import ValidateError, validate
    from ..validate.tolerances import parse_specs

    shapes, ranges = input_options(args)
    try:
        result = validate(
            args.model,
            reference=args.reference,
            torch_model=args.torch,
            weights=args.weights,
            input_shapes=shapes,
            inputs=args.load_inputs or None,
            seed=parse_int(args.seed, "--seed", 0),
            val_range=ranges or (0.0, 1.0),
            iterations=parse_int(args.iterations, "--iterations", 1),
            atol=parse_specs(args.atol, "--atol"),
            rtol=parse_specs(args.rtol, "--rtol"),
            report_dir=args.report_dir,
            localize=not args.no_localize,
            ort_opt_level=args.ort_opt_level,
            tensorrt=not args.no_tensorrt,
            html=not args.no_html,
            progress=False if args.no_progress else None,
            verbose=args.verbose,
        )
    except ValidateError as exc:
        raise CliError(str(exc)) from exc
    print(result.summary())
    return EXIT_OK if result.passed else EXIT_FAILED
