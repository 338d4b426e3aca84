// Prelude of every *_cpu_isa.cpp: the headers the kernel bodies (*.inc) rely on, included before
// the ISA namespace is opened. The unit is compiled once per ISA variant (CMake:
// normdeploy_isa_variants) with -DND_ISA=<name> and that variant's -m flags; everything it
// defines lives in normdeploy::ND_ISA, so no inline function is shared across variants.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#ifndef ND_ISA
#error "ND_ISA must name the ISA variant (baseline, avx2, avx512)"
#endif
