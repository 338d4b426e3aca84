// nd_gpu_check, device side (see gpu_check_device.h). The project's launchers are compiled here
// unchanged, in this translation unit, so that the check can force either GroupNorm strategy
// (gn_cuda::GroupNormCudaWithStrategy is internal to group_norm_cuda.cu), exactly as
// plugins/simt_tests/simt_tests.cpp does for the CPU layer. The emulation build of the tests
// compiles this file with g++ over that CPU layer (gpu_check_cuda.h).
#include "gpu_check_cuda.h"

#include "../group_norm/group_norm_cuda.cu"
#include "../lrn/lrn_cuda.cu"
#include "gpu_check_device.h"

#if ND_SIMT_CPU
// CPU layer: blocks run one at a time and only thread 0 adds, so a plain add is the atomic one.
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
  const unsigned long long old = *p;
  *p = old + v;
  return old;
}
#endif

namespace ndgc {

using normdeploy::MakeError;
using normdeploy::Status;
namespace gn = normdeploy::gn_cuda;

namespace {

normdeploy::GroupNormParams ToParams(const GnLaunch& l) {
  normdeploy::GroupNormParams p;
  p.x = l.x;
  p.y = l.y;
  p.scale = l.scale;
  p.bias = l.bias;
  p.x_type = l.x_type;
  p.affine_type = l.affine_type;
  p.n = l.n;
  p.c = l.c;
  p.spatial = l.s;
  p.attrs.num_groups = l.groups;
  p.attrs.epsilon = l.eps;
  p.attrs.activation = l.silu ? normdeploy::Activation::kSilu : normdeploy::Activation::kNone;
  return p;
}

normdeploy::Layout ToLayout(Layout l) { return l == Layout::kNHWC ? normdeploy::Layout::kNHWC : normdeploy::Layout::kNCHW; }

__device__ __forceinline__ uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

template <typename T>
__global__ void FillKernel(T* p, int64_t count, uint64_t seed, float mean, float stddev) {
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < count; i += step) {
    const uint64_t h = Mix64(seed + 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(i + 1));
    const float u = static_cast<float>(h >> 40) * 5.9604644775390625e-8f;  // [0, 1), 24 bits: exact
    p[i] = gn::ElemTraits<T>::FromFloat(mean + stddev * ((u - 0.5f) * 3.46410161514f));
  }
}

// Threads per block of the helper kernels (fewer on the CPU layer, where each is a std::thread).
constexpr int kDigestThreads = ND_SIMT_CPU ? 64 : 256;
constexpr int kFillThreads = ND_SIMT_CPU ? 64 : 256;

__global__ void DigestKernel(const uint16_t* p, int64_t words, unsigned long long* out) {
  __shared__ unsigned long long part[kDigestThreads];
  unsigned long long acc = 0;
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < words; i += step) {
    acc += Mix64((static_cast<uint64_t>(i) << 16) ^ p[i] ^ 0x5851f42d4c957f2dULL);
  }
  part[threadIdx.x] = acc;
  __syncthreads();
  for (int w = kDigestThreads / 2; w > 0; w /= 2) {
    if (static_cast<int>(threadIdx.x) < w) part[threadIdx.x] += part[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) atomicAdd(out, part[0]);  // integer sums: any order gives the same total
}

unsigned GridFor(int64_t count, int threads) {
  const int64_t blocks = (count + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 65536 ? (blocks > 0 ? blocks : 1) : 65536);
}

template <typename K>
Status AddResources(const char* name, K kernel, std::vector<KernelResources>& out) {
  cudaFuncAttributes attr{};
  ND_CUDA_CHECK("nd_gpu_check", cudaFuncGetAttributes(&attr, kernel));
  KernelResources r;
  r.name = name;
  r.static_smem = static_cast<int64_t>(attr.sharedSizeBytes);
  r.max_dynamic_smem = attr.maxDynamicSharedSizeBytes;
  r.registers = attr.numRegs;
  r.ptx_version = attr.ptxVersion;
  r.binary_version = attr.binaryVersion;
  out.push_back(r);
  return Status::Ok();
}

}  // namespace

Status GnPlan(const GnLaunch& l, int& strategy, size_t& workspace_bytes) {
  gn::Plan plan;
  ND_RETURN_IF_ERROR(gn::MakePlan(ToParams(l), ToLayout(l.layout), static_cast<gn::Strategy>(l.strategy), plan));
  strategy = static_cast<int>(plan.strategy);
  workspace_bytes = plan.workspace;
  return Status::Ok();
}

Status GnRun(const GnLaunch& l, void* workspace, void* stream, int& used) {
  const normdeploy::GroupNormParams p = ToParams(l);
  if (l.strategy == kAuto) {
    int planned = kAuto;
    size_t ws = 0;
    ND_RETURN_IF_ERROR(GnPlan(l, planned, ws));
    used = planned;
    return normdeploy::GroupNormCuda(p, ToLayout(l.layout), workspace, stream);
  }
  gn::Strategy ran = gn::Strategy::kAuto;
  const Status st = gn::GroupNormCudaWithStrategy(p, ToLayout(l.layout), static_cast<gn::Strategy>(l.strategy),
                                                  workspace, stream, &ran);
  used = static_cast<int>(ran);
  return st;
}

Status LrnRun(const LrnLaunch& l, void* stream) {
  normdeploy::LrnParams p;
  p.x = l.x;
  p.y = l.y;
  p.type = l.dtype;
  p.n = l.n;
  p.c = l.c;
  p.spatial = l.s;
  p.attrs.size = l.size;
  p.attrs.alpha = l.alpha;
  p.attrs.beta = l.beta;
  p.attrs.bias = l.bias;
  p.attrs.window = l.pytorch_window ? normdeploy::LrnWindow::kPytorch : normdeploy::LrnWindow::kOnnx;
  return normdeploy::LrnCuda(p, stream);
}

