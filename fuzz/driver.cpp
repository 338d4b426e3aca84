// normdeploy's coverage-guided fuzz driver for GCC (no libFuzzer needed).
//
// The code under test is compiled with -fsanitize-coverage=trace-pc (GCC then calls
// __sanitizer_cov_trace_pc() in every basic block) and -fsanitize=address,undefined. This file is
// compiled WITHOUT either: it implements the callback (hashed edges into a 64 KiB map of
// AFL-style bucketed hit counts), keeps the inputs that reach new (edge, bucket) pairs, mutates
// them, and turns sanitizer reports, aborts, deadly signals, leaks and timeouts into crash files.
// Targets define the libFuzzer entry point, so the same targets also build with clang's
// -fsanitize=fuzzer (see fuzz/README.md):
//
//   extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
//   extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv);  // optional
//
// Usage: <target> [-flag=value ...] [corpus_dir_or_file ...]   (-help=1 lists the flags)
//   directories  seed corpora: every file is run, then the fuzzing loop mutates them;
//   files only   replay: each file is run once, exit status 0 when none crashed.
// The last line on stdout is `stats: {json}` (runs, exec/s, corpus size, coverage, result).
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_set>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

// Sanitizer runtime entry points, weak so the driver also links without sanitizers.
extern "C" {
__attribute__((weak)) void __sanitizer_set_death_callback(void (*callback)(void));
__attribute__((weak)) void __sanitizer_print_stack_trace(void);
__attribute__((weak)) int __lsan_do_recoverable_leak_check(void);
__attribute__((weak)) int __sanitizer_install_malloc_and_free_hooks(
    void (*malloc_hook)(const volatile void*, size_t), void (*free_hook)(const volatile void*));
}

namespace {

// ---- coverage map ---------------------------------------------------------------------------

constexpr size_t kMapSize = size_t{1} << 16;
uint8_t g_map[kMapSize];        // hit counts of the current run (saturating at 255)
uint8_t g_virgin[kMapSize];     // bucket bits ever seen per cell (fuzzing feedback)
volatile bool g_tracing = false;  // only the target's own execution counts
__thread uintptr_t g_prev_loc = 0;

// ---- comparison operands seen by the sanitizers' strcmp/memcmp interceptors (auto-dictionary) --

constexpr size_t kTorcSlots = 64;
constexpr size_t kTorcMaxLen = 32;
struct TorcEntry {
  uint8_t len = 0;
  uint8_t bytes[kTorcMaxLen] = {};
};
TorcEntry g_torc[kTorcSlots];
size_t g_torc_next = 0;

void RecordOperand(const void* p, size_t n) {
  if (n == 0 || n > kTorcMaxLen) return;
  TorcEntry& e = g_torc[g_torc_next++ % kTorcSlots];
  e.len = static_cast<uint8_t>(n);
  std::memcpy(e.bytes, p, n);
}

// ---- per-run allocation balance (leak candidates) ---------------------------------------------

volatile size_t g_mallocs = 0;
volatile size_t g_frees = 0;

void MallocHook(const volatile void*, size_t) {
  if (g_tracing) g_mallocs = g_mallocs + 1;
}
void FreeHook(const volatile void*) {
  if (g_tracing) g_frees = g_frees + 1;
}

}  // namespace

extern "C" {

// GCC -fsanitize-coverage=trace-pc: called at the start of every instrumented basic block.
// Edge = hash(previous block) ^ hash(this block), as AFL does.
void __sanitizer_cov_trace_pc(void) {
  if (!g_tracing) return;
  const uintptr_t pc = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
  const uintptr_t cur = (static_cast<uint64_t>(pc) * UINT64_C(0x9E3779B97F4A7C15)) >> 48;
  uint8_t& cell = g_map[(cur ^ g_prev_loc) & (kMapSize - 1)];
  if (cell != 255) ++cell;
  g_prev_loc = cur >> 1;
}

// Called by the sanitizer runtimes' interceptors after every strcmp/strncmp/memcmp: operands of
// comparisons the target makes become mutation tokens.
void __sanitizer_weak_hook_strcmp(void*, const char* s1, const char* s2, int result) {
  if (!g_tracing || result == 0) return;
  RecordOperand(s1, strnlen(s1, kTorcMaxLen + 1));
  RecordOperand(s2, strnlen(s2, kTorcMaxLen + 1));
}
void __sanitizer_weak_hook_strncmp(void*, const char* s1, const char* s2, size_t n, int result) {
  if (!g_tracing || result == 0) return;
  RecordOperand(s1, strnlen(s1, std::min(n, kTorcMaxLen + 1)));
  RecordOperand(s2, strnlen(s2, std::min(n, kTorcMaxLen + 1)));
}
void __sanitizer_weak_hook_memcmp(void*, const void* s1, const void* s2, size_t n, int result) {
  if (!g_tracing || result == 0) return;
  RecordOperand(s1, n);
  RecordOperand(s2, n);
}

// Sanitizer defaults (the environment's ASAN_OPTIONS / UBSAN_OPTIONS still win): UBSan aborts
// (abort_on_error, so a debugger stops there) and ASan reports that abort with a stack trace
// (handle_abort); leaks are checked per input (see RunOne). Every finding reaches DeathCallback.
const char* __asan_default_options() {
  return "handle_abort=1:detect_leaks=1:max_allocation_size_mb=4096:allocator_may_return_null=0";
}
const char* __ubsan_default_options() { return "abort_on_error=1:print_stacktrace=1:halt_on_error=1"; }

}  // extern "C"

