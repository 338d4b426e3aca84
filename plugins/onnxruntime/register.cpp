// RegisterCustomOps: the ONNX Runtime entry point of libnormdeploy_ort.so.
//
// Version guard: the library is built against ORT_API_VERSION of its headers. An older runtime
// returns nullptr from GetApi(ORT_API_VERSION); using it would crash, so we ask for API 1 (every
// runtime has it) only to create a clear error status.
#include <exception>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "../common/op_fields.generated.h"
#include "ort_ops.h"
#include "ort_util.h"

#if defined(_WIN32)
#define ND_EXPORT __declspec(dllexport)
#else
#define ND_EXPORT __attribute__((visibility("default")))
#endif

namespace normdeploy {
namespace {

// The explicit table of ops this library registers.
using AppendFn = void (*)(std::vector<const OrtCustomOp*>&);
constexpr AppendFn kOpTable[] = {&AppendGroupNormOrtOps, &AppendLrnOrtOps};

OrtStatus* CreateDomain(const OrtApi& api, OrtCustomOpDomain*& out) {
  std::vector<const OrtCustomOp*> ops;
  for (AppendFn append : kOpTable) append(ops);
  OrtCustomOpDomain* domain = nullptr;
  if (OrtStatus* st = api.CreateCustomOpDomain(kDomain, &domain)) return st;
  for (const OrtCustomOp* op : ops) {
    if (OrtStatus* st = api.CustomOpDomain_Add(domain, const_cast<OrtCustomOp*>(op))) {
      api.ReleaseCustomOpDomain(domain);
      return st;
    }
  }
  out = domain;
  return nullptr;
}

// The explicit registry of domains: one per ONNX Runtime API table (in practice one per process).
// Session options keep a pointer to the domain and sessions read it when they are created, so it
// must outlive them all; its contents never change, so every registration shares it. Sharing it
// keeps memory flat however many session options register the library (a domain per
// registration used to cost ~190 bytes each, never freed). Never released: at process exit ONNX
// Runtime may already be gone.
class DomainRegistry {
 public:
  OrtStatus* Get(const OrtApi& api, OrtCustomOpDomain*& out) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& entry : entries_) {
      if (entry.first == &api) {
        out = entry.second;
        return nullptr;
      }
    }
    OrtCustomOpDomain* domain = nullptr;
    if (OrtStatus* st = CreateDomain(api, domain)) return st;
    entries_.emplace_back(&api, domain);
    out = domain;
    return nullptr;
  }

 private:
  std::mutex mutex_;
  std::vector<std::pair<const OrtApi*, OrtCustomOpDomain*>> entries_;
};

DomainRegistry& Domains() {
  static DomainRegistry* registry = new DomainRegistry();  // never destroyed (see above)
  return *registry;
}

OrtStatus* Register(const OrtApi& api, OrtSessionOptions* options) {
  OrtCustomOpDomain* domain = nullptr;
  if (OrtStatus* st = Domains().Get(api, domain)) return st;
  return api.AddCustomOpDomain(options, domain);
}

}  // namespace
}  // namespace normdeploy

extern "C" ND_EXPORT OrtStatus* ORT_API_CALL RegisterCustomOps(OrtSessionOptions* options,
                                                               const OrtApiBase* api_base) {
  if (api_base == nullptr) return nullptr;  // nothing to report through
  const OrtApi* api = api_base->GetApi(ORT_API_VERSION);
  if (api == nullptr) {
    const OrtApi* oldest = api_base->GetApi(1);
    if (oldest == nullptr) return nullptr;
    const char* runtime = api_base->GetVersionString ? api_base->GetVersionString() : "unknown";
    const std::string message = std::string("normdeploy custom ops need ONNX Runtime API version ") +
                                std::to_string(ORT_API_VERSION) + " or newer (ONNX Runtime 1." +
                                std::to_string(ORT_API_VERSION) + "+); this runtime is " +
                                (runtime ? runtime : "unknown");
    return oldest->CreateStatus(ORT_FAIL, message.c_str());
  }
  if (options == nullptr) return api->CreateStatus(ORT_INVALID_ARGUMENT, "normdeploy: session options are null");
  try {
    return normdeploy::Register(*api, options);
  } catch (const std::exception& e) {
    return api->CreateStatus(ORT_FAIL, (std::string("normdeploy: registration failed: ") + e.what()).c_str());
  } catch (...) {
    return api->CreateStatus(ORT_FAIL, "normdeploy: registration failed");
  }
}

// The library's own version, for tooling.
extern "C" ND_EXPORT const char* NormdeployVersion() { return NORMDEPLOY_VERSION; }
