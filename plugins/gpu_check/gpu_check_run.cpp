// nd_gpu_check, the GPU sections (see gpu_check_run.h). Host C++ against the CUDA runtime API;
// every CUDA call goes through GC_CHECK (a Status naming the call) or is reported when it fails.
#include "gpu_check_run.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <sstream>
#include <utility>

#include "../common/status.h"
#include "gpu_check_device.h"
#include "gpu_check_cuda.h"
#include "gpu_check_host.h"

namespace ndgc {

using normdeploy::MakeError;
using normdeploy::Status;

#define GC_CHECK(call)                                                            \
  do {                                                                            \
    const cudaError_t gc_error_ = (call);                                         \
    if (gc_error_ != cudaSuccess) return CudaError(gc_error_, #call);             \
  } while (0)

namespace {

// The emulation build (tests/test_gpu_check.py) runs the kernels on CPU threads: it keeps the
// cases small enough for that, and shrinks the timing shapes (its timings mean nothing).
#if ND_GPU_CHECK_EMULATE
constexpr bool kEmulated = true;
#else
constexpr bool kEmulated = false;
#endif

Status CudaError(cudaError_t e, const char* call) {
  return MakeError("nd_gpu_check: ", call, " failed: ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ")");
}

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// A device allocation. Free() is the checked release; the destructor only covers early returns
// and reports a failing cudaFree on stderr.
class DevBuf {
 public:
  DevBuf() = default;
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  ~DevBuf() {
    if (p_ != nullptr) {
      const cudaError_t e = cudaFree(p_);
      if (e != cudaSuccess) std::fprintf(stderr, "nd_gpu_check: cudaFree failed: %s\n", cudaGetErrorName(e));
    }
  }
  Status Alloc(size_t bytes) {
    if (bytes == 0) return Status::Ok();
    GC_CHECK(cudaMalloc(&p_, bytes));
    return Status::Ok();
  }
  Status Free() {
    void* p = p_;
    p_ = nullptr;
    if (p != nullptr) GC_CHECK(cudaFree(p));
    return Status::Ok();
  }
  char* get() const { return static_cast<char*>(p_); }

 private:
  void* p_ = nullptr;
};

// After a failure: is the context still usable (no sticky error)?
bool ContextAlive() {
  (void)cudaGetLastError();  // clears a non-sticky error; a sticky one stays and shows below
  return cudaDeviceSynchronize() == cudaSuccess && cudaGetLastError() == cudaSuccess;
}

uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char ch : s) h = (h ^ ch) * 0x100000001b3ULL;
  return h;
}

std::string Fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

DType AffineType(const GnCase& k) { return k.affine == Affine::kFloat32 ? DType::kFloat32 : k.dtype; }

int ExpectedAuto(const GnCase& k) {
  return k.Cg() * k.s * DTypeSize(k.dtype) <= GnOnePassMaxBytes() ? kOnePass : kSplit;
}

std::string CaseJson(const std::string& spec, const Comparison& c, const std::string& used, bool deterministic,
                     const std::string& error) {
  std::vector<std::pair<std::string, std::string>> f = {{"spec", JStr(spec)}, {"ok", JBool(error.empty() && c.ok && deterministic)}};
  if (!used.empty()) f.push_back({"used", JStr(used)});
  f.push_back({"max_err", JNum(c.max_err)});
  f.push_back({"tol", JNum(c.tol)});
  f.push_back({"deterministic", JBool(deterministic)});
  if (!error.empty()) f.push_back({"error", JStr(error)});
  return JObj(f);
}

std::string Mismatch(const Comparison& c) {
  std::ostringstream o;
  if (c.non_finite > 0) o << c.non_finite << " non-finite output(s), first at element " << c.worst;
  else o << "max err " << Fmt("%.3e", c.max_err) << " > tol " << Fmt("%.3e", c.tol) << " at element " << c.worst;
  return o.str();
}

// ---- GroupNorm inputs, generated on the host (quantized to the storage types) ----
struct GnData {
  std::vector<double> x;  // logical NCHW
  std::vector<double> scale, bias;  // empty for affine none
};

void MakeGnData(const GnCase& k, GnData& d) {
  Rng rng(Fnv1a(k.Spec()));
  d.x.resize(static_cast<size_t>(k.Elems()));
  for (double& v : d.x) v = Quantize(k.dtype, k.mean + k.stddev * rng.Normal());
  d.scale.clear();
  d.bias.clear();
  if (k.affine != Affine::kNone) {
    for (int64_t i = 0; i < k.c; ++i) d.scale.push_back(Quantize(AffineType(k), rng.Normal()));
    for (int64_t i = 0; i < k.c; ++i) d.bias.push_back(Quantize(AffineType(k), rng.Normal()));
  }
}

// Logical NCHW -> the device layout (to_device) or back.
void Relayout(const GnCase& k, const std::vector<double>& from, std::vector<double>& to, bool to_device) {
  to.resize(from.size());
  if (k.layout == Layout::kNCHW) {
    to = from;
    return;
  }
  for (int64_t n = 0; n < k.n; ++n)
    for (int64_t c = 0; c < k.c; ++c)
      for (int64_t s = 0; s < k.s; ++s) {
        const int64_t logical = (n * k.c + c) * k.s + s, phys = (n * k.s + s) * k.c + c;
        to[to_device ? phys : logical] = from[to_device ? logical : phys];
      }
}
void ToLayout(const GnCase& k, const std::vector<double>& logical, std::vector<double>& phys) {
  Relayout(k, logical, phys, true);
}
void FromLayout(const GnCase& k, const std::vector<double>& phys, std::vector<double>& logical) {
  Relayout(k, phys, logical, false);
}

// A synchronous copy between host and device (nothing for 0 bytes).
Status Copy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s) {
  if (bytes == 0) return Status::Ok();
  GC_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, s));
  GC_CHECK(cudaStreamSynchronize(s));
  return Status::Ok();
}
Status Upload(void* dst, const void* src, size_t bytes, cudaStream_t s) {
  return Copy(dst, src, bytes, cudaMemcpyHostToDevice, s);
}
Status Download(void* dst, const void* src, size_t bytes, cudaStream_t s) {
  return Copy(dst, src, bytes, cudaMemcpyDeviceToHost, s);
}

// Device copies of the affine parameters of a case (or nulls).
struct DevAffine {
  DevBuf scale, bias;
  Status Load(const GnCase& k, const std::vector<double>& sc, const std::vector<double>& bi, cudaStream_t s) {
    if (k.affine == Affine::kNone) return Status::Ok();
    const DType at = AffineType(k);
    const size_t bytes = static_cast<size_t>(k.c) * DTypeSize(at);
    std::vector<unsigned char> raw(bytes);
    ND_RETURN_IF_ERROR(scale.Alloc(bytes));
    ND_RETURN_IF_ERROR(bias.Alloc(bytes));
    DoubleToStorage(at, sc.data(), k.c, raw.data());
    ND_RETURN_IF_ERROR(Upload(scale.get(), raw.data(), bytes, s));
    DoubleToStorage(at, bi.data(), k.c, raw.data());
    ND_RETURN_IF_ERROR(Upload(bias.get(), raw.data(), bytes, s));
    return Status::Ok();
  }
  Status Free() {
    ND_RETURN_IF_ERROR(scale.Free());
    return bias.Free();
  }
};

