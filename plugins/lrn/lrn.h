// LocalResponseNorm (cross-channel LRN): attributes, launch parameters, validation, launcher.
// Knows nothing of ONNX Runtime or TensorRT.
#pragma once

#include <cstdint>

#include "../common/dtype.h"
#include "../common/field_spec.h"
#include "../common/parallel.h"
#include "../common/status.h"

namespace normdeploy {

enum class LrnWindow : int { kOnnx = 0, kPytorch = 1 };

struct LrnAttrs {
  int64_t size = 0;
  double alpha = 1e-4;
  double beta = 0.75;
  double bias = 1.0;
  LrnWindow window = LrnWindow::kOnnx;

  // Channels before / after c in the window of channel c.
  int64_t Before() const { return window == LrnWindow::kOnnx ? (size - 1) / 2 : size / 2; }
  int64_t After() const { return window == LrnWindow::kOnnx ? size / 2 : (size - 1) / 2; }
};

Status ParseLrnAttrs(const FieldSource& source, LrnAttrs& attrs);

struct LrnParams {
  const void* x = nullptr;  // (N, C, spatial...) contiguous
  void* y = nullptr;
  DType type = DType::kFloat32;
  int64_t n = 0;
  int64_t c = 0;
  int64_t spatial = 1;
  LrnAttrs attrs;
};

Status ValidateLrn(const LrnAttrs& attrs, const int64_t* dims, int64_t rank);

// Multi-threaded CPU kernel (see lrn_cpu.inc).
Status LrnCpu(const LrnParams& params, const ParallelFor& parallel);

}  // namespace normdeploy
