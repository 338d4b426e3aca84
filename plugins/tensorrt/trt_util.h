// Helpers shared by the thin TensorRT adapters (group_norm_trt.cpp, lrn_trt.cpp):
//   - logging through the ILoggerFinder that TensorRT hands to setLoggerFinder();
//   - reporting a Status through the plugin's IErrorRecorder (from attachToContext) or the logger;
//   - a FieldSource over a PluginFieldCollection (what TensorRT's ONNX parser and deserialization
//     pass to createPlugin), the creator field list and the serialized fields, all built from the
//     GENERATED tables in plugins/common/op_fields.generated.h (no field name is written here).
// Nothing here throws across the C ABI: callers wrap every virtual in Guard().
#pragma once

#include <NvInferRuntime.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../common/dtype.h"
#include "../common/field_spec.h"
#include "../common/status.h"

namespace normdeploy {
namespace trt {

// ---- logging ----------------------------------------------------------------------------------

// Stores the finder given to setLoggerFinder() (nullptr clears it). Thread-safe.
void SetLoggerFinder(nvinfer1::ILoggerFinder* finder) noexcept;

// Logs through the finder's logger; when TensorRT has none (library used outside TensorRT, or
// before a logger exists) errors and warnings go to stderr so they are never lost.
void Log(nvinfer1::ILogger::Severity severity, const std::string& message) noexcept;

// Reports an error: to `recorder` when set (TensorRT then surfaces it), else to the logger.
// Messages longer than the recorder's limit (127 characters) also go to the logger in full.
void ReportError(nvinfer1::IErrorRecorder* recorder, const std::string& message,
                 nvinfer1::ErrorCode code = nvinfer1::ErrorCode::kINVALID_ARGUMENT) noexcept;

// Runs `fn` (returning Status); reports a failed Status or any exception, never lets one escape.
// Returns true on success. `where` names the call in the message ("GroupNorm 'gn1' enqueue").
template <typename Fn>
bool Guard(nvinfer1::IErrorRecorder* recorder, const std::string& where, Fn&& fn) noexcept;

// ---- types and formats -----------------------------------------------------------------------

// float32 / float16 / bfloat16 -> DType; false for every other TensorRT type.
bool ToDType(nvinfer1::DataType type, DType& out) noexcept;
const char* TrtTypeName(nvinfer1::DataType type) noexcept;
const char* TrtFormatName(nvinfer1::TensorFormat format) noexcept;

// Whether nb_dims is a rank TensorRT can have: 0..Dims::MAX_DIMS.
bool ValidRank(int32_t nb_dims) noexcept;
// out = a * b for a, b >= 0; false (out unchanged) when the product does not fit in int64.
bool MulNonNegative(int64_t a, int64_t b, int64_t& out) noexcept;
// A shape the plugins can compute with: a valid rank, and the product of its positive dims
// (unknown dims, -1, count as 1) fits in int64, so every partial product of its dims does too.
// `what` names the tensor in the message ("input 'X'").
Status CheckShape(const char* op, const char* what, const nvinfer1::Dims& dims);
// The rank part of CheckShape alone (for DimsExprs, whose dims are expressions).
Status CheckRank(const char* op, const char* what, int32_t nb_dims);

// Dims -> std::vector<int64_t> (unknown dims stay -1). These three never read past d[MAX_DIMS]
// (a larger nbDims is clamped; CheckShape reports it).
std::vector<int64_t> ToVector(const nvinfer1::Dims& dims);
// Number of elements, or -1 when a dim is unknown; INT64_MAX when the product overflows.
int64_t Volume(const nvinfer1::Dims& dims) noexcept;
std::string ShapeText(const nvinfer1::Dims& dims);

// ---- fields ----------------------------------------------------------------------------------

// The runtime fields of a generated table as a creator field list (name, type, length 1; data
// null). INT -> kINT32, FLOAT -> kFLOAT32, STRING -> kCHAR, as TensorRT's ONNX parser passes them.
class FieldList {
 public:
  FieldList(const FieldSpec* specs, int count);
  const nvinfer1::PluginFieldCollection* Collection() const noexcept { return &collection_; }

