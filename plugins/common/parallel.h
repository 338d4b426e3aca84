// The host-side parallel-for the CPU kernels run on. The ONNX Runtime adapter backs it with
// KernelContext::ParallelFor (the session's intra-op pool); tests and tools use SerialFor.
#pragma once

#include <cstddef>

namespace normdeploy {

using TaskFn = void (*)(void* context, size_t index);

class ParallelFor {
 public:
  virtual ~ParallelFor() = default;
  // Calls fn(context, i) for every i in [0, total), in any order, possibly concurrently.
  virtual void Run(size_t total, TaskFn fn, void* context) const = 0;
};

class SerialFor final : public ParallelFor {
 public:
  void Run(size_t total, TaskFn fn, void* context) const override {
    for (size_t i = 0; i < total; ++i) fn(context, i);
  }
};

}  // namespace normdeploy
