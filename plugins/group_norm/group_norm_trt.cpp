// GroupNorm TensorRT plugin. Inputs: X (N, C, *spatial), optional scale (C), optional bias (C);
// one output like X. Formats:
//   X/Y  kLINEAR float32/float16/bfloat16 (NCHW);
//        channel-last, rank 4: kHWC (float32, unpadded) or kHWC8 (float16/bfloat16, only when C is a
//        build-time multiple of 8 so the padded layout is plain NHWC); rank 5: kDHWC / kDHWC8 alike.
//   scale/bias  kLINEAR, float32 or X's type, both the same.
#include "group_norm_trt.h"

#include <utility>

#include "../common/op_fields.generated.h"
#include "group_norm.h"
#include "group_norm_cuda.h"

namespace normdeploy {
namespace trt {
namespace {

using nvinfer1::DataType;
using nvinfer1::Dims;
using nvinfer1::DimsExprs;
using nvinfer1::DynamicPluginTensorDesc;
using nvinfer1::PluginTensorDesc;
using nvinfer1::TensorFormat;

constexpr const char* kOp = kGroupNormOpName;

bool IsFloatType(DataType t) {
  DType unused;
  return ToDType(t, unused);
}

// The channel-last format TensorRT offers for this rank and type (kLINEAR when there is none).
TensorFormat ChannelLastFormat(int32_t rank, DataType type) {
  const bool half = type == DataType::kHALF || type == DataType::kBF16;
  if (rank == 4) return half ? TensorFormat::kHWC8 : TensorFormat::kHWC;
  if (rank == 5) return half ? TensorFormat::kDHWC8 : TensorFormat::kDHWC;
  return TensorFormat::kLINEAR;
}

bool IsPadded8(TensorFormat f) { return f == TensorFormat::kHWC8 || f == TensorFormat::kDHWC8; }

// Whether X (and so Y) may use `format` with `type` and `dims` (C may be unknown: -1).
bool XFormatSupported(TensorFormat format, DataType type, const Dims& dims) {
  if (!IsFloatType(type)) return false;
  if (format == TensorFormat::kLINEAR) return true;
  if (format != ChannelLastFormat(dims.nbDims, type) || format == TensorFormat::kLINEAR) return false;
  // kHWC8/kDHWC8 pad C to a multiple of 8: only then is the memory plain NHWC for the kernel.
  if (IsPadded8(format)) return dims.d[1] > 0 && dims.d[1] % 8 == 0;
  return true;
}

Status LayoutFor(TensorFormat format, DataType type, const Dims& dims, Layout& layout) {
  if (!XFormatSupported(format, type, dims)) {
    return MakeError(kOp, ": unsupported input format ", TrtFormatName(format), " for ", TrtTypeName(type),
                     " input of shape ", ShapeText(dims));
  }
  layout = format == TensorFormat::kLINEAR ? Layout::kNCHW : Layout::kNHWC;
  return Status::Ok();
}

Status CheckCounts(int32_t nb_inputs, int32_t nb_outputs) {
  if (nb_inputs < 1 || nb_inputs > 3) {
    return MakeError(kOp, ": expected 1 to 3 inputs (X, optional scale, optional bias), got ", nb_inputs);
  }
  if (nb_outputs != 1) return MakeError(kOp, ": expected 1 output, got ", nb_outputs);
  return Status::Ok();
}

const char* InputName(int32_t i) { return i == 0 ? "input 'X'" : (i == 1 ? "input 'scale'" : "input 'bias'"); }

Status CheckTypes(const DataType* types, int32_t nb_inputs) {
  if (!IsFloatType(types[0])) {
    return MakeError(kOp, ": input 'X' must be float32, float16 or bfloat16, got ", TrtTypeName(types[0]));
  }
  for (int32_t i = 1; i < nb_inputs; ++i) {
    const char* name = i == 1 ? "scale" : "bias";
    if (types[i] != DataType::kFLOAT && types[i] != types[0]) {
      return MakeError(kOp, ": input '", name, "' must be float32 or X's type (", TrtTypeName(types[0]),
                       "), got ", TrtTypeName(types[i]));
    }
  }
  if (nb_inputs == 3 && types[1] != types[2]) {
    return MakeError(kOp, ": inputs 'scale' (", TrtTypeName(types[1]), ") and 'bias' (", TrtTypeName(types[2]),
                     ") must have the same type");
  }
  return Status::Ok();
}

// ValidateGroupNorm on what is known: unknown dims (-1) are checked later (onShapeChange); an
// unknown C skips the divisibility and scale/bias checks.
Status ValidateKnown(const GroupNormAttrs& attrs, std::vector<int64_t> dims, int64_t scale_len, int64_t bias_len) {
  const int64_t rank = static_cast<int64_t>(dims.size());
  if (rank < 2) return ValidateGroupNorm(attrs, dims.data(), rank, -1, -1);
  const bool c_known = dims[1] >= 0;
  for (auto& d : dims) {
    if (d < 0) d = 1;
  }
  if (!c_known) {
    dims[1] = attrs.num_groups;
    scale_len = bias_len = -1;
  }
  return ValidateGroupNorm(attrs, dims.data(), rank, scale_len, bias_len);
}

class GroupNormPlugin final : public PluginBase {
 public:
  GroupNormPlugin(const std::string& name, const GroupNormAttrs& attrs, std::vector<FieldValue> values)
      : PluginBase(name, kOp, kGroupNormFields, kGroupNormFieldCount, std::move(values)), attrs_(attrs) {}

