// Thin ONNX Runtime adapter for GroupNorm: unpack tensors and attributes, validate, launch.
// (ort_op.h turns it into one OrtCustomOp per input type; scale and bias are untyped so a wrong
// dtype reaches our check and its message.)

#include "../common/op_fields.generated.h"
#include "../onnxruntime/ort_ops.h"
#include "../onnxruntime/ort_op.h"
#include "group_norm.h"
#include "group_norm_cuda.h"

namespace normdeploy {
namespace {

constexpr const char* kOp = kGroupNormOpName;

struct GroupNormOrt {
  static constexpr const char* kName = kOp;
  static constexpr size_t kInputCount = 3;  // X, scale, bias
  using Attrs = GroupNormAttrs;
  static Status Parse(const FieldSource& source, Attrs& attrs) { return ParseGroupNormAttrs(source, attrs); }

  // Unpacks and validates the inputs, allocates the output; `empty` when there is nothing to do.
  static Status Prepare(const OrtApi& api_ref, const Attrs& attrs, OrtKernelContext* context, GroupNormParams& p,
                        bool& empty) {
    const OrtApi* api = &api_ref;
    ort::TensorView x, scale, bias;
    ND_RETURN_IF_ERROR(ort::GetInput(*api, context, 0, kOp, "X", x));
    ND_RETURN_IF_ERROR(ort::GetInput(*api, context, 1, kOp, "scale", scale));
    ND_RETURN_IF_ERROR(ort::GetInput(*api, context, 2, kOp, "bias", bias));
    if (!ort::ToDType(x.type, p.x_type)) {
      return MakeError(kOp, ": input 'X' has type ", ort::OnnxTypeName(x.type),
                       "; expected float32, float16 or bfloat16");
    }
    p.affine_type = p.x_type;
    for (const auto* t : {&scale, &bias}) {
      if (!t->present) continue;
      const char* name = t == &scale ? "scale" : "bias";
      DType dt;
      if (!ort::ToDType(t->type, dt) || (dt != DType::kFloat32 && dt != p.x_type)) {
        return MakeError(kOp, ": input '", name, "' has type ", ort::OnnxTypeName(t->type),
                         "; expected float32 or the type of X (", DTypeName(p.x_type), ")");
      }
      if (t->dims.size() != 1) {
        return MakeError(kOp, ": input '", name, "' must have shape (C), got rank ", t->dims.size());
      }
    }
    if (scale.present && bias.present && scale.type != bias.type) {
      return MakeError(kOp, ": inputs 'scale' (", ort::OnnxTypeName(scale.type), ") and 'bias' (",
                       ort::OnnxTypeName(bias.type), ") must have the same type");
    }
    if (scale.present) ort::ToDType(scale.type, p.affine_type);
    else if (bias.present) ort::ToDType(bias.type, p.affine_type);
    ND_RETURN_IF_ERROR(ValidateGroupNorm(attrs, x.dims.data(), static_cast<int64_t>(x.dims.size()),
                                         scale.present ? scale.Elements() : -1,
                                         bias.present ? bias.Elements() : -1));
    p.x = x.data;
    p.scale = scale.present ? scale.data : nullptr;
    p.bias = bias.present ? bias.data : nullptr;
    p.n = x.dims[0];
    p.c = x.dims[1];
    // An empty X may have other dims whose product overflows (ONNX Runtime accepts {1, 0, 2^62, 2^62}):
    // its spatial size is never used, so it is only computed for a non-empty X.
    empty = x.Elements() == 0;
    p.spatial = empty ? 0 : 1;
    for (size_t i = 2; i < x.dims.size() && !empty; ++i) p.spatial *= x.dims[i];
    p.attrs = attrs;
    ND_RETURN_IF_ERROR(ort::AllocateOutput(*api, context, 0, x.dims, kOp, p.y));
    return Status::Ok();
  }

  static Status Compute(const OrtApi& api, const Attrs& attrs, OrtKernelContext* context) {
    GroupNormParams p;
    bool empty = false;
    ND_RETURN_IF_ERROR(Prepare(api, attrs, context, p, empty));
    return empty ? Status::Ok() : GroupNormCpu(p, ort::OrtParallelFor(api, context));
  }

#ifdef ND_WITH_CUDA
  // CUDA execution provider: tensors are device pointers; the kernels run on the session's stream.
  static Status ComputeCuda(const OrtApi& api, const Attrs& attrs, OrtKernelContext* context, OrtAllocator* alloc) {
    GroupNormParams p;
    bool empty = false;
    ND_RETURN_IF_ERROR(Prepare(api, attrs, context, p, empty));
    if (empty) return Status::Ok();
    void* stream = nullptr;
    ND_RETURN_IF_ERROR(ort::GpuStream(api, context, kOp, stream));
    ort::DeviceBuffer workspace(api, alloc);
    ND_RETURN_IF_ERROR(workspace.Allocate(GroupNormCudaWorkspaceSize(p, Layout::kNCHW), kOp));
    return GroupNormCuda(p, Layout::kNCHW, workspace.data(), stream);
  }
#endif
};

}  // namespace

void AppendGroupNormOrtOps(std::vector<const OrtCustomOp*>& ops) { ort::AppendTypedOps<GroupNormOrt>(ops); }

}  // namespace normdeploy
