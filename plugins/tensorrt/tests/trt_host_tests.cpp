// Host-side tests of the TensorRT plugins: everything TensorRT would call, driven through the
// public interfaces only (getCreators -> IPluginCreatorV3One -> IPluginV3 -> capabilities), with
// test implementations of IExprBuilder, ILogger(Finder), IErrorRecorder and IPluginResourceContext,
// and stub CUDA launchers (cuda_launcher_stub.cpp) that record what enqueue passed.
// No GPU, no libnvinfer, no cudart. Usage: nd_trt_host_tests [substring-of-test-name]
// Exit code 0 when every test passed; prints one line per test and a summary.
#include <NvInferRuntime.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "../../common/op_fields.generated.h"
#include "cuda_launcher_stub.h"
#include "trt_test_doubles.h"

extern "C" void setLoggerFinder(nvinfer1::ILoggerFinder* finder) noexcept;
extern "C" nvinfer1::IPluginCreatorInterface* const* getCreators(int32_t& nbCreators) noexcept;

using namespace nvinfer1;
namespace nd = normdeploy;

// ---- tiny test harness ------------------------------------------------------------------------

namespace {

int g_failures = 0;
std::string g_current;

#define CHECK(cond)                                                                        \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      ++g_failures;                                                                        \
      std::printf("    FAILED %s:%d: %s\n", __FILE__, __LINE__, #cond);                    \
    }                                                                                      \
  } while (0)

#define CHECK_MSG(cond, msg)                                                               \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      ++g_failures;                                                                        \
      std::printf("    FAILED %s:%d: %s (%s)\n", __FILE__, __LINE__, #cond, std::string(msg).c_str()); \
    }                                                                                      \
  } while (0)

struct TestCase {
  const char* name;
  std::function<void()> fn;
};
std::vector<TestCase>& Tests() {
  static std::vector<TestCase> tests;
  return tests;
}
struct Register {
  Register(const char* name, std::function<void()> fn) { Tests().push_back({name, std::move(fn)}); }
};
#define TEST(name)                                   \
  void name();                                       \
  const Register register_##name(#name, name);       \
  void name()

// ---- TensorRT interface implementations for the tests (trt_test_doubles.h) ----------------------

using TestLoggerFinder = nd_trt_test::LoggerFinder;
using TestRecorder = nd_trt_test::Recorder;
using TestResourceContext = nd_trt_test::ResourceContext;
using TestExprBuilder = nd_trt_test::ExprBuilder;

TestLoggerFinder g_finder;

// ---- helpers --------------------------------------------------------------------------------------

IPluginCreatorV3One* FindCreator(const char* name) {
  int32_t n = 0;
  IPluginCreatorInterface* const* creators = getCreators(n);
  for (int32_t i = 0; i < n; ++i) {
    auto* c = static_cast<IPluginCreatorV3One*>(creators[i]);
    if (std::strcmp(c->getPluginName(), name) == 0) return c;
  }
  return nullptr;
}

// Field values with storage, as TensorRT's ONNX parser builds them.
class Fields {
 public:
  Fields& Int(const char* name, int32_t v) { return Add(name, PluginFieldType::kINT32, &v, sizeof v, 1); }
  Fields& Float(const char* name, float v) { return Add(name, PluginFieldType::kFLOAT32, &v, sizeof v, 1); }
  Fields& Str(const char* name, const std::string& v) {  // the parser passes the size, no NUL
    return Add(name, PluginFieldType::kCHAR, v.data(), v.size(), static_cast<int32_t>(v.size()));
  }
  const PluginFieldCollection* Get() {
    fields_.clear();
    for (size_t i = 0; i < names_.size(); ++i) {
      fields_.emplace_back(names_[i].c_str(), storage_[i].data(), types_[i], lengths_[i]);
    }
    fc_.nbFields = static_cast<int32_t>(fields_.size());
    fc_.fields = fields_.data();
    return &fc_;
  }

 private:
  Fields& Add(const char* name, PluginFieldType t, const void* data, size_t bytes, int32_t length) {
    names_.emplace_back(name);
    storage_.emplace_back(static_cast<const char*>(data), static_cast<const char*>(data) + bytes);
    storage_.back().push_back('\0');
    types_.push_back(t);
    lengths_.push_back(length);
    return *this;
  }
  std::deque<std::string> names_;
  std::deque<std::vector<char>> storage_;
  std::vector<PluginFieldType> types_;
  std::vector<int32_t> lengths_;
  std::vector<PluginField> fields_;
  PluginFieldCollection fc_{};
};

using nd_trt_test::Build;
using nd_trt_test::Core;
using nd_trt_test::PluginPtr;
using nd_trt_test::Runtime;

PluginPtr Create(const char* op, Fields& f, TensorRTPhase phase = TensorRTPhase::kBUILD, const char* layer = "layer0") {
  IPluginCreatorV3One* c = FindCreator(op);
  if (c == nullptr) return nullptr;
  return PluginPtr(c->createPlugin(layer, f.Get(), phase));
}


using nd_trt_test::MakeDims;

