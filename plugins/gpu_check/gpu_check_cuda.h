// The CUDA runtime API for nd_gpu_check's host files: the real one, or, in the emulation build
// (-DND_GPU_CHECK_EMULATE=1, g++; tests/test_gpu_check.py), emulated_runtime.h over the SIMT CPU
// layer, so that the check's own logic (cases, layouts, sampled verification, timing, JSON) runs
// without a GPU.
#pragma once

#if ND_GPU_CHECK_EMULATE
#include "emulated_runtime.h"
#else
#include <cuda_runtime.h>
#endif
