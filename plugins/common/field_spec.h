// Field (attribute) tables and their parser, shared by the ONNX Runtime and TensorRT adapters.
// The tables themselves are generated from the Python schemas (op_fields.generated.h).
#pragma once

#include <cstdint>
#include <string>

#include "status.h"

namespace normdeploy {

enum class FieldKind : int { kInt = 0, kFloat = 1, kString = 2 };

struct FieldSpec {
  const char* name;
  FieldKind kind;
  bool required;
  double default_number;
  const char* default_string;
  bool has_min;
  double min;
  bool min_exclusive;
  bool has_max;
  double max;
  bool finite;
  const char* choices;  // '|'-separated allowed strings, "" = any
  bool runtime;         // false: read by tooling only (plugin_version, plugin_namespace)
};

// A parsed field: ints in `integer` (and, for range checks, `number`), floats in `number`,
// strings in `text`.
struct FieldValue {
  int64_t integer = 0;
  double number = 0.0;
  std::string text;
  bool present = false;  // given explicitly (false: the default was used)
};

// Where attribute values come from (ORT kernel info, TRT PluginFieldCollection, ...).
class FieldSource {
 public:
  enum class Lookup { kMissing, kFound, kWrongType };
  virtual ~FieldSource() = default;
  // Looks `spec.name` up. On kWrongType, `found` describes what was there (e.g. "a float").
  virtual Lookup Get(const FieldSpec& spec, FieldValue& out, std::string& found) const = 0;
};

const char* FieldKindName(FieldKind kind);

// Parses and range-checks every runtime field of a table into values[0..count).
Status ParseFields(const char* op, const FieldSpec* specs, int count, const FieldSource& source,
                   FieldValue* values);

// Checks one value against its spec (used by ParseFields and by the TensorRT creators).
Status CheckField(const char* op, const FieldSpec& spec, const FieldValue& value);

// Index of `name` in a table, or -1. constexpr so adapters can static_assert their names exist.
constexpr int FieldIndex(const FieldSpec* specs, int count, const char* name) {
  for (int i = 0; i < count; ++i) {
    const char* a = specs[i].name;
    const char* b = name;
    while (*a != '\0' && *a == *b) { ++a; ++b; }
    if (*a == *b) return i;
  }
  return -1;
}

}  // namespace normdeploy
