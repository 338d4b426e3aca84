// One generic ONNX Runtime custom op for every normdeploy op: an op supplies a Traits struct
//   kName, Attrs, kInputCount (input 0 is X; the others optional and untyped, so a wrong dtype
//   reaches our check and its message), Parse(FieldSource, Attrs&), Compute(api, attrs, context)
// and gets one OrtCustomOp per element type (float32, float16, bfloat16) under the same name.
// Nothing throws across the C ABI: errors come back as OrtStatus.
#pragma once

#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "ort_util.h"

namespace normdeploy {
namespace ort {

template <typename Traits, bool kCuda>
struct Kernel {
  const OrtApi* api;
  typename Traits::Attrs attrs;
  std::string node;
  OrtAllocator* device_allocator = nullptr;  // CUDA kernels: the EP's device allocator

  Kernel(const OrtApi* a, std::string name) : api(a), node(std::move(name)) {}
  Kernel(const Kernel&) = delete;
  Kernel& operator=(const Kernel&) = delete;
  ~Kernel() {
    if (device_allocator != nullptr) api->ReleaseAllocator(device_allocator);
  }

  Status Run(OrtKernelContext* context) const {
    if constexpr (kCuda) {
      return Traits::ComputeCuda(*api, attrs, context, device_allocator);
    } else {
      return Traits::Compute(*api, attrs, context);
    }
  }

  OrtStatusPtr ComputeV2(OrtKernelContext* context) const noexcept {
    try {
      return ToOrtStatus(*api, Run(context), node);
    } catch (const std::exception& e) {
      return api->CreateStatus(ORT_FAIL, (std::string(Traits::kName) + ": " + e.what()).c_str());
    } catch (...) {
      return api->CreateStatus(ORT_FAIL, (std::string(Traits::kName) + ": unknown error").c_str());
    }
  }
};

template <typename Traits, bool kCuda = false>
struct Op : Ort::CustomOpBase<Op<Traits, kCuda>, Kernel<Traits, kCuda>, /*WithStatus=*/true> {
  explicit Op(ONNXTensorElementDataType type) : type_(type) {}

  OrtStatusPtr CreateKernelV2(const OrtApi& api, const OrtKernelInfo* info, void** kernel) const noexcept {
    try {
      auto* k = new Kernel<Traits, kCuda>(&api, NodeName(api, info));
      Status status = Traits::Parse(KernelInfoFields(api, info), k->attrs);
      if (status.ok() && kCuda) {
        if (OrtStatus* st = api.KernelInfoGetAllocator(info, OrtMemTypeDefault, &k->device_allocator)) {
          status = MakeError(Traits::kName, ": no device allocator: ", api.GetErrorMessage(st));
          api.ReleaseStatus(st);
        }
      }
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
  const char* GetExecutionProviderType() const { return kCuda ? "CUDAExecutionProvider" : nullptr; }
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
#ifdef ND_WITH_CUDA  // the same ops for the CUDA execution provider (built with -DNORMDEPLOY_CUDA=ON)
  static const Op<Traits, true> kCudaOps[] = {Op<Traits, true>(ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT),
                                              Op<Traits, true>(ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16),
                                              Op<Traits, true>(ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16)};
  for (const auto& op : kCudaOps) ops.push_back(&op);
#endif
}

}  // namespace ort
}  // namespace normdeploy