namespace {

// ---- options ----------------------------------------------------------------------------------

struct Options {
  int64_t runs = -1;             // fuzzing executions after the seeds (-1: unbounded, 0: seeds only)
  double max_total_time = 0;     // seconds (0: unbounded)
  uint64_t seed = 0;             // 0: from the clock
  size_t max_len = 0;            // 0: max(4096, largest seed)
  int timeout = 20;              // seconds per input
  std::string artifact_prefix = "./";
  std::string output_corpus;     // new interesting inputs go here (nothing written when empty)
  std::string dict;
  bool use_coverage = true;      // false: blind random mutation of the seeds (for comparison)
  bool merge = false;
  int64_t merge_max = -1;        // -merge=1: most inputs to add (-1: all that add edges)
  bool detect_leaks = true;
  bool print_new = true;
  bool help = false;
  std::vector<std::string> inputs;
};

Options g_opt;

void Usage() {
  std::fprintf(stderr,
      "usage: %s [-flag=value ...] [corpus_dir|file ...]\n"
      "  -runs=N            fuzzing executions after the seeds (default unbounded; 0 = only run the seeds)\n"
      "  -max_total_time=S  stop after S seconds (default unbounded)\n"
      "  -seed=N            random seed (default: from the clock; printed)\n"
      "  -max_len=N         longest input the mutator makes (default max(4096, largest seed))\n"
      "  -timeout=S         one input running longer is a finding (default 20)\n"
      "  -artifact_prefix=P crash/leak/timeout files are written as P<kind>-<hash> (default ./)\n"
      "  -output_corpus=D   write new interesting inputs into D (default: write nothing)\n"
      "  -dict=F            dictionary, libFuzzer/AFL format (name=\"value\" lines, \\xNN escapes)\n"
      "  -use_coverage=0    blind mode: never keep mutants (shows what coverage guidance buys)\n"
      "  -detect_leaks=0    no per-input LeakSanitizer check\n"
      "  -merge=1 OUT IN..  add to OUT the inputs of IN.. that reach edges OUT's do not (greedy, largest gain first)\n"
      "  -merge_max=N       with -merge=1: add at most N inputs\n"
      "  -print_new=0       do not print a line per new interesting input\n"
      "files only (no directory): run each file once (reproduce a crash).\n",
      "fuzz_target");
}

bool ParseFlag(const char* arg) {
  const char* eq = std::strchr(arg, '=');
  if (arg[0] != '-' || eq == nullptr) return false;
  const std::string name(arg + 1, eq);
  const char* v = eq + 1;
  if (name == "runs") g_opt.runs = std::strtoll(v, nullptr, 10);
  else if (name == "max_total_time") g_opt.max_total_time = std::strtod(v, nullptr);
  else if (name == "seed") g_opt.seed = std::strtoull(v, nullptr, 10);
  else if (name == "max_len") g_opt.max_len = std::strtoull(v, nullptr, 10);
  else if (name == "timeout") g_opt.timeout = std::atoi(v);
  else if (name == "artifact_prefix") g_opt.artifact_prefix = v;
  else if (name == "output_corpus") g_opt.output_corpus = v;
  else if (name == "dict") g_opt.dict = v;
  else if (name == "use_coverage") g_opt.use_coverage = std::atoi(v) != 0;
  else if (name == "merge") g_opt.merge = std::atoi(v) != 0;
  else if (name == "merge_max") g_opt.merge_max = std::strtoll(v, nullptr, 10);
  else if (name == "detect_leaks") g_opt.detect_leaks = std::atoi(v) != 0;
  else if (name == "print_new") g_opt.print_new = std::atoi(v) != 0;
  else if (name == "help") g_opt.help = std::atoi(v) != 0;
  else std::fprintf(stderr, "WARNING: unknown flag -%s (ignored)\n", name.c_str());
  return true;
}

// ---- random numbers (splitmix64) ----------------------------------------------------------------

uint64_t g_rng = 0;
uint64_t Rand() {
  uint64_t z = (g_rng += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}
size_t Below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(Rand() % n); }
bool OneIn(size_t n) { return Below(n) == 0; }

// ---- hashing (file names) ---------------------------------------------------------------------

uint64_t Hash64(const uint8_t* p, size_t n) {
  uint64_t h = UINT64_C(0xcbf29ce484222325) ^ n;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= UINT64_C(0x100000001b3);
  }
  h ^= h >> 33;
  h *= UINT64_C(0xff51afd7ed558ccd);
  h ^= h >> 33;
  return h;
}

// Async-signal-safe: hex digits of h into out[16].
void Hex16(uint64_t h, char* out) {
  static const char kDigits[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    out[i] = kDigits[h & 15];
    h >>= 4;
  }
}

// ---- the input being run (for crash files) ------------------------------------------------------

const uint8_t* volatile g_cur_data = nullptr;
volatile size_t g_cur_size = 0;
const char* volatile g_cur_name = nullptr;  // replayed file, when one is being run
volatile int g_run_ticks = 0;                // seconds the current input has been running
volatile sig_atomic_t g_in_run = 0;
volatile sig_atomic_t g_stop = 0;
volatile sig_atomic_t g_crash_written = 0;

