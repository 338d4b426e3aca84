"""The sanitizer run (`make test-sanitize`, scripts/test_sanitize.sh) tests what it claims to.

Under that run ($NORMDEPLOY_EXPECT_SANITIZED is set) these tests prove that the libraries in use
are the sanitized ones, that the ASan runtime is live in this process, and that a deliberate
heap overflow and a deliberate signed overflow in a sanitized library are reported and fatal.
In the ordinary run they skip, saying so.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import normdeploy

EXPECT = os.environ.get("NORMDEPLOY_EXPECT_SANITIZED", "")
SIMT_LIB = "libnormdeploy_simt_tests.so"

pytestmark = pytest.mark.skipif(
    not EXPECT, reason="not the sanitizer run: $NORMDEPLOY_EXPECT_SANITIZED is unset (run `make test-sanitize`)"
)


def _undefined_symbols(path: Path) -> set[str]:
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("binutils' nm is not installed: cannot inspect the library's symbols")
    out = subprocess.run([nm, "-D", "--undefined-only", str(path)], capture_output=True, text=True, check=True)
    return {line.split()[-1] for line in out.stdout.splitlines() if line.strip()}


def test_the_ort_library_in_use_is_sanitized():
    path = Path(normdeploy.library_path())
    symbols = _undefined_symbols(path)
    if "address" in EXPECT:
        assert any(s.startswith("__asan_") for s in symbols), f"{path} is not built with AddressSanitizer"
    if "undefined" in EXPECT:
        assert any(s.startswith("__ubsan_") for s in symbols), f"{path} is not built with UBSan"


def test_the_asan_runtime_is_loaded_in_this_process():
    process = ctypes.CDLL(None)
    assert hasattr(process, "__asan_init"), "ASan runtime not preloaded: sanitized libraries would not load"


def _selftest(which: int) -> subprocess.CompletedProcess:
    lib = Path(normdeploy.library_path()).parent / SIMT_LIB
    if not lib.is_file():
        pytest.skip(f"{lib} not built (CMake option NORMDEPLOY_SIMT_TESTS=OFF?)")
    code = (
        "import ctypes, sys\n"
        f"lib = ctypes.CDLL({str(lib)!r})\n"
        f"print('returned', lib.nd_sanitizer_selftest({which}, 4))\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ))


def test_asan_reports_a_heap_overflow_and_fails():
    proc = _selftest(1)
    assert proc.returncode != 0 and "returned" not in proc.stdout
    assert "AddressSanitizer: heap-buffer-overflow" in proc.stderr
    assert "nd_sanitizer_selftest" in proc.stderr  # the report points at the faulty function


def test_ubsan_reports_signed_overflow_and_fails():
    proc = _selftest(2)
    assert proc.returncode != 0 and "returned" not in proc.stdout
    assert "runtime error: signed integer overflow" in proc.stderr
