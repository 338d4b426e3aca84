// Single-threaded timing of the CPU kernels without ONNX Runtime (for kernel tuning; run it
// under `valgrind --tool=callgrind` for instruction counts that do not depend on machine noise).
//   nd_kernel_bench gn  N C S G dtype [iters]
//   nd_kernel_bench lrn N C S size dtype [iters] [beta]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../plugins/group_norm/group_norm.h"
#include "../plugins/lrn/lrn.h"

using namespace normdeploy;

namespace {

DType ParseType(const char* s) {
  if (std::strcmp(s, "float16") == 0) return DType::kFloat16;
  if (std::strcmp(s, "bfloat16") == 0) return DType::kBFloat16;
  return DType::kFloat32;
}

size_t ElementSize(DType t) { return t == DType::kFloat32 ? 4 : 2; }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 7) {
    std::fprintf(stderr, "usage: %s gn N C S G dtype [iters] | lrn N C S size dtype [iters] [beta]\n", argv[0]);
    return 2;
  }
  const std::string op = argv[1];
  const int64_t n = std::atoll(argv[2]), c = std::atoll(argv[3]), s = std::atoll(argv[4]), k = std::atoll(argv[5]);
  const DType type = ParseType(argv[6]);
  const int iters = argc > 7 ? std::atoi(argv[7]) : 20;
  const size_t count = static_cast<size_t>(n * c * s);
  std::vector<unsigned char> x(count * ElementSize(type)), y(count * ElementSize(type));
  std::mt19937 gen(1);
  std::normal_distribution<float> normal(0.5f, 2.0f);
  for (size_t i = 0; i < count; ++i) {  // normal values (no subnormals: they would time microcode)
    if (type == DType::kFloat32) {
      const float v = normal(gen);
      std::memcpy(x.data() + 4 * i, &v, 4);
    } else {  // +-[1, 2) with random mantissa bits
      const uint16_t sign = static_cast<uint16_t>((gen() & 1u) << 15);
      const uint16_t bits = type == DType::kFloat16 ? static_cast<uint16_t>(0x3c00u | (gen() & 0x3ffu))
                                                    : static_cast<uint16_t>(0x3f80u | (gen() & 0x7fu));
      const uint16_t v = static_cast<uint16_t>(sign | bits);
      std::memcpy(x.data() + 2 * i, &v, 2);
    }
  }
  std::vector<float> scale(static_cast<size_t>(c), 1.0f), bias(static_cast<size_t>(c), 0.0f);
  SerialFor serial;
  Status status;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) {
    if (op == "gn") {
      GroupNormParams p;
      p.x = x.data(); p.y = y.data(); p.scale = scale.data(); p.bias = bias.data();
      p.x_type = type; p.affine_type = DType::kFloat32; p.n = n; p.c = c; p.spatial = s;
      p.attrs.num_groups = k;
      status = GroupNormCpu(p, serial);
    } else {
      LrnParams p;
      p.x = x.data(); p.y = y.data(); p.type = type; p.n = n; p.c = c; p.spatial = s;
      p.attrs.size = k;
      if (argc > 8) p.attrs.beta = std::atof(argv[8]);
      status = LrnCpu(p, serial);
    }
    if (!status.ok()) {
      std::fprintf(stderr, "%s\n", status.message().c_str());
      return 1;
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s %s: %.3f ms/iter, %.3f ns/element\n", op.c_str(), argv[6], secs * 1e3 / iters,
              secs * 1e9 / iters / static_cast<double>(count));
  return 0;
}
