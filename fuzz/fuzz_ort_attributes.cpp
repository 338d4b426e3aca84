// Fuzz target: the ONNX Runtime adapter (plugins/onnxruntime + the ops' *_ort.cpp) through its
// real entry point, RegisterCustomOps, against a fake OrtApi: ONNX attribute parsing in
// CreateKernelV2 and, optionally, KernelComputeV2 on the CPU with fake tensors.
//
// The fake OrtApi implements only what the adapter calls, with ONNX Runtime's semantics (the
// size protocol of the string getters, array getters that succeed for a present attribute of any
// type, ...); every other slot holds a trap that aborts naming the slot. The fake kernel info
// holds attributes decoded from the input: any name (also with embedded NULs), any ONNX attribute
// type (FLOAT, INT, STRING, TENSOR, GRAPH, FLOATS, INTS, STRINGS, ...), any value.
//
// Input format (little-endian; reading past the end gives zeros):
//   u8 flags        bits 0-1: element type of the registration (float32, float16, bfloat16, float32);
//                   0x04 KernelInfo_GetNodeName fails; 0x08 run KernelComputeV2;
//                   0x10 ParallelFor fails (the adapter runs the tasks inline);
//                   0x20 ParallelFor runs the tasks in reverse order
//   u8 len, bytes   node name (any bytes)
//   u8 n            attributes (n % 13), each:
//     u8 name       < 11: kNames[name]; else u8 length + bytes (NULs kept)
//     u8 type       ONNX AttributeProto type (% 16): 1 FLOAT f32, 2 INT i64, 3 STRING (u8 length +
//                   bytes), 6 FLOATS / 7 INTS (u8 count + values), 8 STRINGS (u8 count + strings),
//                   others (TENSOR, GRAPH, ...) carry no payload here
//     (an attribute whose name is already there is dropped: ONNX Runtime keeps names unique)
//   if 0x08, the inputs of Compute (for both ops; LocalResponseNorm takes only the first):
//     u8 count      inputs the node has (1 + count % 3)
//     each input:   u8 mode (0 tensor, 1 omitted optional input, 2 not a tensor; X is always a
//                   tensor of the registration's type), u8 element type (% 32), u8 rank (% 7),
//                   dims (u8 each: 0..239, or 0xF0.. large values), data bytes
//                   Dims are what ONNX Runtime can hold: non-negative, the running product never
//                   overflows; more than 4096 elements are reduced (dims % 5) unless one dim is 0.
//
// Properties (a violation aborts):
//   * nothing crashes, no sanitizer report, no leaked OrtStatus / shape info / memory;
//   * CreateKernelV2 succeeds exactly when the reference model below (ONNX attribute types must
//     match: INT for ints, FLOAT for floats, STRING for strings; schema ranges; defaults) accepts
//     the attributes, the kernel computes with exactly those values (the Compute output is compared
//     with a kernel created from the reference values), and an error names the op, the attribute,
//     and what was found in words that fit the attribute's actual type;
//   * KernelComputeV2 succeeds exactly when the shapes and types are valid for the op; on success
//     the output has X's shape and every element was written; on failure the status names the op.
#define ORT_API_MANUAL_INIT
#include <onnxruntime_c_api.h>
#undef ORT_API_MANUAL_INIT

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../plugins/common/field_spec.h"
#include "../plugins/common/op_fields.generated.h"
#include "fuzz_util.h"

extern "C" OrtStatus* ORT_API_CALL RegisterCustomOps(OrtSessionOptions* options, const OrtApiBase* api_base);

namespace {

namespace nd = normdeploy;
using nd_fuzz::ByteReader;
using nd_fuzz::Printable;

// ONNX AttributeProto.AttributeType values.
enum AttrType : int {
  kUndefined = 0, kFloat = 1, kInt = 2, kString = 3, kTensor = 4, kGraph = 5, kFloats = 6, kInts = 7,
  kStrings = 8, kTensors = 9, kGraphs = 10, kSparseTensor = 11, kSparseTensors = 12, kTypeProto = 13,
  kTypeProtos = 14,
};

const char* AttrTypeName(int t) {
  static const char* const kNames[] = {"UNDEFINED", "FLOAT",  "INT",           "STRING",         "TENSOR",
                                       "GRAPH",     "FLOATS", "INTS",          "STRINGS",        "TENSORS",
                                       "GRAPHS",    "SPARSE_TENSOR", "SPARSE_TENSORS", "TYPE_PROTO", "TYPE_PROTOS"};
  return t >= 0 && t < 15 ? kNames[t] : "type 15";
}

struct Attr {
  std::string name;  // may hold NULs: then no C-string name can find it
  int type = kUndefined;
  float f = 0.0f;
  int64_t i = 0;
  std::string s;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
};

struct KernelInfo {
  std::string node_name;
  bool node_name_fails = false;
  std::vector<Attr> attrs;
  const Attr* Find(const char* name) const {
    for (const auto& a : attrs) {
      if (a.name == name) return &a;  // std::string == const char*: the whole name, NULs included
    }
    return nullptr;
  }
};

// ---- fake tensors and kernel context --------------------------------------------------------------

size_t ElementBytes(int type) {
  switch (type) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32: return 4;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16: return 2;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL: return 1;
    default: return 16;  // doubles, 64-bit ints, complex, strings: enough for any of them
  }
}

