// LocalResponseNorm CPU dispatcher: calls the best ISA variant (lrn_cpu.inc documents the kernel).
#include "../common/cpu_isa.h"
#include "lrn_cpu.h"

namespace normdeploy {

Status LrnCpu(const LrnParams& p, const ParallelFor& parallel) {
  const SerialFor serial;
  const ParallelFor& runner = RunnerFor(p.n * p.c * p.spatial, parallel, serial);
  bool handled = false;
  switch (SelectedCpuIsa()) {
    case CpuIsa::kAvx512: handled = avx512::LrnCpuIsa(p, runner); break;
    case CpuIsa::kAvx2: handled = avx2::LrnCpuIsa(p, runner); break;
    case CpuIsa::kBaseline: handled = baseline::LrnCpuIsa(p, runner); break;
  }
  if (!handled) return MakeError("LocalResponseNorm: unsupported input type ", DTypeName(p.type));
  return Status::Ok();
}

}  // namespace normdeploy