// Stats (read by the death callback: plain globals).
uint64_t g_total_runs = 0;
uint64_t g_seed_runs = 0;
size_t g_seed_cov = 0;
size_t g_seed_ft = 0;
size_t g_new_inputs = 0;
double g_start_time = 0;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void WriteAll(int fd, const char* s, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, s, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    s += w;
    n -= static_cast<size_t>(w);
  }
}
void WriteStr(int fd, const char* s) { WriteAll(fd, s, std::strlen(s)); }

size_t CountCoverage(size_t* features);

// Writes the running input as <prefix><kind>-<hash>; prints where; async-signal-safe.
void WriteArtifact(const char* kind, char* path_out, size_t path_cap) {
  const uint8_t* data = g_cur_data;
  const size_t size = g_cur_size;
  char hex[17];
  Hex16(Hash64(data, data == nullptr ? 0 : size), hex);
  hex[16] = '\0';
  size_t n = 0;
  auto append = [&](const char* s) {
    while (*s != '\0' && n + 1 < path_cap) path_out[n++] = *s++;
    path_out[n] = '\0';
  };
  append(g_opt.artifact_prefix.c_str());
  append(kind);
  append("-");
  append(hex);
  const int fd = ::open(path_out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    WriteStr(2, "==fuzz driver== could not write the crash input to ");
    WriteStr(2, path_out);
    WriteStr(2, "\n");
    path_out[0] = '\0';
    return;
  }
  if (data != nullptr) WriteAll(fd, reinterpret_cast<const char*>(data), size);
  ::close(fd);
  WriteStr(2, "==fuzz driver== artifact_prefix='");
  WriteStr(2, g_opt.artifact_prefix.c_str());
  WriteStr(2, "'; Test unit written to ");
  WriteStr(2, path_out);
  WriteStr(2, "\n");
  if (g_cur_name != nullptr) {
    WriteStr(2, "==fuzz driver== while running ");
    WriteStr(2, g_cur_name);
    WriteStr(2, "\n");
  }
}

void PrintFinalStats(const char* result, const char* artifact);

// A finding: write the input, print the stats line. Not async-signal-safe in the stats printing
// (snprintf), which is acceptable this close to _exit.
void OnFinding(const char* kind, const char* result) {
  if (g_crash_written) return;
  g_crash_written = 1;
  g_tracing = false;
  char path[4096];
  WriteArtifact(kind, path, sizeof(path));
  PrintFinalStats(result, path);
}

void DeathCallback() {
  if (!g_in_run) return;  // the driver itself died: nothing to attribute to an input
  OnFinding("crash", "crash");
}

void DeadlySignal(int sig) {
  // Reached only where no sanitizer handles the signal (ASan handles SEGV/BUS/FPE/ABRT itself).
  WriteStr(2, "==fuzz driver== deadly signal ");
  char num[8];
  int n = 0, s = sig;
  char rev[8];
  do { rev[n++] = static_cast<char>('0' + s % 10); s /= 10; } while (s > 0 && n < 7);
  for (int i = 0; i < n; ++i) num[i] = rev[n - 1 - i];
  num[n] = '\0';
  WriteStr(2, num);
  WriteStr(2, "\n");
  if (__sanitizer_print_stack_trace) __sanitizer_print_stack_trace();
  if (g_in_run) OnFinding("crash", "crash");
  _exit(1);
}

void AlarmHandler(int) {
  if (!g_in_run || g_opt.timeout <= 0) return;
  g_run_ticks = g_run_ticks + 1;
  if (g_run_ticks <= g_opt.timeout) return;
  WriteStr(2, "==fuzz driver== ERROR: timeout: one input ran longer than -timeout seconds\n");
  if (__sanitizer_print_stack_trace) __sanitizer_print_stack_trace();
  OnFinding("timeout", "timeout");
  _exit(70);
}

// The target called exit(): libFuzzer treats that as a finding, and so do we.
void OnExit() {
  if (!g_in_run) return;
  WriteStr(2, "==fuzz driver== ERROR: the target called exit() while running an input\n");
  OnFinding("crash", "exit");
  _exit(1);
}

void StopHandler(int) {
  if (g_stop) _exit(130);  // second interrupt: leave now
  g_stop = 1;
}

// Each sanitizer runtime library (GCC: libasan and libubsan are separate, each with its own copy
// of the common runtime) keeps its own death callback: register ours in every loaded one, so a
// finding writes its crash file whatever ASAN_OPTIONS / UBSAN_OPTIONS say.
int RegisterDeathCallback(dl_phdr_info* info, size_t, void*) {
  if (info->dlpi_name == nullptr || info->dlpi_name[0] == '\0') return 0;
  void* lib = dlopen(info->dlpi_name, RTLD_NOW | RTLD_NOLOAD);
  if (lib == nullptr) return 0;
  using SetCallback = void (*)(void (*)(void));
  if (auto set = reinterpret_cast<SetCallback>(dlsym(lib, "__sanitizer_set_death_callback"))) set(DeathCallback);
  dlclose(lib);
  return 0;
}

void InstallHandlers() {
  if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(DeathCallback);  // static runtimes
  dl_iterate_phdr(RegisterDeathCallback, nullptr);
  std::atexit(OnExit);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP}) {
    struct sigaction old {};
    sigaction(sig, nullptr, &old);
    if (old.sa_handler != SIG_DFL) continue;  // a sanitizer handles it (and calls DeathCallback)
    struct sigaction sa {};
    sa.sa_handler = DeadlySignal;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, nullptr);
  }
  struct sigaction sa {};
  sa.sa_handler = AlarmHandler;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, nullptr);
  sa.sa_handler = StopHandler;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  itimerval tv{};
  tv.it_interval.tv_sec = 1;
  tv.it_value.tv_sec = 1;
  setitimer(ITIMER_REAL, &tv, nullptr);
  if (g_opt.detect_leaks && __sanitizer_install_malloc_and_free_hooks) {
    __sanitizer_install_malloc_and_free_hooks(MallocHook, FreeHook);
  }
}