struct Value {
  bool is_tensor = true;
  int type = ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
  std::vector<int64_t> dims;
  uint8_t* data = nullptr;  // malloc'ed, exactly Elements() * ElementBytes(type) (at least 1 byte)
  Value() = default;
  Value(const Value&) = delete;
  Value& operator=(const Value&) = delete;
  ~Value() { std::free(data); }
  int64_t Elements() const {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;  // within range: the harness builds only such shapes
    return n;
  }
  void Allocate() {
    const size_t bytes = static_cast<size_t>(Elements()) * ElementBytes(type);
    data = static_cast<uint8_t*>(std::malloc(bytes == 0 ? 1 : bytes));
  }
};

struct Context {
  std::vector<Value*> inputs;  // nullptr = omitted optional input
  Value output;
  bool output_allocated = false;
  int output_requests = 0;
  bool parallel_fails = false;
  bool parallel_reverse = false;
};

struct ShapeInfo {
  int type;
  std::vector<int64_t> dims;
};

// ---- fake OrtApi ----------------------------------------------------------------------------------

struct Status {
  OrtErrorCode code;
  std::string message;
};

int g_live_statuses = 0;
int g_live_shape_infos = 0;

OrtStatus* MakeStatus(OrtErrorCode code, const std::string& message) {
  ++g_live_statuses;
  return reinterpret_cast<OrtStatus*>(new Status{code, message});
}

const KernelInfo* Info(const OrtKernelInfo* info) { return reinterpret_cast<const KernelInfo*>(info); }
Context* Ctx(const OrtKernelContext* context) {
  return reinterpret_cast<Context*>(const_cast<OrtKernelContext*>(context));
}
Value* Val(const OrtValue* value) { return reinterpret_cast<Value*>(const_cast<OrtValue*>(value)); }

OrtStatus* ORT_API_CALL FakeCreateStatus(OrtErrorCode code, const char* msg) noexcept {
  return MakeStatus(code, msg != nullptr ? msg : "");
}
OrtErrorCode ORT_API_CALL FakeGetErrorCode(const OrtStatus* status) noexcept {
  return reinterpret_cast<const Status*>(status)->code;
}
const char* ORT_API_CALL FakeGetErrorMessage(const OrtStatus* status) noexcept {
  return reinterpret_cast<const Status*>(status)->message.c_str();
}
void ORT_API_CALL FakeReleaseStatus(OrtStatus* status) noexcept {
  if (status == nullptr) return;
  --g_live_statuses;
  delete reinterpret_cast<Status*>(status);
}

OrtStatus* NoAttribute(const char* name) {
  return MakeStatus(ORT_FAIL, std::string("No attribute with name:'") + name + "'is defined.");
}
OrtStatus* TypeMismatch() { return MakeStatus(ORT_FAIL, "Attribute name and type don't match"); }

// String protocol of ONNX Runtime: out == nullptr asks the size (including the NUL); a buffer of
// at least that size gets the bytes and a NUL; a smaller one is an error (size set either way).
OrtStatus* CopyString(const std::string& value, char* out, size_t* size) {
  if (out == nullptr) {
    *size = value.size() + 1;
    return nullptr;
  }
  if (*size >= value.size() + 1) {
    if (!value.empty()) std::memcpy(out, value.data(), value.size());
    out[value.size()] = '\0';
    *size = value.size() + 1;
    return nullptr;
  }
  *size = value.size() + 1;
  return MakeStatus(ORT_INVALID_ARGUMENT, "Result buffer is not large enough");
}

template <typename T>
OrtStatus* CopyArray(const std::vector<T>& values, T* out, size_t* size) {
  if (out == nullptr) {
    *size = values.size();
    return nullptr;
  }
  if (*size >= values.size()) {
    if (!values.empty()) std::memcpy(out, values.data(), values.size() * sizeof(T));
    *size = values.size();
    return nullptr;
  }
  *size = values.size();
  return MakeStatus(ORT_INVALID_ARGUMENT, "Result buffer is not large enough");
}

OrtStatus* ORT_API_CALL FakeGetFloat(const OrtKernelInfo* info, const char* name, float* out) noexcept {
  const Attr* a = Info(info)->Find(name);
  if (a == nullptr) return NoAttribute(name);
  if (a->type != kFloat) return TypeMismatch();
  *out = a->f;
  return nullptr;
}
OrtStatus* ORT_API_CALL FakeGetInt(const OrtKernelInfo* info, const char* name, int64_t* out) noexcept {
  const Attr* a = Info(info)->Find(name);
  if (a == nullptr) return NoAttribute(name);
  if (a->type != kInt) return TypeMismatch();
  *out = a->i;
  return nullptr;
}
OrtStatus* ORT_API_CALL FakeGetString(const OrtKernelInfo* info, const char* name, char* out, size_t* size) noexcept {
  const Attr* a = Info(info)->Find(name);
  if (a == nullptr) return NoAttribute(name);
  if (a->type != kString) return TypeMismatch();
  return CopyString(a->s, out, size);
}
// As ONNX Runtime's GetAttrs: no type check, the list field of whatever attribute it is.
OrtStatus* ORT_API_CALL FakeGetFloats(const OrtKernelInfo* info, const char* name, float* out, size_t* size) noexcept {
  const Attr* a = Info(info)->Find(name);
  if (a == nullptr) return MakeStatus(ORT_FAIL, "No attribute with this name is defined.");
  return CopyArray(a->floats, out, size);
}
OrtStatus* ORT_API_CALL FakeGetInts(const OrtKernelInfo* info, const char* name, int64_t* out, size_t* size) noexcept {
  const Attr* a = Info(info)->Find(name);
  if (a == nullptr) return MakeStatus(ORT_FAIL, "No attribute with this name is defined.");
  return CopyArray(a->ints, out, size);
}
OrtStatus* ORT_API_CALL FakeGetNodeName(const OrtKernelInfo* info, char* out, size_t* size) noexcept {
  if (Info(info)->node_name_fails) return MakeStatus(ORT_FAIL, "fake: no node name");
  return CopyString(Info(info)->node_name, out, size);
}

