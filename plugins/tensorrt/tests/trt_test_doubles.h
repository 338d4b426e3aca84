// Test implementations of the TensorRT interfaces the plugins call back into: a logger (and its
// finder) that keeps what it is told, an error recorder, a resource context, and an expression
// builder for getOutputShapes. Shared by the host tests (trt_host_tests.cpp) and the fuzz target
// (fuzz/fuzz_trt_fields.cpp). Header-only; no GPU, no libnvinfer.
#pragma once

#include <NvInferRuntime.h>

#include <cstdint>
#include <deque>
#include <initializer_list>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace nd_trt_test {

using nvinfer1::DimensionOperation;
using nvinfer1::ErrorCode;
using nvinfer1::IDimensionExpr;
using nvinfer1::IErrorRecorder;
using nvinfer1::ILogger;

// Keeps every message at `keep` or more severe (kVERBOSE: all of them).
class RecordingLogger final : public ILogger {
 public:
  explicit RecordingLogger(Severity keep = Severity::kVERBOSE) : keep_(keep) {}
  void log(Severity severity, const char* msg) noexcept override {
    if (severity > keep_) return;
    entries.emplace_back(severity, msg != nullptr ? msg : "");
  }
  // A message at `worst` or more severe containing `part`.
  bool Has(Severity worst, const std::string& part) const {
    for (const auto& e : entries) {
      if (e.first <= worst && e.second.find(part) != std::string::npos) return true;
    }
    return false;
  }
  bool HasError(const std::string& part) const { return Has(Severity::kERROR, part); }
  std::string All() const {
    std::string out;
    for (const auto& e : entries) out += "  [" + std::to_string(static_cast<int>(e.first)) + "] " + e.second + "\n";
    return out;
  }
  std::vector<std::pair<Severity, std::string>> entries;

 private:
  Severity keep_;
};

class LoggerFinder final : public nvinfer1::ILoggerFinder {
 public:
  explicit LoggerFinder(ILogger::Severity keep = ILogger::Severity::kVERBOSE) : logger(keep) {}
  ILogger* findLogger() override { return &logger; }
  RecordingLogger logger;
};

class Recorder final : public IErrorRecorder {
 public:
  int32_t getNbErrors() const noexcept override { return static_cast<int32_t>(errors.size()); }
  ErrorCode getErrorCode(int32_t i) const noexcept override { return errors[static_cast<size_t>(i)].first; }
  ErrorDesc getErrorDesc(int32_t i) const noexcept override { return errors[static_cast<size_t>(i)].second.c_str(); }
  bool hasOverflowed() const noexcept override { return false; }
  void clear() noexcept override { errors.clear(); }
  bool reportError(ErrorCode code, ErrorDesc desc) noexcept override {
    errors.emplace_back(code, desc != nullptr ? desc : "");
    return true;
  }
  RefCount incRefCount() noexcept override { return ++refs; }
  RefCount decRefCount() noexcept override { return --refs; }
  bool Has(const std::string& part) const {
    for (const auto& e : errors) {
      if (e.second.find(part) != std::string::npos) return true;
    }
    return false;
  }
  std::vector<std::pair<ErrorCode, std::string>> errors;
  RefCount refs = 0;
};

class ResourceContext final : public nvinfer1::IPluginResourceContext {
 public:
  explicit ResourceContext(IErrorRecorder* r) : recorder(r) {}
  nvinfer1::IGpuAllocator* getGpuAllocator() const noexcept override { return nullptr; }
  IErrorRecorder* getErrorRecorder() const noexcept override { return recorder; }
  IErrorRecorder* recorder;
};

// IDimensionExpr / IExprBuilder are thin wrappers over apiv implementations. A dimension is a
// constant or a named symbol.
class DimImpl final : public nvinfer1::apiv::VDimensionExpr {
 public:
  DimImpl(bool constant, int64_t value) : constant_(constant), value_(value) {}
  bool isConstant() const override { return constant_; }
  int64_t getConstantValue() const override { return constant_ ? value_ : std::numeric_limits<int64_t>::min(); }
  bool isSizeTensor() const override { return false; }