// ---- coverage bookkeeping ---------------------------------------------------------------------

uint8_t g_bucket[256];

void InitBuckets() {
  for (int i = 0; i < 256; ++i) {
    uint8_t b = 0;
    if (i == 0) b = 0;
    else if (i == 1) b = 1;
    else if (i == 2) b = 2;
    else if (i == 3) b = 4;
    else if (i <= 7) b = 8;
    else if (i <= 15) b = 16;
    else if (i <= 31) b = 32;
    else if (i <= 127) b = 64;
    else b = 128;
    g_bucket[i] = b;
  }
}

// Folds the run's map into the virgin map; true when it reached a new (edge, bucket) pair.
bool MergeRun() {
  bool fresh = false;
  const uint64_t* words = reinterpret_cast<const uint64_t*>(g_map);
  for (size_t w = 0; w < kMapSize / 8; ++w) {
    if (words[w] == 0) continue;
    for (size_t i = w * 8; i < w * 8 + 8; ++i) {
      const uint8_t bits = g_bucket[g_map[i]];
      if ((bits & ~g_virgin[i]) != 0) {
        g_virgin[i] = static_cast<uint8_t>(g_virgin[i] | bits);
        fresh = true;
      }
    }
  }
  return fresh;
}

size_t CountCoverage(size_t* features) {
  size_t cells = 0, ft = 0;
  for (size_t i = 0; i < kMapSize; ++i) {
    if (g_virgin[i] == 0) continue;
    ++cells;
    ft += static_cast<size_t>(__builtin_popcount(g_virgin[i]));
  }
  if (features != nullptr) *features = ft;
  return cells;
}

// ---- running one input ------------------------------------------------------------------------

// Runs the target on the bytes with tracing on; the caller set up g_cur_*.
void Execute(uint8_t* copy, size_t size) {
  std::memset(g_map, 0, sizeof(g_map));
  g_mallocs = 0;
  g_frees = 0;
  g_run_ticks = 0;
  g_prev_loc = 0;
  g_tracing = true;
  LLVMFuzzerTestOneInput(copy, size);
  g_tracing = false;
  ++g_total_runs;
}

// Runs the target on a copy of the bytes (an exactly-sized heap block, so ASan sees overreads).
// Returns true when the run reached new coverage. An input that leaves more allocations than it
// freed runs a second time (first-use caches are warm by then); if it does again, LeakSanitizer
// looks for unreachable blocks, and any it finds are a finding.
bool RunOne(const uint8_t* data, size_t size, const char* name = nullptr) {
  uint8_t* copy = static_cast<uint8_t*>(std::malloc(size == 0 ? 1 : size));
  if (size > 0) std::memcpy(copy, data, size);
  g_cur_data = data;  // crash files get the bytes as given, even if the target wrote to its copy
  g_cur_size = size;
  g_cur_name = name;
  g_in_run = 1;
  Execute(copy, size);
  const bool fresh = MergeRun();
  if (g_opt.detect_leaks && g_mallocs > g_frees && __lsan_do_recoverable_leak_check) {
    if (size > 0) std::memcpy(copy, data, size);  // the target may have written to its input
    Execute(copy, size);
    if (g_mallocs > g_frees && __lsan_do_recoverable_leak_check() != 0) {
      std::fprintf(stderr, "==fuzz driver== ERROR: LeakSanitizer: the input above leaked memory\n");
      OnFinding("leak", "leak");
      _exit(1);
    }
  }
  g_in_run = 0;
  g_cur_data = nullptr;
  g_cur_name = nullptr;
  std::free(copy);
  return fresh;
}

// ---- files ------------------------------------------------------------------------------------

bool IsDir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void ListFiles(const std::string& dir, std::vector<std::string>& out) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;  // ., .., hidden files (e.g. .gitkeep)
    names.emplace_back(e->d_name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    const std::string path = dir + "/" + n;
    if (IsDir(path)) ListFiles(path, out);
    else out.push_back(path);
  }
}

bool ReadFile(const std::string& path, std::vector<uint8_t>& out) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  out.clear();
  uint8_t buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.insert(out.end(), buf, buf + n);
  std::fclose(f);
  return true;
}

bool WriteFileNamedByHash(const std::string& dir, const std::vector<uint8_t>& data, std::string* path_out) {
  char hex[17];
  Hex16(Hash64(data.data(), data.size()), hex);
  hex[16] = '\0';
  const std::string path = dir + "/" + hex;
  if (path_out != nullptr) *path_out = path;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return false;  // already there
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    std::fprintf(stderr, "WARNING: cannot write %s: %s\n", path.c_str(), std::strerror(errno));
    return false;
  }
  if (!data.empty()) std::fwrite(data.data(), 1, data.size(), f);
  std::fclose(f);
  return true;
}

void MakeDirs(const std::string& path) {
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') ::mkdir(path.substr(0, i).c_str(), 0755);
  }
}

// ---- dictionary -------------------------------------------------------------------------------

std::vector<std::vector<uint8_t>> g_dict;

