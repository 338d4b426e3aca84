// Instruction-set variants of the CPU kernels. Each op's *_cpu_isa.cpp is compiled once per
// variant (CMake: normdeploy_isa_variants) with the variant's flags and namespace, and the
// dispatcher picks the best one the running CPU supports, once.
#pragma once

namespace normdeploy {

enum class CpuIsa : int { kBaseline = 0, kAvx2 = 1, kAvx512 = 2 };

// The best variant this CPU supports, honouring NORMDEPLOY_CPU_ISA=baseline|avx2|avx512 (a cap,
// for tests and benchmarks).
CpuIsa SelectedCpuIsa();
const char* CpuIsaName(CpuIsa isa);

}  // namespace normdeploy
