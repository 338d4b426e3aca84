// simt.h: what the CUDA kernel sources (*_kernels.cuh) may use, for two compilers.
//
//  * nvcc (__CUDACC__ defined): the CUDA runtime and fp16/bf16 headers, plus the two portable
//    names below (ND_DYNAMIC_SHARED and simt::LaunchOn). Nothing else changes: the kernels are
//    ordinary CUDA.
//  * g++ -std=c++20 (the "SIMT CPU layer"): the same kernel sources execute on the host so that
//    tests can run them on a machine without a GPU.
//      - __global__/__device__/__host__/__forceinline__/__launch_bounds__ expand to (almost)
//        nothing; __shared__ expands to `static`.
//      - threadIdx/blockIdx/blockDim/gridDim are thread_local dim3s.
//      - simt::Launch(grid, block, shared_bytes, kernel, args...) starts one std::thread per
//        CUDA thread of a block and runs the blocks of the grid ONE AT A TIME on those threads
//        (that is what makes `static` a correct __shared__). __syncthreads is a std::barrier;
//        a thread that returns from the kernel drops out of it, as on a GPU.
//      - __shfl_xor_sync/__shfl_down_sync/__shfl_sync/__syncwarp go through a per-warp
//        exchange (32 slots + a barrier per warp). Every lane named in the mask must call them
//        (full warps in this repository's kernels).
//      - __half / __nv_bfloat16 are 16-bit host types with round-to-nearest-even conversions.
//      - A launch is synchronous; the stream is ignored. Launch errors (bad block size, too much
//        shared memory, empty grid) are reported through cudaGetLastError like CUDA does.
//    Built with -fsanitize=thread, a missing __syncthreads between a shared-memory write and a
//    read by another thread is a data race ThreadSanitizer reports (tests/test_cuda_kernels_cpu.py).
//    What it cannot show: performance, real warp scheduling (independent thread scheduling
//    differences, lock-step assumptions), memory coalescing, bank conflicts, register spills.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__CUDACC__)

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#define ND_SIMT_CPU 0
// Dynamic shared memory of the launch, as a T*.
#define ND_DYNAMIC_SHARED(T, name)                                       \
  extern __shared__ __align__(16) unsigned char nd_dynamic_shared_[];    \
  T* name = reinterpret_cast<T*>(nd_dynamic_shared_)

namespace simt {

// kernel<<<grid, block, shared_bytes, stream>>>(args...), returning the launch's error.
template <typename... KArgs, typename... Args>
inline cudaError_t LaunchOn(cudaStream_t stream, dim3 grid, dim3 block, size_t shared_bytes,
                            void (*kernel)(KArgs...), Args... args) {
  kernel<<<grid, block, shared_bytes, stream>>>(static_cast<KArgs>(args)...);
  return cudaGetLastError();
}

}  // namespace simt

#else  // ---------------------------------- SIMT CPU layer ----------------------------------

#if __cplusplus < 202002L
#error "the SIMT CPU layer needs C++20 (std::barrier): compile with -std=c++20"
#endif

#include <math.h>

#include <array>
#include <barrier>
#include <cstring>
#include <memory>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

#define ND_SIMT_CPU 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __restrict__ __restrict
#define __launch_bounds__(...)
#define ND_DYNAMIC_SHARED(T, name) T* name = reinterpret_cast<T*>(::simt::detail::DynamicShared())

struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
};

inline thread_local dim3 threadIdx{0, 0, 0};
inline thread_local dim3 blockIdx{0, 0, 0};
inline thread_local dim3 blockDim{1, 1, 1};
inline thread_local dim3 gridDim{1, 1, 1};
inline constexpr int warpSize = 32;

// ---- the parts of the CUDA runtime API the launchers use ----
enum cudaError_t : int {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorInvalidConfiguration = 9,
};
struct CUstream_st;
using cudaStream_t = CUstream_st*;

namespace simt {
namespace detail {
inline thread_local cudaError_t last_error = cudaSuccess;
}  // namespace detail
}  // namespace simt

inline cudaError_t cudaGetLastError() {
  const cudaError_t e = simt::detail::last_error;
  simt::detail::last_error = cudaSuccess;
  return e;
}
inline cudaError_t cudaPeekAtLastError() { return simt::detail::last_error; }
inline const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
  }
  return "cudaErrorUnknown";
}
inline const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
  }
  return "unknown error";
}

// ---- 16-bit float types (bit patterns; conversions round to nearest even like CUDA's _rn) ----
struct __half { unsigned short x; };
struct __nv_bfloat16 { unsigned short x; };

inline float __half2float(__half h) {
  const uint32_t sign = static_cast<uint32_t>(h.x & 0x8000u) << 16;
  const uint32_t exp = (h.x >> 10) & 0x1fu;
  const uint32_t mant = h.x & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp == 0) {
    // zero or subnormal: mant * 2^-24, exact in float
    const float v = static_cast<float>(mant) * 5.9604644775390625e-08f;
    std::memcpy(&bits, &v, sizeof(bits));
    bits |= sign;
  } else {
    bits = sign | ((exp + 112u) << 23) | (mant << 13);
  }
  float out;
  std::memcpy(&out, &bits, sizeof(out));
  return out;
}