PluginTensorDesc Desc(Dims dims, DataType t = DataType::kFLOAT, TensorFormat f = TensorFormat::kLINEAR) {
  PluginTensorDesc d{};
  d.dims = dims;
  d.type = t;
  d.format = f;
  d.scale = 1.0f;
  return d;
}

DynamicPluginTensorDesc DynDesc(Dims dims, Dims min, Dims max, DataType t = DataType::kFLOAT,
                                TensorFormat f = TensorFormat::kLINEAR) {
  DynamicPluginTensorDesc d{};
  d.desc = Desc(dims, t, f);
  d.min = min;
  d.opt = max;
  d.max = max;
  return d;
}

DynamicPluginTensorDesc Static(Dims dims, DataType t = DataType::kFLOAT, TensorFormat f = TensorFormat::kLINEAR) {
  return DynDesc(dims, dims, dims, t, f);
}

// Snapshot of a serialized collection: name -> printable value.
std::vector<std::string> Describe(const PluginFieldCollection* fc) {
  std::vector<std::string> out;
  if (fc == nullptr) return out;
  for (int32_t i = 0; i < fc->nbFields; ++i) {
    const PluginField& f = fc->fields[i];
    std::string v;
    switch (f.type) {
      case PluginFieldType::kINT32: v = "i32:" + std::to_string(*static_cast<const int32_t*>(f.data)); break;
      case PluginFieldType::kINT64: v = "i64:" + std::to_string(*static_cast<const int64_t*>(f.data)); break;
      case PluginFieldType::kFLOAT32: {
        char buf[64];
        std::snprintf(buf, sizeof buf, "f32:%.9g", static_cast<double>(*static_cast<const float*>(f.data)));
        v = buf;
        break;
      }
      case PluginFieldType::kCHAR: v = std::string("str:") + static_cast<const char*>(f.data); break;
      default: v = "other"; break;
    }
    out.push_back(std::string(f.name) + "=" + v + "/len" + std::to_string(f.length));
  }
  return out;
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + " ";
  return out;
}

void ResetLog() { g_finder.logger.entries.clear(); }

// ---- tests ----------------------------------------------------------------------------------------

TEST(creators_are_listed_with_names_versions_namespaces) {
  int32_t n = -1;
  IPluginCreatorInterface* const* creators = getCreators(n);
  CHECK(n == 2);
  CHECK(creators != nullptr);
  const char* expected[] = {"GroupNorm", "LocalResponseNorm"};
  for (int32_t i = 0; i < n && i < 2; ++i) {
    InterfaceInfo info = creators[i]->getInterfaceInfo();
    CHECK(std::strcmp(info.kind, "PLUGIN CREATOR_V3ONE") == 0);
    CHECK(info.major == 1);
    auto* c = static_cast<IPluginCreatorV3One*>(creators[i]);
    CHECK(std::strcmp(c->getPluginName(), expected[i]) == 0);
    CHECK(std::strcmp(c->getPluginVersion(), "1") == 0);
    CHECK(std::strcmp(c->getPluginNamespace(), "normdeploy") == 0);
  }
}

TEST(field_lists_are_the_runtime_fields_with_parser_types) {
  struct Want {
    const char* name;
    PluginFieldType type;
  };
  const Want gn[] = {{"num_groups", PluginFieldType::kINT32},
                     {"epsilon", PluginFieldType::kFLOAT32},
                     {"activation", PluginFieldType::kCHAR}};
  const Want lrn[] = {{"size", PluginFieldType::kINT32},
                      {"alpha", PluginFieldType::kFLOAT32},
                      {"beta", PluginFieldType::kFLOAT32},
                      {"bias", PluginFieldType::kFLOAT32},
                      {"window", PluginFieldType::kCHAR}};
  const std::pair<const char*, std::vector<Want>> cases[] = {
      {"GroupNorm", std::vector<Want>(std::begin(gn), std::end(gn))},
      {"LocalResponseNorm", std::vector<Want>(std::begin(lrn), std::end(lrn))}};
  for (const auto& c : cases) {
    const PluginFieldCollection* fc = FindCreator(c.first)->getFieldNames();
    CHECK(fc != nullptr);
    if (fc == nullptr) continue;
    CHECK_MSG(fc->nbFields == static_cast<int32_t>(c.second.size()), c.first);
    for (int32_t i = 0; i < fc->nbFields && i < static_cast<int32_t>(c.second.size()); ++i) {
      CHECK_MSG(std::strcmp(fc->fields[i].name, c.second[static_cast<size_t>(i)].name) == 0, fc->fields[i].name);
      CHECK(fc->fields[i].type == c.second[static_cast<size_t>(i)].type);
      CHECK(fc->fields[i].length == 1);
      CHECK(std::strcmp(fc->fields[i].name, "plugin_version") != 0);
      CHECK(std::strcmp(fc->fields[i].name, "plugin_namespace") != 0);
    }
  }
  // And they are exactly the generated table's runtime fields (no hand-written list can drift).
  const PluginFieldCollection* fc = FindCreator("GroupNorm")->getFieldNames();
  int runtime = 0;
  for (const auto& spec : nd::kGroupNormFields) runtime += spec.runtime ? 1 : 0;
  CHECK(fc->nbFields == runtime);
}

