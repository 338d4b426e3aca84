#include "trt_util.h"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <sstream>

namespace normdeploy {
namespace trt {

using nvinfer1::DataType;
using nvinfer1::ILogger;
using nvinfer1::PluginField;
using nvinfer1::PluginFieldCollection;
using nvinfer1::PluginFieldType;
using nvinfer1::TensorFormat;

namespace {

std::atomic<nvinfer1::ILoggerFinder*> g_logger_finder{nullptr};

const char* SeverityName(ILogger::Severity severity) {
  switch (severity) {
    case ILogger::Severity::kINTERNAL_ERROR: return "internal error";
    case ILogger::Severity::kERROR: return "error";
    case ILogger::Severity::kWARNING: return "warning";
    case ILogger::Severity::kINFO: return "info";
    case ILogger::Severity::kVERBOSE: return "verbose";
  }
  return "log";
}

const char* PluginFieldTypeName(PluginFieldType type) {
  switch (type) {
    case PluginFieldType::kFLOAT16: return "kFLOAT16";
    case PluginFieldType::kFLOAT32: return "kFLOAT32";
    case PluginFieldType::kFLOAT64: return "kFLOAT64";
    case PluginFieldType::kINT8: return "kINT8";
    case PluginFieldType::kINT16: return "kINT16";
    case PluginFieldType::kINT32: return "kINT32";
    case PluginFieldType::kCHAR: return "kCHAR";
    case PluginFieldType::kDIMS: return "kDIMS";
    case PluginFieldType::kUNKNOWN: return "kUNKNOWN";
    case PluginFieldType::kBF16: return "kBF16";
    case PluginFieldType::kINT64: return "kINT64";
    case PluginFieldType::kFP8: return "kFP8";
    case PluginFieldType::kINT4: return "kINT4";
    case PluginFieldType::kFP4: return "kFP4";
  }
  return "an unknown field type";
}

bool ReadInteger(const PluginField& f, int64_t& v) {
  switch (f.type) {
    case PluginFieldType::kINT32: v = *static_cast<const int32_t*>(f.data); return true;
    case PluginFieldType::kINT64: v = *static_cast<const int64_t*>(f.data); return true;
    case PluginFieldType::kINT16: v = *static_cast<const int16_t*>(f.data); return true;
    case PluginFieldType::kINT8: v = *static_cast<const int8_t*>(f.data); return true;
    default: return false;
  }
}

bool ReadFloat(const PluginField& f, double& v) {
  switch (f.type) {
    case PluginFieldType::kFLOAT32: v = static_cast<double>(*static_cast<const float*>(f.data)); return true;
    case PluginFieldType::kFLOAT64: v = *static_cast<const double*>(f.data); return true;
    default: return false;
  }
}

}  // namespace

void SetLoggerFinder(nvinfer1::ILoggerFinder* finder) noexcept { g_logger_finder.store(finder); }

void Log(ILogger::Severity severity, const std::string& message) noexcept {
  try {
    ILogger* logger = nullptr;
    if (nvinfer1::ILoggerFinder* finder = g_logger_finder.load()) logger = finder->findLogger();
    if (logger != nullptr) {
      logger->log(severity, message.c_str());
    } else if (severity <= ILogger::Severity::kWARNING) {
      std::fprintf(stderr, "[normdeploy TensorRT plugin] %s: %s\n", SeverityName(severity), message.c_str());
    }
  } catch (...) {
    // A logger that throws must not take the process down; nothing more can be done here.
  }
}

void ReportError(nvinfer1::IErrorRecorder* recorder, const std::string& message,
                 nvinfer1::ErrorCode code) noexcept {
  if (recorder != nullptr) {
    bool reported = false;
    try {
      reported = recorder->reportError(code, message.c_str());
      (void)reported;
    } catch (...) {
    }
    if (message.size() <= nvinfer1::IErrorRecorder::kMAX_DESC_LENGTH) return;
    // Longer than an error description may be: the logger keeps the full text.
  }
  Log(ILogger::Severity::kERROR, message);
}

std::string DescribeException(const char* what) {
  if (what == nullptr) return "unexpected non-standard exception (caught, not propagated)";
  return std::string("unexpected exception (caught, not propagated): ") + what;
}

bool ToDType(DataType type, DType& out) noexcept {
  switch (type) {
    case DataType::kFLOAT: out = DType::kFloat32; return true;
    case DataType::kHALF: out = DType::kFloat16; return true;
    case DataType::kBF16: out = DType::kBFloat16; return true;
    default: return false;
  }
}

const char* TrtTypeName(DataType type) noexcept {
  switch (type) {
    case DataType::kFLOAT: return "float32";
    case DataType::kHALF: return "float16";
    case DataType::kBF16: return "bfloat16";
    case DataType::kINT8: return "int8";
    case DataType::kINT32: return "int32";
    case DataType::kINT64: return "int64";
    case DataType::kBOOL: return "bool";
    case DataType::kUINT8: return "uint8";
    case DataType::kFP8: return "fp8";
    default: return "an unsupported type";
  }
}

const char* TrtFormatName(TensorFormat format) noexcept {
  switch (format) {
    case TensorFormat::kLINEAR: return "kLINEAR";
    case TensorFormat::kCHW2: return "kCHW2";
    case TensorFormat::kHWC8: return "kHWC8";
    case TensorFormat::kCHW4: return "kCHW4";
    case TensorFormat::kCHW16: return "kCHW16";
    case TensorFormat::kCHW32: return "kCHW32";
    case TensorFormat::kDHWC8: return "kDHWC8";
    case TensorFormat::kCDHW32: return "kCDHW32";
    case TensorFormat::kHWC: return "kHWC";
    case TensorFormat::kDLA_LINEAR: return "kDLA_LINEAR";
    case TensorFormat::kDLA_HWC4: return "kDLA_HWC4";
    case TensorFormat::kHWC16: return "kHWC16";
    case TensorFormat::kDHWC: return "kDHWC";
    default: return "an unknown format";
  }
}

namespace {

// The dims a Dims holds: nbDims clamped to 0..MAX_DIMS (the rest is checked by CheckShape).
int32_t StoredRank(const nvinfer1::Dims& dims) noexcept {
  return dims.nbDims < 0 ? 0 : (dims.nbDims > nvinfer1::Dims::MAX_DIMS ? nvinfer1::Dims::MAX_DIMS : dims.nbDims);
}

}  // namespace

bool ValidRank(int32_t nb_dims) noexcept { return nb_dims >= 0 && nb_dims <= nvinfer1::Dims::MAX_DIMS; }

bool MulNonNegative(int64_t a, int64_t b, int64_t& out) noexcept {
  if (a != 0 && b > std::numeric_limits<int64_t>::max() / a) return false;
  out = a * b;
  return true;
}

Status CheckRank(const char* op, const char* what, int32_t nb_dims) {
  if (!ValidRank(nb_dims)) return MakeError(op, ": ", what, " has nbDims=", nb_dims, ", outside 0..", nvinfer1::Dims::MAX_DIMS);
  return Status::Ok();
}

Status CheckShape(const char* op, const char* what, const nvinfer1::Dims& dims) {
  ND_RETURN_IF_ERROR(CheckRank(op, what, dims.nbDims));
  int64_t product = 1;
  for (int32_t i = 0; i < dims.nbDims; ++i) {
    if (dims.d[i] <= 0) continue;  // unknown (-1), negative (reported by the op's checks) or empty
    if (!MulNonNegative(product, dims.d[i], product)) {
      return MakeError(op, ": ", what, " of shape ", ShapeText(dims), " has more than 2^63-1 elements");
    }
  }
  return Status::Ok();
}

std::vector<int64_t> ToVector(const nvinfer1::Dims& dims) {
  std::vector<int64_t> out;
  for (int32_t i = 0; i < StoredRank(dims); ++i) out.push_back(dims.d[i]);
  return out;
}

int64_t Volume(const nvinfer1::Dims& dims) noexcept {
  int64_t v = 1;
  for (int32_t i = 0; i < StoredRank(dims); ++i) {
    if (dims.d[i] < 0) return -1;
    if (!MulNonNegative(v, dims.d[i], v)) v = std::numeric_limits<int64_t>::max();
  }
  return v;
}

std::string ShapeText(const nvinfer1::Dims& dims) {
  std::string out = "(";
  for (int32_t i = 0; i < StoredRank(dims); ++i) {
    if (i > 0) out += ", ";
    out += dims.d[i] < 0 ? std::string("?") : std::to_string(dims.d[i]);
  }
  if (!ValidRank(dims.nbDims)) out += std::string(StoredRank(dims) > 0 ? ", " : "") + "nbDims=" + std::to_string(dims.nbDims);
  return out + ")";
}

PluginFieldType FieldTypeFor(FieldKind kind) noexcept {
  switch (kind) {
    case FieldKind::kInt: return PluginFieldType::kINT32;
    case FieldKind::kFloat: return PluginFieldType::kFLOAT32;
    case FieldKind::kString: return PluginFieldType::kCHAR;
  }
  return PluginFieldType::kUNKNOWN;
}

FieldList::FieldList(const FieldSpec* specs, int count) {
  for (int i = 0; i < count; ++i) {
    if (!specs[i].runtime) continue;
    fields_.emplace_back(specs[i].name, nullptr, FieldTypeFor(specs[i].kind), 1);
  }
  collection_.nbFields = static_cast<int32_t>(fields_.size());
  collection_.fields = fields_.data();
}

FieldSource::Lookup PluginFieldSource::Get(const FieldSpec& spec, FieldValue& out, std::string& found) const {
  if (fc_ == nullptr || fc_->fields == nullptr) return Lookup::kMissing;
  for (int32_t i = 0; i < fc_->nbFields; ++i) {
    const PluginField& f = fc_->fields[i];
    if (f.name == nullptr || std::strcmp(f.name, spec.name) != 0) continue;
    if (f.data == nullptr) {
      found = std::string("a field of type ") + PluginFieldTypeName(f.type) + " with no data";
      return Lookup::kWrongType;
    }
    switch (spec.kind) {
      case FieldKind::kInt: {
        int64_t v = 0;
        if (f.length == 1 && ReadInteger(f, v)) {
          out.integer = v;
          out.number = static_cast<double>(v);
          return Lookup::kFound;
        }
        break;
      }
      case FieldKind::kFloat: {
        double v = 0.0;
        int64_t iv = 0;
        bool read = f.length == 1 && ReadFloat(f, v);
        if (!read && f.length == 1 && ReadInteger(f, iv)) {  // an int where a float is expected
          v = static_cast<double>(iv);
          read = true;
        }
        if (!read) break;
        // Float fields are float32 values (what the ONNX parser passes and getFieldsToSerialize
        // writes): a kFLOAT64 or an int is rounded to float32, so a deserialized plugin computes
        // with exactly the value the built one did; beyond float32's range is an error.
        if (std::isfinite(v) && std::fabs(v) > static_cast<double>(std::numeric_limits<float>::max())) {
          std::ostringstream what;
          what << "a field of type " << PluginFieldTypeName(f.type) << " with value " << v
               << ", beyond the float32 range";
          found = what.str();
          return Lookup::kWrongType;
        }
        out.number = static_cast<double>(static_cast<float>(v));
        return Lookup::kFound;
      }
      case FieldKind::kString: {
        if (f.type == PluginFieldType::kCHAR && f.length > kMaxStringField) {
          found = "a kCHAR field of length " + std::to_string(f.length) + " (longer than " +
                  std::to_string(kMaxStringField) + " bytes)";
          return Lookup::kWrongType;
        }
        if (f.type == PluginFieldType::kCHAR && f.length >= 0) {
          // All `length` bytes, less trailing NULs (TensorRT passes C strings with theirs): an
          // embedded NUL stays in the value and fails the check, as in ONNX Runtime.
          const char* text = static_cast<const char*>(f.data);
          size_t len = static_cast<size_t>(f.length);
          while (len > 0 && text[len - 1] == '\0') --len;
          out.text.assign(text, len);
          return Lookup::kFound;
        }
        break;
      }
    }
    found = std::string("a field of type ") + PluginFieldTypeName(f.type) + " and length " +
            std::to_string(f.length) +
            (spec.kind == FieldKind::kString ? " (expected kCHAR)"
                                             : (spec.kind == FieldKind::kInt ? " (expected one kINT32)"
                                                                             : " (expected one kFLOAT32)"));
    return Lookup::kWrongType;
  }
  return Lookup::kMissing;
}

std::string UnknownFields(const PluginFieldCollection* fc, const FieldSpec* specs, int count) {
  std::string out;
  if (fc == nullptr || fc->fields == nullptr) return out;
  for (int32_t i = 0; i < fc->nbFields; ++i) {
    const char* name = fc->fields[i].name;
    if (name == nullptr) continue;
    // Known names pass, plugin_version / plugin_namespace included (read by the parser).
    if (FieldIndex(specs, count, name) >= 0) continue;
    if (!out.empty()) out += ", ";
    out += std::string("'") + name + "'";
  }
  return out;
}

void SerializedFields::Clear() {
  entries_.clear();
  fields_.clear();
  collection_ = PluginFieldCollection{};
}

void SerializedFields::AddAll(const FieldSpec* specs, int count, const FieldValue* values) {
  for (int i = 0; i < count; ++i) {
    if (!specs[i].runtime) continue;
    switch (specs[i].kind) {
      case FieldKind::kInt: AddInt(specs[i].name, values[i].integer); break;
      case FieldKind::kFloat: AddFloat(specs[i].name, values[i].number); break;
      case FieldKind::kString: AddString(specs[i].name, values[i].text); break;
    }
  }
}

void SerializedFields::AddInt(const char* name, int64_t value) {
  auto e = std::make_unique<Entry>();
  e->name = name;
  if (value >= std::numeric_limits<int32_t>::min() && value <= std::numeric_limits<int32_t>::max()) {
    e->type = PluginFieldType::kINT32;
    e->i32 = static_cast<int32_t>(value);
  } else {
    e->type = PluginFieldType::kINT64;
    e->i64 = value;
  }
  entries_.push_back(std::move(e));
}

void SerializedFields::AddFloat(const char* name, double value) {
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->type = PluginFieldType::kFLOAT32;
  e->f32 = static_cast<float>(value);
  entries_.push_back(std::move(e));
}

void SerializedFields::AddString(const char* name, const std::string& value) {
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->type = PluginFieldType::kCHAR;
  e->text = value;
  entries_.push_back(std::move(e));
}

const PluginFieldCollection* SerializedFields::Collection() {
  fields_.clear();
  for (const auto& e : entries_) {
    switch (e->type) {
      case PluginFieldType::kINT32: fields_.emplace_back(e->name, &e->i32, e->type, 1); break;
      case PluginFieldType::kINT64: fields_.emplace_back(e->name, &e->i64, e->type, 1); break;
      case PluginFieldType::kFLOAT32: fields_.emplace_back(e->name, &e->f32, e->type, 1); break;
      default:
        fields_.emplace_back(e->name, e->text.c_str(), e->type, static_cast<int32_t>(e->text.size() + 1));
        break;
    }
  }
  collection_.nbFields = static_cast<int32_t>(fields_.size());
  collection_.fields = fields_.data();
  return &collection_;
}

const char* SchemaDefault(const FieldSpec* specs, int count, const char* name) noexcept {
  const int index = FieldIndex(specs, count, name);
  return index >= 0 ? specs[index].default_string : "";
}

}  // namespace trt
}  // namespace normdeploy