// Parses `name="value"` / `"value"` lines (libFuzzer/AFL dictionaries): \\, \" and \xNN escapes.
bool LoadDictionary(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return false;
  char line[4096];
  int lineno = 0;
  while (std::fgets(line, sizeof(line), f) != nullptr) {
    ++lineno;
    const char* p = line;
    while (*p == ' ' || *p == '\t') ++p;
    if (*p == '#' || *p == '\n' || *p == '\0') continue;
    const char* q = std::strchr(p, '"');
    const char* end = q != nullptr ? std::strrchr(q + 1, '"') : nullptr;
    if (q == nullptr || end == nullptr) {
      std::fprintf(stderr, "WARNING: %s:%d: not a dictionary entry\n", path.c_str(), lineno);
      continue;
    }
    std::vector<uint8_t> token;
    for (const char* c = q + 1; c < end; ++c) {
      if (*c != '\\') {
        token.push_back(static_cast<uint8_t>(*c));
      } else if (c + 1 < end && (c[1] == '\\' || c[1] == '"')) {
        token.push_back(static_cast<uint8_t>(c[1]));
        ++c;
      } else if (c + 3 < end + 1 && c[1] == 'x' && std::isxdigit(static_cast<unsigned char>(c[2])) &&
                 std::isxdigit(static_cast<unsigned char>(c[3]))) {
        const char hex[3] = {c[2], c[3], '\0'};
        token.push_back(static_cast<uint8_t>(std::strtoul(hex, nullptr, 16)));
        c += 3;
      } else {
        token.push_back('\\');
      }
    }
    if (!token.empty()) g_dict.push_back(std::move(token));
  }
  std::fclose(f);
  return true;
}

// ---- mutations --------------------------------------------------------------------------------

const uint64_t kInteresting[] = {
    0, 1, 2, 3, 7, 8, 16, 31, 32, 64, 100, 127, 128, 255, 256, 512, 1000, 1024, 4096, 32767, 32768, 65535, 65536,
    UINT64_C(0x7fffffff), UINT64_C(0x80000000), UINT64_C(0xffffffff), UINT64_C(0x100000000),
    UINT64_C(0x7fffffffffffffff), UINT64_C(0x8000000000000000), UINT64_C(0xffffffffffffffff),
    UINT64_C(0xfffffffffffffffe), UINT64_C(0xffffffffffffff80), UINT64_C(0xffffffff80000000),
    UINT64_C(0x7fc00000),          // float NaN
    UINT64_C(0x7f800000),          // float +inf
    UINT64_C(0xff800000),          // float -inf
    UINT64_C(0x7f7fffff),          // FLT_MAX
    UINT64_C(0x00000001),          // smallest float denormal
    UINT64_C(0x80000000),          // float -0
    UINT64_C(0x3f800000),          // 1.0f
    UINT64_C(0x3727c5ac),          // 1e-5f
    UINT64_C(0x7ff8000000000000),  // double NaN
    UINT64_C(0x7ff0000000000000),  // double +inf
    UINT64_C(0xfff0000000000000),  // double -inf
    UINT64_C(0x7fefffffffffffff),  // DBL_MAX
    UINT64_C(0x47efffffe0000000),  // FLT_MAX as double
    UINT64_C(0x47f0000000000000),  // just above FLT_MAX as double
    UINT64_C(0x3ff0000000000000),  // 1.0
};

void WriteInt(std::vector<uint8_t>& b, size_t pos, uint64_t v, size_t width, bool big_endian) {
  for (size_t i = 0; i < width && pos + i < b.size(); ++i) {
    const size_t shift = 8 * (big_endian ? width - 1 - i : i);
    b[pos + i] = static_cast<uint8_t>(v >> shift);
  }
}

uint64_t ReadInt(const std::vector<uint8_t>& b, size_t pos, size_t width) {
  uint64_t v = 0;
  for (size_t i = 0; i < width && pos + i < b.size(); ++i) v |= static_cast<uint64_t>(b[pos + i]) << (8 * i);
  return v;
}

void InsertBytes(std::vector<uint8_t>& b, size_t pos, const uint8_t* p, size_t n, size_t max_len) {
  if (b.size() >= max_len) return;
  n = std::min(n, max_len - b.size());
  b.insert(b.begin() + static_cast<std::ptrdiff_t>(pos), p, p + n);
}

const std::vector<uint8_t>* g_splice_with = nullptr;