TEST(good_fields_create_a_plugin_with_three_capabilities) {
  Fields f;
  f.Int("num_groups", 4).Float("epsilon", 1e-5f).Str("activation", "silu");
  PluginPtr p = Create("GroupNorm", f);
  CHECK(p != nullptr);
  if (!p) return;
  CHECK(std::strcmp(p->getInterfaceInfo().kind, "PLUGIN") == 0);
  CHECK(Core(p.get()) != nullptr && Build(p.get()) != nullptr && Runtime(p.get()) != nullptr);
  CHECK(std::strcmp(Core(p.get())->getInterfaceInfo().kind, "PLUGIN_V3ONE_CORE") == 0);
  CHECK(std::strcmp(Build(p.get())->getInterfaceInfo().kind, "PLUGIN_V3ONE_BUILD") == 0);
  CHECK(std::strcmp(Runtime(p.get())->getInterfaceInfo().kind, "PLUGIN_V3ONE_RUNTIME") == 0);
  CHECK(std::strcmp(Core(p.get())->getPluginName(), "GroupNorm") == 0);
  CHECK(std::strcmp(Core(p.get())->getPluginVersion(), "1") == 0);
  CHECK(std::strcmp(Core(p.get())->getPluginNamespace(), "normdeploy") == 0);
  CHECK(Build(p.get())->getNbOutputs() == 1);

  Fields l;
  l.Int("size", 4).Str("window", "pytorch");
  PluginPtr q = Create("LocalResponseNorm", l);
  CHECK(q != nullptr);
  if (q) CHECK(std::strcmp(Core(q.get())->getPluginName(), "LocalResponseNorm") == 0);
}

struct BadCase {
  const char* op;
  std::function<void(Fields&)> fill;
  const char* message;
};

TEST(bad_fields_log_a_clear_error_and_return_null) {
  const BadCase cases[] = {
      {"GroupNorm", [](Fields& f) { f.Float("num_groups", 4.0f); },
       "GroupNorm: attribute 'num_groups' must be an int, got a field of type kFLOAT32"},
      {"GroupNorm", [](Fields& f) { f.Int("num_groups", 4).Float("epsilon", std::nanf("")); },
       "GroupNorm: attribute 'epsilon' = nan is invalid: must be finite and >= 0"},
      {"GroupNorm", [](Fields& f) { f.Int("num_groups", 0); },
       "GroupNorm: attribute 'num_groups' = 0 is invalid: must be >= 1"},
      {"GroupNorm", [](Fields& f) { f.Int("num_groups", 2).Str("activation", "relu"); },
       "GroupNorm: attribute 'activation' = 'relu' is invalid: must be one of 'none', 'silu'"},
      {"GroupNorm", [](Fields& f) { f.Float("epsilon", 1e-5f); }, "GroupNorm: required attribute 'num_groups' is missing"},
      {"LocalResponseNorm", [](Fields& f) { f.Int("size", 3).Str("window", "caffe"); },
       "LocalResponseNorm: attribute 'window' = 'caffe' is invalid: must be one of 'onnx', 'pytorch'"},
      {"LocalResponseNorm", [](Fields& f) { f.Float("alpha", 1e-4f); },
       "LocalResponseNorm: required attribute 'size' is missing"},
      {"LocalResponseNorm", [](Fields& f) { f.Int("size", 3).Str("alpha", "0.1"); },
       "LocalResponseNorm: attribute 'alpha' must be a float, got a field of type kCHAR"},
      {"LocalResponseNorm", [](Fields& f) { f.Int("size", 3).Float("beta", INFINITY); },
       "LocalResponseNorm: attribute 'beta' = inf is invalid: must be finite"},
  };
  for (const auto& c : cases) {
    ResetLog();
    Fields f;
    c.fill(f);
    PluginPtr p = Create(c.op, f, TensorRTPhase::kBUILD, "bad_node");
    CHECK_MSG(p == nullptr, c.message);
    CHECK_MSG(g_finder.logger.HasError(c.message), std::string(c.message) + " | log: " + g_finder.logger.All());
    CHECK_MSG(g_finder.logger.HasError("'bad_node'"), g_finder.logger.All());  // names the node
  }
  // A null collection is a missing required field, not a crash.
  ResetLog();
  CHECK(FindCreator("GroupNorm")->createPlugin("n", nullptr, TensorRTPhase::kBUILD) == nullptr);
  CHECK(g_finder.logger.HasError("required attribute 'num_groups' is missing"));
}

TEST(unknown_fields_are_warned_about_not_fatal) {
  ResetLog();
  Fields f;
  f.Int("num_groups", 2).Int("groups", 3).Str("plugin_version", "1");
  PluginPtr p = Create("GroupNorm", f);
  CHECK(p != nullptr);
  bool warned = false;
  for (const auto& e : g_finder.logger.entries) {
    warned |= e.first == ILogger::Severity::kWARNING && e.second.find("'groups'") != std::string::npos &&
              e.second.find("plugin_version") == std::string::npos;
  }
  CHECK_MSG(warned, g_finder.logger.All());
}

