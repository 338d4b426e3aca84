// LocalResponseNorm CUDA launcher: validation and dtype dispatch (lrn_kernels.cuh documents the
// kernel). Compiled by nvcc into normdeploy_cuda_kernels, and by g++ -std=c++20 against the SIMT
// CPU layer for the tests (plugins/simt_tests/).
#include <cstdint>

#include "../common/cuda_check.h"
#include "lrn_cuda.h"
#include "lrn_kernels.cuh"

namespace normdeploy {
namespace lrn_cuda {

template <typename T>
Status LaunchLrn(const LrnArgs& args, cudaStream_t stream) {
  auto cap = [](int64_t v, int64_t limit) { return static_cast<unsigned>(v < limit ? v : limit); };
  const dim3 grid(cap((args.spatial + kThreads - 1) / kThreads, kMaxBlocksX), cap(args.c, kMaxBlocksYZ),
                  cap(args.n, kMaxBlocksYZ));
  ND_CUDA_CHECK("LocalResponseNorm", simt::LaunchOn(stream, grid, dim3(kThreads), 0, LrnKernel<T>, args));
  return Status::Ok();
}

}  // namespace lrn_cuda

Status LrnCuda(const LrnParams& p, void* stream) {
  if (p.attrs.size < 1) return MakeError("LocalResponseNorm (CUDA): size=", p.attrs.size, " must be >= 1");
  if (p.n < 0 || p.c < 0 || p.spatial < 0) {
    return MakeError("LocalResponseNorm (CUDA): negative shape n=", p.n, " c=", p.c, " spatial=", p.spatial);
  }
  lrn_cuda::LrnArgs args{};
  if (p.n == 0 || p.c == 0 || p.spatial == 0) return Status::Ok();
  args.n = p.n;
  if (p.x == nullptr || p.y == nullptr) return MakeError("LocalResponseNorm (CUDA): null X or Y pointer");
  args.x = p.x;
  args.y = p.y;
  args.c = p.c;
  args.spatial = p.spatial;
  args.before = p.attrs.Before();
  args.after = p.attrs.After();
  args.bias = static_cast<float>(p.attrs.bias);
  args.alpha_over_size = static_cast<float>(p.attrs.alpha / static_cast<double>(p.attrs.size));
  args.neg_beta = static_cast<float>(-p.attrs.beta);
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  switch (p.type) {
    case DType::kFloat32: return lrn_cuda::LaunchLrn<float>(args, s);
    case DType::kFloat16: return lrn_cuda::LaunchLrn<__half>(args, s);
    case DType::kBFloat16: return lrn_cuda::LaunchLrn<__nv_bfloat16>(args, s);
  }
  return MakeError("LocalResponseNorm (CUDA): unsupported input type ", static_cast<int>(p.type));
}

}  // namespace normdeploy