GnLaunch MakeLaunch(const GnCase& k, const void* x, void* y, const DevAffine& a) {
  GnLaunch l;
  l.x = x;
  l.y = y;
  l.scale = a.scale.get();
  l.bias = a.bias.get();
  l.x_type = k.dtype;
  l.affine_type = AffineType(k);
  l.layout = k.layout;
  l.n = k.n;
  l.c = k.c;
  l.s = k.s;
  l.groups = k.groups;
  l.eps = k.eps;
  l.silu = k.silu;
  l.strategy = k.strategy;
  return l;
}

LrnLaunch MakeLrnLaunch(const LrnCase& k, const void* x, void* y) {
  LrnLaunch l;
  l.x = x;
  l.y = y;
  l.dtype = k.dtype;
  l.n = k.n;
  l.c = k.c;
  l.s = k.s;
  l.size = k.size;
  l.alpha = k.alpha;
  l.beta = k.beta;
  l.bias = k.bias;
  l.pytorch_window = k.pytorch_window;
  return l;
}

// Runs `launch` twice into dy (+ off), NaN-filled before each run, and reads each output back.
Status RunTwice(const std::function<Status()>& launch, char* dy, size_t off, size_t bytes, cudaStream_t stream,
                std::vector<unsigned char> (&out)[2]) {
  for (int r = 0; r < 2; ++r) {
    out[r].resize(bytes);
    GC_CHECK(cudaMemsetAsync(dy, 0xff, bytes + 16, stream));  // NaN in every dtype
    ND_RETURN_IF_ERROR(launch());
    GC_CHECK(cudaStreamSynchronize(stream));
    ND_RETURN_IF_ERROR(Download(out[r].data(), dy + off, bytes, stream));
  }
  return Status::Ok();
}

// ---- one small GroupNorm case: whole output against the reference, run twice ----
Status RunGnSmall(const GnCase& k, cudaStream_t stream, Comparison& cmp, std::string& used_name, bool& deterministic,
                  std::string& note) {
  GnData d;
  MakeGnData(k, d);
  std::vector<double> phys;
  ToLayout(k, d.x, phys);
  const int es = DTypeSize(k.dtype);
  const size_t bytes = static_cast<size_t>(k.Elems()) * es;
  const size_t off = k.misalign ? static_cast<size_t>(es) : 0;
  std::vector<unsigned char> raw(bytes);
  DoubleToStorage(k.dtype, phys.data(), k.Elems(), raw.data());

  DevBuf dx, dy, dws;
  DevAffine aff;
  ND_RETURN_IF_ERROR(dx.Alloc(bytes + 16));
  ND_RETURN_IF_ERROR(dy.Alloc(bytes + 16));
  ND_RETURN_IF_ERROR(Upload(dx.get() + off, raw.data(), bytes, stream));
  ND_RETURN_IF_ERROR(aff.Load(k, d.scale, d.bias, stream));
  const GnLaunch launch = MakeLaunch(k, dx.get() + off, dy.get() + off, aff);
  int planned = kAuto;
  size_t ws = 0;
  ND_RETURN_IF_ERROR(GnPlan(launch, planned, ws));
  ND_RETURN_IF_ERROR(dws.Alloc(ws));

  std::vector<unsigned char> out[2];
  int used = -1;
  ND_RETURN_IF_ERROR(RunTwice([&] { return GnRun(launch, dws.get(), stream, used); }, dy.get(), off, bytes, stream, out));
  used_name = StrategyName(used);
  deterministic = bytes == 0 || std::memcmp(out[0].data(), out[1].data(), bytes) == 0;
  const int want = k.strategy == kAuto ? ExpectedAuto(k) : k.strategy;
  if (used != want) note = std::string("ran ") + StrategyName(used) + ", expected " + StrategyName(want);

  std::vector<double> yphys(static_cast<size_t>(k.Elems())), y, ref(static_cast<size_t>(k.Elems()));
  StorageToDouble(k.dtype, out[0].data(), k.Elems(), yphys.data());
  FromLayout(k, yphys, y);
  const int64_t cg = k.Cg(), ge = cg * k.s;
  for (int64_t n = 0; n < k.n; ++n) {
    for (int64_t g = 0; g < k.groups; ++g) {
      const int64_t o = (n * k.groups + g) * ge;
      GroupNormRefGroup(d.x.data() + o, cg, k.s, d.scale.empty() ? nullptr : d.scale.data() + g * cg,
                        d.bias.empty() ? nullptr : d.bias.data() + g * cg, k.eps, k.silu, ref.data() + o);
    }
  }
  cmp = Compare(k.dtype, ref.data(), y.data(), k.Elems());
  ND_RETURN_IF_ERROR(dws.Free());
  ND_RETURN_IF_ERROR(aff.Free());
  ND_RETURN_IF_ERROR(dy.Free());
  return dx.Free();
}

// ---- one small LRN case ----
Status RunLrnSmall(const LrnCase& k, cudaStream_t stream, Comparison& cmp, bool& deterministic) {
  Rng rng(Fnv1a(k.Spec()));
  std::vector<double> x(static_cast<size_t>(k.Elems())), ref(x.size()), y(x.size());
  for (double& v : x) v = Quantize(k.dtype, k.stddev * rng.Normal());
  const int es = DTypeSize(k.dtype);
  const size_t bytes = static_cast<size_t>(k.Elems()) * es;
  std::vector<unsigned char> raw(bytes);
  DoubleToStorage(k.dtype, x.data(), k.Elems(), raw.data());
  DevBuf dx, dy;
  ND_RETURN_IF_ERROR(dx.Alloc(bytes + 16));
  ND_RETURN_IF_ERROR(dy.Alloc(bytes + 16));
  ND_RETURN_IF_ERROR(Upload(dx.get(), raw.data(), bytes, stream));
  const LrnLaunch l = MakeLrnLaunch(k, dx.get(), dy.get());
  std::vector<unsigned char> out[2];
  ND_RETURN_IF_ERROR(RunTwice([&] { return LrnRun(l, stream); }, dy.get(), 0, bytes, stream, out));
  deterministic = bytes == 0 || std::memcmp(out[0].data(), out[1].data(), bytes) == 0;
  StorageToDouble(k.dtype, out[0].data(), k.Elems(), y.data());
  LrnRef(x.data(), k.n, k.c, k.s, k.size, k.alpha, k.beta, k.bias, k.pytorch_window, ref.data());
  cmp = Compare(k.dtype, ref.data(), y.data(), k.Elems());
  ND_RETURN_IF_ERROR(dy.Free());
  return dx.Free();
}