TEST(output_shapes_through_the_expr_builder) {
  Fields f;
  f.Int("num_groups", 4);
  PluginPtr p = Create("GroupNorm", f);
  TestExprBuilder eb;
  DimsExprs in[3]{};
  in[0].nbDims = 4;
  in[0].d[0] = eb.Symbol("batch");
  in[0].d[1] = eb.constant(12);
  in[0].d[2] = eb.Symbol("height");
  in[0].d[3] = eb.constant(7);
  in[1].nbDims = 1;
  in[1].d[0] = eb.constant(12);
  in[2] = in[1];
  for (int32_t nb : {1, 2, 3}) {
    DimsExprs out[1]{};
    CHECK(Build(p.get())->getOutputShapes(in, nb, nullptr, 0, out, 1, eb) == 0);
    CHECK(out[0].nbDims == 4);
    for (int i = 0; i < 4; ++i) CHECK(out[0].d[i] == in[0].d[i]);
  }
  CHECK(!in[0].d[0]->isConstant() && in[0].d[1]->getConstantValue() == 12);

  // Symbolic C: accepted now, checked when the shape is known.
  DimsExprs sym = in[0];
  sym.d[1] = eb.Symbol("channels");
  DimsExprs out[1]{};
  CHECK(Build(p.get())->getOutputShapes(&sym, 1, nullptr, 0, out, 1, eb) == 0);
  CHECK(out[0].d[1] == sym.d[1]);

  // Constant C that num_groups does not divide: error through the logger, -1.
  ResetLog();
  DimsExprs bad = in[0];
  bad.d[1] = eb.constant(10);
  CHECK(Build(p.get())->getOutputShapes(&bad, 1, nullptr, 0, out, 1, eb) != 0);
  CHECK_MSG(g_finder.logger.HasError("GroupNorm 'layer0' getOutputShapes: GroupNorm: num_groups=4 does not divide C=10"),
            g_finder.logger.All());
  // Scale of the wrong length.
  ResetLog();
  DimsExprs with_scale[2] = {in[0], in[1]};
  with_scale[1].d[0] = eb.constant(8);
  CHECK(Build(p.get())->getOutputShapes(with_scale, 2, nullptr, 0, out, 1, eb) != 0);
  CHECK(g_finder.logger.HasError("input 'scale' has 8 elements, expected C=12"));
  // Rank 1 and 4 inputs.
  ResetLog();
  DimsExprs rank1{};
  rank1.nbDims = 1;
  rank1.d[0] = eb.constant(3);
  CHECK(Build(p.get())->getOutputShapes(&rank1, 1, nullptr, 0, out, 1, eb) != 0);
  CHECK(g_finder.logger.HasError("must have rank >= 2"));
  DimsExprs four[4] = {in[0], in[1], in[1], in[1]};
  CHECK(Build(p.get())->getOutputShapes(four, 4, nullptr, 0, out, 1, eb) != 0);
  CHECK(g_finder.logger.HasError("expected 1 to 3 inputs"));

  Fields l;
  l.Int("size", 5);
  PluginPtr q = Create("LocalResponseNorm", l);
  DimsExprs lin = in[0];
  DimsExprs lout[1]{};
  CHECK(Build(q.get())->getOutputShapes(&lin, 1, nullptr, 0, lout, 1, eb) == 0);
  for (int i = 0; i < 4; ++i) CHECK(lout[0].d[i] == lin.d[i]);
}

TEST(output_types_follow_x) {
  Fields f;
  f.Int("num_groups", 2);
  PluginPtr p = Create("GroupNorm", f);
  for (DataType t : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16}) {
    DataType in[3] = {t, DataType::kFLOAT, DataType::kFLOAT};
    DataType out[1] = {DataType::kINT8};
    CHECK(Build(p.get())->getOutputDataTypes(out, 1, in, 3) == 0);
    CHECK(out[0] == t);
  }
  ResetLog();
  DataType in[1] = {DataType::kINT32};
  DataType out[1];
  CHECK(Build(p.get())->getOutputDataTypes(out, 1, in, 1) != 0);
  CHECK(g_finder.logger.HasError("input 'X' must be float32, float16 or bfloat16, got int32"));
  DataType mixed[3] = {DataType::kHALF, DataType::kFLOAT, DataType::kHALF};
  CHECK(Build(p.get())->getOutputDataTypes(out, 1, mixed, 3) != 0);
  CHECK(g_finder.logger.HasError("'scale' (float32) and 'bias' (float16) must have the same type"));
}

