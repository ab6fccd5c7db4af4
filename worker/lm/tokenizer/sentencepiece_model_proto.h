#pragma once
// Reads the fields of a serialized SentencePiece ModelProto (the bytes of a
// tokenizer.model file) that exporting and checking need. Debian's
// libsentencepiece-dev ships no sentencepiece_model.pb.h, so this decodes the
// protobuf wire format directly; field numbers follow sentencepiece_model.proto
// and absent fields take that file's defaults.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/lm/tokenizer/unigram_model.h"

namespace expsvc::lm {

struct SentencePieceModelInfo {
  std::vector<UnigramPiece> pieces;

  // TrainerSpec.
  int model_type = 1;  // 1 unigram, 2 BPE, 3 word, 4 char
  bool byte_fallback = false;
  bool treat_whitespace_as_suffix = false;
  int32_t unk_id = 0;
  int32_t bos_id = 1;
  int32_t eos_id = 2;
  int32_t pad_id = -1;

  // NormalizerSpec.
  std::string normalizer_name;
  size_t precompiled_charsmap_bytes = 0;
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
};

absl::StatusOr<SentencePieceModelInfo> ReadSentencePieceModel(absl::string_view serialized);

}  // namespace expsvc::lm
