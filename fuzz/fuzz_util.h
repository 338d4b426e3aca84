// Helpers shared by the normdeploy fuzz targets (header-only, so the targets build unchanged with
// the GCC driver in fuzz/driver.cpp or with clang's libFuzzer):
//   ByteReader   decodes the fuzz input: little-endian integers, floats, byte strings; reads past
//                the end give zeros, so every byte string is some valid input;
//   FUZZ_CHECK   a property of the code under test: on violation prints what and aborts, which
//                the fuzz engine reports as a crash (and writes the input to a crash file).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace nd_fuzz {

class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  size_t remaining() const { return size_ - pos_; }
  bool empty() const { return pos_ >= size_; }

  uint8_t U8() { return pos_ < size_ ? data_[pos_++] : 0; }
  int8_t I8() { return static_cast<int8_t>(U8()); }
  uint64_t UInt(size_t bytes) {
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(U8()) << (8 * i);
    return v;
  }
  uint32_t U32() { return static_cast<uint32_t>(UInt(4)); }
  int32_t I32() { return static_cast<int32_t>(U32()); }
  int64_t I64() { return static_cast<int64_t>(UInt(8)); }
  float F32() {
    const uint32_t bits = U32();
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
  }
  double F64() {
    const uint64_t bits = UInt(8);
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return d;
  }
  // Up to n bytes (fewer when the input ends).
  std::string Bytes(size_t n) {
    const size_t take = n < remaining() ? n : remaining();
    std::string out(reinterpret_cast<const char*>(data_ + pos_), take);
    pos_ += take;
    return out;
  }
  // A u8 length, then that many bytes.
  std::string ShortBytes() { return Bytes(U8()); }
  // Copies up to n bytes into out (the rest of out is left alone); returns how many were copied.
  size_t CopyTo(void* out, size_t n) {
    const size_t take = n < remaining() ? n : remaining();
    if (take > 0) std::memcpy(out, data_ + pos_, take);
    pos_ += take;
    return take;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// ND_FUZZ_VERBOSE=1 in the environment: the targets describe what they decoded and what the code
// under test answered (for reading a crash file or checking a seed).
inline bool Verbose() {
  static const bool verbose = [] {
    const char* v = std::getenv("ND_FUZZ_VERBOSE");
    return v != nullptr && v[0] != '\0' && v[0] != '0';
  }();
  return verbose;
}

[[noreturn]] inline void FailCheck(const char* file, int line, const char* cond, const std::string& message) {
  std::fprintf(stderr, "\n==fuzz check== FAILED %s:%d: %s\n==fuzz check== %s\n", file, line, cond, message.c_str());
  std::fflush(stderr);
  std::abort();
}

// Printable form of arbitrary bytes for check messages.
inline std::string Printable(const std::string& s, size_t max = 200) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > max) out += "...";
  return out;
}

}  // namespace nd_fuzz

// Prints (to stderr) only with ND_FUZZ_VERBOSE set; arguments are evaluated only then.
#define FUZZ_LOG(...)                          \
  do {                                         \
    if (::nd_fuzz::Verbose()) std::fprintf(stderr, __VA_ARGS__); \
  } while (0)

// `message` (a std::string expression) is evaluated only when the check fails.
#define FUZZ_CHECK(cond, message)                                   \
  do {                                                              \
    if (!(cond)) ::nd_fuzz::FailCheck(__FILE__, __LINE__, #cond, (message)); \
  } while (0)
