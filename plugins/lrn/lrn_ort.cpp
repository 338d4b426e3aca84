// Thin ONNX Runtime adapter for LocalResponseNorm: unpack, validate, launch.
#include <exception>
#include <string>

#include "../common/op_fields.generated.h"
#include "../onnxruntime/ort_ops.h"
#include "../onnxruntime/ort_util.h"
#include "lrn.h"

namespace normdeploy {
namespace {

constexpr const char* kOp = kLocalResponseNormOpName;

struct LrnKernel {
  const OrtApi* api;
  LrnAttrs attrs;
  std::string node;

  OrtStatusPtr ComputeV2(OrtKernelContext* context) const noexcept {
    try {
      return ort::ToOrtStatus(*api, Compute(context), node);
    } catch (const std::exception& e) {
      return api->CreateStatus(ORT_FAIL, (std::string(kOp) + ": " + e.what()).c_str());
    } catch (...) {
      return api->CreateStatus(ORT_FAIL, "LocalResponseNorm: unknown error");
    }
  }

  Status Compute(OrtKernelContext* context) const {
    ort::TensorView x;
    ND_RETURN_IF_ERROR(ort::GetInput(*api, context, 0, kOp, "X", x));
    LrnParams p;
    if (!ort::ToDType(x.type, p.type)) {
      return MakeError(kOp, ": input 'X' has type ", ort::OnnxTypeName(x.type),
                       "; expected float32, float16 or bfloat16");
    }
    ND_RETURN_IF_ERROR(ValidateLrn(attrs, x.dims.data(), static_cast<int64_t>(x.dims.size())));
    p.x = x.data;
    p.n = x.dims[0];
    p.c = x.dims[1];
    p.spatial = 1;
    for (size_t i = 2; i < x.dims.size(); ++i) p.spatial *= x.dims[i];
    p.attrs = attrs;
    ND_RETURN_IF_ERROR(ort::AllocateOutput(*api, context, 0, x.dims, kOp, p.y));
    if (x.Elements() == 0) return Status::Ok();
    return LrnCpu(p, ort::OrtParallelFor(*api, context));
  }
};

struct LrnOp : Ort::CustomOpBase<LrnOp, LrnKernel, /*WithStatus=*/true> {
  explicit LrnOp(ONNXTensorElementDataType type) : type_(type) {}

  OrtStatusPtr CreateKernelV2(const OrtApi& api, const OrtKernelInfo* info, void** kernel) const noexcept {
    try {
      auto* k = new LrnKernel{&api, {}, ort::NodeName(api, info)};
      const Status status = ParseLrnAttrs(ort::KernelInfoFields(api, info), k->attrs);
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
  size_t GetInputTypeCount() const { return 1; }
  ONNXTensorElementDataType GetInputType(size_t) const { return type_; }
  size_t GetOutputTypeCount() const { return 1; }
  ONNXTensorElementDataType GetOutputType(size_t) const { return type_; }

 private:
  ONNXTensorElementDataType type_;
};

}  // namespace

void AppendLrnOrtOps(std::vector<const OrtCustomOp*>& ops) {
  static const LrnOp kOps[] = {LrnOp(ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT),
                               LrnOp(ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16),
                               LrnOp(ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16)};
  for (const auto& op : kOps) ops.push_back(&op);
}

}  // namespace normdeploy