// ---- case lists (the shapes of tests/test_cuda_kernels_cpu.py, plus the GPU's own edges) ----
struct GnShape {
  int64_t n, c, s, groups;
};
std::vector<GnShape> GnSmallShapes() {
  return {
      // tests/test_cuda_kernels_cpu.py GN_SHAPES (spatial dims flattened)
      {2, 6, 7, 3}, {3, 16, 5, 4}, {2, 32, 9, 4}, {2, 12, 1, 12}, {3, 10, 1, 1}, {0, 8, 4, 2},
      {1, 40, 33, 5}, {2, 18, 67, 3}, {1, 24, 131, 2},
      // the GPU constants: 256 threads, 4096-element split chunks, one-pass budget 48 KiB - 128 B
      {2, 20, 9, 5},       // Cg = 4: NHWC vectorized for float32, scalar for 16-bit types
      {2, 8, 1536, 2},     // Cg*S = 6144: 1.5 split chunks
      {1, 4, 6128, 2},     // Cg*S = 12256: float32 group exactly at the one-pass budget (49024 B)
      {1, 4, 12256, 2},    // Cg*S = 24512: float16/bfloat16 group exactly at the budget
      {1, 4, 6144, 2},     // Cg*S = 12288: float32 group of 48 KiB: split (the static scratch shares the 48 KiB)
      {1, 4, 12288, 2},    // Cg*S = 24576: float16/bfloat16 group of 48 KiB: split
      {2, 6, 12289, 3},    // Cg*S = 24578: split only, 7 chunks with a 2-element tail
      {1, 64, 4099, 1},    // G = 1, 262336 elements: 65 chunks (several per finalize lane)
      {70000, 4, 3, 2},    // 140000 groups: a grid wider than 65535 blocks
  };
}

struct AffineCombo {
  Affine affine;
  bool silu;
  double eps;
};

std::vector<GnCase> GnSmallCases() {
  const AffineCombo combos[] = {{Affine::kFloat32, false, 1e-5}, {Affine::kFloat32, true, 1e-5},
                                {Affine::kSame, true, 1e-5}, {Affine::kNone, false, 1e-3}};
  std::vector<GnCase> cases;
  for (const GnShape& sh : GnSmallShapes()) {
    for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
      for (Layout lay : {Layout::kNCHW, Layout::kNHWC}) {
        GnCase k;
        k.dtype = t;
        k.layout = lay;
        k.n = sh.n;
        k.c = sh.c;
        k.s = sh.s;
        k.groups = sh.groups;
        const bool fits = k.Cg() * k.s * DTypeSize(t) <= GnOnePassMaxBytes();
        for (int strategy : {kOnePass, kSplit}) {
          if (strategy == kOnePass && !fits) continue;  // refused by the launcher (CPU-layer tests check that)
          for (const AffineCombo& ac : combos) {
            k.strategy = strategy;
            k.affine = ac.affine;
            k.silu = ac.silu;
            k.eps = ac.eps;
            cases.push_back(k);
          }
        }
        k.strategy = kAuto;  // the automatic choice, checked against the 48 KiB rule
        k.affine = Affine::kFloat32;
        k.silu = false;
        k.eps = 1e-5;
        cases.push_back(k);
      }
    }
  }
  // mean 1e4, std 1 (shifted statistics), and x/y one element off 16-byte alignment (scalar path)
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
    for (Layout lay : {Layout::kNCHW, Layout::kNHWC}) {
      for (int strategy : {kOnePass, kSplit}) {
        GnCase k;
        k.dtype = t;
        k.layout = lay;
        k.strategy = strategy;
        k.n = 2, k.c = 8, k.s = 50, k.groups = 2;
        k.mean = 1e4;
        k.stddev = 1.0;
        cases.push_back(k);
        k.n = 2, k.c = 32, k.s = 9, k.groups = 4;
        k.mean = 0.5;
        k.stddev = 2.0;
        k.misalign = true;
        cases.push_back(k);
        k.n = 1, k.c = 16, k.s = 1000, k.groups = 2;  // 8000 elements: 2 chunks, one-pass in every dtype
        cases.push_back(k);
      }
    }
  }
  if (kEmulated) {  // CPU threads: small shapes only, and every 17th of those (all kinds still appear)
    cases.erase(std::remove_if(cases.begin(), cases.end(), [](const GnCase& k) {
                  return k.Elems() > 20000 || k.n * k.groups > 2000 ||
                         (k.strategy == kOnePass && k.Cg() * k.s * DTypeSize(k.dtype) > GnOnePassMaxBytes());
                }), cases.end());
    std::vector<GnCase> every;
    for (size_t i = 0; i < cases.size(); i += 17) every.push_back(cases[i]);
    cases.swap(every);
  }
  return cases;
}

std::vector<LrnCase> LrnSmallCases() {
  struct L {
    int64_t n, c, s, size;
    double alpha, beta, bias;
  };
  const L shapes[] = {
      // tests/test_cuda_kernels_cpu.py LRN_CASES
      {2, 7, 15, 5, 1e-4, 0.75, 1.0}, {3, 11, 13, 4, 2e-2, 0.6, 2.0}, {1, 5, 1, 8, 1.0, 0.5, 1.0},
      {2, 9, 1, 1, 0.5, 0.75, 1.0}, {0, 4, 3, 3, 1e-4, 0.75, 1.0}, {2, 6, 70, 2, 1e-1, 1.0, 1.5},
      // the GPU's grid: S over several 256-thread tiles, C and N past the 65535 grid caps
      {2, 6, 700, 2, 1e-1, 1.0, 1.5}, {1, 300, 5, 7, 1e-2, 0.75, 2.0}, {70000, 2, 1, 3, 1e-1, 0.75, 1.0},
      {1, 70000, 2, 5, 1e-1, 0.75, 1.0}, {2, 96, 3025, 5, 1e-4, 0.75, 2.0},
  };
  std::vector<LrnCase> cases;
  for (const L& sh : shapes) {
    for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
      for (bool pt : {false, true}) {
        LrnCase k;
        k.dtype = t;
        k.n = sh.n, k.c = sh.c, k.s = sh.s, k.size = sh.size;
        k.alpha = sh.alpha, k.beta = sh.beta, k.bias = sh.bias;
        k.pytorch_window = pt;
        cases.push_back(k);
      }
    }
  }
  if (kEmulated) {
    cases.erase(std::remove_if(cases.begin(), cases.end(),
                               [](const LrnCase& k) { return k.Elems() > 20000 || k.n > 1000 || k.c > 1000; }),
                cases.end());
  }
  return cases;
}

// The failures of a case that ran: the strategy note, a mismatch, a rerun that differs.
void FailChecks(Report& report, const std::string& spec, const Comparison& cmp, bool deterministic,
                const std::string& note) {
  if (!note.empty()) report.Fail(spec + ": " + note);
  if (!cmp.ok) report.Fail(spec + ": " + Mismatch(cmp));
  if (!deterministic) report.Fail(spec + ": two runs gave different bits");
}

// Records a step that failed; false when the CUDA context is gone with it (a sticky error).
bool ContextKept(Report& report, const std::string& spec, const Status& st) {
  report.Fail(spec + ": " + st.message());
  if (ContextAlive()) return true;
  report.context_lost = true;
  return false;
}

// Records one case; returns false when the context is gone.
bool Record(Report& report, const std::string& spec, const Status& st, const Comparison& cmp, const std::string& used,
            bool deterministic, const std::string& note, std::vector<std::string>& sink) {
  ++report.cases;
  std::string error = st.ok() ? note : st.message();
  sink.push_back(CaseJson(spec, cmp, used, deterministic, error));
  if (!st.ok()) {
    if (ContextKept(report, spec, st)) return true;
    report.Fail("the CUDA context is unusable after that error (sticky error): later checks not run");
    return false;
  }
  FailChecks(report, spec, cmp, deterministic, note);
  return true;
}