inline __half __float2half_rn(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a >= 0x7f800000u) return __half{static_cast<unsigned short>(sign | (a > 0x7f800000u ? 0x7e00u : 0x7c00u))};
  if (a >= 0x477ff000u) return __half{static_cast<unsigned short>(sign | 0x7c00u)};  // >= 65520: Inf
  if (a < 0x38800000u) {  // below 2^-14: half subnormal (or zero); |f| * 2^24 rounded to even
    float mag;
    std::memcpy(&mag, &a, sizeof(mag));
    return __half{static_cast<unsigned short>(sign | static_cast<uint16_t>(nearbyintf(mag * 16777216.0f)))};
  }
  uint32_t h = ((((a >> 23) - 112u) << 10) | ((a >> 13) & 0x3ffu));
  const uint32_t rem = a & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // a carry into the exponent is right
  return __half{static_cast<unsigned short>(sign | h)};
}

inline float __bfloat162float(__nv_bfloat16 b) {
  const uint32_t bits = static_cast<uint32_t>(b.x) << 16;
  float out;
  std::memcpy(&out, &bits, sizeof(out));
  return out;
}

inline __nv_bfloat16 __float2bfloat16_rn(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  if ((u & 0x7fffffffu) > 0x7f800000u) return __nv_bfloat16{static_cast<unsigned short>((u >> 16) | 0x40u)};
  u += 0x7fffu + ((u >> 16) & 1u);
  return __nv_bfloat16{static_cast<unsigned short>(u >> 16)};
}

namespace simt {
namespace detail {

inline constexpr unsigned kMaxThreadsPerBlock = 1024;
inline constexpr size_t kMaxDynamicShared = 48 * 1024;  // without cudaFuncSetAttribute opt-in

// State of the block being executed; one per launch, reset between blocks.
struct Block {
  explicit Block(unsigned threads, size_t shared_bytes)
      : nthreads(threads), nwarps((threads + 31) / 32), dynamic(shared_bytes == 0 ? 1 : shared_bytes),
        warp_sync(new std::optional<std::barrier<>>[nwarps]), slots(nwarps) {}

  // Called while every thread of the block waits (barrier completion): fresh barriers for the
  // next block, since threads that returned early dropped out of the old ones.
  void Reset() {
    sync.emplace(static_cast<ptrdiff_t>(nthreads));
    for (unsigned w = 0; w < nwarps; ++w) warp_sync[w].emplace(static_cast<ptrdiff_t>(WarpThreads(w)));
  }
  unsigned WarpThreads(unsigned w) const { return nthreads - w * 32 < 32 ? nthreads - w * 32 : 32; }

  unsigned nthreads;
  unsigned nwarps;
  std::vector<unsigned char> dynamic;
  std::optional<std::barrier<>> sync;
  std::unique_ptr<std::optional<std::barrier<>>[]> warp_sync;
  std::vector<std::array<uint64_t, 32>> slots;
};

inline thread_local Block* current = nullptr;
inline thread_local unsigned linear_tid = 0;

inline unsigned char* DynamicShared() { return current->dynamic.data(); }
inline unsigned Lane() { return linear_tid % 32; }
inline unsigned Warp() { return linear_tid / 32; }

template <typename T>
T Exchange(T value, unsigned (*source)(unsigned lane, unsigned arg, unsigned width), unsigned arg, unsigned width) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= sizeof(uint64_t), "shuffle of a type over 8 bytes");
  Block& b = *current;
  const unsigned w = Warp();
  const unsigned lane = Lane();
  uint64_t slot = 0;
  std::memcpy(&slot, &value, sizeof(T));
  b.slots[w][lane] = slot;
  b.warp_sync[w]->arrive_and_wait();
  const unsigned src = source(lane, arg, width);
  const uint64_t got = src < b.WarpThreads(w) ? b.slots[w][src] : slot;
  b.warp_sync[w]->arrive_and_wait();  // nobody overwrites a slot before every lane has read
  T out;
  std::memcpy(&out, &got, sizeof(T));
  return out;
}

inline unsigned XorSource(unsigned lane, unsigned mask, unsigned width) {
  const unsigned src = lane ^ mask;
  return (src / width == lane / width) ? src : lane;
}
inline unsigned DownSource(unsigned lane, unsigned delta, unsigned width) {
  return (lane % width) + delta < width ? lane + delta : lane;
}
inline unsigned IndexSource(unsigned lane, unsigned src, unsigned width) {
  return (lane / width) * width + (src % width);
}

}  // namespace detail

