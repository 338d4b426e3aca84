// GroupNorm on CUDA: the launcher the TensorRT plugin and the ONNX Runtime CUDA adapter call.
// Declared here without CUDA headers (cudaStream_t is passed as void*), so host-only code and
// the CPU execution layer can include it.
#pragma once

#include <cstddef>

#include "group_norm.h"

namespace normdeploy {

enum class Layout : int { kNCHW = 0, kNHWC = 1 };

// Bytes of device workspace GroupNormCuda needs for these params (0 when none).
size_t GroupNormCudaWorkspaceSize(const GroupNormParams& params, Layout layout);

// Enqueues the kernel(s) on `stream` (a cudaStream_t). x/y/scale/bias/workspace are device
// pointers. Returns an error naming the failing CUDA call; never throws.
Status GroupNormCuda(const GroupNormParams& params, Layout layout, void* workspace, void* stream);

}  // namespace normdeploy