// ---- sampled verification of big tensors (large and timing cases) ----
std::vector<std::pair<int64_t, int64_t>> SampleGroups(const GnCase& k, int random) {
  std::vector<std::pair<int64_t, int64_t>> out = {{0, 0}, {k.n - 1, k.groups - 1}, {k.n - 1, 0}, {k.n / 2, k.groups / 2}};
  Rng rng(Fnv1a(k.Spec()) ^ 0x1234);
  for (int i = 0; i < random; ++i) {
    out.push_back({static_cast<int64_t>(rng.Uniform() * k.n), static_cast<int64_t>(rng.Uniform() * k.groups)});
  }
  return out;
}

Status VerifyGnSampled(const GnCase& k, const char* dx, const char* dy, const std::vector<double>& scale,
                       const std::vector<double>& bias, const std::vector<std::pair<int64_t, int64_t>>& groups,
                       cudaStream_t stream, Comparison& cmp) {
  const int64_t cg = k.Cg(), ge = cg * k.s;
  const int es = DTypeSize(k.dtype);
  std::vector<unsigned char> rx(static_cast<size_t>(ge) * es), ry(rx.size());
  std::vector<double> px(static_cast<size_t>(ge)), py(px.size()), lx(px.size()), ly(px.size()), ref(px.size());
  for (const auto& [n, g] : groups) {
    for (int which = 0; which < 2; ++which) {
      const char* src = which == 0 ? dx : dy;
      unsigned char* dst = which == 0 ? rx.data() : ry.data();
      if (k.layout == Layout::kNCHW) {
        GC_CHECK(cudaMemcpyAsync(dst, src + static_cast<size_t>((n * k.groups + g) * ge) * es, static_cast<size_t>(ge) * es,
                                 cudaMemcpyDeviceToHost, stream));
      } else {
        GC_CHECK(cudaMemcpy2DAsync(dst, static_cast<size_t>(cg) * es, src + static_cast<size_t>(n * k.s * k.c + g * cg) * es,
                                   static_cast<size_t>(k.c) * es, static_cast<size_t>(cg) * es, static_cast<size_t>(k.s),
                                   cudaMemcpyDeviceToHost, stream));
      }
    }
    GC_CHECK(cudaStreamSynchronize(stream));
    StorageToDouble(k.dtype, rx.data(), ge, px.data());
    StorageToDouble(k.dtype, ry.data(), ge, py.data());
    if (k.layout == Layout::kNCHW) {
      lx = px;
      ly = py;
    } else {  // [s][cg] -> [cg][s]
      for (int64_t s = 0; s < k.s; ++s)
        for (int64_t c = 0; c < cg; ++c) {
          lx[c * k.s + s] = px[s * cg + c];
          ly[c * k.s + s] = py[s * cg + c];
        }
    }
    GroupNormRefGroup(lx.data(), cg, k.s, scale.empty() ? nullptr : scale.data() + g * cg,
                      bias.empty() ? nullptr : bias.data() + g * cg, k.eps, k.silu, ref.data());
    CompareInto(k.dtype, ref.data(), ly.data(), ge, (n * k.groups + g) * ge, cmp);
  }
  FinishComparison(k.dtype, cmp);
  return Status::Ok();
}

// LRN: all channels of image n over spatial positions [s0, s0 + w).
Status VerifyLrnSampled(const LrnCase& k, const char* dx, const char* dy, int64_t n, int64_t s0, int64_t w,
                        cudaStream_t stream, Comparison& cmp) {
  const int es = DTypeSize(k.dtype);
  const int64_t count = k.c * w;
  std::vector<unsigned char> rx(static_cast<size_t>(count) * es), ry(rx.size());
  for (int which = 0; which < 2; ++which) {
    GC_CHECK(cudaMemcpy2DAsync(which == 0 ? rx.data() : ry.data(), static_cast<size_t>(w) * es,
                               (which == 0 ? dx : dy) + static_cast<size_t>(n * k.c * k.s + s0) * es,
                               static_cast<size_t>(k.s) * es, static_cast<size_t>(w) * es, static_cast<size_t>(k.c),
                               cudaMemcpyDeviceToHost, stream));
  }
  GC_CHECK(cudaStreamSynchronize(stream));
  std::vector<double> x(static_cast<size_t>(count)), y(x.size()), ref(x.size());
  StorageToDouble(k.dtype, rx.data(), count, x.data());
  StorageToDouble(k.dtype, ry.data(), count, y.data());
  LrnRef(x.data(), 1, k.c, w, k.size, k.alpha, k.beta, k.bias, k.pytorch_window, ref.data());
  CompareInto(k.dtype, ref.data(), y.data(), count, n * k.c * k.s + s0, cmp);
  FinishComparison(k.dtype, cmp);
  return Status::Ok();
}

void AffineHost(const GnCase& k, std::vector<double>& scale, std::vector<double>& bias) {
  Rng rng(Fnv1a(k.Spec()) ^ 0xaff1e);
  scale.clear();
  bias.clear();
  if (k.affine == Affine::kNone) return;
  for (int64_t i = 0; i < k.c; ++i) scale.push_back(Quantize(AffineType(k), 1.0 + 0.25 * rng.Normal()));
  for (int64_t i = 0; i < k.c; ++i) bias.push_back(Quantize(AffineType(k), 0.5 * rng.Normal()));
}

Status FreeMemory(size_t& free_bytes, size_t& total_bytes) {
  GC_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  return Status::Ok();
}

std::string GiB(double bytes) { return Fmt("%.2f GiB", bytes / (1024.0 * 1024.0 * 1024.0)); }

// Whether `need` bytes of device memory are free; if not, the case is reported as skipped.
Status EnoughMemory(const std::string& spec, size_t need, Report& report, bool& enough) {
  size_t free_b = 0, total_b = 0;
  ND_RETURN_IF_ERROR(FreeMemory(free_b, total_b));
  enough = need <= free_b;
  if (!enough) {
    const std::string why = spec + ": skipped, needs " + GiB(static_cast<double>(need)) + " of device memory, " +
                            GiB(static_cast<double>(free_b)) + " free";
    std::printf("  %s\n", why.c_str());
    report.skipped.push_back(JStr(why));
  }
  return Status::Ok();
}

// Elapsed milliseconds of one enqueue on the stream.
Status TimeOnce(const std::function<Status()>& launch, cudaStream_t s, double& ms) {
  cudaEvent_t a = nullptr, b = nullptr;
  GC_CHECK(cudaEventCreate(&a));
  Status st = [&]() -> Status {
    GC_CHECK(cudaEventCreate(&b));
    GC_CHECK(cudaEventRecord(a, s));
    ND_RETURN_IF_ERROR(launch());
    GC_CHECK(cudaEventRecord(b, s));
    GC_CHECK(cudaEventSynchronize(b));
    float f = 0.0f;
    GC_CHECK(cudaEventElapsedTime(&f, a, b));
    ms = f;
    return Status::Ok();
  }();
  const cudaError_t ea = cudaEventDestroy(a);
  const cudaError_t eb = b != nullptr ? cudaEventDestroy(b) : cudaSuccess;
  ND_RETURN_IF_ERROR(st);
  GC_CHECK(ea);
  GC_CHECK(eb);
  return Status::Ok();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
void Report::Fail(const std::string& line) {
  ++failed;
  if (failures.size() < 200) failures.push_back(line);
  if (failures.size() <= 30) std::printf("  FAIL %s\n", line.c_str());
  else if (failures.size() == 31) std::printf("  ... (further failures only in the JSON)\n");
}

std::string JStr(const std::string& s) {
  std::string o = "\"";
  for (unsigned char ch : s) {
    switch (ch) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\t': o += "\\t"; break;
      default:
        if (ch < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", ch);
          o += buf;
        } else {
          o += static_cast<char>(ch);
        }
    }
  }
  return o + "\"";
}
std::string JNum(double v) {
  if (!std::isfinite(v)) return "null";
  return FormatDouble(v);
}
std::string JInt(int64_t v) { return std::to_string(v); }
std::string JBool(bool v) { return v ? "true" : "false"; }
std::string JObj(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string o = "{";
  for (size_t i = 0; i < fields.size(); ++i) o += (i ? ", " : "") + JStr(fields[i].first) + ": " + fields[i].second;
  return o + "}";
}
std::string JArr(const std::vector<std::string>& items) {
  std::string o = "[";
  for (size_t i = 0; i < items.size(); ++i) o += (i ? ",\n  " : "") + items[i];
  return o + "]";
}

