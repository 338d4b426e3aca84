// GroupNorm CUDA launcher: validation, strategy choice, dtype/layout/vector-width dispatch.
// Compiled by nvcc into normdeploy_cuda_kernels, and by g++ -std=c++20 against the SIMT CPU
// layer for the tests (plugins/simt_tests/), so the host logic below is tested too.
//
// Strategy (GroupNormCudaWorkspaceSize and GroupNormCuda use the same rule):
//   one-pass  when a group (Cg*S elements of x) fits kOnePassMaxBytes of shared memory (48 KiB less 128 B for the static scratch):
//             1 launch, 1 read + 1 write, no workspace.
//   split     otherwise: GroupNormPartialKernel, GroupNormFinalizeKernel, GroupNormApplyKernel: 2 reads + 1 write,
//             workspace = 12 bytes per (n, g, chunk of kChunk elements) + 8 per (n, g).
// The rule depends on the group size only (not on N), and the workspace grows with N and S, so
// a workspace sized for the largest shape of a dynamic range covers every smaller shape.
#include <cstdint>

#include "../common/cuda_check.h"
#include "group_norm_cuda.h"
#include "group_norm_kernels.cuh"

namespace normdeploy {
namespace gn_cuda {

enum class Strategy : int { kAuto = 0, kOnePass = 1, kSplit = 2 };

struct Plan {
  Strategy strategy = Strategy::kOnePass;
  int64_t total_groups = 0;  // N*G
  int64_t group_elems = 0;   // Cg*S
  int64_t chunks = 0;        // split: blocks per group
  size_t workspace = 0;      // split: bytes
};

inline int DTypeBytes(DType t) {
  switch (t) {
    case DType::kFloat32: return ElemTraits<float>::kBytes;
    case DType::kFloat16: return ElemTraits<__half>::kBytes;
    case DType::kBFloat16: return ElemTraits<__nv_bfloat16>::kBytes;
  }
  return 0;
}

inline Status CheckParams(const GroupNormParams& p, Layout layout) {
  if (p.x_type != DType::kFloat32 && p.x_type != DType::kFloat16 && p.x_type != DType::kBFloat16) {
    return MakeError("GroupNorm (CUDA): unsupported input type ", static_cast<int>(p.x_type));
  }
  if (p.affine_type != DType::kFloat32 && p.affine_type != p.x_type) {
    return MakeError("GroupNorm (CUDA): scale/bias type ", DTypeName(p.affine_type), " must be float32 or match X (",
                     DTypeName(p.x_type), ")");
  }
  if (layout != Layout::kNCHW && layout != Layout::kNHWC) {
    return MakeError("GroupNorm (CUDA): unknown layout ", static_cast<int>(layout));
  }
  if (p.n < 0 || p.c < 0 || p.spatial < 0) {
    return MakeError("GroupNorm (CUDA): negative shape n=", p.n, " c=", p.c, " spatial=", p.spatial);
  }
  if (p.attrs.num_groups <= 0 || p.c % p.attrs.num_groups != 0) {
    return MakeError("GroupNorm (CUDA): num_groups=", p.attrs.num_groups, " does not divide C=", p.c);
  }
  return Status::Ok();
}

// Plans a launch; `requested` forces a strategy (tests), kAuto applies the rule above.
inline Status MakePlan(const GroupNormParams& p, Layout layout, Strategy requested, Plan& plan) {
  ND_RETURN_IF_ERROR(CheckParams(p, layout));
  plan = Plan{};
  if (p.n == 0 || p.c == 0 || p.spatial == 0) {  // empty: nothing to launch
    plan.strategy = requested == Strategy::kAuto ? Strategy::kOnePass : requested;
    return Status::Ok();
  }
  // A non-empty tensor bounds both products; a hostile shape (dims whose product overflows) is
  // refused rather than wrapped.
  if (__builtin_mul_overflow(p.n, p.attrs.num_groups, &plan.total_groups) ||
      __builtin_mul_overflow(p.c / p.attrs.num_groups, p.spatial, &plan.group_elems)) {
    return MakeError("GroupNorm (CUDA): N=", p.n, ", C=", p.c, ", spatial=", p.spatial, ", num_groups=",
                     p.attrs.num_groups, " overflow 64-bit element counts");
  }
  const bool fits = plan.group_elems * DTypeBytes(p.x_type) <= kOnePassMaxBytes;
  plan.strategy = requested == Strategy::kAuto ? (fits ? Strategy::kOnePass : Strategy::kSplit) : requested;
  if (plan.strategy == Strategy::kOnePass && !fits) {
    return MakeError("GroupNorm (CUDA): one-pass strategy needs the group (", plan.group_elems, " elements of ",
                     DTypeName(p.x_type), ") in ", kOnePassMaxBytes, " bytes of shared memory");
  }
  if (plan.strategy == Strategy::kSplit && plan.total_groups > 0 && plan.group_elems > 0) {
    plan.chunks = (plan.group_elems + kChunk - 1) / kChunk;
    if (plan.total_groups > INT64_C(0x7fffffff) / plan.chunks) {
      return MakeError("GroupNorm (CUDA): ", plan.total_groups, " groups x ", plan.chunks,
                       " chunks exceed the 2^31-1 blocks of a grid");
    }
    plan.workspace = static_cast<size_t>(plan.total_groups * (3 * plan.chunks + 2)) * sizeof(float);
  }
  if (plan.group_elems > INT64_C(0xffffffff)) {
    return MakeError("GroupNorm (CUDA): a group of ", plan.group_elems, " elements (C/num_groups * spatial) "
                     "exceeds the 2^32-1 the kernels index with 32 bits");
  }
  if (plan.total_groups > INT64_C(0x7fffffff)) {
    return MakeError("GroupNorm (CUDA): N*num_groups=", plan.total_groups, " exceeds 2^31-1 blocks");
  }
  return Status::Ok();
}

template <typename T, int kLayout, int kVec>
Status LaunchPlan(const Plan& plan, const GnArgs& args, cudaStream_t stream) {
  const dim3 block(kThreads);
  if (plan.strategy == Strategy::kOnePass) {
    const dim3 grid(static_cast<unsigned>(plan.total_groups));
    const size_t smem = static_cast<size_t>(plan.group_elems) * ElemTraits<T>::kBytes;
    ND_CUDA_CHECK("GroupNorm", simt::LaunchOn(stream, grid, block, smem, GroupNormOnePassKernel<T, kLayout, kVec>, args));
    return Status::Ok();
  }
  const dim3 grid(static_cast<unsigned>(plan.total_groups * plan.chunks));
  ND_CUDA_CHECK("GroupNorm", simt::LaunchOn(stream, grid, block, 0, GroupNormPartialKernel<T, kLayout, kVec>, args));
  ND_CUDA_CHECK("GroupNorm", simt::LaunchOn(stream, dim3(static_cast<unsigned>(plan.total_groups)), dim3(32), 0,
                                            GroupNormFinalizeKernel, args));
  ND_CUDA_CHECK("GroupNorm", simt::LaunchOn(stream, grid, block, 0, GroupNormApplyKernel<T, kLayout, kVec>, args));
  return Status::Ok();
}

inline bool Aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

template <typename T>
Status DispatchLayout(const Plan& plan, const GnArgs& args, Layout layout, cudaStream_t stream) {
  constexpr int kVec = ElemTraits<T>::kVec;
  const bool aligned = Aligned16(args.x) && Aligned16(args.y);
  if (layout == Layout::kNCHW) {
    if (aligned && args.group_elems % kVec == 0) return LaunchPlan<T, kNCHW, kVec>(plan, args, stream);
    return LaunchPlan<T, kNCHW, 1>(plan, args, stream);
  }
  if (aligned && args.cg % kVec == 0 && args.c % kVec == 0) return LaunchPlan<T, kNHWC, kVec>(plan, args, stream);
  return LaunchPlan<T, kNHWC, 1>(plan, args, stream);
}

// The launcher with an explicit strategy (kAuto = GroupNormCuda). `workspace` must hold
// plan.workspace bytes when the split strategy runs.
inline Status GroupNormCudaWithStrategy(const GroupNormParams& p, Layout layout, Strategy requested, void* workspace,
                                        void* stream, Strategy* used = nullptr) {
  Plan plan;
  ND_RETURN_IF_ERROR(MakePlan(p, layout, requested, plan));
  if (used != nullptr) *used = plan.strategy;
  if (plan.total_groups == 0 || plan.group_elems == 0) return Status::Ok();  // empty tensor
  if (p.x == nullptr || p.y == nullptr) return MakeError("GroupNorm (CUDA): null X or Y pointer");
  if (plan.workspace > 0 && workspace == nullptr) {
    return MakeError("GroupNorm (CUDA): the split strategy needs ", plan.workspace,
                     " bytes of workspace (GroupNormCudaWorkspaceSize), got none");
  }
  GnArgs args{};
  args.x = p.x;
  args.y = p.y;
  args.scale = p.scale;
  args.bias = p.bias;
  args.affine_f32 = p.affine_type == DType::kFloat32 ? 1 : 0;
  args.silu = p.attrs.activation == Activation::kSilu ? 1 : 0;
  args.c = p.c;
  args.spatial = p.spatial;
  args.groups = p.attrs.num_groups;
  args.cg = p.c / p.attrs.num_groups;
  args.group_elems = plan.group_elems;
  args.chunks = plan.chunks;
  args.eps = static_cast<float>(p.attrs.epsilon);
  args.inv_group_elems = static_cast<float>(1.0 / static_cast<double>(plan.group_elems));
  args.partials = static_cast<float*>(workspace);
  args.stats = args.partials == nullptr ? nullptr : args.partials + 3 * plan.total_groups * plan.chunks;
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  switch (p.x_type) {
    case DType::kFloat32: return DispatchLayout<float>(plan, args, layout, s);
    case DType::kFloat16: return DispatchLayout<__half>(plan, args, layout, s);
    case DType::kBFloat16: return DispatchLayout<__nv_bfloat16>(plan, args, layout, s);
  }
  return MakeError("GroupNorm (CUDA): unsupported input type ", static_cast<int>(p.x_type));
}

}  // namespace gn_cuda

size_t GroupNormCudaWorkspaceSize(const GroupNormParams& params, Layout layout) {
  gn_cuda::Plan plan;
  if (!gn_cuda::MakePlan(params, layout, gn_cuda::Strategy::kAuto, plan).ok()) return 0;
  return plan.workspace;
}

Status GroupNormCuda(const GroupNormParams& params, Layout layout, void* workspace, void* stream) {
  return gn_cuda::GroupNormCudaWithStrategy(params, layout, gn_cuda::Strategy::kAuto, workspace, stream);
}

}  // namespace normdeploy
