// Thin ONNX Runtime adapter for LocalResponseNorm: unpack, validate, launch.

#include "../common/op_fields.generated.h"
#include "../onnxruntime/ort_ops.h"
#include "../onnxruntime/ort_op.h"
#include "lrn.h"
#include "lrn_cuda.h"

namespace normdeploy {
namespace {

constexpr const char* kOp = kLocalResponseNormOpName;

struct LrnOrt {
  static constexpr const char* kName = kOp;
  static constexpr size_t kInputCount = 1;  // X
  using Attrs = LrnAttrs;
  static Status Parse(const FieldSource& source, Attrs& attrs) { return ParseLrnAttrs(source, attrs); }

  static Status Prepare(const OrtApi& api_ref, const Attrs& attrs, OrtKernelContext* context, LrnParams& p,
                        bool& empty) {
    const OrtApi* api = &api_ref;
    ort::TensorView x;
    ND_RETURN_IF_ERROR(ort::GetInput(*api, context, 0, kOp, "X", x));
    if (!ort::ToDType(x.type, p.type)) {
      return MakeError(kOp, ": input 'X' has type ", ort::OnnxTypeName(x.type),
                       "; expected float32, float16 or bfloat16");
    }
    ND_RETURN_IF_ERROR(ValidateLrn(attrs, x.dims.data(), static_cast<int64_t>(x.dims.size())));
    p.x = x.data;
    p.n = x.dims[0];
    p.c = x.dims[1];
    // An empty X may have other dims whose product overflows (ONNX Runtime accepts {1, 0, 2^62, 2^62}):
    // its spatial size is never used, so it is only computed for a non-empty X.
    empty = x.Elements() == 0;
    p.spatial = empty ? 0 : 1;
    for (size_t i = 2; i < x.dims.size() && !empty; ++i) p.spatial *= x.dims[i];
    p.attrs = attrs;
    ND_RETURN_IF_ERROR(ort::AllocateOutput(*api, context, 0, x.dims, kOp, p.y));
    return Status::Ok();
  }

  static Status Compute(const OrtApi& api, const Attrs& attrs, OrtKernelContext* context) {
    LrnParams p;
    bool empty = false;
    ND_RETURN_IF_ERROR(Prepare(api, attrs, context, p, empty));
    return empty ? Status::Ok() : LrnCpu(p, ort::OrtParallelFor(api, context));
  }

#ifdef ND_WITH_CUDA
  static Status ComputeCuda(const OrtApi& api, const Attrs& attrs, OrtKernelContext* context, OrtAllocator*) {
    LrnParams p;
    bool empty = false;
    ND_RETURN_IF_ERROR(Prepare(api, attrs, context, p, empty));
    if (empty) return Status::Ok();
    void* stream = nullptr;
    ND_RETURN_IF_ERROR(ort::GpuStream(api, context, kOp, stream));
    return LrnCuda(p, stream);
  }
#endif
};

}  // namespace

void AppendLrnOrtOps(std::vector<const OrtCustomOp*>& ops) { ort::AppendTypedOps<LrnOrt>(ops); }

}  // namespace normdeploy
