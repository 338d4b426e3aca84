// nd_gpu_check, the checks run on a GPU: correctness of every kernel variant against the float64
// references, determinism, the > 2^31-element cases, and timing against cudaMemcpy. Each section
// appends JSON objects (already serialized) and one-line failure messages to a Report.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ndgc {

struct Options {
  std::string json_path;     // --json PATH ("" = none)
  bool quick = false;        // --quick: fewer repeats, one large case, smaller timing tensors
  int reps = 0;              // --reps N (0 = 20, or 5 with --quick)
  int device = 0;            // --device I
  bool correctness = true;   // --skip-correctness clears it
  bool large = true;         // --skip-large
  bool timing = true;        // --skip-timing
  int Reps() const { return reps > 0 ? reps : (quick ? 5 : 20); }
};

struct Report {
  std::vector<std::string> limits;       // JSON objects
  std::vector<std::string> correctness;  // JSON objects, one per case
  std::vector<std::string> large;
  std::vector<std::string> timing;
  std::vector<std::string> skipped;      // JSON strings: what did not run and why
  std::vector<std::string> failures;     // one line each
  int64_t cases = 0;
  int64_t failed = 0;
  bool context_lost = false;  // a sticky CUDA error: later sections were not run
  void Fail(const std::string& line);
};

// JSON helpers (values are returned serialized).
std::string JStr(const std::string& s);
std::string JNum(double v);
std::string JInt(int64_t v);
std::string JBool(bool v);
std::string JObj(const std::vector<std::pair<std::string, std::string>>& fields);
std::string JArr(const std::vector<std::string>& items);

// The specs of the small correctness cases this build runs (GroupNorm then LRN); no GPU needed.
std::vector<std::string> ListCases();

// The sections; `stream` is a cudaStream_t. Each returns false when the CUDA context is unusable.
bool CheckKernelLimits(void* stream, Report& report);
bool RunCorrectness(const Options& opt, void* stream, Report& report);
bool RunLarge(const Options& opt, void* stream, Report& report);
bool RunTiming(const Options& opt, void* stream, Report& report, std::string& goals_json);

}  // namespace ndgc
