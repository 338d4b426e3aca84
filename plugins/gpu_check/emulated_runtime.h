// The part of the CUDA runtime API nd_gpu_check uses, emulated on the host over the SIMT CPU layer
// (plugins/common/simt.h: kernels run as std::threads, launches are synchronous). Only for the
// emulation build of tests/test_gpu_check.py, which checks the check's own plumbing without a GPU:
// "device" memory is host memory, a stream is a tag, events read the steady clock, and the device
// reports 2 GiB of memory (so the > 2^31-element cases take their "not enough memory" path).
// Fault injection, to prove the check fails when results are wrong: ND_GPU_CHECK_FAULT=corrupt
// flips bit 6 of byte 1 of every device-to-host copy (a wrong output), =flaky does it to every
// other copy (a result that differs between two runs).
#pragma once

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "../common/simt.h"

#if !ND_SIMT_CPU
#error "emulated_runtime.h is for the g++ build over the SIMT CPU layer"
#endif

inline constexpr cudaError_t cudaErrorMemoryAllocation = static_cast<cudaError_t>(2);
inline constexpr unsigned cudaStreamNonBlocking = 1;

enum cudaMemcpyKind { cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2, cudaMemcpyDeviceToDevice = 3 };

struct cudaDeviceProp {
  char name[256];
  int major, minor, multiProcessorCount, l2CacheSize;
};
struct cudaFuncAttributes {
  size_t sharedSizeBytes;
  int maxDynamicSharedSizeBytes, numRegs, ptxVersion, binaryVersion;
};
struct NdEmulatedEvent {
  std::chrono::steady_clock::time_point t;
};
using cudaEvent_t = NdEmulatedEvent*;

namespace nd_emulated {
inline constexpr size_t kMemory = size_t{2} << 30;
inline int stream_tag = 0;
}  // namespace nd_emulated

inline cudaError_t cudaRuntimeGetVersion(int* v) { *v = 13000; return cudaSuccess; }
inline cudaError_t cudaDriverGetVersion(int* v) { *v = 13000; return cudaSuccess; }
inline cudaError_t cudaGetDeviceCount(int* n) { *n = 1; return cudaSuccess; }
inline cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : cudaErrorInvalidValue; }
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) {
  std::memset(p, 0, sizeof(*p));
  std::strcpy(p->name, "SIMT CPU emulation");
  p->major = 0;
  p->minor = 0;
  p->multiProcessorCount = 1;
  return cudaSuccess;
}
inline cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total) {
  *free_bytes = nd_emulated::kMemory;
  *total = nd_emulated::kMemory;
  return cudaSuccess;
}
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
  *s = reinterpret_cast<cudaStream_t>(&nd_emulated::stream_tag);
  return cudaSuccess;
}
inline cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaMalloc(void** p, size_t bytes) {
  *p = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  return *p != nullptr ? cudaSuccess : cudaErrorMemoryAllocation;
}
inline cudaError_t cudaFree(void* p) { std::free(p); return cudaSuccess; }
inline void NdEmulatedFault(void* dst, size_t bytes) {
  static const char* mode = std::getenv("ND_GPU_CHECK_FAULT");
  static unsigned long long copies = 0;
  if (mode == nullptr || bytes < 4) return;
  const bool corrupt = std::strcmp(mode, "corrupt") == 0 || (std::strcmp(mode, "flaky") == 0 && copies++ % 2 == 1);
  if (corrupt) static_cast<unsigned char*>(dst)[1] ^= 0x40u;
}
inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t) {
  std::memcpy(dst, src, bytes);
  if (kind == cudaMemcpyDeviceToHost) NdEmulatedFault(dst, bytes);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width,
                                     size_t height, cudaMemcpyKind kind, cudaStream_t) {
  if (width > dpitch || width > spitch) return cudaErrorInvalidValue;
  for (size_t r = 0; r < height; ++r) {
    std::memcpy(static_cast<char*>(dst) + r * dpitch, static_cast<const char*>(src) + r * spitch, width);
  }
  if (kind == cudaMemcpyDeviceToHost) NdEmulatedFault(dst, width * height);
  return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void* p, int v, size_t bytes, cudaStream_t) {
  std::memset(p, v, bytes);
  return cudaSuccess;
}
inline cudaError_t cudaEventCreate(cudaEvent_t* e) { *e = new NdEmulatedEvent{}; return cudaSuccess; }
inline cudaError_t cudaEventDestroy(cudaEvent_t e) { delete e; return cudaSuccess; }
inline cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
  e->t = std::chrono::steady_clock::now();
  return cudaSuccess;
}
inline cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
inline cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  *ms = std::chrono::duration<float, std::milli>(b->t - a->t).count();
  return cudaSuccess;
}
template <typename F>
inline cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* a, F*) {
  *a = cudaFuncAttributes{0, static_cast<int>(simt::detail::kMaxDynamicShared), 0, 0, 0};
  return cudaSuccess;
}
