"""Loading the custom-op library: where it is found, what it exports, the version guard."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import normdeploy
from normdeploy import runtime
from normdeploy.graphs import single_op_model


def test_library_path_is_inside_the_installed_package():
    if os.environ.get(runtime.LIBRARY_ENV):
        pytest.skip(f"${runtime.LIBRARY_ENV} is set (e.g. by make test-sanitize): the override is in use")
    path = Path(normdeploy.library_path())
    assert path.is_file()
    assert path.parent.name == "lib" and path.parent.parent.name == "normdeploy"


def test_env_override(monkeypatch, tmp_path):
    real = normdeploy.library_path()
    copy = tmp_path / "libcopy.so"
    shutil.copy(real, copy)
    monkeypatch.setenv(runtime.LIBRARY_ENV, str(copy))
    assert normdeploy.library_path() == str(copy.resolve())
    monkeypatch.setenv(runtime.LIBRARY_ENV, str(tmp_path / "missing.so"))
    with pytest.raises(normdeploy.LibraryNotFoundError, match="missing.so does not name a file"):
        normdeploy.library_path()


def test_make_session_errors_on_missing_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="ONNX model not found"):
        normdeploy.make_session(tmp_path / "nope.onnx")


def test_session_options_helper_registers_library():
    opts = normdeploy.session_options(intra_op_threads=1, allow_spinning=False)
    model = single_op_model("LocalResponseNorm", [1, 3, 2], "float32", {"size": 3})
    sess = ort.InferenceSession(model.SerializeToString(), sess_options=opts, providers=["CPUExecutionProvider"])
    assert sess.run(None, {"X": np.ones((1, 3, 2), np.float32)})[0].shape == (1, 3, 2)


def test_library_without_registration_cannot_run_the_ops():
    model = single_op_model("LocalResponseNorm", [1, 3, 2], "float32", {"size": 3})
    with pytest.raises(Exception, match="LocalResponseNorm"):
        ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _dynamic_symbols(path: str) -> tuple[list[str], list[str]]:
    nm = shutil.which("nm")
    readelf = shutil.which("readelf")
    if nm is None or readelf is None:
        pytest.skip("binutils (nm, readelf) not installed: cannot inspect the ELF file")
    defined = subprocess.run([nm, "-D", "--defined-only", path], capture_output=True, text=True, check=True).stdout
    needed = subprocess.run([readelf, "-d", path], capture_output=True, text=True, check=True).stdout
    exported = [line.split()[-1] for line in defined.splitlines() if " T " in line]
    libs = [line.split("[")[1].split("]")[0] for line in needed.splitlines() if "(NEEDED)" in line]
    return exported, libs


def test_library_exports_only_its_entry_points_and_does_not_link_onnxruntime():
    exported, libs = _dynamic_symbols(normdeploy.library_path())
    assert sorted(exported) == ["NormdeployVersion", "RegisterCustomOps"]
    assert not [lib for lib in libs if "onnxruntime" in lib], libs


def test_library_reports_its_version():
    lib = ctypes.CDLL(normdeploy.library_path())
    lib.NormdeployVersion.restype = ctypes.c_char_p
    assert lib.NormdeployVersion().decode() == normdeploy.__version__


# ---- the version guard, driven through a fake OrtApiBase ----------------------------------------

GET_API = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_uint32)
GET_VERSION = ctypes.CFUNCTYPE(ctypes.c_void_p)
CREATE_STATUS = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p)


class FakeApiBase(ctypes.Structure):
    _fields_ = [("GetApi", GET_API), ("GetVersionString", GET_VERSION)]


class FakeRuntime:
    """An "old" ONNX Runtime: only API version `max_version` exists."""

    SENTINEL = 0xC0FFEE

    def __init__(self, max_version: int) -> None:
        self.max_version = max_version
        self.messages: list[tuple[int, str]] = []
        self.asked: list[int] = []
        self._create_status = CREATE_STATUS(self._on_create_status)
        self.api_table = (ctypes.c_void_p * 8)(ctypes.cast(self._create_status, ctypes.c_void_p).value)
        self._get_api = GET_API(self._on_get_api)
        self._version = ctypes.create_string_buffer(b"1.2.3-fake")
        self._get_version = GET_VERSION(lambda: ctypes.addressof(self._version))
        self.base = FakeApiBase(self._get_api, self._get_version)

    def _on_get_api(self, version: int) -> int | None:
        self.asked.append(version)
        return ctypes.addressof(self.api_table) if version <= self.max_version else None

    def _on_create_status(self, code: int, message: bytes) -> int:
        self.messages.append((code, message.decode()))
        return self.SENTINEL


@pytest.fixture
def register():
    lib = ctypes.CDLL(normdeploy.library_path())
    fn = lib.RegisterCustomOps
    fn.restype = ctypes.c_void_p
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    return fn


def test_version_guard_reports_old_runtime(register):
    fake = FakeRuntime(max_version=5)
    status = register(None, ctypes.addressof(fake.base))
    assert status == FakeRuntime.SENTINEL
    assert fake.asked[0] > 5, "the library must ask for the API version of its headers first"
    assert len(fake.messages) == 1
    code, message = fake.messages[0]
    assert "normdeploy custom ops need ONNX Runtime API version" in message
    assert f"version {fake.asked[0]} or newer" in message
    assert "this runtime is 1.2.3-fake" in message


def test_version_guard_without_any_api_returns_null(register):
    fake = FakeRuntime(max_version=0)
    assert register(None, ctypes.addressof(fake.base)) is None
    assert fake.messages == []


def test_null_api_base_is_refused_without_crash(register):
    assert register(None, None) is None
