// Compiled once per ISA variant (CMake: normdeploy_isa_variants) with -DND_ISA=<name> and that
// variant's -m flags. Everything defined here lives in normdeploy::ND_ISA.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "group_norm_cpu.h"

#ifndef ND_ISA
#error "ND_ISA must name the ISA variant (baseline, avx2, avx512)"
#endif

namespace normdeploy {
namespace ND_ISA {
#include "../common/cpu_vec.inc"
#include "group_norm_cpu.inc"
}  // namespace ND_ISA
}  // namespace normdeploy