  // ---- build ----
  int32_t getOutputDataTypes(DataType* output_types, int32_t nb_outputs, const DataType* input_types,
                             int32_t nb_inputs) const noexcept override {
    return Run("getOutputDataTypes", [&]() -> Status {
      ND_RETURN_IF_ERROR(CheckCounts(nb_inputs, nb_outputs));
      ND_RETURN_IF_ERROR(CheckTypes(input_types, nb_inputs));
      output_types[0] = input_types[0];
      return Status::Ok();
    });
  }

  int32_t getOutputShapes(const DimsExprs* inputs, int32_t nb_inputs, const DimsExprs* /*shape_inputs*/,
                          int32_t /*nb_shape_inputs*/, DimsExprs* outputs, int32_t nb_outputs,
                          nvinfer1::IExprBuilder& /*builder*/) noexcept override {
    return Run("getOutputShapes", [&]() -> Status {
      ND_RETURN_IF_ERROR(CheckCounts(nb_inputs, nb_outputs));
      for (int32_t i = 0; i < nb_inputs; ++i) ND_RETURN_IF_ERROR(CheckRank(kOp, InputName(i), inputs[i].nbDims));
      const DimsExprs& x = inputs[0];
      std::vector<int64_t> dims;
      for (int32_t i = 0; i < x.nbDims; ++i) dims.push_back(x.d[i]->isConstant() ? x.d[i]->getConstantValue() : -1);
      int64_t lens[2] = {-1, -1};
      for (int32_t i = 1; i < nb_inputs; ++i) {
        int64_t len = 1;
        for (int32_t k = 0; k < inputs[i].nbDims && len >= 0; ++k) {
          const int64_t d = inputs[i].d[k]->isConstant() ? inputs[i].d[k]->getConstantValue() : -1;
          if (d < 0) {
            len = -1;
          } else if (!MulNonNegative(len, d, len)) {
            return MakeError(kOp, ": input ", i, " has more than 2^63-1 elements");
          }
        }
        lens[i - 1] = len;
      }
      ND_RETURN_IF_ERROR(ValidateKnown(attrs_, dims, lens[0], lens[1]));
      outputs[0] = x;  // same expressions: Y has X's shape
      return Status::Ok();
    });
  }

  bool supportsFormatCombination(int32_t pos, const DynamicPluginTensorDesc* in_out, int32_t nb_inputs,
                                 int32_t nb_outputs) noexcept override {
    // Called for each position with earlier positions already chosen; decides on pos only.
    if (in_out == nullptr || pos < 0 || pos >= nb_inputs + nb_outputs || nb_inputs < 1) return false;
    const PluginTensorDesc& x = in_out[0].desc;
    const PluginTensorDesc& d = in_out[pos].desc;
    if (pos == 0) return XFormatSupported(d.format, d.type, d.dims);
    if (pos >= nb_inputs) return d.type == x.type && d.format == x.format;  // Y like X
    if (d.format != TensorFormat::kLINEAR) return false;                     // scale / bias
    if (d.type != DataType::kFLOAT && d.type != x.type) return false;
    return pos == 1 || d.type == in_out[1].desc.type;
  }

