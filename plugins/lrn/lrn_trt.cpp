// LocalResponseNorm TensorRT plugin. One input X (N, C, *spatial), one output like X.
// Formats: kLINEAR float32/float16/bfloat16 only (the window runs over C, the kernel reads NCHW).
#include "lrn_trt.h"

#include <utility>

#include "../common/op_fields.generated.h"
#include "lrn.h"
#include "lrn_cuda.h"

namespace normdeploy {
namespace trt {
namespace {

using nvinfer1::DataType;
using nvinfer1::Dims;
using nvinfer1::DimsExprs;
using nvinfer1::DynamicPluginTensorDesc;
using nvinfer1::PluginTensorDesc;
using nvinfer1::TensorFormat;

constexpr const char* kOp = kLocalResponseNormOpName;

Status CheckCounts(int32_t nb_inputs, int32_t nb_outputs) {
  if (nb_inputs != 1) return MakeError(kOp, ": expected 1 input (X), got ", nb_inputs);
  if (nb_outputs != 1) return MakeError(kOp, ": expected 1 output, got ", nb_outputs);
  return Status::Ok();
}

Status CheckType(DataType type) {
  DType unused;
  if (!ToDType(type, unused)) {
    return MakeError(kOp, ": input 'X' must be float32, float16 or bfloat16, got ", TrtTypeName(type));
  }
  return Status::Ok();
}

// ValidateLrn on what is known (unknown dims, -1, are checked in onShapeChange).
Status ValidateKnown(const LrnAttrs& attrs, std::vector<int64_t> dims) {
  for (auto& d : dims) {
    if (d < 0) d = 1;
  }
  return ValidateLrn(attrs, dims.data(), static_cast<int64_t>(dims.size()));
}

class LrnPlugin final : public PluginBase {
 public:
  LrnPlugin(const std::string& name, const LrnAttrs& attrs, std::vector<FieldValue> values)
      : PluginBase(name, kOp, kLocalResponseNormFields, kLocalResponseNormFieldCount, std::move(values)), attrs_(attrs) {}

  // ---- build ----
  int32_t getOutputDataTypes(DataType* output_types, int32_t nb_outputs, const DataType* input_types,
                             int32_t nb_inputs) const noexcept override {
    return Run("getOutputDataTypes", [&]() -> Status {
      ND_RETURN_IF_ERROR(CheckCounts(nb_inputs, nb_outputs));
      ND_RETURN_IF_ERROR(CheckType(input_types[0]));
      output_types[0] = input_types[0];
      return Status::Ok();
    });
  }

  int32_t getOutputShapes(const DimsExprs* inputs, int32_t nb_inputs, const DimsExprs* /*shape_inputs*/,
                          int32_t /*nb_shape_inputs*/, DimsExprs* outputs, int32_t nb_outputs,
                          nvinfer1::IExprBuilder& /*builder*/) noexcept override {
    return Run("getOutputShapes", [&]() -> Status {
      ND_RETURN_IF_ERROR(CheckCounts(nb_inputs, nb_outputs));
      ND_RETURN_IF_ERROR(CheckRank(kOp, "input 'X'", inputs[0].nbDims));
      std::vector<int64_t> dims;
      for (int32_t i = 0; i < inputs[0].nbDims; ++i) {
        dims.push_back(inputs[0].d[i]->isConstant() ? inputs[0].d[i]->getConstantValue() : -1);
      }
      ND_RETURN_IF_ERROR(ValidateKnown(attrs_, dims));
      outputs[0] = inputs[0];
      return Status::Ok();
    });
  }

  bool supportsFormatCombination(int32_t pos, const DynamicPluginTensorDesc* in_out, int32_t nb_inputs,
                                 int32_t nb_outputs) noexcept override {
    if (in_out == nullptr || nb_inputs != 1 || nb_outputs != 1 || pos < 0 || pos > 1) return false;
    const PluginTensorDesc& d = in_out[pos].desc;
    if (pos == 1) return d.type == in_out[0].desc.type && d.format == in_out[0].desc.format;
    DType unused;
    return d.format == TensorFormat::kLINEAR && ToDType(d.type, unused);
  }

