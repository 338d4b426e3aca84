"""normdeploy bench: interleaved timing, ratios against the named baseline, the output checks that
tie a timing to a result, ORT profiling shares, reports, CLI exit codes and error messages.

No test here judges speed: timings that matter come from a fake clock advanced by fake runners
by known amounts, so every expected figure is worked out by hand."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from normdeploy.bench import BenchError, bench
from normdeploy.bench import api as bench_api
from normdeploy.bench.measure import Measurement, check_outputs, measure, ratios
from normdeploy.bench.profile import summarize
from normdeploy.bench.runners import CUSTOM, PYTORCH, REFERENCE, TENSORRT, Settings, ort_session
from normdeploy.cli.main import main
from normdeploy.demo import build_model
from normdeploy.validate import trt as trt_probe

from helpers import NORM_NET_MODULE

SHAPE = "X:2x24x9x11"


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """X -> GroupNorm(+SiLU) -> LocalResponseNorm (normdeploy nodes), dynamic N/H/W."""
    path = tmp_path_factory.mktemp("bench") / "tiny.onnx"
    model, _, _ = build_model("float32")
    onnx.save(model, path)
    return path


FAST = dict(warmup=1, repeats=3, min_repeat_ms=0.0, profile_runs=1, progress=False)


# ------------------------------------------------------------------------------------------------
# fake runners on a fake clock


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeRunner:
    """Advances the clock by `cost_ms` per call and returns `outputs` (or `later` after
    `switch_after` calls: a runner whose timed calls compute something else than its checked one)."""

    def __init__(self, name: str, clock: FakeClock, cost_ms: float, outputs: list[np.ndarray],
                 later: list[np.ndarray] | None = None, switch_after: int = 1, log: list[str] | None = None) -> None:
        self.name, self.clock, self.cost_ms = name, clock, cost_ms
        self.outputs, self.later, self.switch_after = outputs, later, switch_after
        self.calls = 0
        self.log = log if log is not None else []
        self.description = f"fake {name}"

    def prepare(self, feed: Any) -> Any:
        return feed

    def run(self, prepared: Any) -> list[np.ndarray]:
        self.calls += 1
        self.clock.now += self.cost_ms / 1e3
        self.log.append(self.name)
        if self.later is not None and self.calls > self.switch_after:
            return self.later
        return self.outputs

    def close(self) -> None:
        pass


def _measurement(name: str, samples: list[float]) -> Measurement:
    return Measurement(name, samples, 1)


# ------------------------------------------------------------------------------------------------
# pure parts: ratios, measure, checks, profile


def test_ratios_are_baseline_over_runner_and_use_the_named_baseline() -> None:
    measured = {
        "a": _measurement("a", [10.0, 12.0, 11.0]),        # median 11
        "base": _measurement("base", [44.0, 40.0, 48.0]),  # median 44
        "c": _measurement("c", [88.0, 80.0, 96.0]),        # median 88
    }
    got = ratios(measured, "base")
    assert got["base"].value == 1.0 and got["base"].of_medians == 1.0
    # paired per repeat: a = 44/10, 40/12, 48/11 -> sorted 3.33, 4.36, 4.4: median 48/11, quartiles interpolate
    assert got["a"].value == pytest.approx(48 / 11)
    assert got["a"].q1 == pytest.approx((40 / 12 + 48 / 11) / 2)
    assert got["a"].q3 == pytest.approx((48 / 11 + 44 / 10) / 2)
    assert got["a"].of_medians == pytest.approx(4.0)    # 44 / 11
    # c = 44/88, 40/80, 48/96: 0.5 in every repeat
    assert got["c"].value == pytest.approx(0.5) and got["c"].q1 == pytest.approx(0.5)
    assert {r.baseline for r in got.values()} == {"base"}
    # the same measurements in another order give the same ratios (no "first runner is the baseline")
    again = ratios(dict(reversed(list(measured.items()))), "base")
    assert {k: v.value for k, v in again.items()} == {k: v.value for k, v in got.items()}
    with pytest.raises(BenchError, match="baseline 'nope' was not measured"):
        ratios(measured, "nope")
    with pytest.raises(BenchError, match="d has 2 repeats, the baseline 3"):
        ratios({**measured, "d": _measurement("d", [1.0, 2.0])}, "base")


def test_measure_interleaves_rotating_start_and_times_each_runner_by_its_own_calls() -> None:
    clock, log = FakeClock(), []
    out = [np.zeros(2, np.float32)]
    runners = [FakeRunner("r0", clock, 3.0, out, log=log), FakeRunner("r1", clock, 7.0, out, log=log),
               FakeRunner("r2", clock, 5.0, out, log=log)]
    result = measure(runners, {r.name: None for r in runners}, warmup=1, repeats=3, min_repeat_ms=0.0, clock=clock)
    # one warm-up round, then repeat i starts at runner i mod 3
    assert log == ["r0", "r1", "r2", "r0", "r1", "r2", "r1", "r2", "r0", "r2", "r0", "r1"]
    assert result["r0"].samples_ms == pytest.approx([3.0] * 3)
    assert result["r1"].samples_ms == pytest.approx([7.0] * 3)
    assert result["r2"].samples_ms == pytest.approx([5.0] * 3)
    assert result["r1"].warmup_ms == pytest.approx([7.0])


def test_measure_makes_repeats_last_min_repeat_ms_and_reports_ms_per_call() -> None:
    clock = FakeClock()
    out = [np.zeros(2, np.float32)]
    fast, slow = FakeRunner("fast", clock, 2.0, out), FakeRunner("slow", clock, 30.0, out)
    result = measure([fast, slow], {"fast": None, "slow": None}, warmup=2, repeats=4, min_repeat_ms=9.0, clock=clock)
    assert result["fast"].calls_per_repeat == 5      # ceil(9 / 2)
    assert result["slow"].calls_per_repeat == 1
    assert fast.calls == 2 + 4 * 5 and slow.calls == 2 + 4
    assert result["fast"].samples_ms == pytest.approx([2.0] * 4)   # per call, not per repeat
    assert result["slow"].stats.median == pytest.approx(30.0)


def test_measure_keeps_what_the_last_timed_call_returned() -> None:
    clock = FakeClock()
    first, later = [np.ones(3, np.float32)], [np.full(3, 2.0, np.float32)]
    runner = FakeRunner("r", clock, 1.0, first, later=later, switch_after=1)
    result = measure([runner], {"r": None}, warmup=0, repeats=2, clock=clock)
    assert result["r"].last_outputs is later


@pytest.mark.parametrize("repeats,warmup", [(0, 1), (1, -1)])
def test_measure_refuses_bad_counts(repeats: int, warmup: int) -> None:
    with pytest.raises(BenchError, match="repeats >= 1 and warmup >= 0"):
        measure([], {}, warmup=warmup, repeats=repeats)


def test_check_outputs() -> None:
    want = [np.array([[1.0, -2.0], [3.0, 0.5]], np.float32)]
    names, dtypes = ["y"], {"y": "float32"}
    assert check_outputs([want[0] + 2e-3], want, names, dtypes).ok          # 2e-3 <= 1e-3 x scale 3
    bad = check_outputs([want[0] + 4e-3], want, names, dtypes)                # 4e-3 > 3e-3
    assert not bad.ok and "max abs difference 0.004" in bad.message and "'y'" in bad.message
    assert "shape [4]" in check_outputs([want[0].ravel()], want, names, dtypes).message
    assert "1 output(s), the baseline has 2" in check_outputs(want, want * 2, ["y", "z"]).message
    nan = want[0].copy()
    nan[0, 0] = np.nan
    assert "NaN/Inf" in check_outputs([nan], want, names, dtypes).message
    assert check_outputs([nan], [nan], names, dtypes).ok
    assert check_outputs([want[0] + 1e-2], want, names, {"y": "float16"}).ok  # looser for float16


def _event(cat: str, name: str, ts: float, dur: float, op: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"cat": cat, "name": name, "ts": ts, "dur": dur, "ph": "X"}
    if op is not None:
        event["args"] = {"op_name": op, "provider": "CPUExecutionProvider"}
    return event


def test_profile_summary_drops_the_warmup_run_and_takes_each_nodes_median() -> None:
    def run(start: float, conv: float, gn1: float, gn2: float, relu: float) -> list[dict[str, Any]]:
        return [_event("Node", "conv1_kernel_time", start + 10, conv, "Conv"),
                _event("Node", "conv1_fence_before", start + 5, 5, "Conv"),    # not a kernel event
                _event("Node", "gn1_kernel_time", start + 20, gn1, "GroupNorm"),
                _event("Node", "gn2_kernel_time", start + 30, gn2, "GroupNorm"),
                _event("Node", "relu_kernel_time", start + 40, relu, "Relu")]

    events = [_event("Session", "session_initialization", 0, 50),
              *run(100, 900, 10, 10, 10), _event("Session", "model_run", 100, 1000),      # warm-up: dropped
              *run(2000, 60, 20, 20, 10), _event("Session", "model_run", 2000, 200),
              *run(3000, 100, 10, 10, 20), _event("Session", "model_run", 3000, 300),
              *run(4000, 80, 900, 15, 30), _event("Session", "model_run", 4000, 1000)]     # gn1 preempted once
    prof = summarize(events, CUSTOM, {"GroupNorm"}, skip_runs=1)
    assert prof.runs == 3
    # node medians (us): conv1 80, gn1 20, gn2 15, relu 20 -> 135 us per run; model_run median 300 us
    assert prof.kernel_ms_per_run == pytest.approx(0.135)
    assert prof.wall_ms_per_run == pytest.approx(0.300)
    by_op = {o.op_type: o for o in prof.ops}
    assert [o.op_type for o in prof.ops] == ["Conv", "GroupNorm", "Relu"]
    assert by_op["Conv"].share == pytest.approx(80 / 135) and by_op["Conv"].ms_per_run == pytest.approx(0.080)
    assert by_op["GroupNorm"].share == pytest.approx(35 / 135) and by_op["GroupNorm"].nodes == 2
    assert by_op["GroupNorm"].normdeploy and not by_op["Conv"].normdeploy
    assert prof.normdeploy_share == pytest.approx(35 / 135)
    assert prof.normdeploy_ms_per_run == pytest.approx(0.035)
    with pytest.raises(ValueError, match="holds 1 run"):
        summarize(events[:7], CUSTOM, set(), skip_runs=1)


# ------------------------------------------------------------------------------------------------
# bench() with fake runners: ratios come from the named baseline, the timed output is checked


def _fake_build(runners: list[FakeRunner], baseline: str = REFERENCE):
    def build(pair: Any, settings: Any, torch_model: Any, weights: Any, tensorrt: bool, feed: Any, workdir: Any):
        roles = {CUSTOM: "custom", REFERENCE: "baseline", PYTORCH: "pytorch"}
        results = [bench_api.RunnerResult(r.name, roles.get(r.name, r.name), r.description) for r in runners]
        return list(runners), results, baseline   # in the given order, the baseline not necessarily first
    return build


def test_bench_ratios_come_from_the_baseline_runner(monkeypatch: pytest.MonkeyPatch, model_path: Path) -> None:
    clock = FakeClock()
    y = [np.linspace(-1, 1, 24 * 2 * 9 * 11, dtype=np.float32).reshape(2, 24, 9, 11)]
    # the custom runner is listed first and the baseline last: a ratio against the first or the
    # last-listed runner, or an inverted one, gives other numbers
    runners = [FakeRunner(CUSTOM, clock, 10.0, y), FakeRunner(PYTORCH, clock, 20.0, y),
               FakeRunner(REFERENCE, clock, 40.0, y)]
    monkeypatch.setattr(bench_api, "_build", _fake_build(runners))
    result = bench(model_path, input_shapes=[SHAPE], report_path=False, profile=False, clock=clock, **FAST)
    assert result.passed
    entries = {e["runner"]: e for e in result.report["runners"]}
    assert result.report["baseline"] == REFERENCE
    assert entries[CUSTOM]["speedup_vs_baseline"] == pytest.approx(4.0)     # 40 / 10
    assert entries[PYTORCH]["speedup_vs_baseline"] == pytest.approx(2.0)    # 40 / 20
    assert entries[REFERENCE]["speedup_vs_baseline"] == pytest.approx(1.0)
    assert entries[CUSTOM]["latency_ms"]["median"] == pytest.approx(10.0)
    assert result.ratios[CUSTOM].baseline == REFERENCE
    text = result.summary()
    assert "speed-up = onnxruntime-standard ms / runner ms, per interleaved repeat" in text
    assert "4.00x" in text and "2.00x" in text and "1.00x (baseline)" in text


def test_bench_flags_a_runner_whose_timed_output_is_not_what_was_checked(monkeypatch: pytest.MonkeyPatch,
                                                                        model_path: Path) -> None:
    clock = FakeClock()
    y = [np.linspace(-1, 1, 24 * 2 * 9 * 11, dtype=np.float32).reshape(2, 24, 9, 11)]
    other = [y[0] * 1.5]
    # right on the checked call, something else once timing starts (e.g. a cached or cheaper path)
    cheat = FakeRunner(CUSTOM, clock, 1.0, y, later=other, switch_after=1)
    runners = [cheat, FakeRunner(REFERENCE, clock, 40.0, y)]
    monkeypatch.setattr(bench_api, "_build", _fake_build(runners))
    result = bench(model_path, input_shapes=[SHAPE], report_path=False, profile=False, clock=clock, **FAST)
    assert not result.passed and result.exit_code == 1
    entry = next(e for e in result.report["runners"] if e["runner"] == CUSTOM)
    assert entry["check"]["ok"] is True and entry["timed_check"]["ok"] is False
    assert "timed calls differ from the baseline" in entry["error"]
    assert "speedup_vs_baseline" not in entry and CUSTOM not in result.ratios
    assert "ERROR" in result.summary()


def test_bench_does_not_time_a_runner_whose_outputs_differ(monkeypatch: pytest.MonkeyPatch, model_path: Path) -> None:
    clock = FakeClock()
    y = [np.ones((2, 24, 9, 11), np.float32)]
    wrong = FakeRunner(PYTORCH, clock, 1.0, [y[0] + 0.5])
    runners = [FakeRunner(CUSTOM, clock, 10.0, y), wrong, FakeRunner(REFERENCE, clock, 40.0, y)]
    monkeypatch.setattr(bench_api, "_build", _fake_build(runners))
    result = bench(model_path, input_shapes=[SHAPE], report_path=False, profile=False, clock=clock, **FAST)
    assert not result.passed
    assert wrong.calls == 1        # the check only
    entry = next(e for e in result.report["runners"] if e["runner"] == PYTORCH)
    assert not entry["timed"] and "differ from the baseline's" in entry["error"] and "0.5" in entry["error"]
    assert result.ratios[CUSTOM].value == pytest.approx(4.0)


def test_bench_progress_bar_on_stderr(monkeypatch: pytest.MonkeyPatch, model_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    clock = FakeClock()
    y = [np.ones((2, 24, 9, 11), np.float32)]
    monkeypatch.setattr(bench_api, "_build", _fake_build([FakeRunner(CUSTOM, clock, 1.0, y),
                                                          FakeRunner(REFERENCE, clock, 2.0, y)]))
    bench(model_path, input_shapes=[SHAPE], report_path=False, profile=False, clock=clock,
          **{**FAST, "progress": True})
    err = capsys.readouterr().err
    # 2 runners x (1 warm-up + 3 repeats) steps
    assert "normdeploy bench [" in err and "8/8" in err


# ------------------------------------------------------------------------------------------------
# bench() on real runners


def test_bench_real_runners_reports_and_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                model_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(trt_probe, "probe", lambda: trt_probe.TrtProbe(False, "no GPU: test double"))
    result = bench(model_path, input_shapes=[SHAPE], threads=1, **FAST)
    assert result.passed, result.summary()
    json_path = tmp_path / "bench-report" / "tiny" / "bench.json"
    assert result.json_path == Path("bench-report/tiny/bench.json") and json_path.is_file()
    report = json.loads(json_path.read_text())
    entries = {e["runner"]: e for e in report["runners"]}
    assert entries[CUSTOM]["timed"] and entries[REFERENCE]["timed"]
    assert entries[TENSORRT] == {**entries[TENSORRT], "timed": False, "skipped": "no GPU: test double"}
    assert entries[CUSTOM]["check"]["ok"] and entries[CUSTOM]["check"]["max_abs"] < 1e-4
    assert len(entries[CUSTOM]["samples_ms"]) == 3
    assert report["settings"]["threads"] == 1 and report["settings"]["ort_allow_spinning"] is False
    assert report["inputs"]["shapes"] == {"X": [2, 24, 9, 11]}
    profiles = {p["runner"]: p for p in report["profiles"]}
    ops = {o["op_type"]: o for o in profiles[CUSTOM]["ops"]}
    assert set(ops) == {"GroupNorm", "LocalResponseNorm"} and all(o["normdeploy"] for o in ops.values())
    assert profiles[CUSTOM]["normdeploy_share"] == pytest.approx(1.0)
    assert profiles[REFERENCE]["normdeploy_share"] == 0.0 and "GroupNorm" not in {o["op_type"] for o in profiles[REFERENCE]["ops"]}
    page = (tmp_path / "bench-report" / "tiny" / "bench.html").read_text()
    assert page.count("data:image/png;base64,") == 3   # latency + one share chart per profiled model
    text = result.summary()
    assert "threads: 1" in text and "spinning off" in text and "normdeploy nodes: 100.0%" in text
    assert "tensorrt                 skipped: no GPU: test double" in text


class FakeTrt:
    """Stands in for polygraphy's TrtRunner (no TensorRT here): runs the custom model in ONNX Runtime."""

    def __init__(self, path: Path) -> None:
        import normdeploy

        self.session = normdeploy.make_session(path)
        self.is_active = False
        self.calls = 0

    def activate(self) -> None:
        self.is_active = True

    def deactivate(self) -> None:
        self.is_active = False

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        assert self.is_active
        self.calls += 1
        return dict(zip([o.name for o in self.session.get_outputs()], self.session.run(None, feed)))


