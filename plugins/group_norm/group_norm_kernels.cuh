// GroupNorm CUDA kernels. Compiled by nvcc (group_norm_cuda.cu -> normdeploy_cuda_kernels) and,
// unchanged, by g++ against the SIMT CPU layer (plugins/common/simt.h) for the tests.
//
// NOT EXECUTED ON A GPU IN THIS REPOSITORY'S CI: the CPU layer runs these exact sources and the
// tests check their numerics, indexing, tails, synchronisation (ThreadSanitizer) and strategy
// selection; nvcc compiles them for every target architecture and the build test checks for
// register spills. What cannot be shown here: performance (bandwidth reached, occupancy), real
// warp scheduling and memory-ordering effects specific to hardware, coalescing, bank conflicts.
//
// Semantics (SEMANTICS.md): per (n, g) group, mean and biased variance in float32, computed on
// data shifted by the group's first element K (so |mean| >> std loses nothing: the statistics
// see x - K, which is exact), then y = ((x - K) - mean_shifted) * rstd * scale[c] + bias[c],
// optional SiLU y * sigmoid(y) after the affine step; output rounded once to the output type.
// Every reduction is a fixed tree (thread-serial, warp shuffle, cross-warp via shared memory):
// the result is deterministic run to run; no atomics.
//
// Layouts: NCHW (x[n][c][s], a group is one contiguous run of Cg*S elements) and NHWC
// (x[n][s][c], a group is S runs of Cg contiguous elements, C apart).
// Vector width kVec: 16-byte packs (4 x float, 8 x half/bf16) when x and y are 16-byte aligned
// and packs never straddle a group (NCHW: Cg*S % kVec == 0) or a channel run (NHWC: Cg % kVec == 0
// and C % kVec == 0); otherwise kVec = 1. All element counts and offsets are int64_t.
#pragma once

#include <cstdint>

#include "../common/simt.h"

// Threads per block and elements per thread per split block. Smaller in the CPU layer, where
// each CUDA thread is a std::thread.
#ifndef ND_GN_THREADS
#if ND_SIMT_CPU
#define ND_GN_THREADS 64
#else
#define ND_GN_THREADS 256
#endif
#endif
#ifndef ND_GN_ITEMS
#if ND_SIMT_CPU
#define ND_GN_ITEMS 8
#else
#define ND_GN_ITEMS 16
#endif
#endif
// Largest group (bytes of x) the one-pass kernel keeps in shared memory. Every architecture
// grants 48 KiB of shared memory per block without an opt-in, static and dynamic together: the
// kernels' static `scratch` (kWarps floats) takes part of it, so the dynamic budget is 48 KiB less
// a 128-byte reserve (a group of exactly 48 KiB would fail to launch). The CPU layer uses less so
// that small test tensors reach the split path under the automatic choice too.
#ifndef ND_GN_ONEPASS_BYTES
#if ND_SIMT_CPU
#define ND_GN_ONEPASS_BYTES (4 * 1024)
#else
#define ND_GN_ONEPASS_BYTES (48 * 1024 - 128)
#endif
#endif

