#include "group_norm.h"

#include <string>

#include "../common/op_fields.generated.h"

namespace normdeploy {
namespace {

constexpr int kNumGroups = FieldIndex(kGroupNormFields, kGroupNormFieldCount, "num_groups");
constexpr int kEpsilon = FieldIndex(kGroupNormFields, kGroupNormFieldCount, "epsilon");
constexpr int kActivation = FieldIndex(kGroupNormFields, kGroupNormFieldCount, "activation");
static_assert(kNumGroups >= 0 && kEpsilon >= 0 && kActivation >= 0,
              "GroupNorm field names drifted from normdeploy/ops/group_norm.py");

}  // namespace

Status ParseGroupNormAttrs(const FieldSource& source, GroupNormAttrs& attrs) {
  FieldValue values[kGroupNormFieldCount];
  ND_RETURN_IF_ERROR(ParseFields(kGroupNormOpName, kGroupNormFields, kGroupNormFieldCount, source, values));
  attrs.num_groups = values[kNumGroups].integer;
  attrs.epsilon = values[kEpsilon].number;
  attrs.activation = values[kActivation].text == "silu" ? Activation::kSilu : Activation::kNone;
  return Status::Ok();
}

Status ValidateGroupNorm(const GroupNormAttrs& attrs, const int64_t* dims, int64_t rank,
                         int64_t scale_len, int64_t bias_len) {
  if (rank < 2) {
    return MakeError("GroupNorm: input 'X' must have rank >= 2 (N, C, *spatial), got rank ", rank);
  }
  for (int64_t i = 0; i < rank; ++i) {
    if (dims[i] < 0) return MakeError("GroupNorm: input 'X' has a negative dim ", dims[i], " at axis ", i);
  }
  const int64_t c = dims[1];
  if (attrs.num_groups <= 0) {
    return MakeError("GroupNorm: attribute 'num_groups' = ", attrs.num_groups, " is invalid: must be >= 1");
  }
  if (c % attrs.num_groups != 0) {
    return MakeError("GroupNorm: num_groups=", attrs.num_groups, " does not divide C=", c,
                     " (input 'X' dim 1)");
  }
  if (scale_len >= 0 && scale_len != c) {
    return MakeError("GroupNorm: input 'scale' has ", scale_len, " elements, expected C=", c);
  }
  if (bias_len >= 0 && bias_len != c) {
    return MakeError("GroupNorm: input 'bias' has ", bias_len, " elements, expected C=", c);
  }
  return Status::Ok();
}

}  // namespace normdeploy
