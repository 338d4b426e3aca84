// normdeploy_simt_tests: the CUDA kernels and launchers (plugins/*/..._cuda.cu, unchanged)
// compiled by g++ -std=c++20 against the SIMT CPU layer (plugins/common/simt.h), behind a C ABI
// for tests/test_cuda_kernels_cpu.py (ctypes). "Device" pointers are host pointers here and
// launches are synchronous. Built twice: plain and with -fsanitize=thread.
//
// Every function returns 0 on success, 1 on error with the message in err[0..err_len).
#include <cstdint>
#include <cstdio>
#include <exception>
#include <vector>

// The launchers, compiled as C++ for the CPU layer (one translation unit).
#include "../group_norm/group_norm_cuda.cu"
#include "../lrn/lrn_cuda.cu"

#define ND_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

int Fail(char* err, size_t err_len, const std::string& message) {
  if (err != nullptr && err_len > 0) std::snprintf(err, err_len, "%s", message.c_str());
  return 1;
}

// The deliberately broken kernel (the proof that ThreadSanitizer sees missing barriers): each
// thread writes its slot of a shared array and then reads its neighbour's. Without the
// __syncthreads between the two, the read races with the neighbour's write.
template <bool kSync>
__global__ void RotateThroughShared(const float* in, float* out) {
  __shared__ float buf[64];
  const unsigned t = threadIdx.x;
  buf[t] = in[blockIdx.x * blockDim.x + t];
  if (kSync) __syncthreads();
  out[blockIdx.x * blockDim.x + t] = buf[(t + 1) % blockDim.x];
}

}  // namespace

// Compile-time configuration of the CPU build: threads per block, split chunk elements, one-pass
// shared memory bytes (GroupNorm), threads per block (LRN).
ND_EXPORT void nd_simt_config(int64_t* out4) {
  out4[0] = normdeploy::gn_cuda::kThreads;
  out4[1] = normdeploy::gn_cuda::kChunk;
  out4[2] = normdeploy::gn_cuda::kOnePassMaxBytes;
  out4[3] = normdeploy::lrn_cuda::kThreads;
}

// GroupNorm through gn_cuda::GroupNormCudaWithStrategy. dtype/affine_dtype: 0 float32,
// 1 float16, 2 bfloat16; layout 0 NCHW, 1 NHWC; strategy 0 auto, 1 one-pass, 2 split.
// *used_strategy receives the strategy that ran (may be null). The split workspace is allocated
// here at the size the plan asks for (GroupNormCudaWorkspaceSize for strategy 0).
ND_EXPORT int nd_simt_group_norm(const void* x, void* y, const void* scale, const void* bias, int dtype,
                                 int affine_dtype, int layout, int64_t n, int64_t c, int64_t spatial,
                                 int64_t groups, double eps, int silu, int strategy, int* used_strategy,
                                 char* err, size_t err_len) {
  using namespace normdeploy;
  try {
    GroupNormParams p;
    p.x = x;
    p.y = y;
    p.scale = scale;
    p.bias = bias;
    p.x_type = static_cast<DType>(dtype);
    p.affine_type = static_cast<DType>(affine_dtype);
    p.n = n;
    p.c = c;
    p.spatial = spatial;
    p.attrs.num_groups = groups;
    p.attrs.epsilon = eps;
    p.attrs.activation = silu ? Activation::kSilu : Activation::kNone;
    const auto lay = static_cast<Layout>(layout);
    gn_cuda::Plan plan;
    const Status planned = gn_cuda::MakePlan(p, lay, static_cast<gn_cuda::Strategy>(strategy), plan);
    if (!planned.ok()) return Fail(err, err_len, planned.message());
    if (strategy == 0 && plan.workspace != GroupNormCudaWorkspaceSize(p, lay)) {
      return Fail(err, err_len, "GroupNormCudaWorkspaceSize disagrees with the plan");
    }
    std::vector<float> workspace((plan.workspace + sizeof(float) - 1) / sizeof(float));
    gn_cuda::Strategy used = gn_cuda::Strategy::kAuto;
    const Status st = strategy == 0
                          ? GroupNormCuda(p, lay, workspace.empty() ? nullptr : workspace.data(), nullptr)
                          : gn_cuda::GroupNormCudaWithStrategy(p, lay, static_cast<gn_cuda::Strategy>(strategy),
                                                               workspace.empty() ? nullptr : workspace.data(),
                                                               nullptr, &used);
    if (strategy == 0) used = plan.strategy;
    if (used_strategy != nullptr) *used_strategy = static_cast<int>(used);
    if (!st.ok()) return Fail(err, err_len, st.message());
    return 0;
  } catch (const std::exception& e) {
    return Fail(err, err_len, e.what());
  }
}