OrtStatus* ORT_API_CALL FakeGetInputCount(const OrtKernelContext* context, size_t* out) noexcept {
  *out = Ctx(context)->inputs.size();
  return nullptr;
}
OrtStatus* ORT_API_CALL FakeGetInput(const OrtKernelContext* context, size_t index, const OrtValue** out) noexcept {
  Context* c = Ctx(context);
  FUZZ_CHECK(index < c->inputs.size(), "KernelContext_GetInput index " + std::to_string(index) + " >= input count");
  *out = reinterpret_cast<const OrtValue*>(c->inputs[index]);
  return nullptr;
}
OrtStatus* ORT_API_CALL FakeIsTensor(const OrtValue* value, int* out) noexcept {
  *out = Val(value)->is_tensor ? 1 : 0;
  return nullptr;
}
OrtStatus* ORT_API_CALL FakeGetTensorTypeAndShape(const OrtValue* value, OrtTensorTypeAndShapeInfo** out) noexcept {
  const Value* v = Val(value);
  if (!v->is_tensor) return MakeStatus(ORT_INVALID_ARGUMENT, "the ort_value must contain a constructed tensor");
  ++g_live_shape_infos;
  *out = reinterpret_cast<OrtTensorTypeAndShapeInfo*>(new ShapeInfo{v->type, v->dims});
  return nullptr;
}
OrtStatus* ORT_API_CALL FakeGetElementType(const OrtTensorTypeAndShapeInfo* info,
                                           ONNXTensorElementDataType* out) noexcept {
  *out = static_cast<ONNXTensorElementDataType>(reinterpret_cast<const ShapeInfo*>(info)->type);
  return nullptr;
}
OrtStatus* ORT_API_CALL FakeGetDimensionsCount(const OrtTensorTypeAndShapeInfo* info, size_t* out) noexcept {
  *out = reinterpret_cast<const ShapeInfo*>(info)->dims.size();
  return nullptr;
}
OrtStatus* ORT_API_CALL FakeGetDimensions(const OrtTensorTypeAndShapeInfo* info, int64_t* dims, size_t length) noexcept {
  const auto& d = reinterpret_cast<const ShapeInfo*>(info)->dims;
  for (size_t i = 0; i < length && i < d.size(); ++i) dims[i] = d[i];
  return nullptr;
}
void ORT_API_CALL FakeReleaseShapeInfo(OrtTensorTypeAndShapeInfo* info) noexcept {
  if (info == nullptr) return;
  --g_live_shape_infos;
  delete reinterpret_cast<ShapeInfo*>(info);
}
OrtStatus* ORT_API_CALL FakeGetMutableData(OrtValue* value, void** out) noexcept {
  Value* v = Val(value);
  if (!v->is_tensor) return MakeStatus(ORT_INVALID_ARGUMENT, "the ort_value must contain a constructed tensor");
  *out = v->data;
  return nullptr;
}

constexpr uint32_t kCanary32 = 0x7fa5a5a5u;  // signalling NaN: arithmetic never produces it
constexpr uint16_t kCanary16 = 0x7d5au;      // float16 signalling NaN
constexpr uint16_t kCanaryBf16 = 0x7fa5u;    // bfloat16 signalling NaN

OrtStatus* ORT_API_CALL FakeGetOutput(OrtKernelContext* context, size_t index, const int64_t* dims, size_t count,
                                      OrtValue** out) noexcept {
  Context* c = Ctx(context);
  FUZZ_CHECK(index == 0, "KernelContext_GetOutput index " + std::to_string(index) + ": the ops have one output");
  FUZZ_CHECK(count == 0 || dims != nullptr, "KernelContext_GetOutput: null dims");
  ++c->output_requests;
  std::free(c->output.data);
  c->output.data = nullptr;
  c->output.dims.assign(dims, dims + count);
  for (int64_t d : c->output.dims) {
    if (d < 0) return MakeStatus(ORT_INVALID_ARGUMENT, "fake: negative output dim");
  }
  c->output.type = c->inputs[0]->type;
  c->output.Allocate();
  const size_t n = static_cast<size_t>(c->output.Elements());
  for (size_t i = 0; i < n; ++i) {
    if (c->output.type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) std::memcpy(c->output.data + 4 * i, &kCanary32, 4);
    if (c->output.type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16) std::memcpy(c->output.data + 2 * i, &kCanary16, 2);
    if (c->output.type == ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16) std::memcpy(c->output.data + 2 * i, &kCanaryBf16, 2);
  }
  c->output_allocated = true;
  *out = reinterpret_cast<OrtValue*>(&c->output);
  return nullptr;
}

