// LocalResponseNorm (cross-channel) CUDA kernel. Compiled by nvcc (lrn_cuda.cu ->
// normdeploy_cuda_kernels) and, unchanged, by g++ against the SIMT CPU layer
// (plugins/common/simt.h) for the tests.
//
// NOT EXECUTED ON A GPU IN THIS REPOSITORY'S CI: the CPU layer runs these exact sources (numerics,
// indexing, window edges, both alignments, even sizes); nvcc compiles them for every target
// architecture and the build test checks for spills. What cannot be shown here: performance,
// cache hit rates the traffic estimate below relies on, real warp scheduling.
//
// Semantics (SEMANTICS.md): y[n,c,s] = x / (k + alpha/size * sum_{c' in window(c)} x[n,c',s]^2)^beta,
// window(c) = [c - before, c + after] clipped to [0, C) (zero padding), divisor always `size`;
// before/after come from LrnAttrs (ONNX or PyTorch alignment, any size >= 1, even included).
// Accumulation in float32; each window sum is recomputed (no running add/subtract, whose error
// would drift along the channels); deterministic.
#pragma once

#include <cstdint>

#include "../common/simt.h"

#ifndef ND_LRN_THREADS
#if ND_SIMT_CPU
#define ND_LRN_THREADS 64
#else
#define ND_LRN_THREADS 256
#endif
#endif

namespace normdeploy {
namespace lrn_cuda {

constexpr int kThreads = ND_LRN_THREADS;
// Grid caps of the grid-stride loops; more blocks than this add nothing on any GPU.
constexpr int64_t kMaxBlocksX = int64_t{1} << 16;
constexpr int64_t kMaxBlocksYZ = 65535;

template <typename T>
struct ElemTraits;
template <>
struct ElemTraits<float> {
  __device__ __forceinline__ static float ToFloat(float v) { return v; }
  __device__ __forceinline__ static float FromFloat(float v) { return v; }
};
template <>
struct ElemTraits<__half> {
  __device__ __forceinline__ static float ToFloat(__half v) { return __half2float(v); }
  __device__ __forceinline__ static __half FromFloat(float v) { return __float2half_rn(v); }
};
template <>
struct ElemTraits<__nv_bfloat16> {
  __device__ __forceinline__ static float ToFloat(__nv_bfloat16 v) { return __bfloat162float(v); }
  __device__ __forceinline__ static __nv_bfloat16 FromFloat(float v) { return __float2bfloat16_rn(v); }
};

struct LrnArgs {
  const void* x;
  void* y;
  int64_t n;
  int64_t c;
  int64_t spatial;  // S
  int64_t before;   // channels before c in the window
  int64_t after;    // channels after c
  float bias;       // k
  float alpha_over_size;
  float neg_beta;
};

// =============================================================================================
// LrnKernel: one thread per output element, three nested grid-stride loops (no integer division:
// 64-bit division is a called, spilling routine on the GPU).
//   grid  : x = min(ceil(S / kThreads), kMaxBlocksX) spatial tiles, y = min(C, 65535) channels,
//           z = min(N, 65535) images; block = kThreads (256) threads along s.
//   mapping: thread (bx*kThreads + t, by, bz) computes y[n, c, s] for n = bz + k*gridDim.z,
//           c = by + k*gridDim.y, s = bx*kThreads + t + k*gridDim.x*kThreads. Consecutive threads
//           take consecutive s of one (n, c) row: every load of the window loop (x[n, c', s]) and
//           the store are coalesced across the warp.
//   chosen: always (the only LRN kernel).
//   bytes : the window sum reads each x element up to `size` times, but the other reads of a
//           channel row come from the blocks of the neighbouring channels (by +- 1), which run at
//           about the same time, so they are L2 hits: DRAM traffic is about 1 read + 1 write (the
//           ideal) while a size x S-tile slab stays in L2. A shared-memory channel tile would make
//           that reuse explicit; not needed at these sizes.
// =============================================================================================
template <typename T>
__global__ void __launch_bounds__(kThreads) LrnKernel(LrnArgs a) {
  const T* x = static_cast<const T*>(a.x);
  T* y = static_cast<T*>(a.y);
  const int64_t s_step = int64_t{gridDim.x} * kThreads;
  for (int64_t n = blockIdx.z; n < a.n; n += gridDim.z) {
    for (int64_t ch = blockIdx.y; ch < a.c; ch += gridDim.y) {
      const int64_t lo = ch - a.before > 0 ? ch - a.before : 0;
      const int64_t hi = ch + a.after < a.c - 1 ? ch + a.after : a.c - 1;
      const T* image = x + n * a.c * a.spatial;
      const int64_t row = (n * a.c + ch) * a.spatial;
      for (int64_t s = int64_t{blockIdx.x} * kThreads + threadIdx.x; s < a.spatial; s += s_step) {
        float sum = 0.0f;
        for (int64_t cc = lo; cc <= hi; ++cc) {
          const float v = ElemTraits<T>::ToFloat(image[cc * a.spatial + s]);
          sum += v * v;
        }
        const float v = ElemTraits<T>::ToFloat(x[row + s]);
        y[row + s] = ElemTraits<T>::FromFloat(v * powf(a.bias + a.alpha_over_size * sum, a.neg_beta));
      }
    }
  }
}

}  // namespace lrn_cuda
}  // namespace normdeploy
