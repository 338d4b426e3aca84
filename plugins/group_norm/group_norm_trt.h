// GroupNorm as a TensorRT IPluginV3 (thin adapter: fields -> GroupNormAttrs, tensor descs ->
// GroupNormParams, ValidateGroupNorm, GroupNormCuda). Registered in plugins/tensorrt/plugin_registry.cpp.
#pragma once

#include <NvInferRuntime.h>

#include <string>
#include <vector>

#include "../tensorrt/plugin_base.h"

namespace normdeploy {
namespace trt {

// Name "GroupNorm", version and namespace from the generated table ("1", "normdeploy").
class GroupNormPluginCreator final : public CreatorBase {
 public:
  GroupNormPluginCreator() noexcept;

 protected:
  Status Make(const std::string& name, const nvinfer1::PluginFieldCollection* fc, std::vector<FieldValue> values,
              nvinfer1::IPluginV3*& out) override;
};

}  // namespace trt
}  // namespace normdeploy