namespace normdeploy {
namespace gn_cuda {

constexpr int kThreads = ND_GN_THREADS;
constexpr int kWarps = kThreads / 32;
constexpr int kItems = ND_GN_ITEMS;                             // elements per thread, split path
constexpr int64_t kChunk = int64_t{kThreads} * kItems;          // elements per split block
constexpr int64_t kOnePassMaxBytes = ND_GN_ONEPASS_BYTES;
static_assert(kThreads % 32 == 0 && kThreads >= 32 && kThreads <= 1024, "whole warps, <= 1024");
static_assert(kWarps <= 32, "the cross-warp step reduces in one warp");
static_assert(kItems % 8 == 0, "kItems must hold whole packs of every vector width");
static_assert(kOnePassMaxBytes + kWarps * static_cast<int64_t>(sizeof(float)) <= 48 * 1024,
              "one-pass dynamic shared memory plus the static scratch must fit the 48 KiB granted without opt-in");

enum : int { kNCHW = 0, kNHWC = 1 };

// ---- element traits: storage type <-> float, and the 16-byte vector width ----
template <typename T>
struct ElemTraits;
template <>
struct ElemTraits<float> {
  static constexpr int kVec = 4;
  static constexpr int kBytes = 4;
  __device__ __forceinline__ static float ToFloat(float v) { return v; }
  __device__ __forceinline__ static float FromFloat(float v) { return v; }
};
template <>
struct ElemTraits<__half> {
  static constexpr int kVec = 8;
  static constexpr int kBytes = 2;
  __device__ __forceinline__ static float ToFloat(__half v) { return __half2float(v); }
  __device__ __forceinline__ static __half FromFloat(float v) { return __float2half_rn(v); }
};
template <>
struct ElemTraits<__nv_bfloat16> {
  static constexpr int kVec = 8;
  static constexpr int kBytes = 2;
  __device__ __forceinline__ static float ToFloat(__nv_bfloat16 v) { return __bfloat162float(v); }
  __device__ __forceinline__ static __nv_bfloat16 FromFloat(float v) { return __float2bfloat16_rn(v); }
};

template <typename T, int kVec>
struct alignas(ElemTraits<T>::kBytes * kVec) Pack {
  T v[kVec];
};

// Kernel arguments (by value). Offsets are computed from these at run time: dynamic shapes.
struct GnArgs {
  const void* x;
  void* y;
  const void* scale;   // null: 1
  const void* bias;    // null: 0
  int affine_f32;      // scale/bias are float32 (else the x type)
  int silu;
  int64_t c;           // channels
  int64_t spatial;     // S = H*W*...
  int64_t groups;      // G
  int64_t cg;          // channels per group
  int64_t group_elems; // Cg * S
  int64_t chunks;      // split path: blocks per group
  float eps;
  float inv_group_elems;  // 1 / (Cg*S), rounded once on the host
  float* partials;     // split path workspace: 3 floats (count, shifted mean, M2) per chunk
  float* stats;        // split path workspace after the partials: (shifted mean, rstd) per group
};

// Divisions inside a group use 32-bit unsigned arithmetic (inline on the GPU; 64-bit division
// is a called routine that spills): the launcher guarantees Cg*S < 2^32 and N*G*chunks < 2^31.
// Offsets into the tensor are int64.
__device__ __forceinline__ int64_t Div32(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint32_t>(a) / static_cast<uint32_t>(b));
}

// Offset of the group's i-th element (i in [0, Cg*S)) from the start of x.
template <int kLayout>
__device__ __forceinline__ int64_t ElemOffset(const GnArgs& a, int64_t n, int64_t g, int64_t i) {
  if (kLayout == kNCHW) return (n * a.groups + g) * a.group_elems + i;
  const int64_t s = Div32(i, a.cg);
  return (n * a.spatial + s) * a.c + g * a.cg + (i - s * a.cg);
}

template <typename T>
__device__ __forceinline__ float LoadAffine(const void* p, int is_f32, int64_t ch, float absent) {
  if (p == nullptr) return absent;
  if (is_f32) return static_cast<const float*>(p)[ch];
  return ElemTraits<T>::ToFloat(static_cast<const T*>(p)[ch]);
}

// Normalizes one pack whose first element is the group's i-th, and stores it at y + off.
template <typename T, int kLayout, int kVec>
__device__ __forceinline__ void NormalizePack(const GnArgs& a, int64_t g, int64_t i, const float (&v)[kVec],
                                              float shift_mean, float rstd, T* y) {
  // Channel of the pack's first element within the group, and (NCHW) its position in the run.
  int64_t local_c = kLayout == kNCHW ? Div32(i, a.spatial) : i - Div32(i, a.cg) * a.cg;
  int64_t r = kLayout == kNCHW ? i - local_c * a.spatial : 0;
  Pack<T, kVec> out;
#pragma unroll
  for (int j = 0; j < kVec; ++j) {
    if (kLayout == kNCHW) {
      if (r == a.spatial) { r = 0; ++local_c; }
      ++r;
    }
    const int64_t ch = a.cg * g + local_c;
    const float s = LoadAffine<T>(a.scale, a.affine_f32, ch, 1.0f) * rstd;
    const float b = LoadAffine<T>(a.bias, a.affine_f32, ch, 0.0f);
    float o = (v[j] - shift_mean) * s + b;
    // __expf (ex2.approx, 2 + 1.16|o| ulp) and __fdividef: expf and IEEE '/' bring called slow paths that spill
    if (a.silu) o = __fdividef(o, 1.0f + __expf(-o));
    out.v[j] = ElemTraits<T>::FromFloat(o);
    if (kLayout == kNHWC) ++local_c;
  }
  *reinterpret_cast<Pack<T, kVec>*>(y) = out;
}

// ---- deterministic reductions ----
__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;  // identical in every lane (xor butterfly: each lane adds the same pairs)
}