def test_bench_times_tensorrt_when_the_probe_says_it_is_available(monkeypatch: pytest.MonkeyPatch,
                                                                  model_path: Path) -> None:
    made: list[FakeTrt] = []

    def build_runner(path: Path, shapes: dict[str, Any], library: str, fp16: bool) -> FakeTrt:
        assert shapes == {"X": ((2, 24, 9, 11),) * 3} and library == "/fake/libnormdeploy_trt.so" and not fp16
        made.append(FakeTrt(path))
        return made[-1]

    monkeypatch.setattr(trt_probe, "probe", lambda: trt_probe.TrtProbe(True, None, "/fake/libnormdeploy_trt.so", "11.1"))
    monkeypatch.setattr(trt_probe, "build_runner", build_runner)
    result = bench(model_path, input_shapes=[SHAPE], report_path=False, profile=False, **FAST)
    assert result.passed, result.summary()
    entry = next(e for e in result.report["runners"] if e["runner"] == TENSORRT)
    assert entry["timed"] and entry["check"]["ok"] and len(entry["samples_ms"]) == 3
    assert made[0].calls == 1 + 1 + 3 and not made[0].is_active   # check, warm-up, repeats; deactivated after


def test_bench_sets_threads_and_spinning_on_the_sessions(model_path: Path) -> None:
    for spinning in (False, True):
        session = ort_session(model_path, Settings(1, spinning), with_library=True)
        options = session.get_session_options()
        assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == str(int(spinning))


