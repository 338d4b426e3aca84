// What every normdeploy IPluginV3 shares: the three capabilities (core/build/runtime) on one
// object, name/version/namespace, one output, the error recorder from attachToContext, clone.
// The op adapters implement only shapes, formats, validation, workspace, enqueue and fields.
#pragma once

#include <NvInferRuntime.h>

#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "trt_util.h"

namespace normdeploy {
namespace trt {

class PluginBase : public nvinfer1::IPluginV3,
                   public nvinfer1::IPluginV3OneCore,
                   public nvinfer1::IPluginV3OneBuild,
                   public nvinfer1::IPluginV3OneRuntime {
 public:
  // `op` and `specs` are the op's generated table (static storage); version and namespace are its
  // defaults; `values` the parsed fields in table order (what getFieldsToSerialize writes).
  PluginBase(std::string layer_name, const char* op, const FieldSpec* specs, int count, std::vector<FieldValue> values)
      : layer_name_(std::move(layer_name)), op_(op), version_(SchemaDefault(specs, count, "plugin_version")),
        namespace_(SchemaDefault(specs, count, "plugin_namespace")), specs_(specs), count_(count),
        values_(std::move(values)) {}
  ~PluginBase() override = default;

  // IPluginV3
  nvinfer1::IPluginCapability* getCapabilityInterface(nvinfer1::PluginCapabilityType type) noexcept override {
    switch (type) {
      case nvinfer1::PluginCapabilityType::kCORE: return static_cast<nvinfer1::IPluginV3OneCore*>(this);
      case nvinfer1::PluginCapabilityType::kBUILD: return static_cast<nvinfer1::IPluginV3OneBuild*>(this);
      case nvinfer1::PluginCapabilityType::kRUNTIME: return static_cast<nvinfer1::IPluginV3OneRuntime*>(this);
    }
    return nullptr;
  }
  nvinfer1::IPluginV3* clone() noexcept override {
    try {
      return CloneImpl();
    } catch (...) {
      ReportError(recorder_, Where("clone") + ": out of memory", nvinfer1::ErrorCode::kFAILED_ALLOCATION);
      return nullptr;
    }
  }

  // IPluginV3OneCore
  const char* getPluginName() const noexcept override { return op_; }
  const char* getPluginVersion() const noexcept override { return version_; }
  const char* getPluginNamespace() const noexcept override { return namespace_; }

  // IPluginV3OneBuild
  int32_t getNbOutputs() const noexcept override { return 1; }

  // IPluginV3OneRuntime: the context's plugin is a clone that reports to the context's recorder.
  nvinfer1::IPluginV3* attachToContext(nvinfer1::IPluginResourceContext* context) noexcept override {
    try {
      PluginBase* copy = CloneImpl();
      copy->recorder_ = context != nullptr ? context->getErrorRecorder() : nullptr;
      return copy;
    } catch (...) {
      ReportError(recorder_, Where("attachToContext") + ": out of memory", nvinfer1::ErrorCode::kFAILED_ALLOCATION);
      return nullptr;
    }
  }

  nvinfer1::IErrorRecorder* recorder() const noexcept { return recorder_; }

  // IPluginV3OneRuntime: the parsed fields, which the creator's createPlugin reads back.
  const nvinfer1::PluginFieldCollection* getFieldsToSerialize() noexcept override {
    const nvinfer1::PluginFieldCollection* fc = nullptr;
    Run("getFieldsToSerialize", [&]() -> Status {
      serialized_.Clear();
      serialized_.AddAll(specs_, count_, values_.data());
      fc = serialized_.Collection();
      return Status::Ok();
    });
    return fc;
  }

 protected:
  PluginBase(const PluginBase&) = default;

  virtual PluginBase* CloneImpl() const = 0;  // may throw std::bad_alloc (callers catch)

  // "GroupNorm 'layer' <what>" for messages.
  std::string Where(const char* what) const {
    std::string out = op_;
    if (!layer_name_.empty()) out += " '" + layer_name_ + "'";
    return out + " " + what;
  }

  // Runs fn() -> Status, reporting failures and exceptions; 0 on success, -1 otherwise.
  template <typename Fn>
  int32_t Run(const char* what, Fn&& fn) const noexcept {
    std::string where;
    try {
      where = Where(what);
    } catch (...) {
    }
    return Guard(recorder_, where, std::forward<Fn>(fn)) ? 0 : -1;
  }

  std::string layer_name_;
  const char* op_;
  const char* version_;
  const char* namespace_;
  const FieldSpec* specs_;
  int count_;
  std::vector<FieldValue> values_;
  SerializedFields serialized_;
  nvinfer1::IErrorRecorder* recorder_ = nullptr;
};

// The creator side: name/version/namespace and the field list come from the generated table;
// createPlugin parses the fields (ONNX parser at build time, getFieldsToSerialize's output at
// deserialization) and reports bad ones through the logger, returning nullptr.
class CreatorBase : public nvinfer1::IPluginCreatorV3One {
 public:
  CreatorBase(const char* op, const FieldSpec* specs, int count)
      : op_(op), specs_(specs), count_(count),
        version_(SchemaDefault(specs, count, "plugin_version")),
        namespace_(SchemaDefault(specs, count, "plugin_namespace")) {}

  nvinfer1::IPluginV3* createPlugin(const char* name, const nvinfer1::PluginFieldCollection* fc,
                                    nvinfer1::TensorRTPhase /*phase*/) noexcept override {
    nvinfer1::IPluginV3* plugin = nullptr;
    std::string where;
    try {
      where = std::string(op_) + (name != nullptr && name[0] != '\0' ? std::string(" '") + name + "'" : "") +
              " createPlugin";
    } catch (...) {
    }
    Guard(nullptr, where, [&]() -> Status {
      const std::string unknown = UnknownFields(fc, specs_, count_);
      if (!unknown.empty()) {
        Log(nvinfer1::ILogger::Severity::kWARNING, where + ": ignoring unknown field(s) " + unknown);
      }
      std::vector<FieldValue> values(static_cast<size_t>(count_));
      ND_RETURN_IF_ERROR(ParseFields(op_, specs_, count_, PluginFieldSource(fc), values.data()));
      return Make(name != nullptr ? name : "", fc, std::move(values), plugin);
    });
    return plugin;
  }

  const nvinfer1::PluginFieldCollection* getFieldNames() noexcept override {
    try {
      std::lock_guard<std::mutex> lock(field_list_mutex_);
      if (!field_list_) field_list_ = std::make_unique<FieldList>(specs_, count_);
      return field_list_->Collection();
    } catch (...) {
      Log(nvinfer1::ILogger::Severity::kERROR, std::string(op_) + " getFieldNames: out of memory");
      return nullptr;
    }
  }
  const char* getPluginName() const noexcept override { return op_; }
  const char* getPluginVersion() const noexcept override { return version_; }
  const char* getPluginNamespace() const noexcept override { return namespace_; }

 protected:
  // Builds the plugin from checked field values (values[i] <-> specs[i]).
  virtual Status Make(const std::string& name, const nvinfer1::PluginFieldCollection* fc,
                      std::vector<FieldValue> values, nvinfer1::IPluginV3*& out) = 0;

  const char* op_;
  const FieldSpec* specs_;
  int count_;
  const char* version_;
  const char* namespace_;
  std::mutex field_list_mutex_;
  std::unique_ptr<FieldList> field_list_;  // built on first use (no allocation at library load)
};

}  // namespace trt
}  // namespace normdeploy