  int32_t configurePlugin(const DynamicPluginTensorDesc* in, int32_t nb_inputs, const DynamicPluginTensorDesc* out,
                          int32_t nb_outputs) noexcept override {
    return Run("configurePlugin", [&]() -> Status {
      ND_RETURN_IF_ERROR(CheckCounts(nb_inputs, nb_outputs));
      if (in == nullptr || out == nullptr) return MakeError(kOp, ": no tensor descriptions");
      for (const Dims* d : {&in[0].desc.dims, &in[0].min, &in[0].max}) ND_RETURN_IF_ERROR(CheckShape(kOp, "input 'X'", *d));
      ND_RETURN_IF_ERROR(CheckDesc(in[0].desc, out[0].desc));
      ND_RETURN_IF_ERROR(ValidateKnown(attrs_, ToVector(in[0].min)));
      return ValidateKnown(attrs_, ToVector(in[0].max));
    });
  }

  // ---- runtime ----
  int32_t onShapeChange(const PluginTensorDesc* in, int32_t nb_inputs, const PluginTensorDesc* out,
                        int32_t nb_outputs) noexcept override {
    return Run("onShapeChange", [&]() -> Status {
      ND_RETURN_IF_ERROR(CheckCounts(nb_inputs, nb_outputs));
      if (in == nullptr || out == nullptr) return MakeError(kOp, ": no tensor descriptions");
      ND_RETURN_IF_ERROR(CheckShape(kOp, "input 'X'", in[0].dims));
      ND_RETURN_IF_ERROR(CheckDesc(in[0], out[0]));
      const std::vector<int64_t> dims = ToVector(in[0].dims);
      return ValidateLrn(attrs_, dims.data(), static_cast<int64_t>(dims.size()));
    });
  }

  int32_t enqueue(const PluginTensorDesc* input_desc, const PluginTensorDesc* output_desc, const void* const* inputs,
                  void* const* outputs, void* /*workspace*/, cudaStream_t stream) noexcept override {
    return Run("enqueue", [&]() -> Status {
      if (input_desc == nullptr || output_desc == nullptr || inputs == nullptr || outputs == nullptr) {
        return MakeError(kOp, ": no tensors");
      }
      ND_RETURN_IF_ERROR(CheckShape(kOp, "input 'X'", input_desc[0].dims));
      ND_RETURN_IF_ERROR(CheckDesc(input_desc[0], output_desc[0]));
      const Dims& x = input_desc[0].dims;
      const std::vector<int64_t> dims = ToVector(x);
      ND_RETURN_IF_ERROR(ValidateLrn(attrs_, dims.data(), static_cast<int64_t>(dims.size())));
      LrnParams p;
      ToDType(input_desc[0].type, p.type);
      p.x = inputs[0];
      p.y = outputs[0];
      p.n = x.d[0];
      p.c = x.d[1];
      p.spatial = 1;
      for (int32_t i = 2; i < x.nbDims; ++i) p.spatial *= x.d[i];
      p.attrs = attrs_;
      return LrnCuda(p, static_cast<void*>(stream));
    });
  }

 private:
  PluginBase* CloneImpl() const override { return new LrnPlugin(*this); }

  static Status CheckDesc(const PluginTensorDesc& in, const PluginTensorDesc& out) {
    ND_RETURN_IF_ERROR(CheckType(in.type));
    if (in.format != TensorFormat::kLINEAR) {
      return MakeError(kOp, ": input 'X' must be kLINEAR (NCHW), got ", TrtFormatName(in.format));
    }
    if (out.type != in.type || out.format != in.format) {
      return MakeError(kOp, ": output must have X's type and format (", TrtTypeName(in.type), ", kLINEAR), got ",
                       TrtTypeName(out.type), ", ", TrtFormatName(out.format));
    }
    return Status::Ok();
  }

  LrnAttrs attrs_;
};

}  // namespace

LrnPluginCreator::LrnPluginCreator() noexcept
    : CreatorBase(kLocalResponseNormOpName, kLocalResponseNormFields, kLocalResponseNormFieldCount) {}

Status LrnPluginCreator::Make(const std::string& name, const nvinfer1::PluginFieldCollection* fc,
                              std::vector<FieldValue> values, nvinfer1::IPluginV3*& out) {
  LrnAttrs attrs;
  ND_RETURN_IF_ERROR(ParseLrnAttrs(PluginFieldSource(fc), attrs));
  out = new LrnPlugin(name, attrs, std::move(values));
  return Status::Ok();
}

}  // namespace trt
}  // namespace normdeploy
