// Fuzz target: our reader of SentencePiece's tokenizer.model (a serialized
// protobuf read by hand, since libsentencepiece may not be linked into the
// worker).

#include <cstdint>

#include "absl/strings/string_view.h"
#include "worker/lm/tokenizer/sentencepiece_model_proto.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto model = expsvc::lm::ReadSentencePieceModel(absl::string_view(reinterpret_cast<const char*>(data), size));
  (void)model;
  return 0;
}
