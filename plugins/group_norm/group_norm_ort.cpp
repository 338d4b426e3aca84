// Thin ONNX Runtime adapter for GroupNorm: unpack tensors and attributes, validate, launch.
// One OrtCustomOp per input type (float32, float16, bfloat16) under the same name; scale and bias
// are declared untyped so a wrong dtype reaches our check and its message.
#include <exception>
#include <string>

#include "../common/op_fields.generated.h"
#include "../onnxruntime/ort_ops.h"
#include "../onnxruntime/ort_util.h"
#include "group_norm.h"

namespace normdeploy {
namespace {

constexpr const char* kOp = kGroupNormOpName;

struct GroupNormKernel {
  const OrtApi* api;
  GroupNormAttrs attrs;
  std::string node;

  OrtStatusPtr ComputeV2(OrtKernelContext* context) const noexcept {
    try {
      return ort::ToOrtStatus(*api, Compute(context), node);
    } catch (const std::exception& e) {
      return api->CreateStatus(ORT_FAIL, (std::string(kOp) + ": " + e.what()).c_str());
    } catch (...) {
      return api->CreateStatus(ORT_FAIL, "GroupNorm: unknown error");
    }
  }

  Status Compute(OrtKernelContext* context) const {
    ort::TensorView x, scale, bias;
    ND_RETURN_IF_ERROR(ort::GetInput(*api, context, 0, kOp, "X", x));
    ND_RETURN_IF_ERROR(ort::GetInput(*api, context, 1, kOp, "scale", scale));
    ND_RETURN_IF_ERROR(ort::GetInput(*api, context, 2, kOp, "bias", bias));
    GroupNormParams p;
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
    p.spatial = 1;
    for (size_t i = 2; i < x.dims.size(); ++i) p.spatial *= x.dims[i];
    p.attrs = attrs;
    ND_RETURN_IF_ERROR(ort::AllocateOutput(*api, context, 0, x.dims, kOp, p.y));
    if (x.Elements() == 0) return Status::Ok();
    return GroupNormCpu(p, ort::OrtParallelFor(*api, context));
  }
};

struct GroupNormOp : Ort::CustomOpBase<GroupNormOp, GroupNormKernel, /*WithStatus=*/true> {
  explicit GroupNormOp(ONNXTensorElementDataType type) : type_(type) {}

  OrtStatusPtr CreateKernelV2(const OrtApi& api, const OrtKernelInfo* info, void** kernel) const noexcept {
    try {
      auto* k = new GroupNormKernel{&api, {}, ort::NodeName(api, info)};
      const Status status = ParseGroupNormAttrs(ort::KernelInfoFields(api, info), k->attrs);
      if (!status.ok()) {
        const std::string node = k->node;
        delete k;
        return ort::ToOrtStatus(api, status, node);
      }
      *kernel = k;
      return nullptr;
    } catch (const std::exception& e) {
      return api.CreateStatus(ORT_FAIL, (std::string(kOp) + ": " + e.what()).c_str());
    }
  }

  const char* GetName() const { return kOp; }
  size_t GetInputTypeCount() const { return 3; }
  ONNXTensorElementDataType GetInputType(size_t index) const {
    return index == 0 ? type_ : ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
  }
  OrtCustomOpInputOutputCharacteristic GetInputCharacteristic(size_t index) const {
    return index == 0 ? INPUT_OUTPUT_REQUIRED : INPUT_OUTPUT_OPTIONAL;
  }
  size_t GetOutputTypeCount() const { return 1; }
  ONNXTensorElementDataType GetOutputType(size_t) const { return type_; }

 private:
  ONNXTensorElementDataType type_;
};

}  // namespace

void AppendGroupNormOrtOps(std::vector<const OrtCustomOp*>& ops) {
  // Alive for the process: ONNX Runtime keeps pointers to them in every session.
  static const GroupNormOp kOps[] = {GroupNormOp(ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT),
                                     GroupNormOp(ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16),
                                     GroupNormOp(ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16)};
  for (const auto& op : kOps) ops.push_back(&op);
}

}  // namespace normdeploy
