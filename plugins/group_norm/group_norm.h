// GroupNorm: attributes, launch parameters, validation and launchers. Knows nothing of ONNX
// Runtime or TensorRT: the adapters unpack tensors and attributes, call Validate, then a launcher.
#pragma once

#include <cstdint>

#include "../common/dtype.h"
#include "../common/field_spec.h"
#include "../common/parallel.h"
#include "../common/status.h"

namespace normdeploy {

enum class Activation : int { kNone = 0, kSilu = 1 };

struct GroupNormAttrs {
  int64_t num_groups = 0;
  double epsilon = 1e-5;
  Activation activation = Activation::kNone;
};

// Reads and range-checks the attributes from any field source (ORT node, TRT fields).
Status ParseGroupNormAttrs(const FieldSource& source, GroupNormAttrs& attrs);

struct GroupNormParams {
  const void* x = nullptr;      // (N, C, spatial...) contiguous, x_type
  void* y = nullptr;            // same shape and type as x
  const void* scale = nullptr;  // (C) affine_type, or null for 1
  const void* bias = nullptr;   // (C) affine_type, or null for 0
  DType x_type = DType::kFloat32;
  DType affine_type = DType::kFloat32;  // kFloat32 or x_type
  int64_t n = 0;
  int64_t c = 0;
  int64_t spatial = 1;          // product of the spatial dims (1 for rank 2)
  GroupNormAttrs attrs;
};

// Checks the input shape against the attributes and the optional scale/bias lengths (-1 = absent).
// dims/rank describe X.
Status ValidateGroupNorm(const GroupNormAttrs& attrs, const int64_t* dims, int64_t rank,
                         int64_t scale_len, int64_t bias_len);

// Multi-threaded CPU kernel (see group_norm_cpu.cpp for the strategies).
Status GroupNormCpu(const GroupNormParams& params, const ParallelFor& parallel);

}  // namespace normdeploy