// ---------------------------------------------------------------------------------------------
bool CheckKernelLimits(void* stream, Report& report) {
  (void)stream;
  std::vector<KernelResources> res;
  const Status st = OnePassKernelResources(res);
  if (!st.ok()) {
    report.Fail("kernel attributes: " + st.message());
    std::printf("  the kernels cannot be loaded on this device (no code for its architecture in the binary?)\n");
    return false;
  }
  const int64_t budget = GnOnePassMaxBytes();
  std::printf("one-pass GroupNorm kernels: shared-memory budget %lld bytes (kOnePassMaxBytes)\n",
              static_cast<long long>(budget));
  for (const KernelResources& r : res) {
    const bool ok = budget <= r.max_dynamic_smem;
    std::printf("  %-42s static smem %4lld B, max dynamic smem %6lld B, %3d registers, sm_%d: %s\n", r.name.c_str(),
                static_cast<long long>(r.static_smem), static_cast<long long>(r.max_dynamic_smem), r.registers,
                r.binary_version, ok ? "budget fits" : "BUDGET TOO LARGE");
    report.limits.push_back(JObj({{"kernel", JStr(r.name)}, {"static_smem", JInt(r.static_smem)},
                                  {"max_dynamic_smem", JInt(r.max_dynamic_smem)}, {"registers", JInt(r.registers)},
                                  {"binary_version", JInt(r.binary_version)}, {"budget", JInt(budget)},
                                  {"ok", JBool(ok)}}));
    if (!ok) {
      report.Fail(r.name + ": one-pass budget " + std::to_string(budget) + " B of dynamic shared memory exceeds the " +
                  std::to_string(r.max_dynamic_smem) + " B a launch may request (static " +
                  std::to_string(r.static_smem) + " B counts against 48 KiB): groups near the budget fail to launch");
    }
  }
  return true;
}

std::vector<std::string> ListCases() {
  std::vector<std::string> out;
  for (const GnCase& k : GnSmallCases()) out.push_back(k.Spec());
  for (const LrnCase& k : LrnSmallCases()) out.push_back(k.Spec());
  return out;
}

bool RunCorrectness(const Options& opt, void* stream_v, Report& report) {
  (void)opt;
  const cudaStream_t stream = static_cast<cudaStream_t>(stream_v);
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<GnCase> gn = GnSmallCases();
  const int64_t failed_before = report.failed;
  for (const GnCase& k : gn) {
    Comparison cmp;
    std::string used, note;
    bool det = false;
    const Status st = RunGnSmall(k, stream, cmp, used, det, note);
    if (!Record(report, k.Spec(), st, cmp, used, det, note, report.correctness)) return false;
  }
  std::printf("correctness: GroupNorm %zu cases (3 dtypes x NCHW/NHWC x one-pass/split/auto x SiLU/affine), "
              "%lld failed, %.1f s\n", gn.size(), static_cast<long long>(report.failed - failed_before), Seconds(t0));
  const auto t1 = std::chrono::steady_clock::now();
  const std::vector<LrnCase> lr = LrnSmallCases();
  const int64_t failed_mid = report.failed;
  for (const LrnCase& k : lr) {
    Comparison cmp;
    bool det = false;
    const Status st = RunLrnSmall(k, stream, cmp, det);
    if (!Record(report, k.Spec(), st, cmp, "", det, "", report.correctness)) return false;
  }
  std::printf("correctness: LRN %zu cases (3 dtypes x ONNX/PyTorch windows x sizes 1..8), %lld failed, %.1f s\n",
              lr.size(), static_cast<long long>(report.failed - failed_mid), Seconds(t1));
  return true;
}