TEST(format_support_matrix_group_norm) {
  Fields f;
  f.Int("num_groups", 4);
  PluginPtr p = Create("GroupNorm", f);
  IPluginV3OneBuild* b = Build(p.get());
  const DataType types[] = {DataType::kFLOAT, DataType::kHALF, DataType::kBF16, DataType::kINT8, DataType::kINT32};
  const TensorFormat formats[] = {TensorFormat::kLINEAR, TensorFormat::kHWC,  TensorFormat::kHWC8,
                                  TensorFormat::kCHW32,  TensorFormat::kHWC16, TensorFormat::kDHWC8,
                                  TensorFormat::kDHWC};
  for (int64_t c : {int64_t{16}, int64_t{12}, int64_t{-1}}) {
    for (int rank : {3, 4, 5}) {
      Dims dims = rank == 3 ? MakeDims({2, c, 9}) : rank == 4 ? MakeDims({2, c, 9, 5}) : MakeDims({2, c, 3, 9, 5});
      for (DataType t : types) {
        for (TensorFormat fmt : formats) {
          DynamicPluginTensorDesc io[2] = {Static(dims, t, fmt), Static(dims, t, fmt)};
          const bool half = t == DataType::kHALF || t == DataType::kBF16;
          const bool floaty = half || t == DataType::kFLOAT;
          bool want = false;
          if (floaty && fmt == TensorFormat::kLINEAR) want = true;
          if (rank == 4 && t == DataType::kFLOAT && fmt == TensorFormat::kHWC) want = true;
          if (rank == 5 && t == DataType::kFLOAT && fmt == TensorFormat::kDHWC) want = true;
          if (rank == 4 && half && fmt == TensorFormat::kHWC8 && c == 16) want = true;
          if (rank == 5 && half && fmt == TensorFormat::kDHWC8 && c == 16) want = true;
          const bool got = b->supportsFormatCombination(0, io, 1, 1);
          CHECK_MSG(got == want, "rank " + std::to_string(rank) + " C=" + std::to_string(c) + " type " +
                                     std::to_string(static_cast<int>(t)) + " format " +
                                     std::to_string(static_cast<int>(fmt)));
        }
      }
    }
  }
  // Output must equal the input's type and format.
  Dims d = MakeDims({2, 16, 9, 5});
  DynamicPluginTensorDesc io[2] = {Static(d, DataType::kHALF, TensorFormat::kHWC8),
                                   Static(d, DataType::kHALF, TensorFormat::kHWC8)};
  CHECK(b->supportsFormatCombination(1, io, 1, 1));
  io[1].desc.format = TensorFormat::kLINEAR;
  CHECK(!b->supportsFormatCombination(1, io, 1, 1));
  io[1] = Static(d, DataType::kFLOAT, TensorFormat::kHWC8);
  CHECK(!b->supportsFormatCombination(1, io, 1, 1));

  // scale/bias: kLINEAR, float32 or X's type, bias like scale.
  Dims cd = MakeDims({16});
  for (DataType x : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16}) {
    for (DataType s : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16, DataType::kINT32}) {
      DynamicPluginTensorDesc all[4] = {Static(d, x), Static(cd, s), Static(cd, s), Static(d, x)};
      const bool want = s == DataType::kFLOAT || s == x;
      CHECK(b->supportsFormatCombination(1, all, 3, 1) == want);
      CHECK(b->supportsFormatCombination(2, all, 3, 1) == want);
      CHECK(b->supportsFormatCombination(3, all, 3, 1));
      all[1].desc.format = TensorFormat::kHWC;
      CHECK(!b->supportsFormatCombination(1, all, 3, 1));
    }
  }
  DynamicPluginTensorDesc mixed[4] = {Static(d, DataType::kHALF), Static(cd, DataType::kFLOAT),
                                      Static(cd, DataType::kHALF), Static(d, DataType::kHALF)};
  CHECK(!b->supportsFormatCombination(2, mixed, 3, 1));
  CHECK(!b->supportsFormatCombination(4, mixed, 3, 1));  // out of range
  CHECK(!b->supportsFormatCombination(-1, mixed, 3, 1));
}

TEST(format_support_matrix_lrn) {
  Fields f;
  f.Int("size", 3);
  PluginPtr p = Create("LocalResponseNorm", f);
  IPluginV3OneBuild* b = Build(p.get());
  Dims d = MakeDims({2, 16, 9, 5});
  for (DataType t : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16, DataType::kINT8, DataType::kINT32}) {
    for (TensorFormat fmt : {TensorFormat::kLINEAR, TensorFormat::kHWC, TensorFormat::kHWC8, TensorFormat::kCHW32}) {
      DynamicPluginTensorDesc io[2] = {Static(d, t, fmt), Static(d, t, fmt)};
      const bool want = fmt == TensorFormat::kLINEAR && (t == DataType::kFLOAT || t == DataType::kHALF || t == DataType::kBF16);
      CHECK(b->supportsFormatCombination(0, io, 1, 1) == want);
    }
  }
  DynamicPluginTensorDesc io[2] = {Static(d, DataType::kHALF), Static(d, DataType::kFLOAT)};
  CHECK(!b->supportsFormatCombination(1, io, 1, 1));
  io[1].desc.type = DataType::kHALF;
  CHECK(b->supportsFormatCombination(1, io, 1, 1));
  CHECK(!b->supportsFormatCombination(0, io, 2, 1));
}