 private:
  bool constant_;
  int64_t value_;
};

class Dim final : public IDimensionExpr {
 public:
  Dim(bool constant, int64_t value, std::string symbol) : impl_(constant, value), symbol_(std::move(symbol)) {
    mImpl = &impl_;
  }
  ~Dim() noexcept override = default;
  const std::string& symbol() const { return symbol_; }

 private:
  DimImpl impl_;
  std::string symbol_;
};

// Owns its expressions. Operations on two constants fold (a result that would overflow int64
// becomes a symbol, as hostile dims must not make the builder itself misbehave).
class ExprBuilderImpl final : public nvinfer1::apiv::VExprBuilder {
 public:
  const IDimensionExpr* constant(int64_t value) override { return Add(true, value, ""); }
  const IDimensionExpr* Symbol(const std::string& name) { return Add(false, 0, name); }
  const IDimensionExpr* operation(DimensionOperation op, const IDimensionExpr& a, const IDimensionExpr& b) override {
    if (a.isConstant() && b.isConstant()) {
      const int64_t x = a.getConstantValue();
      const int64_t y = b.getConstantValue();
      int64_t r = 0;
      switch (op) {
        case DimensionOperation::kSUM:
          if (!__builtin_add_overflow(x, y, &r)) return constant(r);
          break;
        case DimensionOperation::kPROD:
          if (!__builtin_mul_overflow(x, y, &r)) return constant(r);
          break;
        case DimensionOperation::kSUB:
          if (!__builtin_sub_overflow(x, y, &r)) return constant(r);
          break;
        case DimensionOperation::kMAX: return constant(x > y ? x : y);
        case DimensionOperation::kMIN: return constant(x < y ? x : y);
        default: break;
      }
    }
    return Symbol("op");
  }
  const IDimensionExpr* declareSizeTensor(int32_t, const IDimensionExpr&, const IDimensionExpr&) override {
    return Symbol("size_tensor");
  }

 private:
  const IDimensionExpr* Add(bool is_constant, int64_t value, std::string symbol) {
    dims_.push_back(std::make_unique<Dim>(is_constant, value, std::move(symbol)));
    return dims_.back().get();
  }
  std::deque<std::unique_ptr<Dim>> dims_;
};

class ExprBuilder final : public nvinfer1::IExprBuilder {
 public:
  ExprBuilder() { mImpl = &impl_; }
  ~ExprBuilder() noexcept override = default;
  const IDimensionExpr* Symbol(const std::string& name) { return impl_.Symbol(name); }
  const IDimensionExpr* Constant(int64_t value) { return impl_.constant(value); }

 private:
  ExprBuilderImpl impl_;
};

inline nvinfer1::Dims MakeDims(std::initializer_list<int64_t> d) {
  nvinfer1::Dims out{};
  out.nbDims = static_cast<int32_t>(d.size());
  int i = 0;
  for (int64_t v : d) out.d[i++] = v;
  return out;
}

// Owning pointer to a plugin, and its three capability interfaces.
struct PluginDeleter {
  void operator()(nvinfer1::IPluginV3* p) const { delete p; }
};
using PluginPtr = std::unique_ptr<nvinfer1::IPluginV3, PluginDeleter>;

inline nvinfer1::IPluginV3OneCore* Core(nvinfer1::IPluginV3* p) {
  return static_cast<nvinfer1::IPluginV3OneCore*>(p->getCapabilityInterface(nvinfer1::PluginCapabilityType::kCORE));
}
inline nvinfer1::IPluginV3OneBuild* Build(nvinfer1::IPluginV3* p) {
  return static_cast<nvinfer1::IPluginV3OneBuild*>(p->getCapabilityInterface(nvinfer1::PluginCapabilityType::kBUILD));
}
inline nvinfer1::IPluginV3OneRuntime* Runtime(nvinfer1::IPluginV3* p) {
  return static_cast<nvinfer1::IPluginV3OneRuntime*>(
      p->getCapabilityInterface(nvinfer1::PluginCapabilityType::kRUNTIME));
}

}  // namespace nd_trt_test
