// CUDA error checking for the launchers: every runtime call and every kernel launch goes through
// ND_CUDA_CHECK, which turns a failing cudaError_t into a Status naming the call, e.g.
//   "GroupNorm: simt::LaunchOn(stream, ..., GroupNormOnePassKernel<T, kLayout, kVec>, ...) failed:
//    cudaErrorInvalidConfiguration (invalid configuration argument)".
// Launches go through simt::LaunchOn (plugins/common/simt.h), which returns cudaGetLastError()
// right after the launch, so the launch itself is what gets checked. Works for nvcc and for the
// SIMT CPU layer (which provides the same cudaError_t API subset).
#pragma once

#include "simt.h"
#include "status.h"

namespace normdeploy {

inline Status CudaStatus(cudaError_t error, const char* op, const char* call) {
  if (error == cudaSuccess) return Status::Ok();
  return MakeError(op, ": ", call, " failed: ", cudaGetErrorName(error), " (", cudaGetErrorString(error), ")");
}

}  // namespace normdeploy

// ND_CUDA_CHECK(op, call): evaluates `call` (a cudaError_t expression); on failure returns a
// Status "<op>: <call text> failed: <name> (<description>)" from the enclosing function.
#define ND_CUDA_CHECK(op, call)                                                        \
  do {                                                                                 \
    const cudaError_t nd_cuda_error_ = (call);                                         \
    if (nd_cuda_error_ != cudaSuccess) return ::normdeploy::CudaStatus(nd_cuda_error_, op, #call); \
  } while (0)