// Sum over the block, returned to every thread. `scratch` holds kWarps floats; the leading
// __syncthreads makes back-to-back calls with the same scratch safe.
__device__ __forceinline__ float BlockSum(float v, float* scratch) {
  v = WarpSum(v);
  const int warp = static_cast<int>(threadIdx.x) / 32;
  const int lane = static_cast<int>(threadIdx.x) % 32;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float total = lane < kWarps ? scratch[lane] : 0.0f;
  total = WarpSum(total);  // every warp reduces the kWarps partials itself: no third barrier
  return total;
}

// Chan et al. merge of (count, mean, M2) triples; counts are exact in float up to 2^24 per chunk
// and the merge only uses their ratio.
struct Moments {
  float n, mean, m2;
};
__device__ __forceinline__ Moments Merge(Moments a, Moments b) {
  if (b.n == 0.0f) return a;
  if (a.n == 0.0f) return b;
  const float n = a.n + b.n;
  const float wb = __fdividef(b.n, n);  // IEEE '/' would call a (spilling) slow path
  const float delta = b.mean - a.mean;
  return Moments{n, a.mean + delta * wb, a.m2 + b.m2 + delta * delta * a.n * wb};
}

// =============================================================================================
// GroupNormOnePassKernel: the whole group in shared memory, one read of x and one write of y.
//   grid  : N*G blocks (blockIdx.x = n*G + g), 1-D so up to 2^31-1 groups.
//   block : kThreads (256 on GPU) threads; thread t handles packs t, t+kThreads, ... of the group.
//   dynamic shared memory: Cg*S elements of T (<= kOnePassMaxBytes = 48 KiB - 128 B).
//   chosen: when Cg*S*sizeof(T) <= kOnePassMaxBytes (GroupNormCuda's automatic rule; monotonic in the
//           shape so that a workspace sized at the largest shape fits every smaller one).
//   steps : load packs -> smem while summing (x - K); block sum -> mean; sum of squared
//           deviations from smem -> variance; normalize from smem -> y.
//   bytes : DRAM traffic = 1 read + 1 write of the tensor (the ideal), plus C scale/bias reads
//           per block (L1/L2 hits). Shared memory is read twice more.
// =============================================================================================
template <typename T, int kLayout, int kVec>
__global__ void __launch_bounds__(kThreads) GroupNormOnePassKernel(GnArgs a) {
  __shared__ float scratch[kWarps];
  using PackT = Pack<T, kVec>;
  ND_DYNAMIC_SHARED(PackT, tile);
  const int64_t grp = blockIdx.x;
  const int64_t n = Div32(grp, a.groups);
  const int64_t g = grp - n * a.groups;
  const T* x = static_cast<const T*>(a.x);
  T* y = static_cast<T*>(a.y);
  const int64_t packs = a.group_elems / kVec;
  const float shift = ElemTraits<T>::ToFloat(x[ElemOffset<kLayout>(a, n, g, 0)]);

  float sum = 0.0f;
  for (int64_t p = threadIdx.x; p < packs; p += kThreads) {
    const Pack<T, kVec> v = *reinterpret_cast<const Pack<T, kVec>*>(x + ElemOffset<kLayout>(a, n, g, p * kVec));
    tile[p] = v;
#pragma unroll
    for (int j = 0; j < kVec; ++j) sum += ElemTraits<T>::ToFloat(v.v[j]) - shift;
  }
  const float mean = BlockSum(sum, scratch) * a.inv_group_elems;

  float sq = 0.0f;  // this thread re-reads only the packs it wrote: no barrier needed before
  for (int64_t p = threadIdx.x; p < packs; p += kThreads) {
#pragma unroll
    for (int j = 0; j < kVec; ++j) {
      const float d = (ElemTraits<T>::ToFloat(tile[p].v[j]) - shift) - mean;
      sq += d * d;
    }
  }
  const float var = BlockSum(sq, scratch) * a.inv_group_elems;
  const float rstd = rsqrtf(var + a.eps);

  for (int64_t p = threadIdx.x; p < packs; p += kThreads) {
    float v[kVec];
#pragma unroll
    for (int j = 0; j < kVec; ++j) v[j] = ElemTraits<T>::ToFloat(tile[p].v[j]) - shift;
    NormalizePack<T, kLayout, kVec>(a, g, p * kVec, v, mean, rstd, y + ElemOffset<kLayout>(a, n, g, p * kVec));
  }
}

