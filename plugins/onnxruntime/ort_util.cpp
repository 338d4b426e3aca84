#include "ort_util.h"

#include <sstream>

namespace normdeploy {
namespace ort {

std::string NodeName(const OrtApi& api, const OrtKernelInfo* info) {
  size_t size = 0;
  OrtStatus* st = api.KernelInfo_GetNodeName(info, nullptr, &size);
  if (st != nullptr) {
    api.ReleaseStatus(st);
    return "";
  }
  std::string name(size, '\0');
  st = api.KernelInfo_GetNodeName(info, name.data(), &size);
  if (st != nullptr) {
    api.ReleaseStatus(st);
    return "";
  }
  if (!name.empty() && name.back() == '\0') name.pop_back();
  return name;
}

OrtStatus* ToOrtStatus(const OrtApi& api, const Status& status, const std::string& node) {
  if (status.ok()) return nullptr;
  std::string message = status.message();
  if (!node.empty()) message += " (node '" + node + "')";
  return api.CreateStatus(ORT_INVALID_ARGUMENT, message.c_str());
}

bool KernelInfoFields::GetInt(const char* name, int64_t& v) const {
  OrtStatus* st = api_.KernelInfoGetAttribute_int64(info_, name, &v);
  if (st == nullptr) return true;
  api_.ReleaseStatus(st);
  return false;
}

bool KernelInfoFields::GetFloat(const char* name, float& v) const {
  OrtStatus* st = api_.KernelInfoGetAttribute_float(info_, name, &v);
  if (st == nullptr) return true;
  api_.ReleaseStatus(st);
  return false;
}

bool KernelInfoFields::GetString(const char* name, std::string& v) const {
  size_t size = 0;
  OrtStatus* st = api_.KernelInfoGetAttribute_string(info_, name, nullptr, &size);
  if (st != nullptr) {
    api_.ReleaseStatus(st);
    return false;
  }
  std::string text(size, '\0');
  st = api_.KernelInfoGetAttribute_string(info_, name, text.data(), &size);
  if (st != nullptr) {
    api_.ReleaseStatus(st);
    return false;
  }
  if (!text.empty() && text.back() == '\0') text.pop_back();
  v = text;
  return true;
}

FieldSource::Lookup KernelInfoFields::Get(const FieldSpec& spec, FieldValue& out, std::string& found) const {
  int64_t i = 0;
  float f = 0.0f;
  std::string s;
  const bool has_int = GetInt(spec.name, i);
  const bool has_float = !has_int && GetFloat(spec.name, f);
  const bool has_string = !has_int && !has_float && GetString(spec.name, s);
  switch (spec.kind) {
    case FieldKind::kInt:
      if (has_int) {
        out.integer = i;
        out.number = static_cast<double>(i);
        return Lookup::kFound;
      }
      break;
    case FieldKind::kFloat:
      if (has_float) {
        out.number = static_cast<double>(f);
        return Lookup::kFound;
      }
      break;
    case FieldKind::kString:
      if (has_string) {
        out.text = s;
        return Lookup::kFound;
      }
      break;
  }
  std::ostringstream what;
  if (has_int) {
    what << "an int (" << i << ")";
  } else if (has_float) {
    what << "a float (" << f << ")";
  } else if (has_string) {
    what << "a string ('" << s << "')";
  } else {
    // Absent, or of a type without a getter of its own (a list, a tensor, a graph). ONNX
    // Runtime's array getters succeed for a present attribute of any type and return its list
    // (empty unless it is one): they tell presence, and the type of a non-empty list.
    size_t ints = 0;
    size_t floats = 0;
    OrtStatus* st = api_.KernelInfoGetAttributeArray_int64(info_, spec.name, nullptr, &ints);
    const bool has_ints = st == nullptr;
    if (st != nullptr) api_.ReleaseStatus(st);
    st = api_.KernelInfoGetAttributeArray_float(info_, spec.name, nullptr, &floats);
    const bool has_floats = st == nullptr;
    if (st != nullptr) api_.ReleaseStatus(st);
    if (!has_ints && !has_floats) return Lookup::kMissing;
    if (has_ints && ints > 0) {
      what << "a list of ints";
    } else if (has_floats && floats > 0) {
      what << "a list of floats";
    } else {
      what << "an attribute of another type (a tensor, a graph, a list of strings or an empty list)";
    }
  }
  found = what.str();
  return Lookup::kWrongType;
}

int64_t TensorView::Elements() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

namespace {

Status FromOrt(const OrtApi& api, OrtStatus* st, const char* op, const std::string& what) {
  if (st == nullptr) return Status::Ok();
  std::string message = std::string(op) + ": " + what + ": " + api.GetErrorMessage(st);
  api.ReleaseStatus(st);
  return Status::Error(message);
}

}  // namespace

Status GetInput(const OrtApi& api, OrtKernelContext* context, size_t index, const char* op,
                const char* input_name, TensorView& view) {
  view = TensorView{};
  size_t count = 0;
  ND_RETURN_IF_ERROR(FromOrt(api, api.KernelContext_GetInputCount(context, &count), op, "input count"));
  if (index >= count) return Status::Ok();
  const OrtValue* value = nullptr;
  ND_RETURN_IF_ERROR(FromOrt(api, api.KernelContext_GetInput(context, index, &value), op,
                             std::string("input '") + input_name + "'"));
  if (value == nullptr) return Status::Ok();
  int is_tensor = 0;
  ND_RETURN_IF_ERROR(FromOrt(api, api.IsTensor(value, &is_tensor), op, std::string("input '") + input_name + "'"));
  if (!is_tensor) return MakeError(op, ": input '", input_name, "' must be a tensor");
  OrtTensorTypeAndShapeInfo* info = nullptr;
  ND_RETURN_IF_ERROR(FromOrt(api, api.GetTensorTypeAndShape(value, &info), op, std::string("input '") + input_name + "'"));
  size_t rank = 0;
  Status status = FromOrt(api, api.GetTensorElementType(info, &view.type), op, "element type");
  if (status.ok()) status = FromOrt(api, api.GetDimensionsCount(info, &rank), op, "rank");
  if (status.ok()) {
    view.dims.resize(rank);
    status = FromOrt(api, api.GetDimensions(info, view.dims.data(), rank), op, "dims");
  }
  api.ReleaseTensorTypeAndShapeInfo(info);
  ND_RETURN_IF_ERROR(status);
  void* data = nullptr;
  ND_RETURN_IF_ERROR(FromOrt(api, api.GetTensorMutableData(const_cast<OrtValue*>(value), &data), op,
                             std::string("input '") + input_name + "' data"));
  view.data = data;
  view.present = true;
  return Status::Ok();
}

Status AllocateOutput(const OrtApi& api, OrtKernelContext* context, size_t index, const std::vector<int64_t>& dims,
                      const char* op, void*& data) {
  OrtValue* out = nullptr;
  ND_RETURN_IF_ERROR(FromOrt(api, api.KernelContext_GetOutput(context, index, dims.data(), dims.size(), &out), op,
                             "allocating the output"));
  data = nullptr;
  return FromOrt(api, api.GetTensorMutableData(out, &data), op, "output data");
}

bool ToDType(ONNXTensorElementDataType type, DType& out) {
  switch (type) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT: out = DType::kFloat32; return true;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16: out = DType::kFloat16; return true;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16: out = DType::kBFloat16; return true;
    default: return false;
  }
}

const char* OnnxTypeName(ONNXTensorElementDataType type) {
  switch (type) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT: return "float32";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16: return "float16";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16: return "bfloat16";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE: return "float64";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8: return "int8";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8: return "uint8";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16: return "int16";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32: return "int32";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64: return "int64";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL: return "bool";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING: return "string";
    default: return "an unsupported type";
  }
}