  int32_t configurePlugin(const DynamicPluginTensorDesc* in, int32_t nb_inputs, const DynamicPluginTensorDesc* out,
                          int32_t nb_outputs) noexcept override {
    return Run("configurePlugin", [&]() -> Status {
      ND_RETURN_IF_ERROR(CheckCounts(nb_inputs, nb_outputs));
      if (in == nullptr || out == nullptr) return MakeError(kOp, ": no tensor descriptions");
      for (int32_t i = 0; i < nb_inputs; ++i) {
        for (const Dims* d : {&in[i].desc.dims, &in[i].min, &in[i].max}) {
          ND_RETURN_IF_ERROR(CheckShape(kOp, InputName(i), *d));
        }
      }
      ND_RETURN_IF_ERROR(CheckDescs(in, nb_inputs, out));
      // Both ends of the profile must be valid shapes (dims unknown at build time are -1 in desc).
      for (const Dims* x : {&in[0].min, &in[0].max}) {
        int64_t lens[2] = {-1, -1};
        for (int32_t i = 1; i < nb_inputs; ++i) lens[i - 1] = Volume(in[i].max);
        ND_RETURN_IF_ERROR(ValidateKnown(attrs_, ToVector(*x), lens[0], lens[1]));
      }
      nb_inputs_ = nb_inputs;
      return Status::Ok();
    });
  }

  size_t getWorkspaceSize(const DynamicPluginTensorDesc* inputs, int32_t nb_inputs,
                          const DynamicPluginTensorDesc* /*outputs*/, int32_t /*nb_outputs*/) const noexcept override {
    size_t bytes = 0;
    Run("getWorkspaceSize", [&]() -> Status {
      if (inputs == nullptr || nb_inputs < 1) return MakeError(kOp, ": no input descriptions");
      ND_RETURN_IF_ERROR(CheckShape(kOp, InputName(0), inputs[0].max));
      GroupNormParams p;
      Layout layout = Layout::kNCHW;
      ND_RETURN_IF_ERROR(FillParams(inputs[0].max, inputs[0].desc.type, nb_inputs > 1 ? &inputs[1].desc.type : nullptr, p));
      ND_RETURN_IF_ERROR(LayoutFor(inputs[0].desc.format, inputs[0].desc.type, inputs[0].max, layout));
      bytes = GroupNormCudaWorkspaceSize(p, layout);
      return Status::Ok();
    });
    return bytes;
  }

  // ---- runtime ----
  int32_t onShapeChange(const PluginTensorDesc* in, int32_t nb_inputs, const PluginTensorDesc* out,
                        int32_t nb_outputs) noexcept override {
    return Run("onShapeChange", [&]() -> Status {
      ND_RETURN_IF_ERROR(CheckCounts(nb_inputs, nb_outputs));
      if (in == nullptr || out == nullptr) return MakeError(kOp, ": no tensor descriptions");
      return ValidateRuntime(in, nb_inputs, out[0]);
    });
  }

  int32_t enqueue(const PluginTensorDesc* input_desc, const PluginTensorDesc* output_desc, const void* const* inputs,
                  void* const* outputs, void* workspace, cudaStream_t stream) noexcept override {
    return Run("enqueue", [&]() -> Status {
      if (input_desc == nullptr || output_desc == nullptr || inputs == nullptr || outputs == nullptr) {
        return MakeError(kOp, ": no tensors");
      }
      // enqueue gets no input count: it is the one onShapeChange (always called first by
      // TensorRT on the execution context's plugin) or configurePlugin saw.
      if (nb_inputs_ < 1) return MakeError(kOp, ": enqueue before onShapeChange/configurePlugin: input count unknown");
      ND_RETURN_IF_ERROR(ValidateRuntime(input_desc, nb_inputs_, output_desc[0]));
      GroupNormParams p;
      ND_RETURN_IF_ERROR(FillParams(input_desc[0].dims, input_desc[0].type,
                                    nb_inputs_ > 1 ? &input_desc[1].type : nullptr, p));
      p.x = inputs[0];
      p.y = outputs[0];
      p.scale = nb_inputs_ > 1 ? inputs[1] : nullptr;
      p.bias = nb_inputs_ > 2 ? inputs[2] : nullptr;
      Layout layout = Layout::kNCHW;
      ND_RETURN_IF_ERROR(LayoutFor(input_desc[0].format, input_desc[0].type, input_desc[0].dims, layout));
      return GroupNormCuda(p, layout, workspace, static_cast<void*>(stream));
    });
  }

  const GroupNormAttrs& attrs() const { return attrs_; }

