// Fuzz target: config.json of a Llama-style model (ours or a Hugging Face
// one): parsed and validated, an error naming the field, never a crash.

#include <cstdint>
#include <string_view>

#include "worker/lm/checkpoint/llama_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto config = expsvc::lm::ParseLlamaConfig(std::string_view(reinterpret_cast<const char*>(data), size));
  (void)config;
  return 0;
}
