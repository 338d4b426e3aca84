// Helpers shared by the thin ONNX Runtime adapters: C API calls that never throw, attribute
// lookup as a FieldSource, and Status -> OrtStatus conversion. Only the C API is called at run
// time (the C++ wrapper is used for Ort::CustomOpBase, which only fills function pointers).
#pragma once

#define ORT_API_MANUAL_INIT
#include <onnxruntime_cxx_api.h>
#undef ORT_API_MANUAL_INIT

#include <cstdint>
#include <string>
#include <vector>

#include "../common/dtype.h"
#include "../common/field_spec.h"
#include "../common/parallel.h"
#include "../common/status.h"

namespace normdeploy {
namespace ort {

// The node's name ("" when unnamed), for error messages.
std::string NodeName(const OrtApi& api, const OrtKernelInfo* info);

// Converts a Status to an OrtStatus (nullptr when ok), prefixing the node name when known.
OrtStatus* ToOrtStatus(const OrtApi& api, const Status& status, const std::string& node = "");

// Reads attributes of a node; a present attribute of the wrong type is reported as such.
class KernelInfoFields final : public FieldSource {
 public:
  KernelInfoFields(const OrtApi& api, const OrtKernelInfo* info) : api_(api), info_(info) {}
  Lookup Get(const FieldSpec& spec, FieldValue& out, std::string& found) const override;

 private:
  bool GetInt(const char* name, int64_t& v) const;
  bool GetFloat(const char* name, float& v) const;
  bool GetString(const char* name, std::string& v) const;
  const OrtApi& api_;
  const OrtKernelInfo* info_;
};

// One tensor input: presence, element type, shape, data.
struct TensorView {
  bool present = false;
  ONNXTensorElementDataType type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
  std::vector<int64_t> dims;
  const void* data = nullptr;
  int64_t Elements() const;
};

Status GetInput(const OrtApi& api, OrtKernelContext* context, size_t index, const char* op,
                const char* input_name, TensorView& view);

// Allocates output `index` with `dims` and returns its data pointer.
Status AllocateOutput(const OrtApi& api, OrtKernelContext* context, size_t index, const std::vector<int64_t>& dims,
                      const char* op, void*& data);

// Maps an ONNX element type to a kernel DType; false for anything else.
bool ToDType(ONNXTensorElementDataType type, DType& out);
const char* OnnxTypeName(ONNXTensorElementDataType type);

// The CUDA stream ONNX Runtime runs this kernel on (CUDA execution provider).
Status GpuStream(const OrtApi& api, OrtKernelContext* context, const char* op, void*& stream);

// Device scratch memory from the execution provider's allocator, freed when it goes out of scope
// (after the kernels were enqueued on the stream: the allocator orders reuse on that stream).
class DeviceBuffer {
 public:
  DeviceBuffer(const OrtApi& api, OrtAllocator* allocator) : api_(api), allocator_(allocator) {}
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer();
  Status Allocate(size_t bytes, const char* op);
  void* data() const { return data_; }

 private:
  const OrtApi& api_;
  OrtAllocator* allocator_;
  void* data_ = nullptr;
};

// ParallelFor over the session's intra-op thread pool.
class OrtParallelFor final : public ParallelFor {
 public:
  OrtParallelFor(const OrtApi& api, OrtKernelContext* context) : api_(api), context_(context) {}
  void Run(size_t total, TaskFn fn, void* task_context) const override;

 private:
  const OrtApi& api_;
  OrtKernelContext* context_;
};

}  // namespace ort
}  // namespace normdeploy