 private:
  PluginBase* CloneImpl() const override { return new GroupNormPlugin(*this); }

  Status CheckDescs(const DynamicPluginTensorDesc* in, int32_t nb_inputs, const DynamicPluginTensorDesc* out) const {
    if (in == nullptr || out == nullptr) return MakeError(kOp, ": no tensor descriptions");
    DataType types[3];
    for (int32_t i = 0; i < nb_inputs; ++i) types[i] = in[i].desc.type;
    ND_RETURN_IF_ERROR(CheckTypes(types, nb_inputs));
    Layout layout = Layout::kNCHW;
    ND_RETURN_IF_ERROR(LayoutFor(in[0].desc.format, in[0].desc.type, in[0].desc.dims, layout));
    if (out[0].desc.type != in[0].desc.type || out[0].desc.format != in[0].desc.format) {
      return MakeError(kOp, ": output must have X's type and format (", TrtTypeName(in[0].desc.type), ", ",
                       TrtFormatName(in[0].desc.format), "), got ", TrtTypeName(out[0].desc.type), ", ",
                       TrtFormatName(out[0].desc.format));
    }
    return Status::Ok();
  }

  // Actual shapes: checks types and shapes, remembers the input count for enqueue.
  Status ValidateRuntime(const PluginTensorDesc* in, int32_t nb_inputs, const PluginTensorDesc& out) {
    if (nb_inputs < 1 || nb_inputs > 3) return MakeError(kOp, ": expected 1 to 3 inputs, got ", nb_inputs);
    for (int32_t i = 0; i < nb_inputs; ++i) ND_RETURN_IF_ERROR(CheckShape(kOp, InputName(i), in[i].dims));
    DataType types[3];
    for (int32_t i = 0; i < nb_inputs; ++i) types[i] = in[i].type;
    ND_RETURN_IF_ERROR(CheckTypes(types, nb_inputs));
    if (out.type != in[0].type) {
      return MakeError(kOp, ": output type ", TrtTypeName(out.type), " differs from X's ", TrtTypeName(in[0].type));
    }
    const std::vector<int64_t> dims = ToVector(in[0].dims);
    ND_RETURN_IF_ERROR(ValidateGroupNorm(attrs_, dims.data(), static_cast<int64_t>(dims.size()),
                                         nb_inputs > 1 ? Volume(in[1].dims) : -1,
                                         nb_inputs > 2 ? Volume(in[2].dims) : -1));
    nb_inputs_ = nb_inputs;
    return Status::Ok();
  }

  // Shape and types into params (no pointers). affine_type: scale/bias type, null when absent.
  Status FillParams(const Dims& x, DataType x_type, const DataType* affine_type, GroupNormParams& p) const {
    if (x.nbDims < 2) return MakeError(kOp, ": input 'X' must have rank >= 2, got shape ", ShapeText(x));
    if (Volume(x) < 0) return MakeError(kOp, ": input 'X' shape ", ShapeText(x), " is not fully known");
    if (!ToDType(x_type, p.x_type)) return MakeError(kOp, ": input 'X' type ", TrtTypeName(x_type), " is not supported");
    p.affine_type = p.x_type;
    if (affine_type != nullptr && !ToDType(*affine_type, p.affine_type)) {
      return MakeError(kOp, ": input 'scale' type ", TrtTypeName(*affine_type), " is not supported");
    }
    p.attrs = attrs_;
    p.n = x.d[0];
    p.c = x.d[1];
    p.spatial = 1;
    for (int32_t i = 2; i < x.nbDims; ++i) p.spatial *= x.d[i];
    return Status::Ok();
  }

  GroupNormAttrs attrs_;
  int32_t nb_inputs_ = -1;  // set by configurePlugin / onShapeChange
};

}  // namespace

GroupNormPluginCreator::GroupNormPluginCreator() noexcept
    : CreatorBase(kGroupNormOpName, kGroupNormFields, kGroupNormFieldCount) {}

Status GroupNormPluginCreator::Make(const std::string& name, const nvinfer1::PluginFieldCollection* fc,
                                    std::vector<FieldValue> values, nvinfer1::IPluginV3*& out) {
  GroupNormAttrs attrs;
  ND_RETURN_IF_ERROR(ParseGroupNormAttrs(PluginFieldSource(fc), attrs));
  out = new GroupNormPlugin(name, attrs, std::move(values));
  return Status::Ok();
}

}  // namespace trt
}  // namespace normdeploy