MODULE = "nd_bench_models"


def test_bench_with_torch_and_npz_inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    import normdeploy

    (tmp_path / f"{MODULE}.py").write_text(NORM_NET_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    net = __import__(MODULE).build()
    normdeploy.export(net, (torch.randn(2, 3, 9, 11),), tmp_path / "net.onnx")
    (name,) = [i.name for i in onnx.load(tmp_path / "net.onnx").graph.input]
    np.savez(tmp_path / "x.npz", **{name: np.random.default_rng(3).standard_normal((2, 3, 9, 11)).astype(np.float32)})
    threads_before = torch.get_num_threads()
    code = main(["bench", "net.onnx", "--torch", f"{MODULE}:build", "--load-inputs", "x.npz", "--repeats", "2",
                 "--warmup", "1", "--min-repeat-ms", "0", "--threads", "1", "--no-tensorrt", "--profile-runs", "1",
                 "--json", "out/b.json", "--no-html"])
    assert code == 0
    assert torch.get_num_threads() == threads_before
    report = json.loads((tmp_path / "out" / "b.json").read_text())
    assert not (tmp_path / "out" / "b.html").exists()
    entries = {e["runner"]: e for e in report["runners"]}
    assert entries[PYTORCH]["timed"] and entries[PYTORCH]["check"]["ok"]
    assert entries[TENSORRT]["skipped"] == "disabled (--no-tensorrt)"
    assert report["inputs"]["source"] == "file" and report["inputs"]["file"] == "x.npz"
    assert report["settings"]["torch_threads"] == 1


def test_bench_bfloat16_makes_pytorch_the_named_baseline(tmp_path: Path) -> None:
    """Plain ONNX Runtime has no bfloat16 InstanceNormalization: PyTorch becomes the baseline, and
    the report says so by name."""
    import torch

    from normdeploy.graphs import single_op_model

    model = single_op_model("GroupNorm", ("N", 6, "H", "W"), "bfloat16", {"num_groups": 3, "epsilon": 1e-5},
                            extra_inputs=[("scale", (6,), "bfloat16"), ("bias", (6,), "bfloat16")])
    path = tmp_path / "bf16.onnx"
    onnx.save(model, path)

    class Net(torch.nn.Module):
        def forward(self, x: Any, scale: Any, bias: Any) -> Any:
            return torch.nn.functional.group_norm(x, 3, scale, bias, 1e-5)

    net = Net()
    result = bench(path, torch_model=net, input_shapes=["X:2x6x5x7"], report_path=False, profile=False,
                   tensorrt=False, **FAST)
    assert result.passed, result.summary()
    assert result.report["baseline"] == PYTORCH
    entries = {e["runner"]: e for e in result.report["runners"]}
    assert "cannot load the standard model, so pytorch-cpu is the baseline" in entries[REFERENCE]["skipped"]
    assert entries[PYTORCH]["role"] == "baseline" and entries[PYTORCH]["speedup_vs_baseline"] == 1.0
    assert entries[CUSTOM]["timed"] and result.ratios[CUSTOM].baseline == PYTORCH
    assert "speed-up = pytorch-cpu ms / runner ms" in result.summary()


# ------------------------------------------------------------------------------------------------
# bad input: exit 2, one line naming the problem


@pytest.mark.parametrize("args,message", [
    (["missing.onnx"], "missing.onnx: no such file"),
    (["{bad}"], "is not an ONNX model"),
    (["{model}", "--repeats", "0"], "--repeats '0': must be >= 1"),
    (["{model}", "--warmup", "-1"], "--warmup '-1': must be >= 0"),
    (["{model}", "--warmup", "two"], "--warmup 'two': expected an integer"),
    (["{model}", "--threads", "0"], "--threads '0': must be >= 1"),
    (["{model}", "--min-repeat-ms", "nan"], "--min-repeat-ms 'nan': must be a finite number"),
    (["{model}", "--input-shape", "Y:2x24x9x11"], "the model has no input 'Y'; its inputs are: X"),
    (["{model}", "--input-shape", "X:2x24x9"], "has rank 3, but the model's input"),
    (["{model}", "--input-shape", "X:2x5x9x11"], "has 5 at axis 1"),
    (["{model}", "--input-shape", "X:2xAx9x11"], "expected positive integers joined by 'x'"),
    (["{model}", "--weights", "w.pt"], "--weights needs --torch"),
    (["{model}", "--load-inputs", "{npz}"], "no input 'Z'"),
    (["{model}", "--val-range", "1,0"], "need finite LOW <= HIGH"),
    (["{model}", "--json", "{folder}"], "is a folder"),
])
def test_cli_bad_input_exits_2(args: list[str], message: str, tmp_path: Path, model_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    npz = tmp_path / "in.npz"
    np.savez(npz, Z=np.zeros((2, 24, 9, 11), np.float32))
    subs = {"{bad}": str(bad), "{model}": str(model_path), "{npz}": str(npz), "{folder}": str(tmp_path)}
    code = main(["bench", *[subs.get(a, a) for a in args], "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("normdeploy bench: error: ") and message in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_bad_api_arguments(model_path: Path) -> None:
    with pytest.raises(BenchError, match="--repeats: expected an integer >= 1, got 1.5"):
        bench(model_path, repeats=1.5, report_path=False)  # type: ignore[arg-type]
    with pytest.raises(BenchError, match="--threads: expected an integer >= 1, got True"):
        bench(model_path, threads=True, report_path=False)


def test_cli_registers_bench(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    out = capsys.readouterr().out
    assert "--spinning" in out and "speed-up = baseline ms / runner ms in the same interleaved repeat" in out
    assert sys.modules["normdeploy.cli.bench_cmd"]


def test_bench_models_script_on_one_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("bench_models", root / "benchmarks" / "bench_models.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setattr(trt_probe, "probe", lambda: trt_probe.TrtProbe(False, "no GPU: test double"))
    code = script.main(["--quick", "--recipes", "alexnet_lrn:build_even", "--threads", "1",
                        "--json", str(tmp_path / "models.json"), "--out", str(tmp_path / "models")])
    assert code == 0
    (row,) = json.loads((tmp_path / "models.json").read_text())["rows"]
    assert row["recipe"] == "alexnet_lrn:build_even" and row["normdeploy_nodes"] == {"LocalResponseNorm": 2}
    assert row["baseline"] == REFERENCE and row[REFERENCE]["speedup_vs_baseline"] == 1.0
    assert row[CUSTOM]["median_ms"] > 0 and row[PYTORCH]["median_ms"] > 0
    assert 0 < row["normdeploy_share"] < 1 and Path(row["report"]).is_file()
    out = capsys.readouterr().out
    assert "alexnet_lrn:build_even" in out and "LocalResponseNorm x2" in out