// One random mutation in place; false when it could not apply (caller tries another).
bool MutateOnce(std::vector<uint8_t>& b, size_t max_len) {
  const size_t width_choices[] = {1, 2, 4, 8};
  switch (Below(16)) {
    case 0: {  // flip a bit
      if (b.empty()) return false;
      b[Below(b.size())] ^= static_cast<uint8_t>(1u << Below(8));
      return true;
    }
    case 1: {  // random byte
      if (b.empty()) return false;
      b[Below(b.size())] = static_cast<uint8_t>(Rand());
      return true;
    }
    case 2: {  // add/subtract a small value to a byte/word
      if (b.empty()) return false;
      const size_t w = width_choices[Below(4)];
      const size_t pos = Below(b.size());
      const uint64_t delta = 1 + Below(16);
      const uint64_t v = ReadInt(b, pos, w);
      WriteInt(b, pos, OneIn(2) ? v + delta : v - delta, w, false);
      return true;
    }
    case 3:
    case 4: {  // interesting value, 1/2/4/8 bytes, either endianness
      if (b.empty()) return false;
      const size_t w = width_choices[Below(4)];
      const uint64_t v = kInteresting[Below(sizeof(kInteresting) / sizeof(kInteresting[0]))];
      WriteInt(b, Below(b.size()), v, w, OneIn(4));
      return true;
    }
    case 5: {  // insert random bytes
      uint8_t tmp[16];
      const size_t n = 1 + Below(sizeof(tmp));
      const uint8_t fill = static_cast<uint8_t>(Rand());
      const bool same = OneIn(2);
      for (size_t i = 0; i < n; ++i) tmp[i] = same ? fill : static_cast<uint8_t>(Rand());
      if (b.size() >= max_len) return false;
      InsertBytes(b, Below(b.size() + 1), tmp, n, max_len);
      return true;
    }
    case 6: {  // delete a range
      if (b.size() < 2) return false;
      const size_t pos = Below(b.size());
      const size_t n = 1 + Below(std::min<size_t>(b.size() - pos, OneIn(4) ? 64 : 8));
      b.erase(b.begin() + static_cast<std::ptrdiff_t>(pos), b.begin() + static_cast<std::ptrdiff_t>(pos + n));
      return true;
    }
    case 7: {  // duplicate a range (insert a copy elsewhere)
      if (b.empty() || b.size() >= max_len) return false;
      const size_t pos = Below(b.size());
      const size_t n = 1 + Below(std::min<size_t>(b.size() - pos, 32));
      const std::vector<uint8_t> piece(b.begin() + static_cast<std::ptrdiff_t>(pos),
                                       b.begin() + static_cast<std::ptrdiff_t>(pos + n));
      InsertBytes(b, Below(b.size() + 1), piece.data(), piece.size(), max_len);
      return true;
    }
    case 8: {  // overwrite a range with a copy of another range
      if (b.size() < 2) return false;
      const size_t src = Below(b.size());
      const size_t dst = Below(b.size());
      const size_t n = 1 + Below(std::min<size_t>(std::min(b.size() - src, b.size() - dst), 16));
      std::memmove(b.data() + dst, b.data() + src, n);
      return true;
    }
    case 9: {  // splice: our prefix + another input's suffix (or insert a piece of it)
      const std::vector<uint8_t>* other = g_splice_with;
      if (other == nullptr || other->empty()) return false;
      if (OneIn(2)) {
        const size_t cut = Below(b.size() + 1);
        const size_t from = Below(other->size());
        b.resize(cut);
        InsertBytes(b, b.size(), other->data() + from, other->size() - from, max_len);
      } else {
        const size_t from = Below(other->size());
        const size_t n = 1 + Below(std::min<size_t>(other->size() - from, 32));
        InsertBytes(b, Below(b.size() + 1), other->data() + from, n, max_len);
      }
      return true;
    }
    case 10:
    case 11: {  // dictionary token: insert or overwrite
      if (g_dict.empty()) return false;
      const std::vector<uint8_t>& t = g_dict[Below(g_dict.size())];
      if (OneIn(2) || b.size() < t.size()) {
        InsertBytes(b, Below(b.size() + 1), t.data(), t.size(), max_len);
      } else {
        std::memcpy(b.data() + Below(b.size() - t.size() + 1), t.data(), t.size());
      }
      return true;
    }
    case 12: {  // operand of a comparison the target made (auto-dictionary)
      const TorcEntry& e = g_torc[Below(kTorcSlots)];
      if (e.len == 0) return false;
      if (OneIn(2) || b.size() < e.len) {
        InsertBytes(b, Below(b.size() + 1), e.bytes, e.len, max_len);
      } else {
        std::memcpy(b.data() + Below(b.size() - e.len + 1), e.bytes, e.len);
      }
      return true;
    }
    case 13: {  // shuffle a few bytes
      if (b.size() < 2) return false;
      const size_t pos = Below(b.size() - 1);
      const size_t n = 2 + Below(std::min<size_t>(b.size() - pos - 1, 7));
      for (size_t i = n - 1; i > 0; --i) std::swap(b[pos + i], b[pos + Below(i + 1)]);
      return true;
    }
    case 14: {  // truncate
      if (b.empty()) return false;
      b.resize(Below(b.size()));
      return true;
    }
    default: {  // set a byte to a small value (selectors, counts)
      if (b.empty()) return false;
      b[Below(b.size())] = static_cast<uint8_t>(Below(OneIn(2) ? 4 : 20));
      return true;
    }
  }
}

void Mutate(std::vector<uint8_t>& b, size_t max_len) {
  const size_t stack = size_t{1} << Below(5);  // 1..16 mutations, AFL-havoc style
  for (size_t i = 0, applied = 0; applied < stack && i < stack * 4; ++i) {
    if (MutateOnce(b, max_len)) ++applied;
  }
  if (b.size() > max_len) b.resize(max_len);
}

// ---- corpus -------------------------------------------------------------------------------------

struct Unit {
  std::vector<uint8_t> data;
};
std::vector<Unit> g_corpus;
std::unordered_set<uint64_t> g_corpus_hashes;

bool AddToCorpus(const std::vector<uint8_t>& data) {
  const uint64_t h = Hash64(data.data(), data.size());
  if (!g_corpus_hashes.insert(h).second) return false;
  g_corpus.push_back(Unit{data});
  return true;
}

// Newer entries are picked more often (the max of two uniform draws).
const Unit& PickUnit() {
  const size_t n = g_corpus.size();
  return g_corpus[std::max(Below(n), Below(n))];
}

