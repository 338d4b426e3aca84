#!/usr/bin/env bash
# make test-sanitize: builds every host C++ target with AddressSanitizer + UndefinedBehaviorSanitizer
# (errors fatal) into build/sanitize and runs, against that build:
#   1. the TensorRT adapter's C++ host tests with LeakSanitizer on (when TensorRT headers exist);
#   2. the parity, bad-input, library, concurrency, hypothesis, CUDA-kernels-on-CPU, TensorRT-host,
#      schema and sanitizer self-test suites under pytest, the Python process running with the
#      ASan runtime preloaded (leak checking off there: CPython keeps memory until exit on purpose).
# Needs the set-up of `make install` (the venv, ONNX Runtime headers). Called by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
BUILD=${SANITIZE_BUILD:-build/sanitize}
CXX=${CXX:-g++}
export PATH="$PWD/$VENV/bin:$PATH"

ort_headers=$(cat "$VENV/.normdeploy-stamps/ort-headers")
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$CXX" \
  -DNORMDEPLOY_SANITIZE=address,undefined -DNORMDEPLOY_CUDA=OFF -DONNXRUNTIME_ROOT="$ort_headers" >/dev/null
cmake --build "$BUILD" -j"$(nproc)"

asan=$("$CXX" -print-file-name=libasan.so)
stdcxx=$("$CXX" -print-file-name=libstdc++.so)
if [ ! -f "$asan" ]; then
  echo "test-sanitize: the AddressSanitizer runtime was not found (\`$CXX -print-file-name=libasan.so\` gave $asan)" >&2
  exit 1
fi
common="abort_on_error=0:exitcode=86:print_summary=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

if [ -x "$BUILD/nd_trt_host_tests" ]; then
  echo "== TensorRT adapter host tests (ASan + UBSan + LeakSanitizer)"
  ASAN_OPTIONS="$common:detect_leaks=1" "$BUILD/nd_trt_host_tests" | tail -n 1
else
  echo "== TensorRT adapter host tests skipped: $(cat "$BUILD/tensorrt_build.txt")"
fi

echo "== pytest against $BUILD (ASan + UBSan)"
# libstdc++ is preloaded with ASan so that ASan's __cxa_throw interceptor finds the real one
# (python itself does not link libstdc++; ONNX Runtime throws C++ exceptions internally).
LD_PRELOAD="$asan $stdcxx" ASAN_OPTIONS="$common:detect_leaks=0" \
NORMDEPLOY_ORT_LIBRARY="$PWD/$BUILD/libnormdeploy_ort.so" \
NORMDEPLOY_TRT_HOST_TESTS_DIR="$PWD/$BUILD" \
NORMDEPLOY_EXPECT_SANITIZED=address,undefined \
  "$VENV/bin/pytest" -q -p no:cacheprovider -k "not tsan" "$@" \
    tests/test_sanitizers.py tests/test_parity.py tests/test_bad_input.py tests/test_library.py \
    tests/test_concurrency.py tests/test_fuzz_ort.py tests/test_cuda_kernels_cpu.py \
    tests/test_tensorrt_host.py tests/test_schema.py
