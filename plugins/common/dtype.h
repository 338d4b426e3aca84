// Element types the kernels accept. Dispatch goes through these tags, never through sizeof.
#pragma once

#include <cstdint>

namespace normdeploy {

enum class DType : int { kFloat32 = 0, kFloat16 = 1, kBFloat16 = 2 };

inline const char* DTypeName(DType t) {
  switch (t) {
    case DType::kFloat32: return "float32";
    case DType::kFloat16: return "float16";
    case DType::kBFloat16: return "bfloat16";
  }
  return "unknown";
}

// Storage types: half types are carried as raw 16-bit patterns on the CPU.
struct Half { uint16_t bits; };
struct BFloat16 { uint16_t bits; };

}  // namespace normdeploy
