// Host-side stand-ins for the CUDA launchers (GroupNormCuda, GroupNormCudaWorkspaceSize, LrnCuda)
// so the TensorRT adapters can be tested on a machine without CUDA devices: they record what the
// plugin passed and return a configurable Status. Test builds only; never in libnormdeploy_trt.so.
#pragma once

#include <cstddef>
#include <string>

#include "../../group_norm/group_norm_cuda.h"
#include "../../lrn/lrn_cuda.h"

namespace normdeploy {
namespace stub {

struct Calls {
  int group_norm_calls = 0;
  int lrn_calls = 0;
  GroupNormParams group_norm;  // last arguments
  Layout layout = Layout::kNCHW;
  void* workspace = nullptr;
  void* stream = nullptr;
  LrnParams lrn;
  std::string fail_with;  // non-empty: launchers return this error
  bool throw_instead = false;  // launchers throw std::runtime_error (must be caught by the plugin)
};

Calls& State();

// Deterministic workspace for the tests: 8 bytes per (n, group), plus 1 for NHWC.
size_t ExpectedWorkspace(int64_t n, int64_t num_groups, Layout layout);

}  // namespace stub
}  // namespace normdeploy
