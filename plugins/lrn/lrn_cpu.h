// Internal to the LocalResponseNorm CPU kernel: the per-ISA entry points.
#pragma once

#include "lrn.h"

namespace normdeploy {
namespace baseline { bool LrnCpuIsa(const LrnParams& p, const ParallelFor& parallel); }
namespace avx2 { bool LrnCpuIsa(const LrnParams& p, const ParallelFor& parallel); }
namespace avx512 { bool LrnCpuIsa(const LrnParams& p, const ParallelFor& parallel); }
}  // namespace normdeploy
