// One ISA variant of the lrn CPU kernel (see ../common/isa_unit.h and lrn_cpu.inc).
#include "../common/isa_unit.h"
#include "lrn_cpu.h"

namespace normdeploy {
namespace ND_ISA {
#include "../common/cpu_vec.inc"
#include "lrn_cpu.inc"
}  // namespace ND_ISA
}  // namespace normdeploy