// Test hook (CPU layer only): run only the tail of every grid launched from this thread. With
// grid_tail = {num, den} (0 <= num < den), a launch of B blocks runs the blocks i with
// i * den >= num * B, by linear block index, and skips the others as if they had returned at
// once. Lets tests check the highest addresses of tensors far too large to run whole on the CPU
// (64-bit indexing): the kernels here index blocks group-major, so a tail of every grid is the
// same last groups in each. {0, 1} (the default) runs everything.
struct GridTail {
  uint64_t num = 0;
  uint64_t den = 1;
};
inline thread_local GridTail grid_tail;

// Synchronous launch: one std::thread per CUDA thread of a block, blocks one after another.
template <typename... KArgs, typename... Args>
cudaError_t Launch(dim3 grid, dim3 block, size_t shared_bytes, void (*kernel)(KArgs...), Args... args) {
  const uint64_t threads = uint64_t{block.x} * block.y * block.z;
  const uint64_t blocks = uint64_t{grid.x} * grid.y * grid.z;
  if (threads == 0 || threads > detail::kMaxThreadsPerBlock || block.z > 64 || blocks == 0 ||
      grid.x > 0x7fffffffu || grid.y > 65535u || grid.z > 65535u) {
    detail::last_error = cudaErrorInvalidConfiguration;
    return cudaErrorInvalidConfiguration;
  }
  if (shared_bytes > detail::kMaxDynamicShared) {
    detail::last_error = cudaErrorInvalidValue;
    return cudaErrorInvalidValue;
  }
  const GridTail tail = grid_tail;
  uint64_t first = 0;  // ceil(num * blocks / den) without overflow (den <= 2^32)
  if (tail.den > 1 && tail.den <= (uint64_t{1} << 32) && tail.num < tail.den) {
    const uint64_t q = blocks / tail.den, r = blocks % tail.den;
    first = tail.num * q + (tail.num * r + tail.den - 1) / tail.den;
  }
  detail::Block state(static_cast<unsigned>(threads), shared_bytes);
  state.Reset();
  struct ResetOnCompletion {
    detail::Block* b;
    void operator()() noexcept { b->Reset(); }
  };
  std::barrier<ResetOnCompletion> block_done(static_cast<ptrdiff_t>(threads), ResetOnCompletion{&state});
  auto body = [&](unsigned t) {
    detail::current = &state;
    detail::linear_tid = t;
    threadIdx = dim3(t % block.x, (t / block.x) % block.y, t / (block.x * block.y));
    blockDim = block;
    gridDim = grid;
    for (uint64_t i = first; i < blocks; ++i) {
      blockIdx = dim3(static_cast<unsigned>(i % grid.x), static_cast<unsigned>((i / grid.x) % grid.y),
                      static_cast<unsigned>(i / (uint64_t{grid.x} * grid.y)));
      kernel(static_cast<KArgs>(args)...);
      state.sync->arrive_and_drop();
      state.warp_sync[detail::Warp()]->arrive_and_drop();
      block_done.arrive_and_wait();
    }
    detail::current = nullptr;
  };
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (unsigned t = 0; t < threads; ++t) pool.emplace_back(body, t);
  for (std::thread& th : pool) th.join();
  return cudaSuccess;
}

// Same signature as the nvcc version; the stream is ignored (launches are synchronous).
template <typename... KArgs, typename... Args>
inline cudaError_t LaunchOn(cudaStream_t /*stream*/, dim3 grid, dim3 block, size_t shared_bytes,
                            void (*kernel)(KArgs...), Args... args) {
  return Launch(grid, block, shared_bytes, kernel, args...);
}

}  // namespace simt

// CUDA's fast-math intrinsics the kernels use (the GPU versions are within 2 ulps).
inline float __fdividef(float x, float y) { return x / y; }
inline float __expf(float x) { return std::exp(x); }  // GPU: ex2.approx, max error 2 + 1.16|x| ulp
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }

inline void __syncthreads() { simt::detail::current->sync->arrive_and_wait(); }
inline void __syncwarp(unsigned /*mask*/ = 0xffffffffu) {
  simt::detail::current->warp_sync[simt::detail::Warp()]->arrive_and_wait();
}
template <typename T>
inline T __shfl_xor_sync(unsigned /*mask*/, T value, int lane_mask, int width = warpSize) {
  return simt::detail::Exchange(value, simt::detail::XorSource, static_cast<unsigned>(lane_mask),
                                static_cast<unsigned>(width));
}
template <typename T>
inline T __shfl_down_sync(unsigned /*mask*/, T value, unsigned delta, int width = warpSize) {
  return simt::detail::Exchange(value, simt::detail::DownSource, delta, static_cast<unsigned>(width));
}
template <typename T>
inline T __shfl_sync(unsigned /*mask*/, T value, int src_lane, int width = warpSize) {
  return simt::detail::Exchange(value, simt::detail::IndexSource, static_cast<unsigned>(src_lane),
                                static_cast<unsigned>(width));
}

#endif  // __CUDACC__
