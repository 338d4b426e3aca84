// nd_gpu_check, device side: thin entry points over the project's launchers
// (plugins/group_norm/group_norm_cuda.cu, plugins/lrn/lrn_cuda.cu, compiled unchanged into
// gpu_check_device.cu) plus the check's own helper kernels (fill, digest). Streams are passed as
// void* (a cudaStream_t), so this header needs no CUDA headers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../common/status.h"
#include "gpu_check_host.h"

namespace ndgc {

struct GnLaunch {
  const void* x = nullptr;
  void* y = nullptr;
  const void* scale = nullptr;
  const void* bias = nullptr;
  DType x_type = DType::kFloat32;
  DType affine_type = DType::kFloat32;
  Layout layout = Layout::kNCHW;
  int64_t n = 0, c = 0, s = 0, groups = 1;
  double eps = 1e-5;
  bool silu = false;
  int strategy = kAuto;  // forced strategy (gn_cuda::Strategy); kAuto = GroupNormCuda's rule
};

// The launcher's plan for `l`: the strategy it would run and the split workspace in bytes.
normdeploy::Status GnPlan(const GnLaunch& l, int& strategy, size_t& workspace_bytes);
// Runs the launcher (gn_cuda::GroupNormCudaWithStrategy; kAuto goes through the public
// GroupNormCuda). `used` receives the strategy that ran.
normdeploy::Status GnRun(const GnLaunch& l, void* workspace, void* stream, int& used);

struct LrnLaunch {
  const void* x = nullptr;
  void* y = nullptr;
  DType dtype = DType::kFloat32;
  int64_t n = 0, c = 0, s = 0, size = 1;
  double alpha = 1e-4, beta = 0.75, bias = 1.0;
  bool pytorch_window = false;
};
normdeploy::Status LrnRun(const LrnLaunch& l, void* stream);

// Fills `count` elements of type `t` at device pointer p with mean + stddev * u, u uniform with
// variance 1 from a hash of (seed, index): the same values on every run.
normdeploy::Status FillDevice(void* p, DType t, int64_t count, uint64_t seed, float mean, float stddev, void* stream);
// An order-independent 64-bit digest of `bytes` bytes (a sum of hashes of (index, word)): equal
// digests of two outputs mean bit-identical outputs with overwhelming probability.
normdeploy::Status DigestDevice(const void* p, int64_t bytes, void* stream, uint64_t& digest);

// The compiled constants of the kernels (CUDA build): threads per block, split chunk, one-pass
// shared-memory budget.
int64_t GnOnePassMaxBytes();
int64_t GnChunkElems();

// Resources of every compiled one-pass GroupNorm instantiation (cudaFuncGetAttributes): static
// shared memory and the largest dynamic shared memory a launch may ask for without an opt-in.
struct KernelResources {
  std::string name;
  int64_t static_smem = 0;
  int64_t max_dynamic_smem = 0;
  int registers = 0;
  int ptx_version = 0;
  int binary_version = 0;
};
normdeploy::Status OnePassKernelResources(std::vector<KernelResources>& out);

}  // namespace ndgc