// GroupNorm split path with an explicit (too small) workspace: checks the launcher refuses it.
ND_EXPORT int nd_simt_group_norm_no_workspace(const void* x, void* y, int64_t n, int64_t c, int64_t spatial,
                                              int64_t groups, char* err, size_t err_len) {
  using namespace normdeploy;
  GroupNormParams p;
  p.x = x;
  p.y = y;
  p.n = n;
  p.c = c;
  p.spatial = spatial;
  p.attrs.num_groups = groups;
  const Status st = gn_cuda::GroupNormCudaWithStrategy(p, Layout::kNCHW, gn_cuda::Strategy::kSplit, nullptr, nullptr);
  if (!st.ok()) return Fail(err, err_len, st.message());
  return 0;
}

// LRN through LrnCuda. window: 0 ONNX, 1 PyTorch.
ND_EXPORT int nd_simt_lrn(const void* x, void* y, int dtype, int64_t n, int64_t c, int64_t spatial, int64_t size,
                          double alpha, double beta, double bias, int window, char* err, size_t err_len) {
  using namespace normdeploy;
  try {
    LrnParams p;
    p.x = x;
    p.y = y;
    p.type = static_cast<DType>(dtype);
    p.n = n;
    p.c = c;
    p.spatial = spatial;
    p.attrs.size = size;
    p.attrs.alpha = alpha;
    p.attrs.beta = beta;
    p.attrs.bias = bias;
    p.attrs.window = window ? LrnWindow::kPytorch : LrnWindow::kOnnx;
    const Status st = LrnCuda(p, nullptr);
    if (!st.ok()) return Fail(err, err_len, st.message());
    return 0;
  } catch (const std::exception& e) {
    return Fail(err, err_len, e.what());
  }
}

// Runs RotateThroughShared over `blocks` blocks of 64 threads: out[b*64+t] = in[b*64+(t+1)%64].
// with_sync=0 is the deliberately broken variant (data race on shared memory).
ND_EXPORT int nd_simt_missing_sync(int with_sync, const float* in, float* out, int blocks, char* err, size_t err_len) {
  const cudaError_t e = with_sync ? simt::Launch(dim3(blocks), dim3(64), 0, RotateThroughShared<true>, in, out)
                                  : simt::Launch(dim3(blocks), dim3(64), 0, RotateThroughShared<false>, in, out);
  if (e != cudaSuccess) return Fail(err, err_len, cudaGetErrorName(e));
  return 0;
}

// A launch the CPU layer must refuse like CUDA does (2048 threads per block): checks that the
// error reaches a Status through ND_CUDA_CHECK with the call named.
ND_EXPORT int nd_simt_bad_launch(char* err, size_t err_len) {
  auto run = []() -> normdeploy::Status {
    ND_CUDA_CHECK("test", simt::LaunchOn(nullptr, dim3(1), dim3(2048), 0, RotateThroughShared<true>,
                                         static_cast<const float*>(nullptr), static_cast<float*>(nullptr)));
    return normdeploy::Status::Ok();
  };
  const normdeploy::Status st = run();
  if (!st.ok()) return Fail(err, err_len, st.message());
  return 0;
}

// Runs only the last (den - num) / den of every grid launched from the calling thread (see
// simt::GridTail); (0, 1) restores whole grids. For the 64-bit indexing tests.
ND_EXPORT void nd_simt_set_grid_tail(uint64_t num, uint64_t den) { simt::grid_tail = simt::GridTail{num, den}; }

// Deliberate defects, for tests/test_sanitizers.py to prove that a sanitized build reports what
// it should (a harness that cannot fail proves nothing). Never called by the kernel tests.
//   1: heap-buffer-overflow (AddressSanitizer)   2: signed integer overflow (UBSan)
ND_EXPORT int nd_sanitizer_selftest(int which, int value) {
  if (which == 1) {
    std::vector<int> v(static_cast<size_t>(value > 0 ? value : 1));
    int* p = v.data();
    return p[v.size()];  // one past the end
  }
  if (which == 2) {
    int x = value;
    return x + 2147483647;  // overflows for value >= 1
  }
  return -1;
}
