// nd_gpu_check, host side: the float64 references, the storage-type conversions, the comparison
// rule, a deterministic generator and the case descriptions ("specs"). No CUDA here: this part
// also runs on a machine without a GPU (`--host-reference`, `--self-test-host`), which is how
// tests/test_gpu_check.py checks it against normdeploy.ops' numpy references.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../common/dtype.h"

namespace ndgc {

using normdeploy::DType;

enum class Layout : int { kNCHW = 0, kNHWC = 1 };
enum class Affine : int { kNone = 0, kFloat32 = 1, kSame = 2 };  // kSame: scale/bias in the x dtype
// Launcher strategy codes (gn_cuda::Strategy): 0 automatic choice, 1 one-pass, 2 split.
enum Strategy : int { kAuto = 0, kOnePass = 1, kSplit = 2 };

const char* LayoutName(Layout l);
const char* AffineName(Affine a);
const char* StrategyName(int s);
int DTypeSize(DType t);

// ---- storage conversions (round to nearest even, as __float2half_rn / __float2bfloat16_rn) ----
uint16_t FloatToHalfBits(float f);
float HalfBitsToFloat(uint16_t h);
uint16_t FloatToBf16Bits(float f);
float Bf16BitsToFloat(uint16_t h);
// `count` values of `t` at `raw` (device storage layout) -> float64.
void StorageToDouble(DType t, const void* raw, int64_t count, double* out);
// float64 -> float32 (nearest) -> `t`, written as storage into `raw`.
void DoubleToStorage(DType t, const double* in, int64_t count, void* raw);
// The value `v` takes once stored as `t` (float64 -> float32 -> t), back in float64.
double Quantize(DType t, double v);

// ---- references (float64 throughout; SEMANTICS.md) ----
// One GroupNorm group: xg holds its cg*s elements in logical order (channel-major: xg[c*s + i]);
// scale_g / bias_g its cg channels' values or null (1 / 0). Biased variance, eps added in float64,
// y = (x - mean) / sqrt(var + eps) * scale + bias, then y / (1 + exp(-y)) when silu.
void GroupNormRefGroup(const double* xg, int64_t cg, int64_t s, const double* scale_g, const double* bias_g,
                       double eps, bool silu, double* out);
// LRN over an NCHW tensor (n, c, s): y = x / (bias + alpha/size * sum_{window} x^2)^beta with the
// window [c - before, c + after] clipped to the channels; before/after from `pytorch_window`:
// ONNX: before = (size-1)/2, after = size/2; PyTorch: before = size/2, after = (size-1)/2.
void LrnRef(const double* x, int64_t n, int64_t c, int64_t s, int64_t size, double alpha, double beta, double bias,
            bool pytorch_window, double* y);
int64_t LrnBefore(int64_t size, bool pytorch_window);
int64_t LrnAfter(int64_t size, bool pytorch_window);

// ---- comparison ----
// The rule of tests/test_cuda_kernels_cpu.py: |actual - ref| <= ulps(dtype) * ulp(dtype) * scale,
// scale = max(1, max |ref|); ulps = 32 for float32 (float32 statistics over the group), 4 for
// float16/bfloat16 (one rounding of the output plus float32 noise). Non-finite actual fails.
struct Comparison {
  double max_err = 0.0;
  double tol = 0.0;
  double scale = 1.0;
  int64_t worst = -1;       // index of the largest error (or the first non-finite value)
  int64_t non_finite = 0;
  bool ok = true;
};
double Tolerance(DType t, double scale);
Comparison Compare(DType t, const double* ref, const double* actual, int64_t count);
// Accumulates into `c` (same rule) so that a tensor can be compared in pieces.
void CompareInto(DType t, const double* ref, const double* actual, int64_t count, int64_t index_base,
                 Comparison& c);
void FinishComparison(DType t, Comparison& c);

// ---- deterministic generator (SplitMix64) ----
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  double Uniform();  // [0, 1), 53 bits
  double Normal();   // Box-Muller
 private:
  uint64_t state_;
};

// ---- cases ----
// A spec is "op:key=value,key=value,..." and names a case completely (it is what the JSON
// reports and what --host-reference reads):
//   groupnorm:dtype=float16,layout=nchw,strategy=split,n=2,c=6,s=7,groups=3,eps=1e-05,silu=1,
//             affine=float32,mean=0.5,std=2,misalign=0
//   lrn:dtype=float32,n=2,c=7,s=15,size=5,alpha=0.0001,beta=0.75,bias=1,window=onnx,std=3
struct GnCase {
  DType dtype = DType::kFloat32;
  Layout layout = Layout::kNCHW;
  int strategy = kAuto;
  int64_t n = 1, c = 1, s = 1, groups = 1;
  double eps = 1e-5;
  bool silu = false;
  Affine affine = Affine::kFloat32;
  double mean = 0.5, stddev = 2.0;  // input distribution (generated cases)
  bool misalign = false;            // x and y one element past a 16-byte boundary (scalar path)
  int64_t Elems() const { return n * c * s; }
  int64_t Cg() const { return c / groups; }
  std::string Spec() const;
};
struct LrnCase {
  DType dtype = DType::kFloat32;
  int64_t n = 1, c = 1, s = 1, size = 1;
  double alpha = 1e-4, beta = 0.75, bias = 1.0;
  bool pytorch_window = false;
  double stddev = 3.0;
  int64_t Elems() const { return n * c * s; }
  std::string Spec() const;
};
// Parse a spec; returns false with a one-line reason in `err` (unknown key, bad value, missing op).
bool ParseSpec(const std::string& spec, bool& is_lrn, GnCase& gn, LrnCase& lrn, std::string& err);

bool ParseDType(const std::string& s, DType& t);
std::string FormatDouble(double v);  // shortest round-trip form
std::string Shape(int64_t n, int64_t c, int64_t s);

// ---- host-only modes ----
// --host-reference SPEC --in X --out Y: reads float64 x (n*c*s, NCHW), then for GroupNorm with
// affine != none scale (c) and bias (c), float64 little-endian; writes the quantized inputs in the
// same order followed by the reference output (n*c*s float64). Returns an exit code (0, 1 I/O, 2 usage).
int HostReferenceMain(const std::string& spec, const std::string& in_path, const std::string& out_path);
// --self-test-host: checks that the comparison rejects wrong outputs, the generator is
// deterministic and the conversions round-trip; prints one line per check. Returns 0 or 1.
int SelfTestHostMain();

}  // namespace ndgc