OrtStatus* ORT_API_CALL FakeParallelFor(const OrtKernelContext* context, void (*fn)(void*, size_t), size_t total,
                                        size_t /*num_batch*/, void* usr_data) noexcept {
  const Context* c = Ctx(context);
  if (c->parallel_fails) return MakeStatus(ORT_FAIL, "fake: no thread pool");
  for (size_t i = 0; i < total; ++i) fn(usr_data, c->parallel_reverse ? total - 1 - i : i);
  return nullptr;
}

// Registration.
struct Domain {
  std::string name;
  std::vector<const OrtCustomOp*> ops;
};
Domain g_domain;
int g_sentinel_options = 0;

OrtStatus* ORT_API_CALL FakeCreateDomain(const char* domain, OrtCustomOpDomain** out) noexcept {
  g_domain.name = domain;
  g_domain.ops.clear();
  *out = reinterpret_cast<OrtCustomOpDomain*>(&g_domain);
  return nullptr;
}
OrtStatus* ORT_API_CALL FakeDomainAdd(OrtCustomOpDomain* domain, const OrtCustomOp* op) noexcept {
  reinterpret_cast<Domain*>(domain)->ops.push_back(op);
  return nullptr;
}
OrtStatus* ORT_API_CALL FakeAddDomain(OrtSessionOptions* options, OrtCustomOpDomain* domain) noexcept {
  FUZZ_CHECK(options == reinterpret_cast<OrtSessionOptions*>(&g_sentinel_options) &&
                 domain == reinterpret_cast<OrtCustomOpDomain*>(&g_domain),
             "AddCustomOpDomain got other session options / domain than the fake gave");
  return nullptr;
}

// Every slot of OrtApi starts as a trap naming its index; the fake fills the ones it implements.
constexpr size_t kSlots = sizeof(OrtApi) / sizeof(void (*)());
static_assert(sizeof(OrtApi) % sizeof(void (*)()) == 0, "OrtApi is expected to hold only function pointers");

template <size_t I>
void TrapSlot() {
  std::fprintf(stderr,
               "\n==fuzz check== the code under test called OrtApi slot %zu (byte offset %zu), which the fake "
               "OrtApi in %s does not implement: find the %zu-th member of struct OrtApi in onnxruntime_c_api.h "
               "and add it to MakeApi()\n",
               I, I * sizeof(void (*)()), __FILE__, I);
  std::abort();
}
template <size_t... I>
std::array<void (*)(), sizeof...(I)> MakeTraps(std::index_sequence<I...>) {
  return {&TrapSlot<I>...};
}

OrtApi MakeApi() {
  OrtApi api;
  const auto traps = MakeTraps(std::make_index_sequence<kSlots>{});
  static_assert(sizeof(traps) == sizeof(OrtApi), "trap table size");
  std::memcpy(static_cast<void*>(&api), traps.data(), sizeof(api));
  api.CreateStatus = FakeCreateStatus;
  api.GetErrorCode = FakeGetErrorCode;
  api.GetErrorMessage = FakeGetErrorMessage;
  api.ReleaseStatus = FakeReleaseStatus;
  api.KernelInfoGetAttribute_float = FakeGetFloat;
  api.KernelInfoGetAttribute_int64 = FakeGetInt;
  api.KernelInfoGetAttribute_string = FakeGetString;
  api.KernelInfoGetAttributeArray_float = FakeGetFloats;
  api.KernelInfoGetAttributeArray_int64 = FakeGetInts;
  api.KernelInfo_GetNodeName = FakeGetNodeName;
  api.KernelContext_GetInputCount = FakeGetInputCount;
  api.KernelContext_GetInput = FakeGetInput;
  api.IsTensor = FakeIsTensor;
  api.GetTensorTypeAndShape = FakeGetTensorTypeAndShape;
  api.GetTensorElementType = FakeGetElementType;
  api.GetDimensionsCount = FakeGetDimensionsCount;
  api.GetDimensions = FakeGetDimensions;
  api.ReleaseTensorTypeAndShapeInfo = FakeReleaseShapeInfo;
  api.GetTensorMutableData = FakeGetMutableData;
  api.KernelContext_GetOutput = FakeGetOutput;
  api.KernelContext_ParallelFor = FakeParallelFor;
  api.CreateCustomOpDomain = FakeCreateDomain;
  api.CustomOpDomain_Add = FakeDomainAdd;
  api.AddCustomOpDomain = FakeAddDomain;
  return api;
}

const OrtApi g_api = MakeApi();

const OrtApi* ORT_API_CALL FakeGetApi(uint32_t version) noexcept { return version <= ORT_API_VERSION ? &g_api : nullptr; }
const char* ORT_API_CALL FakeVersion() noexcept { return "fake"; }
const OrtApiBase g_api_base = {FakeGetApi, FakeVersion};

// ---- ops ----------------------------------------------------------------------------------------------

struct OpInfo {
  const char* name;
  const nd::FieldSpec* specs;
  int count;
  const OrtCustomOp* typed[3];  // float32, float16, bfloat16
};
OpInfo g_ops[2];
const ONNXTensorElementDataType kTypes[3] = {ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16,
                                             ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16};

