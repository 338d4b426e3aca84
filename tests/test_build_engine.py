"""`normdeploy build-engine` and normdeploy.tensorrt without TensorRT: the printed commands,
shape parsing, the library lookup and the messages when tensorrt or a GPU is missing."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from normdeploy import tensorrt as ndtrt
from normdeploy.cli.main import main
from normdeploy.runtime import LibraryNotFoundError


@pytest.fixture
def model(tmp_path: Path) -> Path:
    p = tmp_path / "m.onnx"
    p.write_bytes(b"not parsed before tensorrt is imported")
    return p


@pytest.fixture
def lib(tmp_path: Path) -> Path:
    p = tmp_path / "libnormdeploy_trt.so"
    p.write_bytes(b"\x7fELF")
    return p


def test_print_commands(capsys, model, lib):
    rc = main(["build-engine", str(model), "-o", "out/m.plan", "--fp16", "--workspace", "512",
               "--plugin-library", str(lib), "--print-commands",
               "--shapes", "input:1x3x64x48/4x3x64x48/8x3x64x48,skip:1x5/2x5/3x5"])
    assert rc == 0
    out = capsys.readouterr().out.splitlines()
    trtexec = next(line for line in out if line.startswith("trtexec "))
    assert trtexec.split() == [
        "trtexec", f"--onnx={model}", "--saveEngine=out/m.plan", f"--dynamicPlugins={lib}",
        "--minShapes=input:1x3x64x48,skip:1x5", "--optShapes=input:4x3x64x48,skip:2x5",
        "--maxShapes=input:8x3x64x48,skip:3x5", "--fp16", "--memPoolSize=workspace:512M"]
    poly = next(line for line in out if line.startswith("polygraphy "))
    assert poly.split() == [
        "polygraphy", "convert", str(model), "--convert-to", "trt", "-o", "out/m.plan", "--plugins", str(lib),
        "--trt-min-shapes", "'input:[1,3,64,48]'", "'skip:[1,5]'", "--trt-opt-shapes", "'input:[4,3,64,48]'",
        "'skip:[2,5]'", "--trt-max-shapes", "'input:[8,3,64,48]'", "'skip:[3,5]'", "--fp16",
        "--pool-limit", "workspace:512M"]
    assert any("strongly typed" in line for line in out)  # the TensorRT 11 note for --fp16


def test_print_commands_defaults_and_missing_library(capsys, model, monkeypatch, tmp_path):
    monkeypatch.setenv(ndtrt.TRT_LIBRARY_ENV, str(tmp_path / "nope.so"))
    assert main(["build-engine", str(model), "--print-commands"]) == 0
    out = capsys.readouterr().out
    assert "--saveEngine=" + str(model)[:-5] + ".plan" in out
    assert "--fp16" not in out and "--minShapes" not in out and "--memPoolSize" not in out
    assert "libnormdeploy_trt.so: not built here" in out  # a placeholder, not a crash


def test_trtexec_command_fixed_shape(lib):
    cmd = ndtrt.trtexec_command("a.onnx", "a.plan", plugin_library=str(lib), shapes="x:2x3x5", precision="bf16")
    assert cmd[-4:] == ["--minShapes=x:2x3x5", "--optShapes=x:2x3x5", "--maxShapes=x:2x3x5", "--bf16"]


@pytest.mark.parametrize("spec, message", [
    ("1x3x224x224", "expected NAME:MIN/OPT/MAX"),
    ("input:1x3/4x3", "expected one shape or three"),
    ("input:1x3/4by3/8x3", "'4by3' is not a shape"),
    ("input:1x3/4x3x2/8x3", "must have the same rank"),
    ("input:4x3/1x3/8x3", "need min <= opt <= max"),
    ("input:0x3/1x3/8x3", "must be a positive integer"),
    ("input:1x3,input:2x3", "given twice"),
])
def test_bad_shapes_exit_2(capsys, model, lib, spec, message):
    rc = main(["build-engine", str(model), "--plugin-library", str(lib), "--print-commands", "--shapes", spec])
    assert rc == 2
    err = capsys.readouterr().err
    assert "normdeploy build-engine: error: --shapes" in err and message in err, err


def test_no_tensorrt_message_exit_2(capsys, model, lib, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import tensorrt -> ImportError
    rc = main(["build-engine", str(model), "-o", str(model.with_suffix(".plan")), "--plugin-library", str(lib)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "TensorRT Python package is not installed" in err and "--print-commands" in err, err
    assert not model.with_suffix(".plan").exists()


def _fake_tensorrt(builder_error: Exception | None) -> types.ModuleType:
    trt = types.ModuleType("tensorrt")
    trt.__version__ = "11.1.0"

    class ILogger:
        class Severity:
            INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = range(5)

        def __init__(self):
            pass

    class Builder:
        def __init__(self, logger):
            logger.log(ILogger.Severity.ERROR, "CUDA initialization failure with error: 35")
            if builder_error is not None:
                raise builder_error

    trt.ILogger, trt.Builder = ILogger, Builder
    return trt


def test_no_gpu_message_exit_2(capsys, model, lib, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", _fake_tensorrt(TypeError("pybind11::init(): factory function returned nullptr")))
    rc = main(["build-engine", str(model), "--plugin-library", str(lib)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "no usable NVIDIA GPU" in err and "CUDA initialization failure" in err, err


def test_stub_tensorrt_package_is_reported(capsys, model, lib, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", types.ModuleType("tensorrt"))
    assert main(["build-engine", str(model), "--plugin-library", str(lib)]) == 2
    assert "stub without the TensorRT bindings" in capsys.readouterr().err


def test_missing_model_and_library_exit_2(capsys, tmp_path, lib):
    assert main(["build-engine", str(tmp_path / "none.onnx"), "--plugin-library", str(lib)]) == 2
    assert "ONNX model not found" in capsys.readouterr().err
    m = tmp_path / "m.onnx"
    m.write_bytes(b"x")
    assert main(["build-engine", str(m), "--plugin-library", str(tmp_path / "no.so")]) == 2
    assert "no.so: no such file" in capsys.readouterr().err


def test_tensorrt_library_path(monkeypatch, tmp_path, lib):
    monkeypatch.setenv(ndtrt.TRT_LIBRARY_ENV, str(lib))
    assert ndtrt.tensorrt_library_path() == str(lib.resolve())
    monkeypatch.setenv(ndtrt.TRT_LIBRARY_ENV, str(tmp_path / "missing.so"))
    with pytest.raises(LibraryNotFoundError, match="missing.so does not name a file"):
        ndtrt.tensorrt_library_path()
    monkeypatch.delenv(ndtrt.TRT_LIBRARY_ENV)
    packaged = Path(ndtrt.__file__).resolve().parent / "lib" / "libnormdeploy_trt.so"
    if packaged.is_file():
        assert ndtrt.tensorrt_library_path() == str(packaged)
    else:
        with pytest.raises(LibraryNotFoundError) as info:
            ndtrt.tensorrt_library_path()
        assert str(packaged) in str(info.value) and ndtrt.TRT_LIBRARY_ENV in str(info.value)
