#!/usr/bin/env bash
# Writes an sdist and a wheel into OUT_DIR (`make dist`: dist/). Also run by tests/test_packaging.py.
#
#   PYTHON=.venv/bin/python bash scripts/dist.sh OUT_DIR [pip config settings ...]
#
# The wheel holds the runtime libraries only (libnormdeploy_ort.so, and libnormdeploy_trt.so when
# configured for it, e.g. -C cmake.define.NORMDEPLOY_CUDA=ON -C cmake.define.TENSORRT_ROOT=DIR):
# the test libraries are turned off (the ThreadSanitizer one links libtsan, which no manylinux
# system promises). It is built without build isolation by $PYTHON's scikit-build-core, cmake
# and ninja, in build/dist (or $NORMDEPLOY_DIST_BUILD_DIR), so a rebuild is incremental; then
# scripts/wheel_tag.py gives it the manylinux tag its libraries satisfy.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: scripts/dist.sh OUT_DIR [pip config settings ...]}
shift
python=${PYTHON:-python3}
build_dir=${NORMDEPLOY_DIST_BUILD_DIR:-build/dist}
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out"/normdeploy-*.tar.gz "$out"/normdeploy-*.whl
# cmake and ninja from the same environment as $python
PATH="$(dirname "$("$python" -c 'import sys; print(sys.executable)')"):$PATH"
export PATH

cd "$repo"
"$python" -c "import sys; from scikit_build_core.build import build_sdist; print(sys.argv[1] + '/' + build_sdist(sys.argv[1]))" "$out"
"$python" -m pip wheel --quiet --no-build-isolation --no-deps -w "$out" -C "build-dir=$build_dir" \
  -C cmake.define.NORMDEPLOY_SIMT_TESTS=OFF -C cmake.define.NORMDEPLOY_TRT_HOST_TESTS=OFF "$@" .
if [ "$(uname -m)" = x86_64 ]; then
  "$python" scripts/wheel_tag.py "$out"/normdeploy-*-linux_x86_64.whl
else
  echo "dist: $(uname -m): scripts/wheel_tag.py knows the x86_64 policies only; the wheel keeps its linux tag"
fi