void Register() {
  static bool done = false;
  if (done) return;
  done = true;
  OrtStatus* st = RegisterCustomOps(reinterpret_cast<OrtSessionOptions*>(&g_sentinel_options), &g_api_base);
  FUZZ_CHECK(st == nullptr, std::string("RegisterCustomOps failed: ") + FakeGetErrorMessage(st));
  FUZZ_CHECK(g_domain.name == nd::kDomain, "custom op domain is '" + g_domain.name + "'");
  g_ops[0] = {nd::kGroupNormOpName, nd::kGroupNormFields, nd::kGroupNormFieldCount, {}};
  g_ops[1] = {nd::kLocalResponseNormOpName, nd::kLocalResponseNormFields, nd::kLocalResponseNormFieldCount, {}};
  for (const OrtCustomOp* op : g_domain.ops) {
    FUZZ_CHECK(op->CreateKernelV2 != nullptr && op->KernelComputeV2 != nullptr && op->KernelDestroy != nullptr,
               "a registered op lacks CreateKernelV2/KernelComputeV2/KernelDestroy");
    const ONNXTensorElementDataType type = op->GetInputType(op, 0);
    for (auto& o : g_ops) {
      if (std::strcmp(op->GetName(op), o.name) != 0) continue;
      for (int t = 0; t < 3; ++t) {
        if (type == kTypes[t]) o.typed[t] = op;
      }
    }
  }
  for (const auto& o : g_ops) {
    for (int t = 0; t < 3; ++t) FUZZ_CHECK(o.typed[t] != nullptr, std::string(o.name) + ": a typed registration is missing");
  }
  FUZZ_CHECK(g_ops[0].typed[0]->GetInputTypeCount(g_ops[0].typed[0]) == 3 &&
                 g_ops[1].typed[0]->GetInputTypeCount(g_ops[1].typed[0]) == 1,
             "input counts: GroupNorm 3, LocalResponseNorm 1");
}

// ---- reference model -----------------------------------------------------------------------------

struct Expected {
  bool ok = true;
  std::string bad_field;
  const Attr* found = nullptr;  // the wrongly typed attribute, if that is what is wrong
  std::vector<nd::FieldValue> values;
};

Expected Reference(const OpInfo& op, const KernelInfo& info) {
  Expected e;
  e.values.resize(static_cast<size_t>(op.count));
  for (int k = 0; k < op.count; ++k) {
    const nd::FieldSpec& spec = op.specs[k];
    nd::FieldValue& v = e.values[static_cast<size_t>(k)];
    if (!spec.runtime) continue;
    const Attr* a = info.Find(spec.name);
    bool good = true;
    if (a == nullptr) {
      good = !spec.required;
      v.number = spec.kind == nd::FieldKind::kFloat ? static_cast<double>(static_cast<float>(spec.default_number))
                                                     : spec.default_number;
      v.integer = static_cast<int64_t>(spec.default_number);
      v.text = spec.default_string;
    } else {
      v.present = true;
      switch (spec.kind) {
        case nd::FieldKind::kInt:
          good = a->type == kInt;
          v.integer = a->i;
          v.number = static_cast<double>(a->i);
          break;
        case nd::FieldKind::kFloat:
          good = a->type == kFloat;
          v.number = static_cast<double>(a->f);
          break;
        case nd::FieldKind::kString:
          good = a->type == kString;
          v.text = a->s;
          break;
      }
      if (!good) e.found = a;
    }
    if (good) good = nd::CheckField(op.name, spec, v).ok();
    if (!good) {
      e.ok = false;
      e.bad_field = spec.name;
      return e;
    }
    e.found = nullptr;
  }
  return e;
}

// Words the error may use for what was found, by actual attribute type. Only the words after
// "got " and before the node name the adapter appends count.
bool DescribesType(const std::string& full, const Attr& a) {
  const size_t got = full.find(", got ");
  std::string message = got == std::string::npos ? full : full.substr(got);
  const size_t node = message.find(" (node '");
  if (node != std::string::npos) message.resize(node);
  const bool says_int = message.find("an int") != std::string::npos;
  const bool says_float = message.find("a float (") != std::string::npos;
  const bool says_string = message.find("a string (") != std::string::npos;
  const bool says_ints = message.find("list of") != std::string::npos && message.find("ints") != std::string::npos;
  const bool says_floats = message.find("list of") != std::string::npos && message.find("floats") != std::string::npos;
  switch (a.type) {
    case kInt: return says_int && !says_ints;
    case kFloat: return says_float;
    case kString: return says_string;
    case kInts: return a.ints.empty() ? !says_floats : (says_ints && !says_floats);
    case kFloats: return a.floats.empty() ? !says_ints : (says_floats && !says_ints);
    default: return !says_ints && !says_floats && !says_string;
  }
}

// ---- decoding ------------------------------------------------------------------------------------

const char* const kNames[] = {"num_groups", "epsilon", "activation", "size",           "alpha",           "beta",
                              "bias",       "window",  "",           "plugin_version", "plugin_namespace"};
constexpr size_t kNameCount = sizeof(kNames) / sizeof(kNames[0]);

