// The host-side parallel-for the CPU kernels run on. The ONNX Runtime adapter backs it with
// KernelContext::ParallelFor (the session's intra-op pool); tests and tools use SerialFor.
#pragma once

#include <cstddef>
#include <cstdint>

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

// Work below this many elements runs on the calling thread: waking pool threads that do not
// spin costs tens of microseconds, more than such a kernel takes on one core.
inline constexpr int64_t kInlineWorkElements = int64_t{1} << 18;

inline const ParallelFor& RunnerFor(int64_t elements, const ParallelFor& parallel, const SerialFor& serial) {
  return elements <= kInlineWorkElements ? static_cast<const ParallelFor&>(serial) : parallel;
}

}  // namespace normdeploy
