// Fuzz target: TensorRT field parsing, plugin creation/deserialization and the build-time methods
// of both IPluginV3 plugins (GroupNorm, LocalResponseNorm), through the library's public entry
// points (getCreators, setLoggerFinder) with the stub CUDA launchers of the host tests: no GPU,
// no libnvinfer, no cudart.
//
// Input format (all integers little-endian; reading past the end gives zeros):
//   u8 flags          0x01 pass fc = nullptr
//                     0x02 fc->fields = nullptr (then nbFields is 0, or the override if negative)
//                     0x04 an i32 nbFields override follows the layer name (used when <= the
//                          number of decoded fields: the harness never claims more than it has)
//                     0x08 layer name = nullptr (else: u8 length + bytes)
//   [u8 len, bytes]   layer name (unless 0x08); NUL-terminated copy
//   [i32]             nbFields override (if 0x04)
//   u8 n              number of fields (n % 17)
//   n x field:
//     u8 name         < 11: kNames[name]; 0xFE: nullptr; else u8 length + bytes (NUL-terminated copy)
//     u8 type         0xFF: i32 follows (any value, also out of range); else the PluginFieldType value
//     u8 length       0xFF: i32 follows (any value: 0, negative, huge); else that value
//     u8 data         bits 0-1: 0 bytes from the input (zero-padded), 1 nullptr, 2 one fill byte
//                     follows, 3 bytes from the input; the buffer holds exactly the bytes the type and
//                     length imply (0 for a negative length), kCHAR data is NOT NUL-terminated.
//                     Above 64 KiB the data is read-only zeros ending at an unmapped guard page.
//   the rest          a script of build/runtime calls on the plugins created (see RunScript):
//                     u8 calls (% 12), each: u8 method (% 11), u8 counts (bits 0-2 inputs, 3-4
//                     outputs, 6: throw instead of fail), that many tensor descriptions (u8 DataType,
//                     u8 TensorFormat, Dims (i8 nbDims, then one dim per stored entry, see DecodeDim), u8
//                     bit 0: min and max Dims follow), then per method: supportsFormatCombination an
//                     i8 position, capabilities an i32 capability type
//
// Properties (a violation aborts, which the fuzzer reports as a crash):
//   * nothing crashes, no sanitizer report, no leak;
//   * createPlugin succeeds exactly when the reference model below (the documented field rules:
//     first field of a name wins, accepted types and lengths, floats are float32 values, schema
//     ranges, float32 defaults) says the fields are valid; a nullptr comes with an error logged
//     that names the op and the bad field; unknown field names are warned about by name;
//   * a plugin's getFieldsToSerialize() holds every runtime field, in table order, with the
//     serialized types (kINT32/kINT64, kFLOAT32, NUL-terminated kCHAR), each value passes the schema
//     check (CheckField), and equals the value the reference model parsed;
//   * deserialization: createPlugin(kRUNTIME) of those fields gives a plugin whose fields are
//     identical, and which enqueues with exactly the same attributes (seen by the stub launcher);
//   * the build/runtime methods return 0 or -1, and -1 always comes with an error naming the op
//     (to the logger, or to the error recorder of an attached context); getOutputDataTypes and
//     getOutputShapes give X's type and dims when they succeed; supportsFormatCombination is false
//     for an out-of-range position; clone() and the calls keep the serialized fields unchanged.
#include <NvInferRuntime.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "../plugins/common/field_spec.h"
#include "../plugins/common/op_fields.generated.h"
#include "../plugins/tensorrt/tests/cuda_launcher_stub.h"
#include "../plugins/tensorrt/tests/trt_test_doubles.h"
#include "fuzz_util.h"

extern "C" void setLoggerFinder(nvinfer1::ILoggerFinder* finder) noexcept;
extern "C" nvinfer1::IPluginCreatorInterface* const* getCreators(int32_t& nbCreators) noexcept;

namespace {

using namespace nvinfer1;
namespace nd = normdeploy;
using nd_fuzz::ByteReader;
using nd_fuzz::Printable;

// ---- logging, error recorder, resource context, shape expressions (trt_test_doubles.h) ----------

using nd_trt_test::ExprBuilder;
using nd_trt_test::Recorder;
using nd_trt_test::ResourceContext;

nd_trt_test::LoggerFinder g_finder(ILogger::Severity::kWARNING);  // info and verbose are not kept

// ---- field data --------------------------------------------------------------------------------

// Read-only zeros ending at an unmapped guard page, for fields whose declared size is too large to
// allocate: the pointer given is exactly `bytes` before the guard, so an overread still faults.
class ZeroRegion {
 public:
  static constexpr size_t kSize = size_t{1} << 38;  // > INT32_MAX elements of the largest type

  const void* EndingWith(size_t bytes) {
    if (base_ == nullptr) Map();
    if (base_ == nullptr || bytes > kSize) return nullptr;
    return base_ + (kSize - bytes);
  }

