// nd_gpu_check: runs the project's GroupNorm and LRN CUDA kernels on a GPU against float64 host
// references, checks that reruns are bit-identical, times each kernel against a device-to-device
// cudaMemcpy of the same bytes, and writes JSON. Built by scripts/gpu_check.sh (make gpu-check)
// for one architecture with the CUDA runtime linked statically, so the binary can be carried to a
// machine with a GPU and nothing else. README.md, "GPU check", says how to run it.
//
// Exit codes: 0 every check passed, 1 a check failed, 2 usage error, 3 no CUDA device.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "gpu_check_cuda.h"
#include "gpu_check_host.h"
#include "gpu_check_run.h"

#ifndef ND_GPU_CHECK_ARCH
#define ND_GPU_CHECK_ARCH "unknown"
#endif

namespace {

using namespace ndgc;

constexpr const char* kUsage =
    "usage: nd_gpu_check [--json PATH] [--quick] [--reps N] [--device I]\n"
    "                    [--skip-correctness] [--skip-large] [--skip-timing]\n"
    "       nd_gpu_check --host-reference SPEC --in X.f64 --out Y.f64\n"
    "       nd_gpu_check --self-test-host\n"
    "       nd_gpu_check --list-cases\n"
    "       nd_gpu_check --help\n"
    "exit status: 0 all checks passed, 1 a check failed, 2 usage error, 3 no CUDA device\n";

constexpr int kExitUsage = 2;
constexpr int kExitNoDevice = 3;

int UsageError(const std::string& why) {
  std::fprintf(stderr, "nd_gpu_check: %s\n%s", why.c_str(), kUsage);
  return kExitUsage;
}

bool ParseCount(const char* s, int lo, int hi, int& out) {
  char* end = nullptr;
  const long v = std::strtol(s, &end, 10);
  if (end == s || *end != '\0' || v < lo || v > hi) return false;
  out = static_cast<int>(v);
  return true;
}

std::string VersionText(int v) {
  if (v <= 0) return "none";
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

bool WriteJson(const std::string& path, const std::string& text) {
  if (path.empty()) return true;
  std::ofstream f(path);
  f << text << "\n";
  f.close();
  if (!f) {
    std::fprintf(stderr, "nd_gpu_check: cannot write --json %s\n", path.c_str());
    return false;
  }
  std::printf("JSON written to %s\n", path.c_str());
  return true;
}

std::string BuildInfoJson(int runtime, int driver) {
  return JObj({{"built_for", JStr(std::string("sm_") + ND_GPU_CHECK_ARCH)},
               {"cuda_runtime", JStr(VersionText(runtime))},
               {"cuda_driver", JStr(VersionText(driver))}});
}

// The no-device path: a clear message, the JSON saying so, exit 3.
int NoDevice(const Options& opt, const std::string& reason, int runtime, int driver) {
  std::fprintf(stderr, "nd_gpu_check: no CUDA device: %s\n", reason.c_str());
  std::printf("nd_gpu_check (built for sm_%s, CUDA runtime %s): no CUDA device: %s\n", ND_GPU_CHECK_ARCH,
              VersionText(runtime).c_str(), reason.c_str());
  const std::string json = JObj({{"tool", JStr("nd_gpu_check")}, {"status", JStr("no_cuda_device")},
                                 {"reason", JStr(reason)}, {"build", BuildInfoJson(runtime, driver)}});
  if (!WriteJson(opt.json_path, json)) return 1;
  return kExitNoDevice;
}

int RunOnDevice(const Options& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  int runtime = 0, driver = 0;
  // cudaRuntimeGetVersion needs no driver; cudaDriverGetVersion reports 0 when none is installed
  const cudaError_t rv = cudaRuntimeGetVersion(&runtime);
  const cudaError_t dv = cudaDriverGetVersion(&driver);
  if (rv != cudaSuccess) runtime = 0;
  if (dv != cudaSuccess) driver = 0;
  int count = 0;
  const cudaError_t ce = cudaGetDeviceCount(&count);
  if (ce != cudaSuccess) {
    std::string reason = std::string("cudaGetDeviceCount failed: ") + cudaGetErrorName(ce) + " (" +
                         cudaGetErrorString(ce) + ")";
    if (driver == 0) reason += "; no CUDA driver is installed (cudaDriverGetVersion reports none)";
    else if (driver < runtime) reason += "; the driver supports CUDA " + VersionText(driver) + ", this binary needs " +
                                         VersionText(runtime) + " (rebuild with an older nvcc: NVCC=... scripts/gpu_check.sh)";
    return NoDevice(opt, reason, runtime, driver);
  }
  if (count == 0) return NoDevice(opt, "cudaGetDeviceCount reports 0 devices", runtime, driver);
  if (opt.device >= count) {
    return UsageError("--device " + std::to_string(opt.device) + ": only " + std::to_string(count) +
                      " CUDA device(s) are visible");
  }

  std::vector<std::string> fatal;
  auto check = [&](cudaError_t e, const char* what) {
    if (e != cudaSuccess) fatal.push_back(std::string(what) + " failed: " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
    return e == cudaSuccess;
  };
  cudaDeviceProp prop{};
  size_t free_b = 0, total_b = 0;
  cudaStream_t stream = nullptr;
  const bool ready = check(cudaSetDevice(opt.device), "cudaSetDevice") &&
                     check(cudaGetDeviceProperties(&prop, opt.device), "cudaGetDeviceProperties") &&
                     check(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo") &&
                     check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  const int cc = prop.major * 10 + prop.minor;
  std::printf("nd_gpu_check: device %d of %d: %s, sm_%d, %d SMs, L2 %.0f MB, %.1f GiB (%.1f GiB free); "
              "binary built for sm_%s; CUDA runtime %s, driver %s; mode %s\n",
              opt.device, count, prop.name, cc, prop.multiProcessorCount, prop.l2CacheSize / 1e6,
              total_b / 1073741824.0, free_b / 1073741824.0, ND_GPU_CHECK_ARCH, VersionText(runtime).c_str(),
              VersionText(driver).c_str(), opt.quick ? "quick" : "full");
  Report report;
  std::string goals = "[]";
  if (!ready) {
    for (const std::string& f : fatal) report.Fail(f);
  } else {
    if (cc > 0 && std::to_string(cc) != ND_GPU_CHECK_ARCH) {
      std::printf("note: the device is sm_%d, the binary holds sm_%s code and its PTX: the driver compiles the PTX "
                  "(newer GPU) or the kernels cannot load (older GPU); rebuild with scripts/gpu_check.sh %d\n",
                  cc, ND_GPU_CHECK_ARCH, cc);
    }
    bool alive = CheckKernelLimits(stream, report);
    if (alive && opt.correctness) alive = RunCorrectness(opt, stream, report);
    if (alive && opt.large) alive = RunLarge(opt, stream, report);
    if (alive && opt.timing) alive = RunTiming(opt, stream, report, goals);
    if (!alive && !report.context_lost) report.context_lost = true;
    if (stream != nullptr) check(cudaStreamDestroy(stream), "cudaStreamDestroy");
    for (size_t i = 0; i < fatal.size(); ++i) report.Fail(fatal[i]);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const bool pass = report.failed == 0 && !report.context_lost;
  std::printf("%s: %lld checks, %lld failed%s, %.1f s\n", pass ? "PASS" : "FAIL", static_cast<long long>(report.cases),
              static_cast<long long>(report.failed), report.context_lost ? " (stopped early: the CUDA context or the kernels became unusable, see the first failure)" : "",
              secs);
  std::vector<std::string> failures;
  for (const std::string& f : report.failures) failures.push_back(JStr(f));
  const std::string json = JObj({
      {"tool", JStr("nd_gpu_check")},
      {"status", JStr(pass ? "pass" : "fail")},
      {"mode", JStr(opt.quick ? "quick" : "full")},
      {"build", BuildInfoJson(runtime, driver)},
      {"device", JObj({{"index", JInt(opt.device)}, {"name", JStr(prop.name)}, {"sm", JInt(cc)},
                       {"multiprocessors", JInt(prop.multiProcessorCount)}, {"l2_bytes", JInt(prop.l2CacheSize)},
                       {"memory_bytes", JNum(static_cast<double>(total_b))}, {"free_bytes", JNum(static_cast<double>(free_b))}})},
      {"checks", JInt(report.cases)},
      {"failed", JInt(report.failed)},
      {"context_lost", JBool(report.context_lost)},
      {"seconds", JNum(secs)},
      {"failures", JArr(failures)},
      {"skipped", JArr(report.skipped)},
      {"goals", goals},
      {"timing", JArr(report.timing)},
      {"large", JArr(report.large)},
      {"kernel_limits", JArr(report.limits)},
      {"correctness", JArr(report.correctness)},
  });
  if (!WriteJson(opt.json_path, json)) return 1;
  return pass ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  Options opt;
  std::string host_ref, in_path, out_path;
  bool self_test = false, list_cases = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= argc || std::strncmp(argv[i + 1], "--", 2) == 0) return false;
      out = argv[++i];
      return true;
    };
    std::string v;
    if (a == "--help" || a == "-h") {
      std::printf("%s", kUsage);
      return 0;
    } else if (a == "--json") {
      if (!value(opt.json_path)) return UsageError("--json needs a file path");
    } else if (a == "--quick") {
      opt.quick = true;
    } else if (a == "--reps") {
      if (!value(v) || !ParseCount(v.c_str(), 1, 1000, opt.reps)) return UsageError("--reps needs an integer in 1..1000");
    } else if (a == "--device") {
      if (!value(v) || !ParseCount(v.c_str(), 0, 1023, opt.device)) return UsageError("--device needs a device index >= 0");
    } else if (a == "--skip-correctness") {
      opt.correctness = false;
    } else if (a == "--skip-large") {
      opt.large = false;
    } else if (a == "--skip-timing") {
      opt.timing = false;
    } else if (a == "--host-reference") {
      if (!value(host_ref)) return UsageError("--host-reference needs a case spec (groupnorm:... or lrn:...)");
    } else if (a == "--in") {
      if (!value(in_path)) return UsageError("--in needs a file path");
    } else if (a == "--out") {
      if (!value(out_path)) return UsageError("--out needs a file path");
    } else if (a == "--self-test-host") {
      self_test = true;
    } else if (a == "--list-cases") {
      list_cases = true;
    } else {
      return UsageError("unknown argument '" + a + "'");
    }
  }
  if (self_test) return SelfTestHostMain();
  if (list_cases) {  // the correctness cases, one spec a line (no GPU needed)
    const std::vector<std::string> specs = ListCases();
    for (const std::string& s : specs) std::printf("%s\n", s.c_str());
    std::printf("%zu cases\n", specs.size());
    return 0;
  }
  if (!host_ref.empty()) {
    if (in_path.empty() || out_path.empty()) return UsageError("--host-reference needs --in and --out");
    return HostReferenceMain(host_ref, in_path, out_path);
  }
  if (!in_path.empty() || !out_path.empty()) return UsageError("--in/--out go with --host-reference");
  return RunOnDevice(opt);
}
