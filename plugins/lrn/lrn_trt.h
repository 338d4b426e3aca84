// LocalResponseNorm as a TensorRT IPluginV3 (thin adapter: fields -> LrnAttrs, tensor descs ->
// LrnParams, ValidateLrn, LrnCuda). Registered in plugins/tensorrt/plugin_registry.cpp.
#pragma once

#include <NvInferRuntime.h>

#include <string>
#include <vector>

#include "../tensorrt/plugin_base.h"

namespace normdeploy {
namespace trt {

// Name "LocalResponseNorm", version and namespace from the generated table ("1", "normdeploy").
class LrnPluginCreator final : public CreatorBase {
 public:
  LrnPluginCreator() noexcept;

 protected:
  Status Make(const std::string& name, const nvinfer1::PluginFieldCollection* fc, std::vector<FieldValue> values,
              nvinfer1::IPluginV3*& out) override;
};

}  // namespace trt
}  // namespace normdeploy