void DecodeAttrs(ByteReader& in, KernelInfo& info) {
  const size_t n = in.U8() % 13;
  for (size_t k = 0; k < n; ++k) {
    Attr a;
    const uint8_t name = in.U8();
    a.name = name < kNameCount ? std::string(kNames[name]) : in.ShortBytes();
    a.type = in.U8() % 16;
    switch (a.type) {
      case kFloat: a.f = in.F32(); break;
      case kInt: a.i = in.I64(); break;
      case kString: a.s = in.ShortBytes(); break;
      case kFloats:
        for (size_t m = in.U8(); m > 0 && !in.empty(); --m) a.floats.push_back(in.F32());
        break;
      case kInts:
        for (size_t m = in.U8(); m > 0 && !in.empty(); --m) a.ints.push_back(in.I64());
        break;
      case kStrings:
        for (size_t m = in.U8(); m > 0 && !in.empty(); --m) a.strings.push_back(in.ShortBytes());
        break;
      default: break;
    }
    bool duplicate = false;
    for (const auto& b : info.attrs) duplicate = duplicate || b.name == a.name;
    if (!duplicate) info.attrs.push_back(std::move(a));
  }
}

int64_t DecodeDim(ByteReader& in) {
  const uint8_t sel = in.U8();
  if (sel < 0xF0) return sel;
  switch (sel) {
    case 0xF0: return std::numeric_limits<int64_t>::max();
    case 0xF1: return in.I64() & std::numeric_limits<int64_t>::max();
    case 0xF2: return std::numeric_limits<int32_t>::max();
    case 0xF3: return int64_t{1} << 31;
    case 0xF4: return int64_t{1} << 32;
    default: return int64_t{1} << (40 + (sel - 0xF5) * 2);
  }
}

constexpr int64_t kMaxElements = 4096;

// Dims ONNX Runtime can hold: non-negative; the running product fits int64; and the harness keeps
// tensors small (at most kMaxElements) unless they are empty.
void MakeHoldable(std::vector<int64_t>& dims) {
  int64_t product = 1;
  bool overflow = false;
  for (int64_t d : dims) overflow = overflow || __builtin_mul_overflow(product, d, &product);
  if (!overflow && product <= kMaxElements) return;
  for (auto& d : dims) d %= 5;
  int64_t small = 1;
  for (int64_t d : dims) small *= d;
  if (small > kMaxElements) dims.assign(dims.size(), 1);
}

void FillData(ByteReader& in, Value& v) {
  v.Allocate();
  const size_t bytes = static_cast<size_t>(v.Elements()) * ElementBytes(v.type);
  std::memset(v.data, 0, bytes == 0 ? 1 : bytes);
  in.CopyTo(v.data, bytes);
  // Inputs never hold the output canaries (quieten signalling NaNs).
  if (v.type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) {
    for (size_t i = 0; i + 4 <= bytes; i += 4) {
      uint32_t b;
      std::memcpy(&b, v.data + i, 4);
      if ((b & 0x7f800000u) == 0x7f800000u && (b & 0x007fffffu) != 0) b |= 0x00400000u;
      std::memcpy(v.data + i, &b, 4);
    }
  } else if (v.type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16 || v.type == ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16) {
    const bool half = v.type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16;
    const uint16_t exp = half ? 0x7c00u : 0x7f80u, mant = half ? 0x03ffu : 0x007fu, quiet = half ? 0x0200u : 0x0040u;
    for (size_t i = 0; i + 2 <= bytes; i += 2) {
      uint16_t b;
      std::memcpy(&b, v.data + i, 2);
      if ((b & exp) == exp && (b & mant) != 0) b = static_cast<uint16_t>(b | quiet);
      std::memcpy(v.data + i, &b, 2);
    }
  }
}

struct Inputs {
  std::vector<std::unique_ptr<Value>> storage;
  std::vector<Value*> slots;  // nullptr = omitted
};

void DecodeInputs(ByteReader& in, int x_type, Inputs& inputs) {
  const size_t count = 1 + in.U8() % 3;
  for (size_t i = 0; i < count; ++i) {
    const uint8_t mode = in.U8() % 3;
    auto v = std::make_unique<Value>();
    v->type = in.U8() % 32;  // within ONNXTensorElementDataType's range
    if (i == 0) v->type = x_type;  // ONNX Runtime picks the kernel by X's type
    const size_t rank = in.U8() % 7;
    for (size_t r = 0; r < rank; ++r) v->dims.push_back(DecodeDim(in));
    MakeHoldable(v->dims);
    if (i > 0 && mode == 1) {
      inputs.slots.push_back(nullptr);
      continue;
    }
    v->is_tensor = i == 0 || mode != 2;
    FillData(in, *v);
    inputs.slots.push_back(v.get());
    inputs.storage.push_back(std::move(v));
  }
}

// ---- compute oracle ----------------------------------------------------------------------------------

bool IsFloatType(int t) {
  return t == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT || t == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16 ||
         t == ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16;
}

// Whether the op must accept these inputs (shapes and types), given valid attributes.
bool ShapesValid(const OpInfo& op, const std::vector<Value*>& inputs, const Expected& attrs) {
  const Value& x = *inputs[0];
  if (x.dims.size() < 2) return false;
  if (op.specs == nd::kLocalResponseNormFields) return true;
  const int64_t c = x.dims[1];
  const int64_t groups = attrs.values[static_cast<size_t>(nd::FieldIndex(op.specs, op.count, "num_groups"))].integer;
  if (c % groups != 0) return false;
  const Value* affine[2] = {inputs.size() > 1 ? inputs[1] : nullptr, inputs.size() > 2 ? inputs[2] : nullptr};
  for (const Value* t : affine) {
    if (t == nullptr) continue;
    if (!t->is_tensor || !IsFloatType(t->type)) return false;
    if (t->type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT && t->type != x.type) return false;
    if (t->dims.size() != 1 || t->dims[0] != c) return false;
  }
  if (affine[0] != nullptr && affine[1] != nullptr && affine[0]->type != affine[1]->type) return false;
  return true;
}

