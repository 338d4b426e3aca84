// GroupNorm CPU dispatcher: validates the type combination, plans the strategy, allocates the
// split workspace, and calls the best ISA variant (group_norm_cpu.inc documents the kernels).
#include <exception>
#include <vector>

#include "../common/cpu_isa.h"
#include "group_norm_cpu.h"

namespace normdeploy {

GroupNormCpuPlan PlanGroupNormCpu(const GroupNormParams& p) {
  GroupNormCpuPlan plan;
  if (p.attrs.num_groups <= 0) return plan;
  const int64_t groups = p.n * p.attrs.num_groups;
  const int64_t group_elems = (p.c / p.attrs.num_groups) * p.spatial;
  if (groups >= kGroupNormFusedMinGroups || group_elems <= kGroupNormFusedMaxGroupElements) return plan;
  plan.split = true;
  plan.chunks_per_group = (group_elems + kGroupNormSplitChunk - 1) / kGroupNormSplitChunk;
  plan.workspace_doubles = static_cast<size_t>(3 * groups * plan.chunks_per_group + 3 * groups);
  return plan;
}

Status GroupNormCpu(const GroupNormParams& p, const ParallelFor& parallel) {
  if (p.affine_type != DType::kFloat32 && p.affine_type != p.x_type) {
    return MakeError("GroupNorm: scale/bias type ", DTypeName(p.affine_type), " must be float32 or match X (",
                     DTypeName(p.x_type), ")");
  }
  const GroupNormCpuPlan plan = PlanGroupNormCpu(p);
  std::vector<double> workspace;
  try {
    workspace.resize(plan.workspace_doubles);
  } catch (const std::exception&) {
    return MakeError("GroupNorm: cannot allocate ", plan.workspace_doubles * sizeof(double),
                     " bytes of workspace");
  }
  const SerialFor serial;
  const ParallelFor& runner = RunnerFor(p.n * p.c * p.spatial, parallel, serial);
  bool handled = false;
  switch (SelectedCpuIsa()) {
    case CpuIsa::kAvx512: handled = avx512::GroupNormCpuIsa(p, plan, workspace.data(), runner); break;
    case CpuIsa::kAvx2: handled = avx2::GroupNormCpuIsa(p, plan, workspace.data(), runner); break;
    case CpuIsa::kBaseline: handled = baseline::GroupNormCpuIsa(p, plan, workspace.data(), runner); break;
  }
  if (!handled) return MakeError("GroupNorm: unsupported input type ", DTypeName(p.x_type));
  return Status::Ok();
}

}  // namespace normdeploy
