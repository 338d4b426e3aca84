// The two entry points TensorRT looks up in a plugin library it loads (trtexec --dynamicPlugins,
// IPluginRegistry::loadLibrary, Triton model_operations): setLoggerFinder and getCreators.
// One explicit array of creators: adding an op means adding one line here (no static
// registration, no globbing). TENSORRTAPI expands to nothing outside NVIDIA's build, so both
// symbols are exported explicitly (visibility attribute + exports.map).
#include <NvInferRuntime.h>

#include <cstdint>

#include "../group_norm/group_norm_trt.h"
#include "../lrn/lrn_trt.h"
#include "trt_util.h"

#define ND_TRT_EXPORT __attribute__((visibility("default")))

namespace {

normdeploy::trt::GroupNormPluginCreator g_group_norm_creator;
normdeploy::trt::LrnPluginCreator g_lrn_creator;

nvinfer1::IPluginCreatorInterface* const kCreators[] = {
    &g_group_norm_creator,
    &g_lrn_creator,
};

}  // namespace

extern "C" {

ND_TRT_EXPORT void setLoggerFinder(nvinfer1::ILoggerFinder* finder) noexcept {
  normdeploy::trt::SetLoggerFinder(finder);
}

ND_TRT_EXPORT nvinfer1::IPluginCreatorInterface* const* getCreators(int32_t& nbCreators) noexcept {
  nbCreators = static_cast<int32_t>(sizeof(kCreators) / sizeof(kCreators[0]));
  return kCreators;
}

}  // extern "C"