 private:
  void Map() {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    void* p = mmap(nullptr, kSize + page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return;
    if (mprotect(p, kSize, PROT_READ) != 0) {
      munmap(p, kSize + page);
      return;
    }
    base_ = static_cast<const uint8_t*>(p);
  }
  const uint8_t* base_ = nullptr;
};

ZeroRegion g_zeros;
constexpr size_t kMaxAllocated = size_t{64} << 10;

// Bytes `length` elements of `type` occupy (0 for a negative length). Types outside the enum get
// 8 bytes per element: more than enough for whatever the code might assume.
uint64_t DataBytes(int32_t type, int32_t length) {
  if (length <= 0) return 0;
  const uint64_t n = static_cast<uint64_t>(length);
  switch (static_cast<PluginFieldType>(type)) {
    case PluginFieldType::kINT8:
    case PluginFieldType::kCHAR:
    case PluginFieldType::kFP8:
    case PluginFieldType::kUNKNOWN: return n;  // kUNKNOWN: length counts bytes
    case PluginFieldType::kFLOAT16:
    case PluginFieldType::kBF16:
    case PluginFieldType::kINT16: return 2 * n;
    case PluginFieldType::kFLOAT32:
    case PluginFieldType::kINT32: return 4 * n;
    case PluginFieldType::kFLOAT64:
    case PluginFieldType::kINT64: return 8 * n;
    case PluginFieldType::kDIMS: return sizeof(Dims) * n;
    case PluginFieldType::kINT4:
    case PluginFieldType::kFP4: return (n + 1) / 2;
  }
  return 8 * n;
}

const char* const kNames[] = {"num_groups", "epsilon", "activation", "size",           "alpha",           "beta",
                              "bias",       "window",  "",           "plugin_version", "plugin_namespace"};
constexpr size_t kNameCount = sizeof(kNames) / sizeof(kNames[0]);

struct Field {
  bool null_name = false;
  std::string name;
  int32_t type = 0;
  int32_t length = 0;
  const void* data = nullptr;
  uint8_t* owned = nullptr;  // malloc'ed, exactly DataBytes() long
};

// The decoded collection; owns every buffer it points at.
struct Collection {
  Collection() = default;
  Collection(const Collection&) = delete;
  Collection& operator=(const Collection&) = delete;
  ~Collection() {
    for (auto& f : fields) std::free(f.owned);
  }
  const PluginFieldCollection* Get() {
    if (null_fc) return nullptr;
    plugin_fields.clear();
    for (const auto& f : fields) {
      plugin_fields.emplace_back(f.null_name ? nullptr : f.name.c_str(), f.data, static_cast<PluginFieldType>(f.type),
                                 f.length);
    }
    fc.nbFields = static_cast<int32_t>(plugin_fields.size());
    if (has_override && nb_override <= fc.nbFields) fc.nbFields = nb_override;
    fc.fields = plugin_fields.empty() ? nullptr : plugin_fields.data();
    if (null_fields) {
      fc.fields = nullptr;
      fc.nbFields = has_override && nb_override < 0 ? nb_override : 0;
    }
    return &fc;
  }