Status GpuStream(const OrtApi& api, OrtKernelContext* context, const char* op, void*& stream) {
  stream = nullptr;
  ND_RETURN_IF_ERROR(FromOrt(api, api.KernelContext_GetGPUComputeStream(context, &stream), op, "CUDA stream"));
  return Status::Ok();
}

DeviceBuffer::~DeviceBuffer() {
  if (data_ != nullptr && allocator_ != nullptr) {
    if (OrtStatus* st = api_.AllocatorFree(allocator_, data_)) api_.ReleaseStatus(st);
  }
}

Status DeviceBuffer::Allocate(size_t bytes, const char* op) {
  if (bytes == 0) return Status::Ok();
  if (allocator_ == nullptr) return MakeError(op, ": no device allocator for ", bytes, " bytes of workspace");
  return FromOrt(api_, api_.AllocatorAlloc(allocator_, bytes, &data_), op,
                 "allocating " + std::to_string(bytes) + " bytes of device workspace");
}

void OrtParallelFor::Run(size_t total, TaskFn fn, void* task_context) const {
  if (total == 0) return;
  if (total == 1) {
    fn(task_context, 0);
    return;
  }
  OrtStatus* st = api_.KernelContext_ParallelFor(context_, fn, total, 0, task_context);
  if (st != nullptr) {  // no thread pool available: run inline
    api_.ReleaseStatus(st);
    for (size_t i = 0; i < total; ++i) fn(task_context, i);
  }
}

}  // namespace ort
}  // namespace normdeploy
