#include "lrn.h"

#include "../common/op_fields.generated.h"

namespace normdeploy {
namespace {

constexpr int kSize = FieldIndex(kLocalResponseNormFields, kLocalResponseNormFieldCount, "size");
constexpr int kAlpha = FieldIndex(kLocalResponseNormFields, kLocalResponseNormFieldCount, "alpha");
constexpr int kBeta = FieldIndex(kLocalResponseNormFields, kLocalResponseNormFieldCount, "beta");
constexpr int kBias = FieldIndex(kLocalResponseNormFields, kLocalResponseNormFieldCount, "bias");
constexpr int kWindow = FieldIndex(kLocalResponseNormFields, kLocalResponseNormFieldCount, "window");
static_assert(kSize >= 0 && kAlpha >= 0 && kBeta >= 0 && kBias >= 0 && kWindow >= 0,
              "LocalResponseNorm field names drifted from normdeploy/ops/lrn.py");

}  // namespace

Status ParseLrnAttrs(const FieldSource& source, LrnAttrs& attrs) {
  FieldValue values[kLocalResponseNormFieldCount];
  ND_RETURN_IF_ERROR(ParseFields(kLocalResponseNormOpName, kLocalResponseNormFields,
                                 kLocalResponseNormFieldCount, source, values));
  attrs.size = values[kSize].integer;
  attrs.alpha = values[kAlpha].number;
  attrs.beta = values[kBeta].number;
  attrs.bias = values[kBias].number;
  attrs.window = values[kWindow].text == "pytorch" ? LrnWindow::kPytorch : LrnWindow::kOnnx;
  return Status::Ok();
}

Status ValidateLrn(const LrnAttrs& attrs, const int64_t* dims, int64_t rank) {
  if (rank < 2) {
    return MakeError("LocalResponseNorm: input 'X' must have rank >= 2 (N, C, *spatial), got rank ", rank);
  }
  for (int64_t i = 0; i < rank; ++i) {
    if (dims[i] < 0) {
      return MakeError("LocalResponseNorm: input 'X' has a negative dim ", dims[i], " at axis ", i);
    }
  }
  if (attrs.size <= 0) {
    return MakeError("LocalResponseNorm: attribute 'size' = ", attrs.size, " is invalid: must be >= 1");
  }
  return Status::Ok();
}

}  // namespace normdeploy