std::string StatusText(OrtStatus* st) { return st == nullptr ? "ok" : FakeGetErrorMessage(st); }

// Runs the kernel; on success returns the output bytes (empty string for an empty tensor).
bool Compute(const OpInfo& op, const OrtCustomOp* typed, void* kernel, Context& ctx, std::string& output,
             std::string& error) {
  ctx.output_allocated = false;
  ctx.output_requests = 0;
  OrtStatus* st = typed->KernelComputeV2(kernel, reinterpret_cast<OrtKernelContext*>(&ctx));
  if (st != nullptr) {
    error = StatusText(st);
    FakeReleaseStatus(st);
    FUZZ_CHECK(error.find(op.name) != std::string::npos,
               std::string(op.name) + ": Compute error does not name the op: " + Printable(error));
    return false;
  }
  FUZZ_CHECK(ctx.output_allocated && ctx.output_requests == 1,
             std::string(op.name) + ": Compute succeeded without allocating its output exactly once");
  FUZZ_CHECK(ctx.output.dims == ctx.inputs[0]->dims, std::string(op.name) + ": output shape differs from X's");
  const size_t n = static_cast<size_t>(ctx.output.Elements());
  const size_t width = ElementBytes(ctx.output.type);
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits = 0;
    std::memcpy(&bits, ctx.output.data + width * i, width);
    const uint32_t canary = width == 4 ? kCanary32
                                       : (ctx.output.type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16 ? kCanary16 : kCanaryBf16);
    FUZZ_CHECK(bits != canary, std::string(op.name) + ": output element " + std::to_string(i) + " of " +
                                   std::to_string(n) + " was never written");
  }
  output.assign(reinterpret_cast<const char*>(ctx.output.data), n * width);
  return true;
}

// A kernel info holding exactly the reference values, as well-typed attributes.
KernelInfo CanonicalInfo(const OpInfo& op, const Expected& e) {
  KernelInfo info;
  info.node_name = "canonical";
  for (int k = 0; k < op.count; ++k) {
    const nd::FieldSpec& spec = op.specs[k];
    if (!spec.runtime) continue;
    const nd::FieldValue& v = e.values[static_cast<size_t>(k)];
    Attr a;
    a.name = spec.name;
    switch (spec.kind) {
      case nd::FieldKind::kInt: a.type = kInt; a.i = v.integer; break;
      case nd::FieldKind::kFloat: a.type = kFloat; a.f = static_cast<float>(v.number); break;
      case nd::FieldKind::kString: a.type = kString; a.s = v.text; break;
    }
    info.attrs.push_back(std::move(a));
  }
  return info;
}

void CheckNoLiveObjects(const char* op, const char* when) {
  FUZZ_CHECK(g_live_statuses == 0, std::string(op) + ": " + std::to_string(g_live_statuses) +
                                       " OrtStatus not released after " + when);
  FUZZ_CHECK(g_live_shape_infos == 0, std::string(op) + ": " + std::to_string(g_live_shape_infos) +
                                          " OrtTensorTypeAndShapeInfo not released after " + when);
}

// The same computation by a kernel made from well-typed reference values must give identical
// bytes: then the parsed attributes are exactly the reference ones.
void CompareWithCanonical(const OpInfo& op, const OrtCustomOp* typed, const Expected& want,
                          const std::vector<Value*>& inputs, const std::string& output) {
  const KernelInfo canonical = CanonicalInfo(op, want);
  void* reference = nullptr;
  OrtStatus* rst = typed->CreateKernelV2(typed, &g_api, reinterpret_cast<const OrtKernelInfo*>(&canonical), &reference);
  FUZZ_CHECK(rst == nullptr, std::string(op.name) + ": canonical attributes rejected: " + StatusText(rst));
  Context again;
  again.inputs = inputs;
  std::string ref_output, ref_error;
  FUZZ_CHECK(Compute(op, typed, reference, again, ref_output, ref_error),
             std::string(op.name) + ": canonical kernel failed: " + ref_error);
  FUZZ_CHECK(ref_output == output,
             std::string(op.name) + ": output differs from the kernel made of the reference attribute values");
  typed->KernelDestroy(reference);
  CheckNoLiveObjects(op.name, "the canonical kernel");
}

