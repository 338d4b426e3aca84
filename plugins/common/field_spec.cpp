#include "field_spec.h"

#include <charconv>
#include <cmath>
#include <cstring>

namespace normdeploy {

const char* FieldKindName(FieldKind kind) {
  switch (kind) {
    case FieldKind::kInt: return "an int";
    case FieldKind::kFloat: return "a float";
    case FieldKind::kString: return "a string";
  }
  return "unknown";
}

namespace {

// Shortest text that reads back as the same value; float32 values (all ONNX float attributes)
// print as float32, so 1e-5 shows as "1e-05", not "9.99999975e-06".
std::string FormatNumber(double v, FieldKind kind) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  if (kind == FieldKind::kInt && std::fabs(v) < 9.2e18) return std::to_string(static_cast<long long>(v));
  char buf[64];
  const float f = static_cast<float>(v);
  std::to_chars_result r = static_cast<double>(f) == v ? std::to_chars(buf, buf + sizeof(buf), f)
                                                       : std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

std::string DescribeRange(const FieldSpec& spec) {
  std::string out;
  auto add = [&](const std::string& part) {
    if (!out.empty()) out += " and ";
    out += part;
  };
  if (spec.choices[0] != '\0') {
    std::string choices;
    const char* p = spec.choices;
    while (*p != '\0') {
      const char* end = std::strchr(p, '|');
      size_t len = end ? static_cast<size_t>(end - p) : std::strlen(p);
      if (!choices.empty()) choices += ", ";
      choices += "'" + std::string(p, len) + "'";
      p += len + (end ? 1 : 0);
    }
    add("one of " + choices);
  }
  if (spec.finite) add("finite");
  if (spec.has_min) add(std::string(spec.min_exclusive ? "> " : ">= ") + FormatNumber(spec.min, FieldKind::kFloat));
  if (spec.has_max) add("<= " + FormatNumber(spec.max, FieldKind::kFloat));
  return out;
}

bool InChoices(const char* choices, const std::string& value) {
  const char* p = choices;
  while (*p != '\0') {
    const char* end = std::strchr(p, '|');
    size_t len = end ? static_cast<size_t>(end - p) : std::strlen(p);
    if (value.size() == len && value.compare(0, len, p, len) == 0) return true;
    p += len + (end ? 1 : 0);
  }
  return false;
}

}  // namespace

Status CheckField(const char* op, const FieldSpec& spec, const FieldValue& value) {
  if (spec.kind == FieldKind::kString) {
    if (spec.choices[0] != '\0' && !InChoices(spec.choices, value.text)) {
      return MakeError(op, ": attribute '", spec.name, "' = '", value.text, "' is invalid: must be ",
                       DescribeRange(spec));
    }
    return Status::Ok();
  }
  const double v = spec.kind == FieldKind::kInt ? static_cast<double>(value.integer) : value.number;
  const bool bad = std::isnan(v) || (spec.finite && !std::isfinite(v)) ||
                   (spec.has_min && (spec.min_exclusive ? v <= spec.min : v < spec.min)) ||
                   (spec.has_max && v > spec.max);
  if (bad) {
    const std::string shown = spec.kind == FieldKind::kInt ? std::to_string(value.integer)
                                                            : FormatNumber(v, spec.kind);
    return MakeError(op, ": attribute '", spec.name, "' = ", shown,
                     " is invalid: must be ", DescribeRange(spec));
  }
  return Status::Ok();
}

Status ParseFields(const char* op, const FieldSpec* specs, int count, const FieldSource& source,
                   FieldValue* values) {
  for (int i = 0; i < count; ++i) {
    const FieldSpec& spec = specs[i];
    FieldValue& value = values[i];
    value = FieldValue{};
    if (!spec.runtime) continue;
    std::string found;
    switch (source.Get(spec, value, found)) {
      case FieldSource::Lookup::kFound:
        value.present = true;
        break;
      case FieldSource::Lookup::kWrongType:
        return MakeError(op, ": attribute '", spec.name, "' must be ", FieldKindName(spec.kind), ", got ",
                         found);
      case FieldSource::Lookup::kMissing:
        if (spec.required) return MakeError(op, ": required attribute '", spec.name, "' is missing");
        // Float attributes are float32 (ONNX, TensorRT's kFLOAT32): so is their default, so that an
        // omitted attribute and the same value given explicitly (or serialized) are identical.
        value.number = spec.kind == FieldKind::kFloat
                           ? static_cast<double>(static_cast<float>(spec.default_number))
                           : spec.default_number;
        value.integer = static_cast<int64_t>(spec.default_number);
        value.text = spec.default_string;
        break;
    }
    ND_RETURN_IF_ERROR(CheckField(op, spec, value));
  }
  return Status::Ok();
}

}  // namespace normdeploy