TEST(configure_validates_the_profile_and_workspace_uses_the_max_shape) {
  Fields f;
  f.Int("num_groups", 4);
  PluginPtr p = Create("GroupNorm", f);
  IPluginV3OneBuild* b = Build(p.get());
  // Dynamic batch and height: desc has -1, min/max are concrete.
  DynamicPluginTensorDesc in[3] = {
      DynDesc(MakeDims({-1, 12, -1, 7}), MakeDims({1, 12, 5, 7}), MakeDims({8, 12, 33, 7})),
      Static(MakeDims({12})), Static(MakeDims({12}))};
  DynamicPluginTensorDesc out[1] = {in[0]};
  CHECK(b->configurePlugin(in, 3, out, 1) == 0);
  CHECK(b->getWorkspaceSize(in, 3, out, 1) == nd::stub::ExpectedWorkspace(8, 4, nd::Layout::kNCHW));

  // Channel-last half: NHWC workspace.
  DynamicPluginTensorDesc hin[1] = {DynDesc(MakeDims({-1, 16, 9, 5}), MakeDims({1, 16, 9, 5}), MakeDims({3, 16, 9, 5}),
                                            DataType::kHALF, TensorFormat::kHWC8)};
  DynamicPluginTensorDesc hout[1] = {hin[0]};
  CHECK(b->configurePlugin(hin, 1, hout, 1) == 0);
  CHECK(b->getWorkspaceSize(hin, 1, hout, 1) == nd::stub::ExpectedWorkspace(3, 4, nd::Layout::kNHWC));

  // Dynamic C whose max is not divisible: rejected at configure time with the values.
  ResetLog();
  DynamicPluginTensorDesc cin[1] = {DynDesc(MakeDims({2, -1, 9}), MakeDims({2, 8, 9}), MakeDims({2, 10, 9}))};
  DynamicPluginTensorDesc cout[1] = {cin[0]};
  CHECK(b->configurePlugin(cin, 1, cout, 1) != 0);
  CHECK_MSG(g_finder.logger.HasError("num_groups=4 does not divide C=10"), g_finder.logger.All());

  // Wrong scale length.
  ResetLog();
  DynamicPluginTensorDesc sin[2] = {Static(MakeDims({2, 12, 9})), Static(MakeDims({6}))};
  CHECK(b->configurePlugin(sin, 2, out, 1) != 0);
  CHECK(g_finder.logger.HasError("input 'scale' has 6 elements, expected C=12"));

  // Output in another format than X.
  ResetLog();
  DynamicPluginTensorDesc fo[1] = {Static(MakeDims({2, 16, 9, 5}), DataType::kHALF, TensorFormat::kLINEAR)};
  CHECK(b->configurePlugin(hin, 1, fo, 1) != 0);
  CHECK(g_finder.logger.HasError("output must have X's type and format"));

  Fields l;
  l.Int("size", 3);
  PluginPtr q = Create("LocalResponseNorm", l);
  DynamicPluginTensorDesc lin[1] = {DynDesc(MakeDims({-1, 5, 9}), MakeDims({1, 5, 9}), MakeDims({4, 5, 9}))};
  DynamicPluginTensorDesc lout[1] = {lin[0]};
  CHECK(Build(q.get())->configurePlugin(lin, 1, lout, 1) == 0);
  CHECK(Build(q.get())->getWorkspaceSize(lin, 1, lout, 1) == 0);
}

TEST(errors_go_to_the_error_recorder_of_the_attached_context) {
  Fields f;
  f.Int("num_groups", 4);
  PluginPtr p = Create("GroupNorm", f, TensorRTPhase::kRUNTIME, "gn_runtime");
  TestRecorder recorder;
  TestResourceContext ctx(&recorder);
  PluginPtr attached(Runtime(p.get())->attachToContext(&ctx));
  CHECK(attached != nullptr);
  CHECK(attached.get() != p.get());
  ResetLog();
  PluginTensorDesc in[1] = {Desc(MakeDims({2, 63, 5}))};
  PluginTensorDesc out[1] = {in[0]};
  CHECK(Runtime(attached.get())->onShapeChange(in, 1, out, 1) != 0);
  CHECK_MSG(recorder.Has("GroupNorm 'gn_runtime' onShapeChange: GroupNorm: num_groups=4 does not divide C=63"),
            recorder.errors.empty() ? "no errors" : recorder.errors[0].second);
  CHECK(recorder.errors.size() == 1 && recorder.errors[0].first == ErrorCode::kINVALID_ARGUMENT);
  // Short enough for the recorder: reported once, not logged as well.
  CHECK(!g_finder.logger.HasError("does not divide C=63"));
  // Longer than the recorder's 127 characters: the logger has the full text too.
  PluginPtr long_name = Create("GroupNorm", f, TensorRTPhase::kRUNTIME, std::string(120, 'n').c_str());
  PluginPtr long_attached(Runtime(long_name.get())->attachToContext(&ctx));
  recorder.clear();
  CHECK(Runtime(long_attached.get())->onShapeChange(in, 1, out, 1) != 0);
  CHECK(recorder.errors.size() == 1);
  CHECK(g_finder.logger.HasError(std::string(120, 'n') + "' onShapeChange: GroupNorm: num_groups=4 does not divide C=63 (input 'X' dim 1)"));
  // Negative dims at run time.
  recorder.clear();
  in[0] = Desc(MakeDims({2, -1, 5}));
  CHECK(Runtime(attached.get())->onShapeChange(in, 1, out, 1) != 0);
  CHECK(recorder.Has("negative dim"));
  // The unattached plugin still logs.
  ResetLog();
  in[0] = Desc(MakeDims({2, 63, 5}));
  CHECK(Runtime(p.get())->onShapeChange(in, 1, out, 1) != 0);
  CHECK(g_finder.logger.HasError("does not divide C=63"));
}