void FuzzOp(const OpInfo& op, int type_index, const KernelInfo& info, bool compute, ByteReader inputs_in,
            const Context& settings) {
  const OrtCustomOp* typed = op.typed[type_index];
  const Expected want = Reference(op, info);
  if (nd_fuzz::Verbose()) {
    FUZZ_LOG("%s (%s registration): node '%s'%s, %zu attributes -> the rules say %s%s\n", op.name,
             type_index == 0 ? "float32" : (type_index == 1 ? "float16" : "bfloat16"),
             Printable(info.node_name).c_str(), info.node_name_fails ? " (GetNodeName fails)" : "", info.attrs.size(),
             want.ok ? "valid" : "invalid: ", want.bad_field.c_str());
    for (const auto& a : info.attrs) {
      FUZZ_LOG("  attribute '%s' %s i=%lld f=%g s='%s' ints=%zu floats=%zu strings=%zu\n", Printable(a.name).c_str(),
               AttrTypeName(a.type), static_cast<long long>(a.i), static_cast<double>(a.f), Printable(a.s).c_str(),
               a.ints.size(), a.floats.size(), a.strings.size());
    }
  }
  void* kernel = nullptr;
  OrtStatus* st = typed->CreateKernelV2(typed, &g_api, reinterpret_cast<const OrtKernelInfo*>(&info), &kernel);
  const std::string message = StatusText(st);
  FUZZ_LOG("  CreateKernelV2 -> %s\n", Printable(message, 400).c_str());
  FakeReleaseStatus(st);
  CheckNoLiveObjects(op.name, "CreateKernelV2");
  if (!want.ok) {
    FUZZ_CHECK(st != nullptr && kernel == nullptr,
               std::string(op.name) + ": CreateKernelV2 accepted attributes the rules reject (attribute '" +
                   want.bad_field + "')");
    FUZZ_CHECK(message.find(op.name) != std::string::npos,
               std::string(op.name) + ": the error does not name the op: " + Printable(message));
    FUZZ_CHECK(message.find("'" + want.bad_field + "'") != std::string::npos,
               std::string(op.name) + ": the error does not name attribute '" + want.bad_field + "': " +
                   Printable(message));
    if (want.found != nullptr) {
      FUZZ_CHECK(DescribesType(message, *want.found),
                 std::string(op.name) + ": attribute '" + want.bad_field + "' of ONNX type " +
                     AttrTypeName(want.found->type) + " is described wrongly: " + Printable(message));
    }
    return;
  }
  FUZZ_CHECK(st == nullptr && kernel != nullptr,
             std::string(op.name) + ": CreateKernelV2 rejected valid attributes: " + Printable(message));
  if (compute) {
    Inputs inputs;
    DecodeInputs(inputs_in, kTypes[type_index], inputs);
    const size_t wanted = static_cast<size_t>(typed->GetInputTypeCount(typed));
    if (inputs.slots.size() > wanted) inputs.slots.resize(wanted);
    Context ctx;
    ctx.inputs = inputs.slots;
    ctx.parallel_fails = settings.parallel_fails;
    ctx.parallel_reverse = settings.parallel_reverse;
    std::string output, error;
    if (nd_fuzz::Verbose()) {
      for (size_t i = 0; i < ctx.inputs.size(); ++i) {
        const Value* v = ctx.inputs[i];
        std::string shape;
        for (int64_t d : v ? v->dims : std::vector<int64_t>{}) shape += std::to_string(d) + " ";
        FUZZ_LOG("  input %zu: %s type=%d dims=[%s]\n", i, v == nullptr ? "omitted" : (v->is_tensor ? "tensor" : "not a tensor"),
                 v ? v->type : 0, shape.c_str());
      }
    }
    const bool ok = Compute(op, typed, kernel, ctx, output, error);
    CheckNoLiveObjects(op.name, "KernelComputeV2");
    const bool valid = ShapesValid(op, ctx.inputs, want);
    FUZZ_LOG("  KernelComputeV2 -> %s (inputs %s)\n", ok ? "ok" : Printable(error, 400).c_str(),
             valid ? "valid" : "invalid");
    FUZZ_CHECK(ok == valid, std::string(op.name) + ": Compute " + (ok ? "accepted invalid" : "rejected valid") +
                                " inputs: " + Printable(error));
    if (ok) CompareWithCanonical(op, typed, want, ctx.inputs, output);
  }
  // Whatever the input asked, one small valid computation (GroupNorm: C = num_groups when that is
  // small) checks the parsed values against the reference ones.
  const int64_t groups = op.specs == nd::kGroupNormFields
                             ? want.values[static_cast<size_t>(nd::FieldIndex(op.specs, op.count, "num_groups"))].integer
                             : 3;
  if (groups >= 1 && groups <= 64) {
    Value x;
    x.type = kTypes[type_index];
    x.dims = {2, groups, 3};
    static const uint8_t kPattern[] = {0x00, 0x3c, 0x66, 0x3e, 0x00, 0xc0, 0x01, 0x80, 0x9a, 0x41, 0x00, 0x7c, 0x33, 0x33};
    x.Allocate();
    const size_t bytes = static_cast<size_t>(x.Elements()) * ElementBytes(x.type);
    for (size_t i = 0; i < bytes; ++i) x.data[i] = kPattern[(i * 7 + i / 5) % sizeof(kPattern)];
    Context ctx;
    ctx.inputs = {&x};
    std::string output, error;
    FUZZ_CHECK(Compute(op, typed, kernel, ctx, output, error),
               std::string(op.name) + ": a valid kernel failed on a valid input: " + error);
    CompareWithCanonical(op, typed, want, ctx.inputs, output);
  }
  typed->KernelDestroy(kernel);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Register();
  ByteReader in(data, size);
  const uint8_t flags = in.U8();
  const int type_index = (flags & 3) == 3 ? 0 : (flags & 3);
  KernelInfo info;
  info.node_name_fails = (flags & 0x04) != 0;
  const bool compute = (flags & 0x08) != 0;
  Context settings;
  settings.parallel_fails = (flags & 0x10) != 0;
  settings.parallel_reverse = (flags & 0x20) != 0;
  info.node_name = in.ShortBytes();
  DecodeAttrs(in, info);
  for (const OpInfo& op : g_ops) FuzzOp(op, type_index, info, compute, in, settings);
  return 0;
}