// Loads this thread's packs of chunk `chunk` (pack k*kThreads + t of the chunk, coalesced) as
// x - K into v; returns how many of them are inside the group.
template <typename T, int kLayout, int kVec>
__device__ __forceinline__ void LoadChunk(const GnArgs& a, int64_t n, int64_t g, int64_t chunk, float shift,
                                          float (&v)[kItems], bool (&valid)[kItems / kVec]) {
  const T* x = static_cast<const T*>(a.x);
#pragma unroll
  for (int k = 0; k < kItems / kVec; ++k) {
    const int64_t i = chunk * kChunk + (int64_t{k} * kThreads + threadIdx.x) * kVec;
    valid[k] = i < a.group_elems;
    Pack<T, kVec> p;
    if (valid[k]) p = *reinterpret_cast<const Pack<T, kVec>*>(x + ElemOffset<kLayout>(a, n, g, i));
#pragma unroll
    for (int j = 0; j < kVec; ++j) v[k * kVec + j] = valid[k] ? ElemTraits<T>::ToFloat(p.v[j]) - shift : 0.0f;
  }
}

// =============================================================================================
// GroupNormPartialKernel (split path, 1 of 2): statistics of one chunk of a group.
//   grid  : N*G*chunks blocks, blockIdx.x = (n*G + g)*chunks + chunk; chunk = kChunk
//           (= kThreads*kItems = 4096 on GPU) consecutive group elements.
//   block : kThreads; each thread keeps its kItems elements in registers (fully unrolled).
//   chosen: when the group does not fit the one-pass kernel's shared memory (or forced).
//   output: (count, mean of x - K, M2) of the chunk (exact two-pass over registers) into the
//           workspace, 12 bytes per block; K = the group's first element (same for every chunk).
//   bytes : 1 read of the tensor.
// =============================================================================================
template <typename T, int kLayout, int kVec>
__global__ void __launch_bounds__(kThreads) GroupNormPartialKernel(GnArgs a) {
  __shared__ float scratch[kWarps];
  const int64_t grp = Div32(blockIdx.x, a.chunks);
  const int64_t chunk = blockIdx.x - grp * a.chunks;
  const int64_t n = Div32(grp, a.groups);
  const int64_t g = grp - n * a.groups;
  const T* x = static_cast<const T*>(a.x);
  const float shift = ElemTraits<T>::ToFloat(x[ElemOffset<kLayout>(a, n, g, 0)]);

  float v[kItems];
  bool valid[kItems / kVec];
  LoadChunk<T, kLayout, kVec>(a, n, g, chunk, shift, v, valid);
  const int64_t left = a.group_elems - chunk * kChunk;
  const float count = static_cast<float>(left < kChunk ? left : kChunk);
  float sum = 0.0f;
#pragma unroll
  for (int e = 0; e < kItems; ++e) sum += v[e];  // invalid elements are 0
  const float mean = __fdividef(BlockSum(sum, scratch), count);
  float sq = 0.0f;
#pragma unroll
  for (int e = 0; e < kItems; ++e) {
    const float d = v[e] - mean;
    sq += valid[e / kVec] ? d * d : 0.0f;
  }
  const float m2 = BlockSum(sq, scratch);
  if (threadIdx.x == 0) {
    float* out = a.partials + 3 * int64_t{blockIdx.x};
    out[0] = count;
    out[1] = mean;
    out[2] = m2;
  }
}

