#include "cpu_isa.h"

#include <cstdlib>
#include <cstring>

namespace normdeploy {
namespace {

CpuIsa Detect() {
  CpuIsa best = CpuIsa::kBaseline;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
    best = CpuIsa::kAvx2;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl")) {
      best = CpuIsa::kAvx512;
    }
  }
#endif
  const char* cap = std::getenv("NORMDEPLOY_CPU_ISA");
  if (cap != nullptr) {
    CpuIsa wanted = best;
    if (std::strcmp(cap, "baseline") == 0) wanted = CpuIsa::kBaseline;
    if (std::strcmp(cap, "avx2") == 0) wanted = CpuIsa::kAvx2;
    if (std::strcmp(cap, "avx512") == 0) wanted = CpuIsa::kAvx512;
    if (static_cast<int>(wanted) < static_cast<int>(best)) best = wanted;
  }
  return best;
}

}  // namespace

CpuIsa SelectedCpuIsa() {
  static const CpuIsa isa = Detect();  // decided once per process
  return isa;
}

const char* CpuIsaName(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kBaseline: return "baseline";
    case CpuIsa::kAvx2: return "avx2";
    case CpuIsa::kAvx512: return "avx512";
  }
  return "unknown";
}

}  // namespace normdeploy