 private:
  std::vector<nvinfer1::PluginField> fields_;
  nvinfer1::PluginFieldCollection collection_{};
};

nvinfer1::PluginFieldType FieldTypeFor(FieldKind kind) noexcept;

// Reads fields from a PluginFieldCollection (null = no fields). Accepted types: ints from
// kINT32/kINT64/kINT16/kINT8, floats from kFLOAT32/kFLOAT64 (a plain int too; rounded to float32,
// finite values beyond its range are wrong), strings from kCHAR. Numbers must have length 1.
// Anything else is kWrongType with what was found.
// Longest kCHAR field read (every string value of the schemas is a few bytes): a hostile length
// is refused instead of being scanned or copied.
inline constexpr int32_t kMaxStringField = 4096;

class PluginFieldSource final : public FieldSource {
 public:
  explicit PluginFieldSource(const nvinfer1::PluginFieldCollection* fc) : fc_(fc) {}
  Lookup Get(const FieldSpec& spec, FieldValue& out, std::string& found) const override;

 private:
  const nvinfer1::PluginFieldCollection* fc_;
};

// Field names in `fc` that are not runtime fields of the table ("" when none), for a warning.
std::string UnknownFields(const nvinfer1::PluginFieldCollection* fc, const FieldSpec* specs, int count);

// Owns the values of the fields a plugin serializes (getFieldsToSerialize) and the collection
// pointing at them. Ints are written as kINT32 (kINT64 if they do not fit), floats as kFLOAT32,
// strings as kCHAR including the terminating NUL; createPlugin reads every one of them back.
class SerializedFields {
 public:
  SerializedFields() = default;
  // Copies start empty: the collection is rebuilt by every getFieldsToSerialize call.
  SerializedFields(const SerializedFields&) {}
  SerializedFields& operator=(const SerializedFields&) { Clear(); return *this; }

  void Clear();
  // Every runtime field of a table, in table order, from parsed values (values[i] <-> specs[i]).
  void AddAll(const FieldSpec* specs, int count, const FieldValue* values);
  void AddInt(const char* name, int64_t value);
  void AddFloat(const char* name, double value);
  void AddString(const char* name, const std::string& value);
  const nvinfer1::PluginFieldCollection* Collection();  // valid until the next Add/Clear

 private:
  struct Entry {
    const char* name;
    nvinfer1::PluginFieldType type;
    int64_t i64 = 0;
    int32_t i32 = 0;
    float f32 = 0.0f;
    std::string text;
  };
  std::vector<std::unique_ptr<Entry>> entries_;
  std::vector<nvinfer1::PluginField> fields_;
  nvinfer1::PluginFieldCollection collection_{};
};

// The value a table gives a non-runtime field (plugin_version, plugin_namespace), so the plugin's
// version and namespace come from the generated schema too. Empty string when absent.
const char* SchemaDefault(const FieldSpec* specs, int count, const char* name) noexcept;

// ---- implementation of Guard -------------------------------------------------------------------

std::string DescribeException(const char* what);

template <typename Fn>
bool Guard(nvinfer1::IErrorRecorder* recorder, const std::string& where, Fn&& fn) noexcept {
  try {
    Status status = fn();
    if (status.ok()) return true;
    ReportError(recorder, where.empty() ? status.message() : where + ": " + status.message());
  } catch (const std::exception& e) {
    try {
      ReportError(recorder, where + ": " + DescribeException(e.what()), nvinfer1::ErrorCode::kINTERNAL_ERROR);
    } catch (...) {
    }
  } catch (...) {
    try {
      ReportError(recorder, where + ": " + DescribeException(nullptr), nvinfer1::ErrorCode::kINTERNAL_ERROR);
    } catch (...) {
    }
  }
  return false;
}

}  // namespace trt
}  // namespace normdeploy
