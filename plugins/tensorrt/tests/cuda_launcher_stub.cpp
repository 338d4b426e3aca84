#include "cuda_launcher_stub.h"

#include <stdexcept>

namespace normdeploy {
namespace stub {

Calls& State() {
  static Calls calls;
  return calls;
}

size_t ExpectedWorkspace(int64_t n, int64_t num_groups, Layout layout) {
  // Unsigned: wraps instead of overflowing (undefined) for the hostile shapes of the fuzz target.
  return static_cast<size_t>(n) * static_cast<size_t>(num_groups) * 8u + (layout == Layout::kNHWC ? 1u : 0u);
}

}  // namespace stub

size_t GroupNormCudaWorkspaceSize(const GroupNormParams& params, Layout layout) {
  return stub::ExpectedWorkspace(params.n, params.attrs.num_groups, layout);
}

Status GroupNormCuda(const GroupNormParams& params, Layout layout, void* workspace, void* stream) {
  stub::Calls& s = stub::State();
  if (s.throw_instead) throw std::runtime_error("stub launcher threw");
  ++s.group_norm_calls;
  s.group_norm = params;
  s.layout = layout;
  s.workspace = workspace;
  s.stream = stream;
  if (!s.fail_with.empty()) return Status::Error(s.fail_with);
  return Status::Ok();
}

Status LrnCuda(const LrnParams& params, void* stream) {
  stub::Calls& s = stub::State();
  if (s.throw_instead) throw std::runtime_error("stub launcher threw");
  ++s.lrn_calls;
  s.lrn = params;
  s.stream = stream;
  if (!s.fail_with.empty()) return Status::Error(s.fail_with);
  return Status::Ok();
}

}  // namespace normdeploy