// ---- reporting ----------------------------------------------------------------------------------

void PrintStatus(const char* what) {
  size_t ft = 0;
  const size_t cov = CountCoverage(&ft);
  const double secs = std::max(1e-9, Now() - g_start_time);
  std::fprintf(stderr, "#%" PRIu64 "\t%s cov: %zu ft: %zu corp: %zu exec/s: %.0f\n", g_total_runs, what, cov, ft,
               g_corpus.size(), static_cast<double>(g_total_runs) / secs);
}

void PrintFinalStats(const char* result, const char* artifact_path) {
  char artifact[2048];  // JSON-escaped
  size_t a = 0;
  for (const char* p = artifact_path; *p != '\0' && a + 3 < sizeof(artifact); ++p) {
    if (*p == '"' || *p == '\\') artifact[a++] = '\\';
    artifact[a++] = static_cast<unsigned char>(*p) < 0x20 ? '?' : *p;
  }
  artifact[a] = '\0';
  size_t ft = 0;
  const size_t cov = CountCoverage(&ft);
  const double secs = std::max(1e-9, Now() - g_start_time);
  char line[4096];
  std::snprintf(line, sizeof(line),
                "stats: {\"runs\": %" PRIu64 ", \"seed_runs\": %" PRIu64 ", \"elapsed_s\": %.2f, "
                "\"exec_per_sec\": %.0f, \"corpus\": %zu, \"new_inputs\": %zu, \"cov\": %zu, \"ft\": %zu, "
                "\"seed_cov\": %zu, \"seed_ft\": %zu, \"seed\": %" PRIu64 ", \"result\": \"%s\", \"artifact\": \"%s\"}\n",
                g_total_runs, g_seed_runs, secs, static_cast<double>(g_total_runs) / secs, g_corpus.size(),
                g_new_inputs, cov, ft, g_seed_cov, g_seed_ft, g_opt.seed, result, artifact);
  std::fflush(stderr);
  WriteStr(1, line);
}

// ---- modes --------------------------------------------------------------------------------------

struct Seed {
  std::string path;
  std::vector<uint8_t> data;
};

std::vector<Seed> LoadSeeds(const std::vector<std::string>& dirs) {
  std::vector<Seed> seeds;
  for (const auto& dir : dirs) {
    std::vector<std::string> files;
    ListFiles(dir, files);
    for (const auto& f : files) {
      Seed s;
      s.path = f;
      if (ReadFile(f, s.data)) seeds.push_back(std::move(s));
    }
  }
  // Smallest first, as libFuzzer: small inputs claim the coverage they share with larger ones.
  std::stable_sort(seeds.begin(), seeds.end(),
                   [](const Seed& a, const Seed& b) { return a.data.size() < b.data.size(); });
  return seeds;
}

int ReplayFiles(const std::vector<std::string>& files) {
  for (const auto& f : files) {
    std::vector<uint8_t> data;
    if (!ReadFile(f, data)) {
      std::fprintf(stderr, "ERROR: cannot read %s\n", f.c_str());
      return 2;
    }
    std::fprintf(stderr, "Running: %s (%zu bytes)\n", f.c_str(), data.size());
    const double t0 = Now();
    RunOne(data.data(), data.size(), f.c_str());
    std::fprintf(stderr, "Executed %s in %.1f ms\n", f.c_str(), (Now() - t0) * 1e3);
  }
  g_seed_runs = g_total_runs;
  g_seed_cov = CountCoverage(&g_seed_ft);
  PrintFinalStats("ok", "");
  return 0;
}

// Edge cells (not counts) the last run reached, as a bitmap.
using EdgeSet = std::vector<uint64_t>;
EdgeSet RunEdges() {
  EdgeSet edges(kMapSize / 64, 0);
  for (size_t i = 0; i < kMapSize; ++i) {
    if (g_map[i] != 0) edges[i / 64] |= uint64_t{1} << (i % 64);
  }
  return edges;
}

size_t CountNew(const EdgeSet& edges, const EdgeSet& covered) {
  size_t n = 0;
  for (size_t w = 0; w < edges.size(); ++w) n += static_cast<size_t>(__builtin_popcountll(edges[w] & ~covered[w]));
  return n;
}