namespace {

// One > 2^31-element GroupNorm case: device-generated input, sampled groups against the reference,
// determinism by digest.
Status RunLargeGn(const GnCase& k, cudaStream_t stream, Report& report, bool& ran) {
  ran = false;
  const int es = DTypeSize(k.dtype);
  const size_t bytes = static_cast<size_t>(k.Elems()) * es;
  DevAffine aff;
  std::vector<double> scale, bias;
  AffineHost(k, scale, bias);
  GnLaunch probe = MakeLaunch(k, nullptr, nullptr, aff);
  int planned = kAuto;
  size_t ws = 0;
  ND_RETURN_IF_ERROR(GnPlan(probe, planned, ws));
  const size_t need = 2 * bytes + ws + (size_t{512} << 20);
  bool enough = false;
  ND_RETURN_IF_ERROR(EnoughMemory(k.Spec(), need, report, enough));
  if (!enough) return Status::Ok();
  ran = true;
  const auto t0 = std::chrono::steady_clock::now();
  DevBuf dx, dy, dws;
  ND_RETURN_IF_ERROR(dx.Alloc(bytes));
  ND_RETURN_IF_ERROR(dy.Alloc(bytes));
  ND_RETURN_IF_ERROR(dws.Alloc(ws));
  ND_RETURN_IF_ERROR(aff.Load(k, scale, bias, stream));
  ND_RETURN_IF_ERROR(FillDevice(dx.get(), k.dtype, k.Elems(), Fnv1a(k.Spec()), static_cast<float>(k.mean),
                                static_cast<float>(k.stddev), stream));
  const GnLaunch launch = MakeLaunch(k, dx.get(), dy.get(), aff);
  uint64_t digest[2] = {0, 0};
  double ms = 0.0;
  int used = -1;
  for (int r = 0; r < 2; ++r) {
    GC_CHECK(cudaMemsetAsync(dy.get(), 0xff, bytes, stream));
    ND_RETURN_IF_ERROR(TimeOnce([&] { return GnRun(launch, dws.get(), stream, used); }, stream, ms));
    ND_RETURN_IF_ERROR(DigestDevice(dy.get(), static_cast<int64_t>(bytes), stream, digest[r]));
  }
  const bool det = digest[0] == digest[1];
  Comparison cmp;
  const auto groups = SampleGroups(k, k.Cg() * k.s > (int64_t{1} << 20) ? 0 : 60);
  ND_RETURN_IF_ERROR(VerifyGnSampled(k, dx.get(), dy.get(), scale, bias, groups, stream, cmp));
  const int want = k.strategy == kAuto ? ExpectedAuto(k) : k.strategy;
  const std::string note = used == want ? "" : std::string("ran ") + StrategyName(used) + ", expected " + StrategyName(want);
  std::printf("  %s: %lld elements (%s per tensor), %s, %.2f ms, %zu groups checked, max err %.3e (tol %.3e), %s%s\n",
              Shape(k.n, k.c, k.s).c_str(), static_cast<long long>(k.Elems()), GiB(static_cast<double>(bytes)).c_str(),
              StrategyName(used), ms, groups.size(), cmp.max_err, cmp.tol, det ? "bit-identical rerun" : "RERUN DIFFERS",
              cmp.ok && det && note.empty() ? "" : "  <-- FAIL");
  ++report.cases;
  std::string obj = CaseJson(k.Spec(), cmp, StrategyName(used), det, note);
  obj.pop_back();
  obj += ", \"elements\": " + JInt(k.Elems()) + ", \"kernel_ms\": " + JNum(ms) + ", \"groups_checked\": " +
         JInt(static_cast<int64_t>(groups.size())) + ", \"seconds\": " + JNum(Seconds(t0)) + "}";
  report.large.push_back(obj);
  FailChecks(report, k.Spec(), cmp, det, note);
  ND_RETURN_IF_ERROR(aff.Free());
  ND_RETURN_IF_ERROR(dws.Free());
  ND_RETURN_IF_ERROR(dy.Free());
  return dx.Free();
}

Status RunLargeLrn(const LrnCase& k, cudaStream_t stream, Report& report, bool& ran) {
  ran = false;
  const int es = DTypeSize(k.dtype);
  const size_t bytes = static_cast<size_t>(k.Elems()) * es;
  const size_t need = 2 * bytes + (size_t{512} << 20);
  bool enough = false;
  ND_RETURN_IF_ERROR(EnoughMemory(k.Spec(), need, report, enough));
  if (!enough) return Status::Ok();
  ran = true;
  const auto t0 = std::chrono::steady_clock::now();
  DevBuf dx, dy;
  ND_RETURN_IF_ERROR(dx.Alloc(bytes));
  ND_RETURN_IF_ERROR(dy.Alloc(bytes));
  ND_RETURN_IF_ERROR(FillDevice(dx.get(), k.dtype, k.Elems(), Fnv1a(k.Spec()), 0.0f, static_cast<float>(k.stddev), stream));
  const LrnLaunch l = MakeLrnLaunch(k, dx.get(), dy.get());
  uint64_t digest[2] = {0, 0};
  double ms = 0.0;
  for (int r = 0; r < 2; ++r) {
    GC_CHECK(cudaMemsetAsync(dy.get(), 0xff, bytes, stream));
    ND_RETURN_IF_ERROR(TimeOnce([&] { return LrnRun(l, stream); }, stream, ms));
    ND_RETURN_IF_ERROR(DigestDevice(dy.get(), static_cast<int64_t>(bytes), stream, digest[r]));
  }
  const bool det = digest[0] == digest[1];
  Comparison cmp;
  const int64_t w = std::min<int64_t>(4096, k.s);
  const int64_t picks[][2] = {{0, 0}, {k.n - 1, k.s - w}, {k.n / 2, (k.s - w) / 2}};
  for (const auto& p : picks) ND_RETURN_IF_ERROR(VerifyLrnSampled(k, dx.get(), dy.get(), p[0], p[1], w, stream, cmp));
  std::printf("  %s: %lld elements (%s per tensor), %.2f ms, 3 slabs of %lldx%lld checked, max err %.3e (tol %.3e), %s%s\n",
              Shape(k.n, k.c, k.s).c_str(), static_cast<long long>(k.Elems()), GiB(static_cast<double>(bytes)).c_str(), ms,
              static_cast<long long>(k.c), static_cast<long long>(w), cmp.max_err, cmp.tol,
              det ? "bit-identical rerun" : "RERUN DIFFERS", cmp.ok && det ? "" : "  <-- FAIL");
  ++report.cases;
  std::string obj = CaseJson(k.Spec(), cmp, "", det, "");
  obj.pop_back();
  obj += ", \"elements\": " + JInt(k.Elems()) + ", \"kernel_ms\": " + JNum(ms) + ", \"seconds\": " + JNum(Seconds(t0)) + "}";
  report.large.push_back(obj);
  FailChecks(report, k.Spec(), cmp, det, "");
  ND_RETURN_IF_ERROR(dy.Free());
  return dx.Free();
}

GnCase LargeGn(DType t, Layout lay, int64_t n, int64_t c, int64_t s, int64_t groups, bool silu) {
  GnCase k;
  k.dtype = t;
  k.layout = lay;
  k.strategy = kAuto;
  k.n = n, k.c = c, k.s = s, k.groups = groups;
  k.silu = silu;
  k.affine = Affine::kFloat32;
  return k;
}

}  // namespace

bool RunLarge(const Options& opt, void* stream_v, Report& report) {
  const cudaStream_t stream = static_cast<cudaStream_t>(stream_v);
  std::printf("large tensors (> 2^31 = 2147483648 elements: 64-bit offsets):\n");
  std::vector<GnCase> gn = {
      // split: 32 groups of 67 M elements (16385 chunks each)
      LargeGn(DType::kFloat16, Layout::kNCHW, 1, 128, (int64_t{1} << 24) + 3, 32, false),
  };
  if (!opt.quick) {
    // one-pass, NHWC vectorized (Cg = 8), SiLU: 89480 groups of 24000 elements
    gn.push_back(LargeGn(DType::kFloat16, Layout::kNHWC, 11185, 64, 3000, 8, true));
    // one-pass float32 (48000-byte groups)
    gn.push_back(LargeGn(DType::kFloat32, Layout::kNCHW, 44740, 32, 1500, 4, false));
  }
  LrnCase lrn;
  lrn.dtype = DType::kFloat16;
  lrn.n = 4, lrn.c = 96, lrn.s = 5592406, lrn.size = 5;
  lrn.alpha = 1e-2, lrn.beta = 0.75, lrn.bias = 1.0;
  // a case that failed: recorded; false when the context is gone
  auto recorded = [&](const std::string& spec, const Status& st) {
    if (st.ok()) return true;
    ++report.cases;
    report.large.push_back(JObj({{"spec", JStr(spec)}, {"ok", "false"}, {"error", JStr(st.message())}}));
    return ContextKept(report, spec, st);
  };
  for (const GnCase& k : gn) {
    bool ran = false;
    if (!recorded(k.Spec(), RunLargeGn(k, stream, report, ran))) return false;
  }
  bool ran = false;
  return recorded(lrn.Spec(), RunLargeLrn(lrn, stream, report, ran));
}

