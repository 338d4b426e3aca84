#!/usr/bin/env bash
# make gpu-check: builds build/gpu-check/nd_gpu_check, the self-contained GPU test binary of the
# GroupNorm/LRN CUDA kernels (plugins/gpu_check/, README "GPU check"), for ONE architecture, with
# the CUDA runtime linked statically, so that it can be carried to a lent GPU machine. libstdc++ and
# libgcc stay shared on purpose: the static libstdc++ pulls in arc4random (glibc 2.36), while the
# shared build needs only glibc >= 2.34 and libstdc++ >= GCC 11 (Ubuntu 22.04, RHEL 9 and later).
#
#   scripts/gpu_check.sh [ARCH]        ARCH: compute capability digits, default $GPU_ARCH or 90
#                                      (H100/H200); e.g. 80 (A100), 89 (L4), 100 (B200), 90a
#   NVCC=/path/to/nvcc                 the compiler (default $CUDACXX, else /usr/local/cuda/bin/nvcc, else PATH)
#   GPU_CHECK_OUT=DIR                  output folder (default build/gpu-check)
#   scripts/gpu_check.sh --emulated    instead: DIR/nd_gpu_check_emulated, the same sources built by
#                                      g++ over the SIMT CPU layer and an emulated CUDA runtime (no
#                                      GPU, no nvcc): tests/test_gpu_check.py runs the check's own
#                                      logic with it (a subset of the cases; its timings mean nothing)
#
# The binary holds sm_ARCH machine code plus compute_ARCH PTX (a newer GPU JIT-compiles it).
# Exit status: 0 built, 2 bad arguments, 3 nvcc not found, other: the compiler's.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${GPU_CHECK_OUT:-build/gpu-check}
src=plugins/gpu_check
if [[ ${1:-} == --emulated ]]; then
  mkdir -p "$out"
  start=$(date +%s)
  ${CXX:-g++} -std=c++20 -O1 -pthread -DND_GPU_CHECK_EMULATE=1 '-DND_GPU_CHECK_ARCH="emulated"' -Wno-unknown-pragmas \
    -x c++ "$src/gpu_check_device.cu" -x none "$src/gpu_check_host.cpp" "$src/gpu_check_run.cpp" \
    "$src/gpu_check_main.cpp" -o "$out/nd_gpu_check_emulated"
  echo "built $out/nd_gpu_check_emulated (SIMT CPU emulation, $(( $(date +%s) - start )) s)"
  exit 0
fi

arch=${1:-${GPU_ARCH:-90}}
if [[ $# -gt 1 || ! $arch =~ ^[0-9]{2,3}[af]?$ ]]; then
  echo "gpu_check.sh: ARCH must be a compute capability like 90, 80 or 90a (got '$*')" >&2
  echo "usage: scripts/gpu_check.sh [ARCH]" >&2
  exit 2
fi
nvcc=${NVCC:-${CUDACXX:-}}
if [[ -z $nvcc ]]; then
  if [[ -x /usr/local/cuda/bin/nvcc ]]; then nvcc=/usr/local/cuda/bin/nvcc; else nvcc=$(command -v nvcc || true); fi
fi
if [[ -z $nvcc || ! -x $nvcc ]]; then
  echo "gpu_check.sh: nvcc not found (set NVCC or CUDACXX, or install the CUDA toolkit in /usr/local/cuda)" >&2
  exit 3
fi
mkdir -p "$out/obj"
common=(-std=c++17 -O2 "-DND_GPU_CHECK_ARCH=\"$arch\"")
gencode="-gencode=arch=compute_$arch,code=[sm_$arch,compute_$arch]"

start=$(date +%s)
# the .cu (the launchers + helper kernels) is the long step; the host files compile beside it
"$nvcc" "${common[@]}" "$gencode" -Xptxas=-warn-spills -c "$src/gpu_check_device.cu" -o "$out/obj/device.o" &
dev=$!
for f in gpu_check_host gpu_check_run gpu_check_main; do
  "$nvcc" "${common[@]}" -Xcompiler=-Wall,-Wextra -c "$src/$f.cpp" -o "$out/obj/$f.o"
done
wait "$dev"
"$nvcc" "$gencode" -cudart static \
  "$out/obj/device.o" "$out/obj/gpu_check_host.o" "$out/obj/gpu_check_run.o" "$out/obj/gpu_check_main.o" \
  -o "$out/nd_gpu_check"
strip "$out/nd_gpu_check" 2>/dev/null || true
echo "built $out/nd_gpu_check for sm_$arch ($(du -h "$out/nd_gpu_check" | cut -f1), $(( $(date +%s) - start )) s, $("$nvcc" --version | tail -n 1))"