// -merge=1 OUT IN...: adds to OUT the inputs of IN... that reach edges OUT's inputs do not, the
// largest gain first (greedy set cover over edges, hit counts ignored), at most -merge_max of them.
int Merge(const std::vector<std::string>& dirs) {
  if (dirs.size() < 2) {
    std::fprintf(stderr, "ERROR: -merge=1 needs an output directory and at least one input directory\n");
    return 2;
  }
  MakeDirs(dirs[0]);
  EdgeSet covered(kMapSize / 64, 0);
  const std::vector<Seed> existing = LoadSeeds({dirs[0]});
  for (const auto& s : existing) {
    RunOne(s.data.data(), s.data.size(), s.path.c_str());
    const EdgeSet e = RunEdges();
    for (size_t w = 0; w < covered.size(); ++w) covered[w] |= e[w];
    AddToCorpus(s.data);
  }
  g_seed_cov = CountCoverage(&g_seed_ft);
  const std::vector<Seed> candidates = LoadSeeds(std::vector<std::string>(dirs.begin() + 1, dirs.end()));
  std::vector<std::pair<const Seed*, EdgeSet>> gains;
  for (const auto& s : candidates) {
    if (g_opt.max_len > 0 && s.data.size() > g_opt.max_len) continue;
    RunOne(s.data.data(), s.data.size(), s.path.c_str());
    EdgeSet e = RunEdges();
    if (CountNew(e, covered) > 0) gains.emplace_back(&s, std::move(e));
  }
  size_t added = 0;
  while (g_opt.merge_max < 0 || added < static_cast<size_t>(g_opt.merge_max)) {
    size_t best = 0, best_gain = 0;
    for (size_t i = 0; i < gains.size(); ++i) {
      const size_t g = CountNew(gains[i].second, covered);
      if (g > best_gain || (g == best_gain && g > 0 && gains[i].first->data.size() < gains[best].first->data.size())) {
        best = i;
        best_gain = g;
      }
    }
    if (best_gain == 0) break;
    for (size_t w = 0; w < covered.size(); ++w) covered[w] |= gains[best].second[w];
    if (AddToCorpus(gains[best].first->data) && WriteFileNamedByHash(dirs[0], gains[best].first->data, nullptr)) {
      ++added;
    }
  }
  size_t edges = 0;
  for (uint64_t w : covered) edges += static_cast<size_t>(__builtin_popcountll(w));
  g_new_inputs = added;
  g_seed_runs = g_total_runs;
  std::fprintf(stderr, "MERGE: %zu inputs in %s, %zu candidates (%zu adding edges), %zu added; %zu edges covered\n",
               existing.size(), dirs[0].c_str(), candidates.size(), gains.size(), added, edges);
  PrintFinalStats("ok", "");
  return 0;
}

int Fuzz(const std::vector<std::string>& dirs) {
  const std::vector<Seed> seeds = LoadSeeds(dirs);
  size_t largest = 0;
  for (const auto& s : seeds) largest = std::max(largest, s.data.size());
  if (g_opt.max_len == 0) g_opt.max_len = std::max<size_t>(4096, largest);
  if (!g_opt.output_corpus.empty()) MakeDirs(g_opt.output_corpus);
  std::fprintf(stderr, "INFO: seed: %" PRIu64 ", %zu seed inputs from %zu dirs, max_len %zu, dictionary %zu tokens\n",
               g_opt.seed, seeds.size(), dirs.size(), g_opt.max_len, g_dict.size());

  for (const auto& s : seeds) {
    const bool fresh = RunOne(s.data.data(), s.data.size(), s.path.c_str());
    // Every seed stays in the corpus (they are hand-made starting points), new coverage or not.
    (void)fresh;
    AddToCorpus(s.data);
  }
  if (g_corpus.empty()) {
    const std::vector<uint8_t> empty;
    RunOne(nullptr, 0);
    AddToCorpus(empty);
  }
  g_seed_runs = g_total_runs;
  g_seed_cov = CountCoverage(&g_seed_ft);
  PrintStatus("INITED");
  const size_t seed_units = g_corpus.size();

  uint64_t next_pulse = 1024;
  double last_pulse_time = Now();
  std::vector<uint8_t> buf;
  for (int64_t i = 0; g_opt.runs < 0 || i < g_opt.runs; ++i) {
    if (g_stop) break;
    if (g_opt.max_total_time > 0 && Now() - g_start_time >= g_opt.max_total_time) break;
    const Unit& base = g_opt.use_coverage ? PickUnit() : g_corpus[Below(seed_units)];
    const Unit& other = g_corpus[Below(g_corpus.size())];
    g_splice_with = &other.data;
    buf = base.data;
    Mutate(buf, g_opt.max_len);
    const bool fresh = RunOne(buf.data(), buf.size());
    if (fresh && g_opt.use_coverage && AddToCorpus(buf)) {
      ++g_new_inputs;
      if (!g_opt.output_corpus.empty()) WriteFileNamedByHash(g_opt.output_corpus, buf, nullptr);
      if (g_opt.print_new) PrintStatus("NEW");
    }
    if (g_total_runs >= next_pulse || Now() - last_pulse_time > 10) {
      PrintStatus("pulse");
      if (g_total_runs >= next_pulse) next_pulse *= 2;
      last_pulse_time = Now();
    }
  }
  PrintStatus("DONE");
  PrintFinalStats("ok", "");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (!ParseFlag(argv[i])) g_opt.inputs.emplace_back(argv[i]);
  }
  if (g_opt.help) {
    Usage();
    return 0;
  }
  if (g_opt.seed == 0) {
    g_opt.seed = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) ^
                 (static_cast<uint64_t>(::getpid()) << 32);
  }
  g_rng = g_opt.seed;
  InitBuckets();
  g_start_time = Now();
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  if (!g_opt.dict.empty() && !LoadDictionary(g_opt.dict)) {
    std::fprintf(stderr, "ERROR: cannot read the dictionary %s\n", g_opt.dict.c_str());
    return 2;
  }
  if (g_opt.artifact_prefix.find('/') != std::string::npos) {
    MakeDirs(g_opt.artifact_prefix.substr(0, g_opt.artifact_prefix.rfind('/')));
  }
  InstallHandlers();

  std::vector<std::string> dirs, files;
  for (const auto& in : g_opt.inputs) (IsDir(in) ? dirs : files).push_back(in);
  if (g_opt.merge) return Merge(g_opt.inputs);
  if (!files.empty() && dirs.empty()) return ReplayFiles(files);
  if (!files.empty()) {
    std::fprintf(stderr, "ERROR: give either corpus directories or files to replay, not both\n");
    return 2;
  }
  return Fuzz(dirs);
}
