// Minimal .npy (format 1.0/2.0) reading and writing for float32 arrays, C order, little endian:
// what the example needs to exchange tensors with numpy. Errors throw std::runtime_error with the
// file name and what is wrong (this is a program, not a C ABI).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ndexample {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

NpyArray ReadNpy(const std::string& path);
void WriteNpy(const std::string& path, const std::vector<int64_t>& shape, const float* data);

}  // namespace ndexample