// =============================================================================================
// GroupNormFinalizeKernel (split path, 2 of 3): merges a group's chunk statistics.
//   grid  : N*G blocks of one warp; lane l merges chunks l, l+32, ... in order, then a fixed
//           shuffle tree: deterministic, no atomics.
//   output: (mean of x - K, rstd) of the group into the workspace, 8 bytes per group.
//   bytes : chunks*12 bytes of workspace per group (L2), nothing of the tensor.
// =============================================================================================
__global__ void __launch_bounds__(32) GroupNormFinalizeKernel(GnArgs a) {
  const int64_t grp = blockIdx.x;
  Moments m{0.0f, 0.0f, 0.0f};
  const float* part = a.partials + 3 * grp * a.chunks;
  for (int64_t q = threadIdx.x; q < a.chunks; q += 32) m = Merge(m, Moments{part[3 * q], part[3 * q + 1], part[3 * q + 2]});
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    const Moments o{__shfl_down_sync(0xffffffffu, m.n, off), __shfl_down_sync(0xffffffffu, m.mean, off),
                    __shfl_down_sync(0xffffffffu, m.m2, off)};
    m = Merge(m, o);  // lanes >= 32-off merge garbage; only lane 0's tree is used
  }
  if (threadIdx.x == 0) {
    a.stats[2 * grp] = m.mean;
    a.stats[2 * grp + 1] = rsqrtf(m.m2 * a.inv_group_elems + a.eps);
  }
}

// =============================================================================================
// GroupNormApplyKernel (split path, 3 of 3): normalizes one chunk with its group's statistics.
//   grid  : as GroupNormPartialKernel; block: kThreads, kItems elements per thread in registers.
//   bytes : 1 read + 1 write of the tensor, + 8 workspace bytes per block (L2).
//           Split total: 2 reads + 1 write (1.5x the ideal for any dtype).
// =============================================================================================
template <typename T, int kLayout, int kVec>
__global__ void __launch_bounds__(kThreads) GroupNormApplyKernel(GnArgs a) {
  const int64_t grp = Div32(blockIdx.x, a.chunks);
  const int64_t chunk = blockIdx.x - grp * a.chunks;
  const int64_t n = Div32(grp, a.groups);
  const int64_t g = grp - n * a.groups;
  const T* x = static_cast<const T*>(a.x);
  T* y = static_cast<T*>(a.y);
  const float shift = ElemTraits<T>::ToFloat(x[ElemOffset<kLayout>(a, n, g, 0)]);
  const float mean = a.stats[2 * grp];
  const float rstd = a.stats[2 * grp + 1];
  float v[kItems];
  bool valid[kItems / kVec];
  LoadChunk<T, kLayout, kVec>(a, n, g, chunk, shift, v, valid);
#pragma unroll
  for (int k = 0; k < kItems / kVec; ++k) {
    if (!valid[k]) continue;
    const int64_t i = chunk * kChunk + (int64_t{k} * kThreads + threadIdx.x) * kVec;
    float pv[kVec];
#pragma unroll
    for (int j = 0; j < kVec; ++j) pv[j] = v[k * kVec + j];
    NormalizePack<T, kLayout, kVec>(a, g, i, pv, mean, rstd, y + ElemOffset<kLayout>(a, n, g, i));
  }
}

}  // namespace gn_cuda
}  // namespace normdeploy
