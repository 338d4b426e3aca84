// One ISA variant of the group_norm CPU kernel (see ../common/isa_unit.h and group_norm_cpu.inc).
#include "../common/isa_unit.h"
#include "group_norm_cpu.h"

namespace normdeploy {
namespace ND_ISA {
#include "../common/cpu_vec.inc"
#include "group_norm_cpu.inc"
}  // namespace ND_ISA
}  // namespace normdeploy
