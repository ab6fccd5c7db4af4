// Fuzz target: the tokenizer.json reader (Hugging Face Unigram tokenizers
// such as LLM-jp's); a tokenizer that loads also encodes and decodes a
// short text, so a vocabulary the reader accepted is safe to use.

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "worker/lm/tokenizer/hf_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto tokenizer =
      expsvc::lm::HfUnigramTokenizer::FromJson(absl::string_view(reinterpret_cast<const char*>(data), size));
  if (!tokenizer.ok()) return 0;
  auto ids = (*tokenizer)->Encode("Hello, 世界! 123");
  if (ids.ok()) (void)(*tokenizer)->Decode(*ids);
  return 0;
}
