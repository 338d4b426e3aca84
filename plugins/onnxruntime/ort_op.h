// One generic ONNX Runtime custom op for every normdeploy op: an op supplies a Traits struct
//   kName, Attrs, kInputCount (input 0 is X; the others optional and untyped, so a wrong dtype
//   reaches our check and its message), Parse(FieldSource, Attrs&), Compute(api, attrs, context)
// and gets one OrtCustomOp per element type (float32, float16, bfloat16) under the same name.
// Nothing throws across the C ABI: errors come back as OrtStatus.
#pragma once

#include <exception>
#include <string>
#include <vector>

#include "ort_util.h"

namespace normdeploy {
namespace ort {

template <typename Traits>
struct Kernel {
  const OrtApi* api;
  typename Traits::Attrs attrs;
  std::string node;

  OrtStatusPtr ComputeV2(OrtKernelContext* context) const noexcept {
    try {
      return ToOrtStatus(*api, Traits::Compute(*api, attrs, context), node);
    } catch (const std::exception& e) {
      return api->CreateStatus(ORT_FAIL, (std::string(Traits::kName) + ": " + e.what()).c_str());
    } catch (...) {
      return api->CreateStatus(ORT_FAIL, (std::string(Traits::kName) + ": unknown error").c_str());
    }
  }
};

template <typename Traits>
struct Op : Ort::CustomOpBase<Op<Traits>, Kernel<Traits>, /*WithStatus=*/true> {
  explicit Op(ONNXTensorElementDataType type) : type_(type) {}

  OrtStatusPtr CreateKernelV2(const OrtApi& api, const OrtKernelInfo* info, void** kernel) const noexcept {
    try {
      auto* k = new Kernel<Traits>{&api, {}, NodeName(api, info)};
      const Status status = Traits::Parse(KernelInfoFields(api, info), k->attrs);
      if (!status.ok()) {
        const std::string node = k->node;
        delete k;
        return ToOrtStatus(api, status, node);
      }
      *kernel = k;
      return nullptr;
    } catch (const std::exception& e) {
      return api.CreateStatus(ORT_FAIL, (std::string(Traits::kName) + ": " + e.what()).c_str());
    } catch (...) {
      return api.CreateStatus(ORT_FAIL, (std::string(Traits::kName) + ": unknown error").c_str());
    }
  }

  const char* GetName() const { return Traits::kName; }
  size_t GetInputTypeCount() const { return Traits::kInputCount; }
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

// Appends the op's three typed registrations; they live for the process (ONNX Runtime keeps
// pointers to them in every session).
template <typename Traits>
void AppendTypedOps(std::vector<const OrtCustomOp*>& ops) {
  static const Op<Traits> kOps[] = {Op<Traits>(ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT),
                                    Op<Traits>(ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16),
                                    Op<Traits>(ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16)};
  for (const auto& op : kOps) ops.push_back(&op);
}

}  // namespace ort
}  // namespace normdeploy