// ---------------------------------------------------------------------------------------------
namespace {

struct Timing {
  double kernel_ms = 0.0, memcpy_ms = 0.0;
};

// Median of `reps` interleaved runs of the kernel and of a device-to-device copy of `bytes`.
Status TimeAgainstMemcpy(const std::function<Status()>& launch, void* dst, const void* src, size_t bytes, int reps,
                         cudaStream_t s, Timing& t) {
  cudaEvent_t ev[4] = {nullptr, nullptr, nullptr, nullptr};
  Status st = [&]() -> Status {
    for (cudaEvent_t& e : ev) GC_CHECK(cudaEventCreate(&e));
    for (int w = 0; w < (kEmulated ? 1 : 3); ++w) {  // warm-up
      ND_RETURN_IF_ERROR(launch());
      GC_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s));
    }
    std::vector<double> k, m;
    for (int r = 0; r < reps; ++r) {
      for (int which = 0; which < 2; ++which) {
        const bool kernel_turn = (which == 0) == (r % 2 == 0);  // alternate which goes first
        GC_CHECK(cudaEventRecord(ev[kernel_turn ? 0 : 2], s));
        if (kernel_turn) ND_RETURN_IF_ERROR(launch());
        else GC_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s));
        GC_CHECK(cudaEventRecord(ev[kernel_turn ? 1 : 3], s));
      }
      GC_CHECK(cudaEventSynchronize(ev[1]));
      GC_CHECK(cudaEventSynchronize(ev[3]));
      float a = 0.0f, b = 0.0f;
      GC_CHECK(cudaEventElapsedTime(&a, ev[0], ev[1]));
      GC_CHECK(cudaEventElapsedTime(&b, ev[2], ev[3]));
      k.push_back(a);
      m.push_back(b);
    }
    t.kernel_ms = Median(k);
    t.memcpy_ms = Median(m);
    return Status::Ok();
  }();
  for (cudaEvent_t e : ev) {
    if (e == nullptr) continue;
    const cudaError_t d = cudaEventDestroy(e);
    if (st.ok() && d != cudaSuccess) st = CudaError(d, "cudaEventDestroy(e)");
  }
  return st;
}

struct TimingRow {
  std::string kind;  // "one-pass", "split", "lrn"
  std::string spec;
  double kernel_ms, memcpy_ms, bytes;
  double goal;       // one-pass: minimum fraction of memcpy bandwidth; split/lrn: maximum time ratio
  bool met;
};

// The output digest after each of two more runs of `launch`.
Status DigestTwice(const std::function<Status()>& launch, const void* dy, size_t bytes, cudaStream_t s, uint64_t& d0,
                   uint64_t& d1) {
  ND_RETURN_IF_ERROR(launch());
  ND_RETURN_IF_ERROR(DigestDevice(dy, static_cast<int64_t>(bytes), s, d0));
  ND_RETURN_IF_ERROR(launch());
  return DigestDevice(dy, static_cast<int64_t>(bytes), s, d1);
}

// A timing row of the JSON; `used` (the strategy that ran) is left out when empty.
std::string TimingJson(const std::string& spec, const std::string& kind, size_t bytes, const Timing& t, bool met,
                       const std::string& used, const Comparison& cmp, bool det) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {"spec", JStr(spec)}, {"kind", JStr(kind)}, {"bytes", JNum(static_cast<double>(bytes))},
      {"kernel_ms", JNum(t.kernel_ms)}, {"memcpy_ms", JNum(t.memcpy_ms)},
      {"kernel_gbs", JNum(2.0 * bytes / (t.kernel_ms * 1e-3) / 1e9)},
      {"memcpy_gbs", JNum(2.0 * bytes / (t.memcpy_ms * 1e-3) / 1e9)},
      {"ratio_to_floor", JNum(t.kernel_ms / t.memcpy_ms)}, {"bandwidth_fraction", JNum(t.memcpy_ms / t.kernel_ms)},
      {"goal_met", JBool(met)}};
  if (!used.empty()) fields.push_back({"used", JStr(used)});
  fields.insert(fields.end(), {{"max_err", JNum(cmp.max_err)}, {"tol", JNum(cmp.tol)}, {"ok", JBool(cmp.ok && det)},
                               {"deterministic", JBool(det)}});
  return JObj(fields);
}

void PrintRow(const std::string& label, const std::string& shape, double bytes, const Timing& t, const std::string& goal,
              bool met) {
  const double gbs = 2.0 * bytes / (t.kernel_ms * 1e-3) / 1e9;
  const double mgbs = 2.0 * bytes / (t.memcpy_ms * 1e-3) / 1e9;
  std::printf("  %-40s %-15s %8.1f MB %8.3f ms %7.0f GB/s | memcpy %8.3f ms %7.0f GB/s | %5.2fx floor %5.0f%% bw | %-14s %s\n",
              label.c_str(), shape.c_str(), bytes / 1e6, t.kernel_ms, gbs, t.memcpy_ms, mgbs, t.kernel_ms / t.memcpy_ms,
              100.0 * t.memcpy_ms / t.kernel_ms, goal.c_str(), met ? "met" : "NOT MET");
}

}  // namespace