TEST(enqueue_builds_params_from_the_descs) {
  auto& s = nd::stub::State();
  s = nd::stub::Calls{};
  Fields f;
  f.Int("num_groups", 4).Float("epsilon", 1e-3f).Str("activation", "silu");
  PluginPtr p = Create("GroupNorm", f);
  IPluginV3OneRuntime* r = Runtime(p.get());
  float x = 0, y = 0, scale = 0, bias = 0;
  const void* ins[3] = {&x, &scale, &bias};
  void* outs[1] = {&y};
  char workspace[8];
  auto* stream = reinterpret_cast<cudaStream_t>(&workspace[1]);

  // NCHW float16 with float32 scale/bias.
  PluginTensorDesc in[3] = {Desc(MakeDims({3, 16, 9, 5}), DataType::kHALF), Desc(MakeDims({16})), Desc(MakeDims({16}))};
  PluginTensorDesc out[1] = {in[0]};
  CHECK(r->onShapeChange(in, 3, out, 1) == 0);
  CHECK(r->enqueue(in, out, ins, outs, workspace, stream) == 0);
  CHECK(s.group_norm_calls == 1);
  const nd::GroupNormParams& g = s.group_norm;
  CHECK(g.x == &x && g.y == &y && g.scale == &scale && g.bias == &bias);
  CHECK(g.n == 3 && g.c == 16 && g.spatial == 45);
  CHECK(g.x_type == nd::DType::kFloat16 && g.affine_type == nd::DType::kFloat32);
  CHECK(g.attrs.num_groups == 4 && std::fabs(g.attrs.epsilon - 1e-3) < 1e-9 && g.attrs.activation == nd::Activation::kSilu);
  CHECK(s.layout == nd::Layout::kNCHW && s.workspace == workspace && s.stream == static_cast<void*>(stream));

  // Channel-last bfloat16 without scale/bias (attached clone: one input).
  PluginPtr one(p->clone());
  PluginTensorDesc hin[1] = {Desc(MakeDims({2, 8, 3, 7}), DataType::kBF16, TensorFormat::kHWC8)};
  PluginTensorDesc hout[1] = {hin[0]};
  CHECK(Runtime(one.get())->onShapeChange(hin, 1, hout, 1) == 0);
  CHECK(Runtime(one.get())->enqueue(hin, hout, ins, outs, workspace, stream) == 0);
  CHECK(s.group_norm.scale == nullptr && s.group_norm.bias == nullptr);
  CHECK(s.group_norm.x_type == nd::DType::kBFloat16 && s.group_norm.affine_type == nd::DType::kBFloat16);
  CHECK(s.layout == nd::Layout::kNHWC && s.group_norm.spatial == 21);

  // Launcher errors and exceptions come back as -1 with the message, nothing escapes.
  ResetLog();
  s.fail_with = "GroupNormCuda: cudaLaunchKernel failed: invalid configuration";
  CHECK(r->enqueue(in, out, ins, outs, workspace, stream) != 0);
  CHECK(g_finder.logger.HasError("GroupNorm 'layer0' enqueue: GroupNormCuda: cudaLaunchKernel failed"));
  s.fail_with.clear();
  s.throw_instead = true;
  CHECK(r->enqueue(in, out, ins, outs, workspace, stream) != 0);
  CHECK(g_finder.logger.HasError("unexpected exception (caught, not propagated): stub launcher threw"));
  s.throw_instead = false;

  // enqueue on a plugin that never saw a shape: refused, not guessed.
  ResetLog();
  PluginPtr fresh = Create("GroupNorm", f);
  CHECK(Runtime(fresh.get())->enqueue(in, out, ins, outs, workspace, stream) != 0);
  CHECK(g_finder.logger.HasError("input count unknown"));

  // LRN
  Fields l;
  l.Int("size", 4).Float("alpha", 2e-4f).Float("beta", 0.5f).Float("bias", 2.0f).Str("window", "pytorch");
  PluginPtr q = Create("LocalResponseNorm", l);
  PluginTensorDesc lin[1] = {Desc(MakeDims({2, 7, 3, 5, 4}), DataType::kBF16)};
  PluginTensorDesc lout[1] = {lin[0]};
  CHECK(Runtime(q.get())->onShapeChange(lin, 1, lout, 1) == 0);
  CHECK(Runtime(q.get())->enqueue(lin, lout, ins, outs, nullptr, stream) == 0);
  CHECK(s.lrn_calls == 1);
  CHECK(s.lrn.n == 2 && s.lrn.c == 7 && s.lrn.spatial == 60 && s.lrn.type == nd::DType::kBFloat16);
  CHECK(s.lrn.attrs.size == 4 && s.lrn.attrs.window == nd::LrnWindow::kPytorch);
  CHECK(std::fabs(s.lrn.attrs.alpha - 2e-4) < 1e-9 && s.lrn.attrs.beta == 0.5 && s.lrn.attrs.bias == 2.0);
  ResetLog();
  lin[0].format = TensorFormat::kHWC8;
  CHECK(Runtime(q.get())->enqueue(lin, lin, ins, outs, nullptr, stream) != 0);
  CHECK(g_finder.logger.HasError("must be kLINEAR (NCHW), got kHWC8"));
}