namespace {

template <typename T>
Status LaunchFill(void* p, int64_t count, uint64_t seed, float mean, float stddev, cudaStream_t s) {
  ND_CUDA_CHECK("nd_gpu_check", simt::LaunchOn(s, dim3(GridFor(count, kFillThreads)), dim3(kFillThreads), 0,
                                               FillKernel<T>, static_cast<T*>(p), count, seed, mean, stddev));
  return Status::Ok();
}

}  // namespace

Status FillDevice(void* p, DType t, int64_t count, uint64_t seed, float mean, float stddev, void* stream) {
  if (count == 0) return Status::Ok();
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  switch (t) {
    case DType::kFloat32: return LaunchFill<float>(p, count, seed, mean, stddev, s);
    case DType::kFloat16: return LaunchFill<__half>(p, count, seed, mean, stddev, s);
    case DType::kBFloat16: return LaunchFill<__nv_bfloat16>(p, count, seed, mean, stddev, s);
  }
  return Status::Ok();
}

Status DigestDevice(const void* p, int64_t bytes, void* stream, uint64_t& digest) {
  if (bytes % 2 != 0) return MakeError("nd_gpu_check: digest of an odd byte count ", bytes);
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  unsigned long long* d_out = nullptr;
  ND_CUDA_CHECK("nd_gpu_check", cudaMalloc(reinterpret_cast<void**>(&d_out), sizeof(*d_out)));  // plain: no pools
  Status st = Status::Ok();
  unsigned long long host = 0;
  auto run = [&]() -> Status {
    ND_CUDA_CHECK("nd_gpu_check", cudaMemsetAsync(d_out, 0, sizeof(*d_out), s));
    const int64_t words = bytes / 2;
    ND_CUDA_CHECK("nd_gpu_check", simt::LaunchOn(s, dim3(GridFor(words, kDigestThreads)), dim3(kDigestThreads), 0,
                                                 DigestKernel, static_cast<const uint16_t*>(p), words, d_out));
    ND_CUDA_CHECK("nd_gpu_check", cudaMemcpyAsync(&host, d_out, sizeof(host), cudaMemcpyDeviceToHost, s));
    ND_CUDA_CHECK("nd_gpu_check", cudaStreamSynchronize(s));
    return Status::Ok();
  };
  st = run();
  const cudaError_t freed = cudaFree(d_out);
  ND_RETURN_IF_ERROR(st);
  ND_CUDA_CHECK("nd_gpu_check", freed);
  digest = host;
  return Status::Ok();
}

int64_t GnOnePassMaxBytes() { return gn::kOnePassMaxBytes; }
int64_t GnChunkElems() { return gn::kChunk; }

Status OnePassKernelResources(std::vector<KernelResources>& out) {
  out.clear();
  ND_RETURN_IF_ERROR(AddResources("GroupNormOnePassKernel<float, NCHW, 4>", gn::GroupNormOnePassKernel<float, gn::kNCHW, 4>, out));
  ND_RETURN_IF_ERROR(AddResources("GroupNormOnePassKernel<float, NCHW, 1>", gn::GroupNormOnePassKernel<float, gn::kNCHW, 1>, out));
  ND_RETURN_IF_ERROR(AddResources("GroupNormOnePassKernel<float, NHWC, 4>", gn::GroupNormOnePassKernel<float, gn::kNHWC, 4>, out));
  ND_RETURN_IF_ERROR(AddResources("GroupNormOnePassKernel<float, NHWC, 1>", gn::GroupNormOnePassKernel<float, gn::kNHWC, 1>, out));
  ND_RETURN_IF_ERROR(AddResources("GroupNormOnePassKernel<half, NCHW, 8>", gn::GroupNormOnePassKernel<__half, gn::kNCHW, 8>, out));
  ND_RETURN_IF_ERROR(AddResources("GroupNormOnePassKernel<half, NCHW, 1>", gn::GroupNormOnePassKernel<__half, gn::kNCHW, 1>, out));
  ND_RETURN_IF_ERROR(AddResources("GroupNormOnePassKernel<half, NHWC, 8>", gn::GroupNormOnePassKernel<__half, gn::kNHWC, 8>, out));
  ND_RETURN_IF_ERROR(AddResources("GroupNormOnePassKernel<half, NHWC, 1>", gn::GroupNormOnePassKernel<__half, gn::kNHWC, 1>, out));
  ND_RETURN_IF_ERROR(AddResources("GroupNormOnePassKernel<bf16, NCHW, 8>", gn::GroupNormOnePassKernel<__nv_bfloat16, gn::kNCHW, 8>, out));
  ND_RETURN_IF_ERROR(AddResources("GroupNormOnePassKernel<bf16, NCHW, 1>", gn::GroupNormOnePassKernel<__nv_bfloat16, gn::kNCHW, 1>, out));
  ND_RETURN_IF_ERROR(AddResources("GroupNormOnePassKernel<bf16, NHWC, 8>", gn::GroupNormOnePassKernel<__nv_bfloat16, gn::kNHWC, 8>, out));
  ND_RETURN_IF_ERROR(AddResources("GroupNormOnePassKernel<bf16, NHWC, 1>", gn::GroupNormOnePassKernel<__nv_bfloat16, gn::kNHWC, 1>, out));
  return Status::Ok();
}

}  // namespace ndgc