bool RunTiming(const Options& opt, void* stream_v, Report& report, std::string& goals_json) {
  const cudaStream_t stream = static_cast<cudaStream_t>(stream_v);
  const int reps = opt.Reps();
  std::printf("timing (median of %d interleaved runs; GB/s = 2 x tensor bytes / time, the bytes a norm must move; "
              "floor = cudaMemcpy device-to-device of the same bytes):\n", reps);
  std::vector<TimingRow> rows;
  // tensors far larger than the L2 (60 MB on H200); one-pass: groups of 8192 elements (16-32 KiB)
  // (the emulation build: small shapes of the same kinds, within the CPU layer's 4 KiB one-pass budget)
  const int64_t n_one = kEmulated ? 2 : opt.quick ? 256 : 512, n_split = kEmulated ? 1 : opt.quick ? 32 : 64;
  const int64_t n_lrn = kEmulated ? 2 : opt.quick ? 128 : 256;
  const GnShape one_shape = kEmulated ? GnShape{n_one, 32, 64, 8} : GnShape{n_one, 256, 1024, 32};
  const GnShape split_shape = kEmulated ? GnShape{n_split, 16, 600, 2} : GnShape{n_split, 512, 4096, 32};
  const int64_t lrn_s = kEmulated ? 100 : 3025, lrn_c = kEmulated ? 16 : 96;
  std::vector<GnCase> gn;
  for (int strategy : {kOnePass, kSplit}) {
    const GnShape& sh = strategy == kOnePass ? one_shape : split_shape;
    for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
      for (Layout lay : {Layout::kNCHW, Layout::kNHWC}) {
        GnCase k = LargeGn(t, lay, sh.n, sh.c, sh.s, sh.groups, false);
        k.strategy = strategy;
        gn.push_back(k);
      }
    }
    GnCase k = LargeGn(DType::kFloat16, Layout::kNCHW, sh.n, sh.c, sh.s, sh.groups, true);
    k.strategy = strategy;  // + SiLU
    gn.push_back(k);
  }
  if (kEmulated) gn = {gn[1], gn[7 + 4], gn[6]};  // one-pass fp32 NHWC, split bf16 NCHW, one-pass + SiLU
  for (const GnCase& k : gn) {
    const size_t bytes = static_cast<size_t>(k.Elems()) * DTypeSize(k.dtype);
    Timing t;
    Comparison cmp;
    uint64_t d0 = 0, d1 = 0;
    int used = -1;
    const Status st = [&]() -> Status {
      size_t free_b = 0, total_b = 0;
      ND_RETURN_IF_ERROR(FreeMemory(free_b, total_b));
      if (2 * bytes + (size_t{256} << 20) > free_b) return MakeError("not enough device memory (", GiB(static_cast<double>(free_b)), " free)");
      std::vector<double> scale, bias;
      AffineHost(k, scale, bias);
      DevAffine aff;
      DevBuf dx, dy, dws;
      ND_RETURN_IF_ERROR(dx.Alloc(bytes));
      ND_RETURN_IF_ERROR(dy.Alloc(bytes));
      ND_RETURN_IF_ERROR(aff.Load(k, scale, bias, stream));
      const GnLaunch launch = MakeLaunch(k, dx.get(), dy.get(), aff);
      int planned = kAuto;
      size_t ws = 0;
      ND_RETURN_IF_ERROR(GnPlan(launch, planned, ws));
      ND_RETURN_IF_ERROR(dws.Alloc(ws));
      ND_RETURN_IF_ERROR(FillDevice(dx.get(), k.dtype, k.Elems(), Fnv1a(k.Spec()), 0.5f, 2.0f, stream));
      ND_RETURN_IF_ERROR(TimeAgainstMemcpy([&] { return GnRun(launch, dws.get(), stream, used); }, dy.get(), dx.get(),
                                           bytes, reps, stream, t));
      ND_RETURN_IF_ERROR(DigestTwice([&] { return GnRun(launch, dws.get(), stream, used); }, dy.get(), bytes, stream,
                                     d0, d1));
      ND_RETURN_IF_ERROR(VerifyGnSampled(k, dx.get(), dy.get(), scale, bias, SampleGroups(k, 4), stream, cmp));
      ND_RETURN_IF_ERROR(aff.Free());
      ND_RETURN_IF_ERROR(dws.Free());
      ND_RETURN_IF_ERROR(dy.Free());
      return dx.Free();
    }();
    if (!st.ok()) {
      if (!ContextKept(report, k.Spec(), st)) return false;
      continue;
    }
    ++report.cases;
    const bool one = k.strategy == kOnePass;
    const double frac = t.memcpy_ms / t.kernel_ms, ratio = t.kernel_ms / t.memcpy_ms;
    const bool met = one ? frac >= 0.8 : ratio <= 1.6;
    rows.push_back({one ? "one-pass" : "split", k.Spec(), t.kernel_ms, t.memcpy_ms, static_cast<double>(bytes),
                    one ? 0.8 : 1.6, met});
    std::string label = std::string("GroupNorm ") + StrategyName(k.strategy) + " " + normdeploy::DTypeName(k.dtype) +
                        " " + LayoutName(k.layout) + (k.silu ? " +SiLU" : "");
    PrintRow(label, Shape(k.n, k.c, k.s), static_cast<double>(bytes), t, one ? "goal >= 80% bw" : "goal <= 1.6x", met);
    const bool det = d0 == d1;
    FailChecks(report, k.Spec() + " (timing shape)", cmp, det, "");
    report.timing.push_back(TimingJson(k.Spec(), rows.back().kind, bytes, t, met, StrategyName(used), cmp, det));
  }
  std::vector<LrnCase> lrns;
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
    LrnCase k;
    k.dtype = t;
    k.n = n_lrn, k.c = lrn_c, k.s = lrn_s, k.size = 5;  // AlexNet's first LRN (96 x 55x55)
    lrns.push_back(k);
  }
  {
    LrnCase k;
    k.dtype = DType::kFloat16;
    k.n = n_lrn, k.c = lrn_c, k.s = lrn_s, k.size = 4;
    k.pytorch_window = true;
    lrns.push_back(k);
  }
  if (kEmulated) lrns.resize(1);
  for (const LrnCase& k : lrns) {
    const size_t bytes = static_cast<size_t>(k.Elems()) * DTypeSize(k.dtype);
    Timing t;
    Comparison cmp;
    uint64_t d0 = 0, d1 = 0;
    const Status st = [&]() -> Status {
      DevBuf dx, dy;
      ND_RETURN_IF_ERROR(dx.Alloc(bytes));
      ND_RETURN_IF_ERROR(dy.Alloc(bytes));
      ND_RETURN_IF_ERROR(FillDevice(dx.get(), k.dtype, k.Elems(), Fnv1a(k.Spec()), 0.0f, 3.0f, stream));
      const LrnLaunch l = MakeLrnLaunch(k, dx.get(), dy.get());
      ND_RETURN_IF_ERROR(TimeAgainstMemcpy([&] { return LrnRun(l, stream); }, dy.get(), dx.get(), bytes, reps, stream, t));
      ND_RETURN_IF_ERROR(DigestTwice([&] { return LrnRun(l, stream); }, dy.get(), bytes, stream, d0, d1));
      ND_RETURN_IF_ERROR(VerifyLrnSampled(k, dx.get(), dy.get(), k.n - 1, 0, k.s, stream, cmp));
      ND_RETURN_IF_ERROR(dy.Free());
      return dx.Free();
    }();
    if (!st.ok()) {
      if (!ContextKept(report, k.Spec(), st)) return false;
      continue;
    }
    ++report.cases;
    const double ratio = t.kernel_ms / t.memcpy_ms;
    const bool met = ratio <= 2.0;
    rows.push_back({"lrn", k.Spec(), t.kernel_ms, t.memcpy_ms, static_cast<double>(bytes), 2.0, met});
    std::string label = std::string("LRN ") + normdeploy::DTypeName(k.dtype) + " size " + std::to_string(k.size) +
                        (k.pytorch_window ? " pytorch" : " onnx");
    PrintRow(label, Shape(k.n, k.c, k.s), static_cast<double>(bytes), t, "goal <= 2x", met);
    const bool det = d0 == d1;
    FailChecks(report, k.Spec() + " (timing shape)", cmp, det, "");
    report.timing.push_back(TimingJson(k.Spec(), "lrn", bytes, t, met, "", cmp, det));
  }
  // the goals, each over every timed shape of its kind
  std::vector<std::string> goals;
  const char* kinds[] = {"one-pass", "split", "lrn"};
  const char* texts[] = {"one-pass GroupNorm >= 80% of the memcpy bandwidth", "split GroupNorm <= 1.6x the memcpy time",
                         "LRN <= 2x the memcpy time"};
  std::printf("goals:\n");
  for (int i = 0; i < 3; ++i) {
    double worst = 0.0;
    bool any = false, all_met = true;
    for (const TimingRow& r : rows) {
      if (r.kind != kinds[i]) continue;
      const double v = i == 0 ? r.memcpy_ms / r.kernel_ms : r.kernel_ms / r.memcpy_ms;
      worst = !any ? v : (i == 0 ? std::min(worst, v) : std::max(worst, v));
      any = true;
      all_met = all_met && r.met;
    }
    if (!any) {
      std::printf("  %-52s not measured\n", texts[i]);
      goals.push_back(JObj({{"goal", JStr(texts[i])}, {"measured", "false"}}));
      continue;
    }
    std::printf("  %-52s %s (worst: %s)\n", texts[i], all_met ? "MET" : "NOT MET",
                i == 0 ? Fmt("%.0f%% of memcpy bandwidth", 100.0 * worst).c_str() : Fmt("%.2fx the memcpy time", worst).c_str());
    goals.push_back(JObj({{"goal", JStr(texts[i])}, {"measured", "true"}, {"met", JBool(all_met)},
                          {i == 0 ? "worst_bandwidth_fraction" : "worst_ratio_to_floor", JNum(worst)}}));
  }
  goals_json = JArr(goals);
  return true;
}

}  // namespace ndgc
