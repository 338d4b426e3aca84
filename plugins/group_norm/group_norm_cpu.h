// Internal to the GroupNorm CPU kernel: the plan the dispatcher makes (no allocation happens in
// ISA-specific code) and the per-ISA entry points.
#pragma once

#include <cstddef>
#include <cstdint>

#include "group_norm.h"

namespace normdeploy {

inline constexpr int64_t kGroupNormSplitChunk = int64_t{1} << 16;   // elements per split task
inline constexpr int64_t kGroupNormFusedMinGroups = 16;
inline constexpr int64_t kGroupNormFusedMaxGroupElements = int64_t{1} << 18;

struct GroupNormCpuPlan {
  bool split = false;            // split strategy (few large groups) instead of fused
  int64_t chunks_per_group = 1;  // split: tasks per group
  size_t workspace_doubles = 0;  // split: 3 per task + 3 per group
};

GroupNormCpuPlan PlanGroupNormCpu(const GroupNormParams& params);

#define ND_DECLARE_GN_ISA(ns)                                                                  \
  namespace ns {                                                                               \
  bool GroupNormCpuIsa(const GroupNormParams& p, const GroupNormCpuPlan& plan, double* workspace, \
                       const ParallelFor& parallel);                                           \
  }
ND_DECLARE_GN_ISA(baseline)
ND_DECLARE_GN_ISA(avx2)
ND_DECLARE_GN_ISA(avx512)
#undef ND_DECLARE_GN_ISA

}  // namespace normdeploy
