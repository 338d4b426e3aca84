// LocalResponseNorm on CUDA: the launcher the TensorRT plugin and the ONNX Runtime CUDA adapter
// call (no CUDA headers needed here: the stream is a cudaStream_t passed as void*).
#pragma once

#include "lrn.h"

namespace normdeploy {

// Enqueues the kernel on `stream`; x/y are device pointers (NCHW). Never throws.
Status LrnCuda(const LrnParams& params, void* stream);

}  // namespace normdeploy