TEST(serialization_round_trips_through_create_plugin) {
  struct Case {
    const char* op;
    std::function<void(Fields&)> fill;
    std::vector<std::string> expected;
  };
  const Case cases[] = {
      {"GroupNorm", [](Fields& f) { f.Int("num_groups", 8).Float("epsilon", 1e-6f).Str("activation", "silu"); },
       {"num_groups=i32:8/len1", "epsilon=f32:9.99999997e-07/len1", "activation=str:silu/len5"}},
      // Defaults are written explicitly, so an engine does not depend on later default changes.
      {"GroupNorm", [](Fields& f) { f.Int("num_groups", 3); },
       {"num_groups=i32:3/len1", "epsilon=f32:9.99999975e-06/len1", "activation=str:none/len5"}},
      {"LocalResponseNorm",
       [](Fields& f) { f.Str("window", "pytorch").Int("size", 4).Float("alpha", 1e-3f).Float("beta", 0.5f).Float("bias", 2.0f); },
       {"size=i32:4/len1", "alpha=f32:0.00100000005/len1", "beta=f32:0.5/len1", "bias=f32:2/len1",
        "window=str:pytorch/len8"}},
  };
  for (const auto& c : cases) {
    Fields f;
    c.fill(f);
    PluginPtr p = Create(c.op, f);
    CHECK(p != nullptr);
    if (!p) continue;
    const PluginFieldCollection* fc = Runtime(p.get())->getFieldsToSerialize();
    const std::vector<std::string> first = Describe(fc);
    CHECK_MSG(first == c.expected, Join(first));
    // What TensorRT stores in the engine comes back through createPlugin(kRUNTIME).
    PluginPtr back(FindCreator(c.op)->createPlugin("layer0", fc, TensorRTPhase::kRUNTIME));
    CHECK(back != nullptr);
    if (!back) continue;
    CHECK_MSG(Describe(Runtime(back.get())->getFieldsToSerialize()) == first, Join(first));
    // And through a clone.
    PluginPtr copy(back->clone());
    CHECK(copy != nullptr && copy.get() != back.get());
    back.reset();  // the clone owns its state
    CHECK_MSG(Describe(Runtime(copy.get())->getFieldsToSerialize()) == first, Join(first));
    CHECK(std::strcmp(Core(copy.get())->getPluginName(), c.op) == 0);
  }
}

TEST(clone_is_independent_and_keeps_the_configuration) {
  Fields f;
  f.Int("num_groups", 2);
  PluginPtr p = Create("GroupNorm", f);
  PluginTensorDesc in[2] = {Desc(MakeDims({1, 6, 4})), Desc(MakeDims({6}))};
  PluginTensorDesc out[1] = {in[0]};
  CHECK(Runtime(p.get())->onShapeChange(in, 2, out, 1) == 0);
  PluginPtr c(p->clone());
  p.reset();
  CHECK(c != nullptr);
  auto& s = nd::stub::State();
  s = nd::stub::Calls{};
  float x = 0, y = 0, scale = 0;
  const void* ins[2] = {&x, &scale};
  void* outs[1] = {&y};
  CHECK(Runtime(c.get())->enqueue(in, out, ins, outs, nullptr, nullptr) == 0);
  CHECK(s.group_norm.scale == &scale && s.group_norm.bias == nullptr && s.group_norm.attrs.num_groups == 2);
}

TEST(logger_finder_can_be_replaced_and_cleared) {
  TestLoggerFinder other;
  setLoggerFinder(&other);
  Fields f;
  f.Int("num_groups", -3);
  CHECK(Create("GroupNorm", f) == nullptr);
  CHECK(other.logger.HasError("'num_groups' = -3 is invalid"));
  setLoggerFinder(nullptr);  // falls back to stderr, must not crash
  CHECK(Create("GroupNorm", f) == nullptr);
  setLoggerFinder(&g_finder);
}

}  // namespace

int main(int argc, char** argv) {
  setLoggerFinder(&g_finder);
  const char* filter = argc > 1 ? argv[1] : nullptr;
  int run = 0;
  int failed_tests = 0;
  for (const auto& t : Tests()) {
    if (filter != nullptr && std::strstr(t.name, filter) == nullptr) continue;
    ++run;
    const int before = g_failures;
    g_current = t.name;
    t.fn();
    const bool ok = g_failures == before;
    failed_tests += ok ? 0 : 1;
    std::printf("%s %s\n", ok ? "PASS" : "FAIL", t.name);
  }
  std::printf("%d tests, %d failed, %d failed checks (TensorRT headers %d.%d.%d)\n", run, failed_tests, g_failures,
              NV_TENSORRT_MAJOR, NV_TENSORRT_MINOR, NV_TENSORRT_PATCH);
  return failed_tests == 0 && run > 0 ? 0 : 1;
}