  bool null_fc = false;
  bool null_fields = false;
  bool has_override = false;
  int32_t nb_override = 0;
  bool null_layer = false;
  std::string layer;
  std::vector<Field> fields;
  std::vector<PluginField> plugin_fields;
  PluginFieldCollection fc{};
};

void DecodeCollection(ByteReader& in, Collection& c) {
  const uint8_t flags = in.U8();
  c.null_fc = (flags & 0x01) != 0;
  c.null_fields = (flags & 0x02) != 0;
  c.has_override = (flags & 0x04) != 0;
  c.null_layer = (flags & 0x08) != 0;
  if (!c.null_layer) c.layer = in.ShortBytes().c_str();  // NUL-terminated copy: stops at a NUL
  if (c.has_override) c.nb_override = in.I32();
  const size_t n = in.U8() % 17;
  c.fields.resize(n);
  for (auto& f : c.fields) {
    const uint8_t name = in.U8();
    if (name < kNameCount) {
      f.name = kNames[name];
    } else if (name == 0xFE) {
      f.null_name = true;
    } else {
      f.name = in.ShortBytes().c_str();
    }
    const uint8_t type = in.U8();
    f.type = type == 0xFF ? in.I32() : type;
    const uint8_t length = in.U8();
    f.length = length == 0xFF ? in.I32() : length;
    const uint8_t mode = in.U8() & 3;
    if (mode == 1) continue;  // nullptr
    const uint8_t fill = mode == 2 ? in.U8() : 0;
    const uint64_t bytes = DataBytes(f.type, f.length);
    if (bytes > kMaxAllocated) {
      f.data = g_zeros.EndingWith(static_cast<size_t>(bytes));
      if (f.data == nullptr) f.length = 1;  // no address space for it: a harmless stand-in
      if (f.data != nullptr) continue;
    }
    const size_t size = static_cast<size_t>(DataBytes(f.type, f.length));
    f.owned = static_cast<uint8_t*>(std::malloc(size));  // malloc(0) too: any read is an overflow
    if (size > 0) {
      std::memset(f.owned, fill, size);
      if (mode != 2) in.CopyTo(f.owned, size);
    }
    f.data = f.owned;
  }
}

// ---- reference model of the field rules ----------------------------------------------------------

// What createPlugin must conclude from `fc` for one op: ok + the value of every table entry, or
// the name of the first field (table order) that is wrong.
struct Expected {
  bool ok = true;
  std::string bad_field;
  std::vector<nd::FieldValue> values;
};

const PluginField* FindField(const PluginFieldCollection* fc, const char* name) {
  if (fc == nullptr || fc->fields == nullptr) return nullptr;
  for (int32_t i = 0; i < fc->nbFields; ++i) {
    const PluginField& f = fc->fields[i];
    if (f.name != nullptr && std::strcmp(f.name, name) == 0) return &f;
  }
  return nullptr;
}

bool ReadIntField(const PluginField& f, int64_t& v) {
  if (f.length != 1) return false;
  switch (f.type) {
    case PluginFieldType::kINT8: v = *static_cast<const int8_t*>(f.data); return true;
    case PluginFieldType::kINT16: v = *static_cast<const int16_t*>(f.data); return true;
    case PluginFieldType::kINT32: v = *static_cast<const int32_t*>(f.data); return true;
    case PluginFieldType::kINT64: v = *static_cast<const int64_t*>(f.data); return true;
    default: return false;
  }
}

// Float fields are float32 values (as ONNX float attributes and the serialized kFLOAT32 are):
// kFLOAT64 and integer inputs are rounded to float32; finite values beyond its range are wrong.
bool ReadFloatField(const PluginField& f, double& v) {
  if (f.length != 1) return false;
  int64_t i = 0;
  if (f.type == PluginFieldType::kFLOAT32) {
    v = static_cast<double>(*static_cast<const float*>(f.data));
  } else if (f.type == PluginFieldType::kFLOAT64) {
    v = *static_cast<const double*>(f.data);
  } else if (ReadIntField(f, i)) {
    v = static_cast<double>(i);
  } else {
    return false;
  }
  if (std::isfinite(v) && std::fabs(v) > static_cast<double>(FLT_MAX)) return false;
  if (std::isfinite(v)) v = static_cast<double>(static_cast<float>(v));
  return true;
}

Expected Reference(const char* op, const nd::FieldSpec* specs, int count, const PluginFieldCollection* fc) {
  Expected e;
  e.values.resize(static_cast<size_t>(count));
  for (int k = 0; k < count; ++k) {
    const nd::FieldSpec& spec = specs[k];
    nd::FieldValue& value = e.values[static_cast<size_t>(k)];
    if (!spec.runtime) continue;
    const PluginField* f = FindField(fc, spec.name);
    bool good = true;
    if (f == nullptr) {
      if (spec.required) good = false;
      // Float defaults are float32 values too (ONNX float attributes are float32).
      value.number = spec.kind == nd::FieldKind::kFloat
                         ? static_cast<double>(static_cast<float>(spec.default_number))
                         : spec.default_number;
      value.integer = static_cast<int64_t>(spec.default_number);
      value.text = spec.default_string;
    } else if (f->data == nullptr) {
      good = false;
    } else {
      value.present = true;
      switch (spec.kind) {
        case nd::FieldKind::kInt:
          good = ReadIntField(*f, value.integer);
          value.number = static_cast<double>(value.integer);
          break;
        case nd::FieldKind::kFloat: good = ReadFloatField(*f, value.number); break;
        case nd::FieldKind::kString:
          if (f->type == PluginFieldType::kCHAR && f->length >= 0 && f->length <= 4096) {
            const char* text = static_cast<const char*>(f->data);
            size_t len = static_cast<size_t>(f->length);  // all bytes less trailing NULs
            while (len > 0 && text[len - 1] == '\0') --len;
            value.text.assign(text, len);
          } else {
            good = false;
          }
          break;
      }
    }
    if (good) good = nd::CheckField(op, spec, value).ok();
    if (!good) {
      e.ok = false;
      e.bad_field = spec.name;
      return e;
    }
  }
  return e;
}

// ---- serialized fields -------------------------------------------------------------------------

struct SnapField {
  std::string name;
  int32_t type = 0;
  int32_t length = 0;
  std::vector<uint8_t> bytes;
  bool operator==(const SnapField& o) const {
    return name == o.name && type == o.type && length == o.length && bytes == o.bytes;
  }
};

struct Snapshot {
  std::vector<SnapField> fields;
  bool operator==(const Snapshot& o) const { return fields == o.fields; }
  std::string Text() const {
    std::string out;
    for (const auto& f : fields) {
      out += f.name + ":" + std::to_string(f.type) + "/" + std::to_string(f.length) + "=" +
             Printable(std::string(f.bytes.begin(), f.bytes.end())) + " ";
    }
    return out;
  }
  // A collection pointing into this snapshot (valid while it lives and is not changed).
  const PluginFieldCollection* Collection() {
    pf.clear();
    for (const auto& f : fields) {
      pf.emplace_back(f.name.c_str(), f.bytes.data(), static_cast<PluginFieldType>(f.type), f.length);
    }
    fc.nbFields = static_cast<int32_t>(pf.size());
    fc.fields = pf.data();
    return &fc;
  }
  std::vector<PluginField> pf;
  PluginFieldCollection fc{};
};

// Copies what getFieldsToSerialize returned, checking its form: runtime fields of the table in
// order, kINT32 (kINT64 beyond int32), kFLOAT32 (length 1), NUL-terminated kCHAR (length = bytes).
Snapshot TakeSnapshot(const char* op, const nd::FieldSpec* specs, int count, const PluginFieldCollection* fc) {
  FUZZ_CHECK(fc != nullptr, std::string(op) + ": getFieldsToSerialize returned nullptr");
  FUZZ_CHECK(fc->nbFields >= 0 && (fc->nbFields == 0 || fc->fields != nullptr),
             std::string(op) + ": bad serialized collection");
  Snapshot s;
  int k = 0;
  for (int32_t i = 0; i < fc->nbFields; ++i, ++k) {
    while (k < count && !specs[k].runtime) ++k;
    FUZZ_CHECK(k < count, std::string(op) + ": more serialized fields than runtime fields in the table");
    const PluginField& f = fc->fields[i];
    const nd::FieldSpec& spec = specs[k];
    FUZZ_CHECK(f.name != nullptr && std::strcmp(f.name, spec.name) == 0,
               std::string(op) + ": serialized field " + std::to_string(i) + " is '" +
                   (f.name ? Printable(f.name) : "(null)") + "', expected '" + spec.name + "'");
    FUZZ_CHECK(f.data != nullptr, std::string(op) + ": serialized field '" + spec.name + "' has no data");
    SnapField sf;
    sf.name = f.name;
    sf.type = static_cast<int32_t>(f.type);
    sf.length = f.length;
    size_t bytes = 0;
    switch (spec.kind) {
      case nd::FieldKind::kInt:
        FUZZ_CHECK((f.type == PluginFieldType::kINT32 || f.type == PluginFieldType::kINT64) && f.length == 1,
                   std::string(op) + ": serialized int '" + spec.name + "' has type " +
                       std::to_string(static_cast<int>(f.type)) + " length " + std::to_string(f.length));
        bytes = f.type == PluginFieldType::kINT32 ? 4 : 8;
        break;
      case nd::FieldKind::kFloat:
        FUZZ_CHECK(f.type == PluginFieldType::kFLOAT32 && f.length == 1,
                   std::string(op) + ": serialized float '" + spec.name + "' is not one kFLOAT32");
        bytes = 4;
        break;
      case nd::FieldKind::kString:
        FUZZ_CHECK(f.type == PluginFieldType::kCHAR && f.length >= 1,
                   std::string(op) + ": serialized string '" + spec.name + "' is not kCHAR with its NUL");
        bytes = static_cast<size_t>(f.length);
        break;
    }
    const uint8_t* p = static_cast<const uint8_t*>(f.data);
    sf.bytes.assign(p, p + bytes);
    if (spec.kind == nd::FieldKind::kString) {
      FUZZ_CHECK(sf.bytes.back() == 0 && std::memchr(sf.bytes.data(), 0, bytes - 1) == nullptr,
                 std::string(op) + ": serialized string '" + spec.name + "' must end at its only NUL");
    }
    s.fields.push_back(std::move(sf));
  }
  while (k < count && !specs[k].runtime) ++k;
  FUZZ_CHECK(k == count, std::string(op) + ": serialized fields miss runtime field '" +
                             (k < count ? specs[k].name : "") + "'");
  return s;
}

nd::FieldValue ValueOf(const nd::FieldSpec& spec, const SnapField& f) {
  nd::FieldValue v;
  v.present = true;
  switch (spec.kind) {
    case nd::FieldKind::kInt:
      if (f.type == static_cast<int32_t>(PluginFieldType::kINT32)) {
        int32_t i;
        std::memcpy(&i, f.bytes.data(), 4);
        v.integer = i;
      } else {
        std::memcpy(&v.integer, f.bytes.data(), 8);
      }
      v.number = static_cast<double>(v.integer);
      break;
    case nd::FieldKind::kFloat: {
      float x;
      std::memcpy(&x, f.bytes.data(), 4);
      v.number = static_cast<double>(x);
      break;
    }
    case nd::FieldKind::kString: v.text.assign(f.bytes.begin(), f.bytes.end() - 1); break;
  }
  return v;
}

// Bitwise: -0 and +0 differ, as they would in the plugin's arithmetic.
bool SameNumber(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Each serialized value passes the schema and equals what the reference model parsed.
void CheckSnapshot(const char* op, const nd::FieldSpec* specs, int count, const Snapshot& s, const Expected& want) {
  size_t i = 0;
  for (int k = 0; k < count; ++k) {
    if (!specs[k].runtime) continue;
    const nd::FieldSpec& spec = specs[k];
    const nd::FieldValue v = ValueOf(spec, s.fields[i++]);
    const nd::Status st = nd::CheckField(op, spec, v);
    FUZZ_CHECK(st.ok(), std::string(op) + ": serialized '" + spec.name + "' fails the schema: " + st.message());
    const nd::FieldValue& w = want.values[static_cast<size_t>(k)];
    switch (spec.kind) {
      case nd::FieldKind::kInt:
        FUZZ_CHECK(v.integer == w.integer, std::string(op) + ": serialized '" + spec.name + "' = " +
                                               std::to_string(v.integer) + ", parsed " + std::to_string(w.integer));
        break;
      case nd::FieldKind::kFloat:
        FUZZ_CHECK(SameNumber(v.number, w.number), std::string(op) + ": serialized '" + spec.name + "' = " +
                                                       std::to_string(v.number) + ", parsed " +
                                                       std::to_string(w.number));
        break;
      case nd::FieldKind::kString:
        FUZZ_CHECK(v.text == w.text, std::string(op) + ": serialized '" + spec.name + "' = '" + Printable(v.text) +
                                         "', parsed '" + Printable(w.text) + "'");
        break;
    }
  }
}

// ---- plugins -------------------------------------------------------------------------------------

using nd_trt_test::Build;
using nd_trt_test::Core;
using nd_trt_test::PluginPtr;
using nd_trt_test::Runtime;


struct Op {
  const char* name;
  const nd::FieldSpec* specs;
  int count;
  IPluginCreatorV3One* creator;
};

Op g_ops[2];

void InitOps() {
  static bool done = false;
  if (done) return;
  done = true;
  setLoggerFinder(&g_finder);
  int32_t n = 0;
  IPluginCreatorInterface* const* creators = getCreators(n);
  FUZZ_CHECK(n == 2 && creators != nullptr, "getCreators must list the two creators");
  g_ops[0] = {nd::kGroupNormOpName, nd::kGroupNormFields, nd::kGroupNormFieldCount, nullptr};
  g_ops[1] = {nd::kLocalResponseNormOpName, nd::kLocalResponseNormFields, nd::kLocalResponseNormFieldCount, nullptr};
  for (int32_t i = 0; i < n; ++i) {
    auto* c = static_cast<IPluginCreatorV3One*>(creators[i]);
    for (auto& op : g_ops) {
      if (std::strcmp(c->getPluginName(), op.name) == 0) op.creator = c;
    }
  }
  FUZZ_CHECK(g_ops[0].creator != nullptr && g_ops[1].creator != nullptr, "creators not found by name");
}

using nd_trt_test::MakeDims;

// Attributes a plugin launches with, as the stub launcher saw them.
struct Launched {
  bool ok = false;
  int64_t integer = 0;  // num_groups / size
  double numbers[3] = {0, 0, 0};  // epsilon / alpha, beta, bias
  int choice = 0;  // activation / window
  bool operator==(const Launched& o) const {
    return ok == o.ok && integer == o.integer && std::memcmp(numbers, o.numbers, sizeof numbers) == 0 &&
           choice == o.choice;
  }
  std::string Text() const {
    char buf[256];
    std::snprintf(buf, sizeof buf, "ok=%d int=%lld numbers=(%.17g, %.17g, %.17g) choice=%d", ok ? 1 : 0,
                  static_cast<long long>(integer), numbers[0], numbers[1], numbers[2], choice);
    return buf;
  }
};

// Runs the plugin on a shape valid for any valid attributes (GroupNorm: C = num_groups), with the
// stub launchers, and returns what they were given.
Launched Probe(const Op& op, IPluginV3* plugin, int64_t num_groups) {
  nd::stub::Calls& stub = nd::stub::State();
  stub.fail_with.clear();
  stub.throw_instead = false;
  const bool gn = op.specs == nd::kGroupNormFields;
  PluginTensorDesc in{};
  in.dims = gn ? MakeDims({1, num_groups, 1, 1}) : MakeDims({1, 4, 2, 2});
  in.type = DataType::kFLOAT;
  in.format = TensorFormat::kLINEAR;
  in.scale = 1.0f;
  PluginTensorDesc out = in;
  IPluginV3OneRuntime* rt = Runtime(plugin);
  g_finder.logger.entries.clear();
  const int32_t shape = rt->onShapeChange(&in, 1, &out, 1);
  FUZZ_CHECK(shape == 0, std::string(op.name) + ": a valid plugin rejected a valid shape:\n" + g_finder.logger.All());
  static float x[1], y[1];
  const void* inputs[1] = {x};
  void* outputs[1] = {y};
  const int before = gn ? stub.group_norm_calls : stub.lrn_calls;
  const int32_t rc = rt->enqueue(&in, &out, inputs, outputs, x, nullptr);
  FUZZ_CHECK(rc == 0, std::string(op.name) + ": enqueue of a valid shape failed:\n" + g_finder.logger.All());
  Launched l;
  l.ok = (gn ? stub.group_norm_calls : stub.lrn_calls) == before + 1;
  if (gn) {
    l.integer = stub.group_norm.attrs.num_groups;
    l.numbers[0] = stub.group_norm.attrs.epsilon;
    l.choice = static_cast<int>(stub.group_norm.attrs.activation);
  } else {
    l.integer = stub.lrn.attrs.size;
    l.numbers[0] = stub.lrn.attrs.alpha;
    l.numbers[1] = stub.lrn.attrs.beta;
    l.numbers[2] = stub.lrn.attrs.bias;
    l.choice = static_cast<int>(stub.lrn.attrs.window);
  }
  return l;
}

// What the reference model's values should launch with.
Launched FromExpected(const Op& op, const Expected& e) {
  Launched l;
  l.ok = true;
  auto value = [&](const char* name) -> const nd::FieldValue& {
    return e.values[static_cast<size_t>(nd::FieldIndex(op.specs, op.count, name))];
  };
  if (op.specs == nd::kGroupNormFields) {
    l.integer = value("num_groups").integer;
    l.numbers[0] = value("epsilon").number;
    l.choice = value("activation").text == "silu" ? 1 : 0;
  } else {
    l.integer = value("size").integer;
    l.numbers[0] = value("alpha").number;
    l.numbers[1] = value("beta").number;
    l.numbers[2] = value("bias").number;
    l.choice = value("window").text == "pytorch" ? 1 : 0;
  }
  return l;
}

// ---- build/runtime call script ---------------------------------------------------------------------

// A dim: 0..239 as is; 0xF0 -1 (unknown); 0xF1 an i64 follows; then a few extremes.
int64_t DecodeDim(ByteReader& in) {
  const uint8_t sel = in.U8();
  if (sel < 0xF0) return sel;
  switch (sel) {
    case 0xF0: return -1;
    case 0xF1: return in.I64();
    case 0xF2: return std::numeric_limits<int64_t>::max();
    case 0xF3: return std::numeric_limits<int64_t>::min();
    case 0xF4: return std::numeric_limits<int32_t>::max();
    case 0xF5: return int64_t{1} << 31;
    case 0xF6: return int64_t{1} << 32;
    case 0xF7: return -2;
    default: return int64_t{1} << (40 + (sel - 0xF8) * 3);
  }
}

// nbDims is any int8 (negative and > MAX_DIMS too); the struct holds at most MAX_DIMS values.
Dims DecodeDims(ByteReader& in) {
  Dims d{};
  d.nbDims = in.I8();
  const int32_t stored = d.nbDims < 0 ? 0 : (d.nbDims > Dims::MAX_DIMS ? Dims::MAX_DIMS : d.nbDims);
  for (int32_t i = 0; i < stored; ++i) d.d[i] = DecodeDim(in);
  return d;
}

DynamicPluginTensorDesc DecodeDesc(ByteReader& in) {
  DynamicPluginTensorDesc d{};
  d.desc.type = static_cast<DataType>(in.U8());      // any value, also outside the enum
  d.desc.format = static_cast<TensorFormat>(in.U8());
  d.desc.scale = 1.0f;
  d.desc.dims = DecodeDims(in);
  if ((in.U8() & 1) != 0) {
    d.min = DecodeDims(in);
    d.max = DecodeDims(in);
  } else {
    d.min = d.desc.dims;
    d.max = d.desc.dims;
  }
  d.opt = d.max;
  return d;
}

// A -1 return must come with an error naming the op (logger, or the attached recorder).
void CheckFailureReported(const Op& op, const char* call, int32_t rc, const Recorder* recorder = nullptr) {
  FUZZ_LOG("    %s -> %d\n%s", call, rc, g_finder.logger.All().c_str());
  FUZZ_CHECK(rc == 0 || rc == -1, std::string(op.name) + " " + call + " returned " + std::to_string(rc));
  if (rc == 0) return;
  const bool logged = g_finder.logger.Has(ILogger::Severity::kERROR, op.name);
  const bool recorded = recorder != nullptr && recorder->Has(op.name);
  FUZZ_CHECK(logged || recorded, std::string(op.name) + " " + call + " failed without an error naming the op:\n" +
                                     g_finder.logger.All());
}

void RunScript(const Op& op, IPluginV3* plugin, const Snapshot& fields, ByteReader in) {
  IPluginV3OneBuild* build = Build(plugin);
  IPluginV3OneRuntime* runtime = Runtime(plugin);
  FUZZ_CHECK(build != nullptr && runtime != nullptr && Core(plugin) != nullptr, "missing capability");
  ExprBuilder exprs;
  nd::stub::Calls& stub = nd::stub::State();
  stub.fail_with.clear();
  stub.throw_instead = false;
  int32_t configured_inputs = 0;  // input count of the last successful configure/onShapeChange
  const size_t calls = in.U8() % 12;
  for (size_t c = 0; c < calls && !in.empty(); ++c) {
    const uint8_t method = in.U8();
    const uint8_t counts = in.U8();
    const int32_t nin = counts & 7;
    const int32_t nout = (counts >> 3) & 3;
    std::vector<DynamicPluginTensorDesc> descs;
    for (int32_t i = 0; i < nin + nout; ++i) descs.push_back(DecodeDesc(in));
    // Exactly-sized copies, so that reading past the counts is an overflow ASan sees.
    std::vector<DynamicPluginTensorDesc> ins(descs.begin(), descs.begin() + nin);
    std::vector<DynamicPluginTensorDesc> outs(descs.begin() + nin, descs.end());
    g_finder.logger.entries.clear();
    static const char* const kCalls[] = {"getOutputDataTypes", "getOutputShapes", "supportsFormatCombination",
                                         "configurePlugin",    "getWorkspaceSize", "onShapeChange",
                                         "enqueue",            "clone",            "attachToContext",
                                         "launchers fail",     "capabilities"};
    FUZZ_LOG("  call %s nin=%d nout=%d\n", kCalls[method % 11], nin, nout);
    switch (method % 11) {
      case 0: {
        std::vector<DataType> in_types, out_types(static_cast<size_t>(nout), static_cast<DataType>(99));
        for (const auto& d : ins) in_types.push_back(d.desc.type);
        const int32_t rc = build->getOutputDataTypes(out_types.data(), nout, in_types.data(), nin);
        CheckFailureReported(op, "getOutputDataTypes", rc);
        if (rc == 0) {
          FUZZ_CHECK(nout >= 1 && nin >= 1 && out_types[0] == in_types[0],
                     std::string(op.name) + ": getOutputDataTypes must give X's type");
        }
        break;
      }
      case 1: {
        std::vector<DimsExprs> in_exprs(static_cast<size_t>(nin)), out_exprs(static_cast<size_t>(nout));
        for (int32_t i = 0; i < nin; ++i) {
          const Dims& d = ins[static_cast<size_t>(i)].desc.dims;
          DimsExprs& e = in_exprs[static_cast<size_t>(i)];
          e.nbDims = d.nbDims;
          for (int32_t k = 0; k < Dims::MAX_DIMS; ++k) {
            const bool stored = k < d.nbDims;
            e.d[k] = stored ? (d.d[k] != -1 ? exprs.Constant(d.d[k]) : exprs.Symbol("dyn")) : nullptr;
          }
        }
        const int32_t rc = build->getOutputShapes(in_exprs.data(), nin, nullptr, 0, out_exprs.data(), nout, exprs);
        CheckFailureReported(op, "getOutputShapes", rc);
        if (rc == 0) {
          FUZZ_CHECK(nout >= 1 && nin >= 1 && out_exprs[0].nbDims == in_exprs[0].nbDims,
                     std::string(op.name) + ": getOutputShapes must give X's rank");
          for (int32_t k = 0; k < in_exprs[0].nbDims && k < Dims::MAX_DIMS; ++k) {
            FUZZ_CHECK(out_exprs[0].d[k] == in_exprs[0].d[k], std::string(op.name) + ": output dim differs from X's");
          }
        }
        break;
      }
      case 2: {
        const int32_t pos = in.I8();
        const bool ok = build->supportsFormatCombination(pos, descs.empty() ? nullptr : descs.data(), nin, nout);
        if (pos < 0 || pos >= nin + nout) {
          FUZZ_CHECK(!ok, std::string(op.name) + ": supportsFormatCombination true for position " +
                              std::to_string(pos) + " of " + std::to_string(nin + nout));
        }
        break;
      }
      case 3: {
        const int32_t rc = build->configurePlugin(ins.data(), nin, outs.data(), nout);
        CheckFailureReported(op, "configurePlugin", rc);
        if (rc == 0) configured_inputs = nin;
        break;
      }
      case 4: {
        (void)build->getWorkspaceSize(ins.data(), nin, outs.data(), nout);
        break;
      }
      case 5: {
        std::vector<PluginTensorDesc> pin, pout;
        for (const auto& d : ins) pin.push_back(d.desc);
        for (const auto& d : outs) pout.push_back(d.desc);
        const int32_t rc = runtime->onShapeChange(pin.data(), nin, pout.data(), nout);
        CheckFailureReported(op, "onShapeChange", rc);
        if (rc == 0) configured_inputs = nin;
        break;
      }
      case 6: {
        // TensorRT passes as many descriptions as the layer has inputs (what configurePlugin /
        // onShapeChange saw); before either, any count from 1 up.
        const int32_t n = configured_inputs > 0 ? configured_inputs : (nin > 0 ? nin : 1);
        std::vector<PluginTensorDesc> pin, pout;
        for (int32_t i = 0; i < n; ++i) {
          pin.push_back(i < nin ? ins[static_cast<size_t>(i)].desc : (nin > 0 ? ins[0].desc : PluginTensorDesc{}));
        }
        pout.push_back(nout > 0 ? outs[0].desc : pin[0]);
        static float buffers[4];
        std::vector<const void*> inputs(static_cast<size_t>(n), buffers);
        void* outputs[1] = {buffers + 1};
        const int32_t rc = runtime->enqueue(pin.data(), pout.data(), inputs.data(), outputs, buffers + 2, nullptr);
        CheckFailureReported(op, "enqueue", rc);
        if (!stub.fail_with.empty() || stub.throw_instead) {
          FUZZ_CHECK(rc == -1, std::string(op.name) + ": enqueue succeeded although the launcher failed");
        }
        break;
      }
      case 7: {
        PluginPtr copy(plugin->clone());
        FUZZ_CHECK(copy != nullptr, std::string(op.name) + ": clone returned nullptr");
        const Snapshot s = TakeSnapshot(op.name, op.specs, op.count, Runtime(copy.get())->getFieldsToSerialize());
        FUZZ_CHECK(s == fields, std::string(op.name) + ": the clone serializes differently");
        break;
      }
      case 8: {
        Recorder recorder;
        ResourceContext context(&recorder);
        PluginPtr attached(runtime->attachToContext(&context));
        FUZZ_CHECK(attached != nullptr, std::string(op.name) + ": attachToContext returned nullptr");
        std::vector<PluginTensorDesc> pin, pout;
        for (const auto& d : ins) pin.push_back(d.desc);
        for (const auto& d : outs) pout.push_back(d.desc);
        const int32_t rc = Runtime(attached.get())->onShapeChange(pin.data(), nin, pout.data(), nout);
        CheckFailureReported(op, "onShapeChange (attached)", rc, &recorder);
        if (rc == -1) {
          FUZZ_CHECK(recorder.Has(op.name), std::string(op.name) + ": the attached plugin's error did not reach the "
                                                                  "context's recorder");
        }
        break;
      }
      case 10: {  // any capability type (also outside the enum), names, field list
        const int32_t type = in.I32();
        IPluginCapability* cap = plugin->getCapabilityInterface(static_cast<PluginCapabilityType>(type));
        FUZZ_CHECK((cap != nullptr) == (type >= 0 && type <= 2),
                   std::string(op.name) + ": getCapabilityInterface(" + std::to_string(type) + ") gave " +
                       (cap ? "a capability" : "nullptr"));
        IPluginV3OneCore* core = Core(plugin);
        FUZZ_CHECK(std::strcmp(core->getPluginName(), op.name) == 0 &&
                       std::strcmp(core->getPluginVersion(), op.creator->getPluginVersion()) == 0 &&
                       std::strcmp(core->getPluginNamespace(), op.creator->getPluginNamespace()) == 0,
                   std::string(op.name) + ": plugin and creator disagree on name/version/namespace");
        const PluginFieldCollection* names = op.creator->getFieldNames();
        FUZZ_CHECK(names != nullptr, std::string(op.name) + ": getFieldNames returned nullptr");
        int runtime_fields = 0;
        for (int k = 0; k < op.count; ++k) runtime_fields += op.specs[k].runtime ? 1 : 0;
        FUZZ_CHECK(names->nbFields == runtime_fields, std::string(op.name) + ": getFieldNames lists " +
                                                          std::to_string(names->nbFields) + " fields");
        FUZZ_CHECK(build->getNbOutputs() == 1, std::string(op.name) + ": getNbOutputs != 1");
        break;
      }
      default: {  // the launchers fail (or throw) from now on
        if ((counts & 0x40) != 0) {
          stub.throw_instead = true;
        } else {
          stub.fail_with = "stub launcher failure";
        }
        break;
      }
    }
  }
  stub.fail_with.clear();
  stub.throw_instead = false;
  const Snapshot after = TakeSnapshot(op.name, op.specs, op.count, runtime->getFieldsToSerialize());
  FUZZ_CHECK(after == fields, std::string(op.name) + ": the calls changed the serialized fields:\n  before " +
                                  fields.Text() + "\n  after  " + after.Text());
}

// ---- one op ------------------------------------------------------------------------------------------

void FuzzOp(const Op& op, Collection& c, const ByteReader& script) {
  const PluginFieldCollection* fc = c.Get();
  const char* layer = c.null_layer ? nullptr : c.layer.c_str();
  const Expected want = Reference(op.name, op.specs, op.count, fc);
  FUZZ_LOG("%s: fc=%s nbFields=%d layer=%s -> the rules say %s%s\n", op.name, fc ? "set" : "null",
           fc ? fc->nbFields : 0, layer ? Printable(layer).c_str() : "(null)", want.ok ? "valid" : "invalid: ",
           want.bad_field.c_str());
  if (nd_fuzz::Verbose() && fc != nullptr && fc->fields != nullptr) {
    for (int32_t i = 0; i < fc->nbFields; ++i) {
      const PluginField& f = fc->fields[i];
      const uint64_t bytes = DataBytes(static_cast<int32_t>(f.type), f.length);
      FUZZ_LOG("  field %d: name=%s type=%d length=%d data=%s%s\n", i, f.name ? Printable(f.name).c_str() : "(null)",
               static_cast<int>(f.type), f.length, f.data ? "" : "(null)",
               f.data && bytes <= 64 ? Printable(std::string(static_cast<const char*>(f.data), bytes)).c_str() : "");
    }
  }
  for (TensorRTPhase phase : {TensorRTPhase::kBUILD, TensorRTPhase::kRUNTIME}) {
    g_finder.logger.entries.clear();
    PluginPtr plugin(op.creator->createPlugin(layer, fc, phase));
    FUZZ_LOG("  createPlugin(%s) -> %s\n%s", phase == TensorRTPhase::kBUILD ? "kBUILD" : "kRUNTIME",
             plugin ? "plugin" : "nullptr", g_finder.logger.All().c_str());
    if (fc != nullptr && fc->fields != nullptr) {  // unknown names are warned about, by name
      for (int32_t i = 0; i < fc->nbFields; ++i) {
        const char* name = fc->fields[i].name;
        if (name == nullptr || nd::FieldIndex(op.specs, op.count, name) >= 0) continue;
        FUZZ_CHECK(g_finder.logger.Has(ILogger::Severity::kWARNING, std::string("'") + name + "'"),
                   std::string(op.name) + ": unknown field '" + Printable(name) + "' was not warned about:\n" +
                       g_finder.logger.All());
      }
    }
    if (!want.ok) {
      FUZZ_CHECK(plugin == nullptr, std::string(op.name) + ": createPlugin accepted fields the rules reject (field '" +
                                        want.bad_field + "')");
      FUZZ_CHECK(g_finder.logger.Has(ILogger::Severity::kERROR, op.name),
                 std::string(op.name) + ": createPlugin returned nullptr without an error naming the op:\n" +
                     g_finder.logger.All());
      FUZZ_CHECK(g_finder.logger.Has(ILogger::Severity::kERROR, "'" + want.bad_field + "'"),
                 std::string(op.name) + ": the error does not name the bad field '" + want.bad_field + "':\n" +
                     g_finder.logger.All());
      continue;
    }
    FUZZ_CHECK(plugin != nullptr, std::string(op.name) + ": createPlugin rejected valid fields:\n" +
                                      g_finder.logger.All());
    FUZZ_CHECK(std::strcmp(Core(plugin.get())->getPluginName(), op.name) == 0, "wrong plugin name");

    // Serialization: form, schema, fidelity to the parsed values.
    Snapshot fields =
        TakeSnapshot(op.name, op.specs, op.count, Runtime(plugin.get())->getFieldsToSerialize());
    CheckSnapshot(op.name, op.specs, op.count, fields, want);

    // Deserialization: the same fields, the same launch attributes.
    g_finder.logger.entries.clear();
    PluginPtr restored(op.creator->createPlugin(layer, fields.Collection(), TensorRTPhase::kRUNTIME));
    FUZZ_CHECK(restored != nullptr, std::string(op.name) + ": deserialization of " + fields.Text() + "failed:\n" +
                                        g_finder.logger.All());
    const Snapshot again =
        TakeSnapshot(op.name, op.specs, op.count, Runtime(restored.get())->getFieldsToSerialize());
    FUZZ_CHECK(again == fields, std::string(op.name) + ": round trip changed the fields:\n  " + fields.Text() +
                                    "\n  " + again.Text());
    const int64_t groups = want.values[0].integer;  // num_groups (GroupNorm's first field)
    const Launched built = Probe(op, plugin.get(), groups);
    const Launched loaded = Probe(op, restored.get(), groups);
    const Launched expected = FromExpected(op, want);
    FUZZ_CHECK(built == expected, std::string(op.name) + ": launched with " + built.Text() + ", fields say " +
                                      expected.Text());
    FUZZ_CHECK(loaded == built, std::string(op.name) + ": the deserialized plugin launches with " + loaded.Text() +
                                    ", the built one with " + built.Text());

    if (phase == TensorRTPhase::kBUILD) {
      // Fresh plugin for the script (Probe configured this one).
      PluginPtr fresh(op.creator->createPlugin(layer, fc, phase));
      FUZZ_CHECK(fresh != nullptr, std::string(op.name) + ": second createPlugin failed");
      RunScript(op, fresh.get(), fields, script);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  InitOps();
  ByteReader in(data, size);
  Collection c;
  DecodeCollection(in, c);
  for (const Op& op : g_ops) FuzzOp(op, c, in);
  return 0;
}
