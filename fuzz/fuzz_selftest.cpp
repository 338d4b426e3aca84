// Self-test of the fuzz driver: a planted heap-buffer-overflow behind the magic "NDFZ", compared
// one byte at a time. Blind random inputs reach it with probability 2^-32 per run; a
// coverage-guided fuzzer keeps every input that gets one byte further (each nested `if` is a new
// basic block) and finds it in a few thousand runs. tests/test_fuzz.py asserts both: the driver
// finds it (non-zero exit, an AddressSanitizer report, the crash file starts with "NDFZ") and the
// blind mode (-use_coverage=0) does not within the same budget. The input "LEAK-SELFTEST" (exactly;
// compared by hash, so no fuzzer stumbles on it) leaks a block, for the test of the leak check.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace {

volatile int g_sink = 0;

__attribute__((noinline)) void PlantedBug(const uint8_t* data, size_t size) {
  // Copies the input into a buffer one byte too small.
  char* buf = static_cast<char*>(std::malloc(size - 1));
  std::memcpy(buf, data, size);  // heap-buffer-overflow (by one byte)
  g_sink = buf[0];
  std::free(buf);
}

__attribute__((noinline)) void Leak() {
  char* volatile block = static_cast<char*>(std::malloc(40));
  block[0] = 1;  // never freed, no pointer kept
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  uint64_t hash = 0xcbf29ce484222325u;  // FNV-1a
  for (size_t i = 0; i < size; ++i) hash = (hash ^ data[i]) * 0x100000001b3u;
  if (size == 13 && hash == 0xbbbbac2e1f96e017u) Leak();  // "LEAK-SELFTEST"
  if (size >= 4 && data[0] == 'N') {
    g_sink = 1;
    if (data[1] == 'D') {
      g_sink = 2;
      if (data[2] == 'F') {
        g_sink = 3;
        if (data[3] == 'Z') PlantedBug(data, size);
      }
    }
  }
  return 0;
}
