// Fuzz target: corpus.bin (the tokenised LM corpus the SAE and LM jobs read).
// The input is a file without its trailing CRC-32: the harness appends the
// right one, since the checksum alone would stop almost every mutation before
// the checks of headers, labels and ids. The raw bytes are decoded too.

#include <zlib.h>

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "worker/lm/corpus/corpus_file_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string file(reinterpret_cast<const char*>(data), size);
  const uLong crc = crc32(0L, data, static_cast<uInt>(size));
  for (int i = 0; i < 4; ++i) file.push_back(static_cast<char>((crc >> (8 * i)) & 0xFF));
  auto framed = expsvc::lm::DecodeCorpusFile(file);
  (void)framed;
  auto raw = expsvc::lm::DecodeCorpusFile(absl::string_view(reinterpret_cast<const char*>(data), size));
  (void)raw;
  return 0;
}
