// Fuzz target: the music dataset cache (corpus_cache_format.h). The input is
// the cache's payload; the harness frames it with a valid header and
// checksum, since the checksum alone would stop almost every mutation before
// the decoder proper. The key the payload must carry is "fuzz-key".

#include <cstdint>
#include <cstring>
#include <string>

#include "worker/music/data/corpus_cache_format.h"

// portSMF frees a static table with the wrong delete at process exit, after
// the last input: a bug of that library, not of an input, so ASan must not
// count it. (Unused in builds without ASan.)
extern "C" const char* __asan_default_options() { return "alloc_dealloc_mismatch=0"; }

namespace {
void AppendLittleEndian(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string payload(reinterpret_cast<const char*>(data), size);
  std::string file = "EXPSVCMD";
  AppendLittleEndian(file, expsvc::music::kCorpusCacheFormatVersion, 4);
  AppendLittleEndian(file, payload.size(), 8);
  AppendLittleEndian(file, expsvc::music::Fnv1a64(payload), 8);
  file += payload;
  auto corpus = expsvc::music::DecodeCorpusCache(file, "fuzz-key", expsvc::music::CorpusOptions{});
  (void)corpus;
  // The raw bytes too (a truncated or foreign file).
  auto raw = expsvc::music::DecodeCorpusCache(payload, "fuzz-key", expsvc::music::CorpusOptions{});
  (void)raw;
  return 0;
}
