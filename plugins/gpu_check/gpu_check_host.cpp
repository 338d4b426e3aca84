// nd_gpu_check, host side (see gpu_check_host.h). Plain C++17, no CUDA.
#include "gpu_check_host.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

namespace ndgc {

const char* LayoutName(Layout l) { return l == Layout::kNHWC ? "nhwc" : "nchw"; }
const char* AffineName(Affine a) {
  switch (a) {
    case Affine::kNone: return "none";
    case Affine::kFloat32: return "float32";
    case Affine::kSame: return "same";
  }
  return "?";
}
const char* StrategyName(int s) { return s == kOnePass ? "one-pass" : s == kSplit ? "split" : "auto"; }
int DTypeSize(DType t) { return t == DType::kFloat32 ? 4 : 2; }

// ---------------------------------------------------------------------------------------------
// conversions
uint16_t FloatToHalfBits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t a = x & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN (quiet)
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520: inf
  if (a >= 0x38800000u) {                                                // normal half
    const uint32_t h = a - 0x38000000u;                                  // rebias 127 -> 15
    return static_cast<uint16_t>(sign | ((h + 0xfffu + ((h >> 13) & 1u)) >> 13));
  }
  const uint32_t e = a >> 23;
  if (e < 102) return sign;  // below 2^-25 (2^-25 itself ties to even: 0, handled below too)
  // subnormal half: value = m * 2^(e-150) = (m >> (126 - e)) units of 2^-24, rounded to even
  const uint32_t m = (a & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126 - e;  // 14..24
  const uint32_t q = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1);
  const uint32_t r = q + ((rem > half || (rem == half && (q & 1u))) ? 1u : 0u);
  return static_cast<uint16_t>(sign | r);
}

float HalfBitsToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1fu;
  const uint32_t m = h & 0x3ffu;
  uint32_t x;
  if (e == 0) {
    const float v = std::ldexp(static_cast<float>(m), -24);
    std::memcpy(&x, &v, 4);
    x |= sign;
  } else if (e == 31) {
    x = sign | 0x7f800000u | (m << 13);
  } else {
    x = sign | ((e + 112) << 23) | (m << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

uint16_t FloatToBf16Bits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet NaN
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

float Bf16BitsToFloat(uint16_t h) {
  const uint32_t x = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

void StorageToDouble(DType t, const void* raw, int64_t count, double* out) {
  if (t == DType::kFloat32) {
    const float* p = static_cast<const float*>(raw);
    for (int64_t i = 0; i < count; ++i) out[i] = p[i];
    return;
  }
  const uint16_t* p = static_cast<const uint16_t*>(raw);
  if (t == DType::kFloat16) {
    for (int64_t i = 0; i < count; ++i) out[i] = HalfBitsToFloat(p[i]);
  } else {
    for (int64_t i = 0; i < count; ++i) out[i] = Bf16BitsToFloat(p[i]);
  }
}

void DoubleToStorage(DType t, const double* in, int64_t count, void* raw) {
  if (t == DType::kFloat32) {
    float* p = static_cast<float*>(raw);
    for (int64_t i = 0; i < count; ++i) p[i] = static_cast<float>(in[i]);
    return;
  }
  uint16_t* p = static_cast<uint16_t*>(raw);
  for (int64_t i = 0; i < count; ++i) {
    const float f = static_cast<float>(in[i]);
    p[i] = t == DType::kFloat16 ? FloatToHalfBits(f) : FloatToBf16Bits(f);
  }
}

double Quantize(DType t, double v) {
  const float f = static_cast<float>(v);
  if (t == DType::kFloat16) return HalfBitsToFloat(FloatToHalfBits(f));
  if (t == DType::kBFloat16) return Bf16BitsToFloat(FloatToBf16Bits(f));
  return f;
}

// ---------------------------------------------------------------------------------------------
// references
void GroupNormRefGroup(const double* xg, int64_t cg, int64_t s, const double* scale_g, const double* bias_g,
                       double eps, bool silu, double* out) {
  const int64_t count = cg * s;
  if (count == 0) return;
  double sum = 0.0;
  for (int64_t i = 0; i < count; ++i) sum += xg[i];
  const double mean = sum / static_cast<double>(count);
  double sq = 0.0;
  for (int64_t i = 0; i < count; ++i) sq += (xg[i] - mean) * (xg[i] - mean);
  const double var = sq / static_cast<double>(count);
  const double inv = 1.0 / std::sqrt(var + eps);
  for (int64_t ch = 0; ch < cg; ++ch) {
    const double sc = scale_g != nullptr ? scale_g[ch] : 1.0;
    const double bi = bias_g != nullptr ? bias_g[ch] : 0.0;
    for (int64_t i = 0; i < s; ++i) {
      double y = (xg[ch * s + i] - mean) * inv * sc + bi;
      if (silu) y = y / (1.0 + std::exp(-y));
      out[ch * s + i] = y;
    }
  }
}

int64_t LrnBefore(int64_t size, bool pytorch_window) { return pytorch_window ? size / 2 : (size - 1) / 2; }
int64_t LrnAfter(int64_t size, bool pytorch_window) { return pytorch_window ? (size - 1) / 2 : size / 2; }

void LrnRef(const double* x, int64_t n, int64_t c, int64_t s, int64_t size, double alpha, double beta, double bias,
            bool pytorch_window, double* y) {
  const int64_t before = LrnBefore(size, pytorch_window);
  const int64_t after = LrnAfter(size, pytorch_window);
  const double k = alpha / static_cast<double>(size);
  for (int64_t in = 0; in < n; ++in) {
    const double* img = x + in * c * s;
    for (int64_t ch = 0; ch < c; ++ch) {
      const int64_t lo = std::max<int64_t>(0, ch - before);
      const int64_t hi = std::min<int64_t>(c - 1, ch + after);
      for (int64_t i = 0; i < s; ++i) {
        double sum = 0.0;
        for (int64_t cc = lo; cc <= hi; ++cc) sum += img[cc * s + i] * img[cc * s + i];
        y[(in * c + ch) * s + i] = img[ch * s + i] / std::pow(bias + k * sum, beta);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// comparison
double Tolerance(DType t, double scale) {
  switch (t) {
    case DType::kFloat32: return 32.0 * std::ldexp(1.0, -23) * scale;
    case DType::kFloat16: return 4.0 * std::ldexp(1.0, -10) * scale;
    case DType::kBFloat16: return 4.0 * std::ldexp(1.0, -7) * scale;
  }
  return 0.0;
}

void CompareInto(DType t, const double* ref, const double* actual, int64_t count, int64_t index_base,
                 Comparison& c) {
  (void)t;
  for (int64_t i = 0; i < count; ++i) {
    c.scale = std::max(c.scale, std::fabs(ref[i]));
    if (!std::isfinite(actual[i])) {
      if (c.non_finite++ == 0) c.worst = index_base + i;
      continue;
    }
    const double e = std::fabs(actual[i] - ref[i]);
    if (e > c.max_err || std::isnan(e)) {
      c.max_err = std::isnan(e) ? std::numeric_limits<double>::infinity() : e;
      if (c.non_finite == 0) c.worst = index_base + i;
    }
  }
}

void FinishComparison(DType t, Comparison& c) {
  c.tol = Tolerance(t, c.scale);
  c.ok = c.non_finite == 0 && c.max_err <= c.tol;
}

Comparison Compare(DType t, const double* ref, const double* actual, int64_t count) {
  Comparison c;
  CompareInto(t, ref, actual, count, 0, c);
  FinishComparison(t, c);
  return c;
}

// ---------------------------------------------------------------------------------------------
// generator
uint64_t Rng::Next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
double Rng::Uniform() { return static_cast<double>(Next() >> 11) * std::ldexp(1.0, -53); }
double Rng::Normal() {
  const double u1 = 1.0 - Uniform();  // (0, 1]
  const double u2 = Uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

// ---------------------------------------------------------------------------------------------
// specs
std::string FormatDouble(double v) {
  char buf[64];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof(buf), "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

std::string Shape(int64_t n, int64_t c, int64_t s) {
  std::ostringstream o;
  o << n << "x" << c << "x" << s;
  return o.str();
}

std::string GnCase::Spec() const {
  std::ostringstream o;
  o << "groupnorm:dtype=" << normdeploy::DTypeName(dtype) << ",layout=" << LayoutName(layout)
    << ",strategy=" << StrategyName(strategy) << ",n=" << n << ",c=" << c << ",s=" << s << ",groups=" << groups
    << ",eps=" << FormatDouble(eps) << ",silu=" << (silu ? 1 : 0) << ",affine=" << AffineName(affine)
    << ",mean=" << FormatDouble(mean) << ",std=" << FormatDouble(stddev) << ",misalign=" << (misalign ? 1 : 0);
  return o.str();
}

std::string LrnCase::Spec() const {
  std::ostringstream o;
  o << "lrn:dtype=" << normdeploy::DTypeName(dtype) << ",n=" << n << ",c=" << c << ",s=" << s << ",size=" << size
    << ",alpha=" << FormatDouble(alpha) << ",beta=" << FormatDouble(beta) << ",bias=" << FormatDouble(bias)
    << ",window=" << (pytorch_window ? "pytorch" : "onnx") << ",std=" << FormatDouble(stddev);
  return o.str();
}

bool ParseDType(const std::string& s, DType& t) {
  if (s == "float32") t = DType::kFloat32;
  else if (s == "float16") t = DType::kFloat16;
  else if (s == "bfloat16") t = DType::kBFloat16;
  else return false;
  return true;
}

namespace {

bool ParseInt(const std::string& s, int64_t lo, int64_t& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end == nullptr || *end != '\0' || v < lo) return false;
  out = v;
  return true;
}

bool ParseFloat(const std::string& s, double& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end == nullptr || *end != '\0' || !std::isfinite(v)) return false;
  out = v;
  return true;
}

bool ParseBool(const std::string& s, bool& out) {
  if (s == "1") out = true;
  else if (s == "0") out = false;
  else return false;
  return true;
}

}  // namespace

bool ParseSpec(const std::string& spec, bool& is_lrn, GnCase& gn, LrnCase& lrn, std::string& err) {
  const size_t colon = spec.find(':');
  const std::string op = spec.substr(0, colon);
  if (op == "groupnorm") is_lrn = false;
  else if (op == "lrn") is_lrn = true;
  else {
    err = "spec '" + spec + "': op must be 'groupnorm' or 'lrn' before the ':'";
    return false;
  }
  gn = GnCase{};
  lrn = LrnCase{};
  std::string rest = colon == std::string::npos ? "" : spec.substr(colon + 1);
  std::istringstream items(rest);
  std::string item;
  while (std::getline(items, item, ',')) {
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      err = "spec item '" + item + "' is not key=value";
      return false;
    }
    const std::string key = item.substr(0, eq), val = item.substr(eq + 1);
    bool good = true, known = true;
    if (key == "dtype") {
      good = ParseDType(val, is_lrn ? lrn.dtype : gn.dtype);
    } else if (key == "n") {
      good = ParseInt(val, 0, is_lrn ? lrn.n : gn.n);
    } else if (key == "c") {
      good = ParseInt(val, 0, is_lrn ? lrn.c : gn.c);
    } else if (key == "s") {
      good = ParseInt(val, 0, is_lrn ? lrn.s : gn.s);
    } else if (key == "std") {
      good = ParseFloat(val, is_lrn ? lrn.stddev : gn.stddev);
    } else if (!is_lrn && key == "layout") {
      if (val == "nchw") gn.layout = Layout::kNCHW;
      else if (val == "nhwc") gn.layout = Layout::kNHWC;
      else good = false;
    } else if (!is_lrn && key == "strategy") {
      if (val == "auto") gn.strategy = kAuto;
      else if (val == "one-pass") gn.strategy = kOnePass;
      else if (val == "split") gn.strategy = kSplit;
      else good = false;
    } else if (!is_lrn && key == "groups") {
      good = ParseInt(val, 1, gn.groups);
    } else if (!is_lrn && key == "eps") {
      good = ParseFloat(val, gn.eps) && gn.eps >= 0.0;
    } else if (!is_lrn && key == "silu") {
      good = ParseBool(val, gn.silu);
    } else if (!is_lrn && key == "misalign") {
      good = ParseBool(val, gn.misalign);
    } else if (!is_lrn && key == "mean") {
      good = ParseFloat(val, gn.mean);
    } else if (!is_lrn && key == "affine") {
      if (val == "none") gn.affine = Affine::kNone;
      else if (val == "float32") gn.affine = Affine::kFloat32;
      else if (val == "same") gn.affine = Affine::kSame;
      else good = false;
    } else if (is_lrn && key == "size") {
      good = ParseInt(val, 1, lrn.size);
    } else if (is_lrn && key == "alpha") {
      good = ParseFloat(val, lrn.alpha);
    } else if (is_lrn && key == "beta") {
      good = ParseFloat(val, lrn.beta);
    } else if (is_lrn && key == "bias") {
      good = ParseFloat(val, lrn.bias);
    } else if (is_lrn && key == "window") {
      if (val == "onnx") lrn.pytorch_window = false;
      else if (val == "pytorch") lrn.pytorch_window = true;
      else good = false;
    } else {
      known = false;
    }
    if (!known) {
      err = "spec key '" + key + "' is not a " + op + " field";
      return false;
    }
    if (!good) {
      err = "spec field " + key + "=" + val + " is not a valid value";
      return false;
    }
  }
  if (!is_lrn && gn.c % gn.groups != 0) {
    err = "spec: groups=" + std::to_string(gn.groups) + " does not divide c=" + std::to_string(gn.c);
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// host-only modes
namespace {

bool ReadDoubles(const std::string& path, std::vector<double>& out, std::string& err) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    err = "cannot open --in " + path;
    return false;
  }
  f.seekg(0, std::ios::end);
  const std::streamoff bytes = f.tellg();
  f.seekg(0, std::ios::beg);
  if (bytes < 0 || bytes % 8 != 0) {
    err = "--in " + path + " is not a whole number of float64 values";
    return false;
  }
  out.resize(static_cast<size_t>(bytes / 8));
  f.read(reinterpret_cast<char*>(out.data()), bytes);
  if (!f) {
    err = "cannot read --in " + path;
    return false;
  }
  return true;
}

}  // namespace

int HostReferenceMain(const std::string& spec, const std::string& in_path, const std::string& out_path) {
  bool is_lrn = false;
  GnCase gn;
  LrnCase lr;
  std::string err;
  if (!ParseSpec(spec, is_lrn, gn, lr, err)) {
    std::fprintf(stderr, "nd_gpu_check: --host-reference: %s\n", err.c_str());
    return 2;
  }
  std::vector<double> in;
  if (!ReadDoubles(in_path, in, err)) {
    std::fprintf(stderr, "nd_gpu_check: %s\n", err.c_str());
    return 1;
  }
  const int64_t elems = is_lrn ? lr.Elems() : gn.Elems();
  const bool affine = !is_lrn && gn.affine != Affine::kNone;
  const int64_t want = elems + (affine ? 2 * gn.c : 0);
  if (static_cast<int64_t>(in.size()) != want) {
    std::fprintf(stderr, "nd_gpu_check: --in holds %zu float64 values, the spec needs %lld\n", in.size(),
                 static_cast<long long>(want));
    return 2;
  }
  const DType t = is_lrn ? lr.dtype : gn.dtype;
  std::vector<double> q(in.size());
  for (int64_t i = 0; i < elems; ++i) q[i] = Quantize(t, in[i]);
  if (affine) {
    const DType at = gn.affine == Affine::kFloat32 ? DType::kFloat32 : t;
    for (int64_t i = elems; i < want; ++i) q[i] = Quantize(at, in[i]);
  }
  std::vector<double> y(static_cast<size_t>(elems));
  if (is_lrn) {
    LrnRef(q.data(), lr.n, lr.c, lr.s, lr.size, lr.alpha, lr.beta, lr.bias, lr.pytorch_window, y.data());
  } else {
    const int64_t cg = gn.Cg(), ge = cg * gn.s;
    const double* scale = affine ? q.data() + elems : nullptr;
    const double* bias = affine ? q.data() + elems + gn.c : nullptr;
    for (int64_t n = 0; n < gn.n; ++n) {
      for (int64_t g = 0; g < gn.groups; ++g) {
        const int64_t off = (n * gn.groups + g) * ge;  // NCHW: a group is contiguous
        GroupNormRefGroup(q.data() + off, cg, gn.s, scale ? scale + g * cg : nullptr, bias ? bias + g * cg : nullptr,
                          gn.eps, gn.silu, y.data() + off);
      }
    }
  }
  std::ofstream f(out_path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(q.data()), static_cast<std::streamsize>(q.size() * 8));
  f.write(reinterpret_cast<const char*>(y.data()), static_cast<std::streamsize>(y.size() * 8));
  if (!f) {
    std::fprintf(stderr, "nd_gpu_check: cannot write --out %s\n", out_path.c_str());
    return 1;
  }
  return 0;
}

int SelfTestHostMain() {
  int failures = 0;
  auto check = [&](bool ok, const std::string& what) {
    std::printf("%s  %s\n", ok ? "PASS" : "FAIL", what.c_str());
    if (!ok) ++failures;
  };
  // the comparison: a reference-exact output passes, one element off by 2x the tolerance fails,
  // a NaN fails, and the tolerance follows the dtype and the scale
  std::vector<double> ref = {0.5, -3.0, 10.0, 2.0};
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
    const std::string name = normdeploy::DTypeName(t);
    std::vector<double> act = ref;
    check(Compare(t, ref.data(), act.data(), 4).ok, "compare " + name + ": exact output passes");
    act[1] += 2.0 * Tolerance(t, 10.0);
    const Comparison bad = Compare(t, ref.data(), act.data(), 4);
    check(!bad.ok && bad.worst == 1, "compare " + name + ": one element 2x the tolerance off fails at index 1");
    act = ref;
    act[1] += 0.5 * Tolerance(t, 10.0);
    check(Compare(t, ref.data(), act.data(), 4).ok, "compare " + name + ": half the tolerance off passes");
    act = ref;
    act[3] = std::nan("");
    const Comparison nan = Compare(t, ref.data(), act.data(), 4);
    check(!nan.ok && nan.non_finite == 1 && nan.worst == 3, "compare " + name + ": a NaN output fails");
  }
  // the generator is deterministic and not constant
  Rng a(42), b(42);
  bool same = true, varied = false;
  const uint64_t first = a.Next();
  b.Next();
  for (int i = 0; i < 1000; ++i) {
    const uint64_t va = a.Next();
    same = same && va == b.Next();
    varied = varied || va != first;
  }
  check(same && varied, "generator: same seed, same sequence");
  // every float16 / bfloat16 bit pattern (finite) survives float and back
  bool rt_half = true, rt_bf16 = true;
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    const uint16_t b16 = static_cast<uint16_t>(h);
    if ((h & 0x7c00u) != 0x7c00u) rt_half = rt_half && FloatToHalfBits(HalfBitsToFloat(b16)) == b16;
    if ((h & 0x7f80u) != 0x7f80u) rt_bf16 = rt_bf16 && FloatToBf16Bits(Bf16BitsToFloat(b16)) == b16;
  }
  check(rt_half, "float16: every finite bit pattern round-trips through float");
  check(rt_bf16, "bfloat16: every finite bit pattern round-trips through float");
  // a GroupNorm group whose answer is known by hand: x = {1, 3}: mean 2, var 1, y = {-1, 1}/sqrt(1+eps)
  const double x2[2] = {1.0, 3.0};
  double y2[2];
  GroupNormRefGroup(x2, 1, 2, nullptr, nullptr, 0.0, false, y2);
  check(y2[0] == -1.0 && y2[1] == 1.0, "GroupNorm reference: {1, 3} -> {-1, 1}");
  // LRN with size 1, alpha = size, beta = 1, bias = 0: y = x / x^2 = 1 / x
  const double xl[2] = {2.0, 4.0};
  double yl[2];
  LrnRef(xl, 1, 1, 2, 1, 1.0, 1.0, 0.0, false, yl);
  check(yl[0] == 0.5 && yl[1] == 0.25, "LRN reference: size 1, alpha 1, beta 1, bias 0 -> 1/x");
  std::printf("self-test-host: %d failure(s)\n", failures);
  return failures == 0 ? 0 : 1;
}

}  // namespace ndgc
