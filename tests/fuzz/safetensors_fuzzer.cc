// Fuzz target: the safetensors reader (checkpoints, SAE weights, models from
// EXPSVC_MODELS_DIR): the header is parsed and checked, then every tensor is
// looked up, so offsets, shapes and dtypes are exercised too.

#include <cstdint>
#include <string>

#include "worker/lm/checkpoint/safetensors_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = expsvc::lm::SafetensorsFile::FromBytes(std::string(reinterpret_cast<const char*>(data), size),
                                                     "fuzz.safetensors");
  if (!file.ok()) return 0;
  // Every accepted tensor's bytes must lie inside the file: read its ends
  // (ASan reports a view that points outside).
  volatile unsigned sum = 0;
  for (const std::string& name : (*file)->names()) {
    auto tensor = (*file)->Get(name);
    if (!tensor.ok() || tensor->bytes.empty()) continue;
    sum = sum + static_cast<unsigned>(tensor->bytes.front()) + static_cast<unsigned>(tensor->bytes.back());
  }
  (void)sum;
  return 0;
}
