#pragma once
// Writes a SentencePiece unigram model as a Hugging Face tokenizer.json, the
// way an HF model folder carries it, so a tokenizer we train exists in both
// forms. The file encodes to the same ids as SentencePiece under
// HfUnigramTokenizer (and under the tokenizers library, up to the near-tie
// arithmetic noted in hf_tokenizer.h):
//
//   added_tokens   the control and unknown pieces (<unk>, <s>, </s>, <pad>), special
//   normalizer     Sequence[Prepend "▁", Replace " " → "▁"] (the Prepend only
//                  with add_dummy_prefix): SentencePiece's identity rule with
//                  whitespace kept as is
//   pre_tokenizer  null: one Viterbi pass over the whole text, as SentencePiece does
//   post_processor TemplateProcessing "<s> $A" (reported, never added silently)
//   decoder        Sequence[Replace "▁" → " ", ByteFallback, Fuse, Strip one leading " "]
//   model          Unigram: the pieces and scores in id order, unk_id, byte_fallback
//
// Models this cannot represent faithfully are refused with the reason: not
// unigram, a non-identity normalisation (a non-empty precompiled charsmap),
// remove_extra_whitespaces, whitespace not escaped or treated as a suffix,
// user-defined or unused pieces.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace expsvc::lm {

// The tokenizer.json text of the serialized model (a tokenizer.model's bytes).
absl::StatusOr<std::string> SentencePieceModelToTokenizerJson(absl::string_view serialized_model);

// Reads `model_path`, writes `json_path` atomically.
absl::Status ExportTokenizerJson(const std::string& model_path, const std::string& json_path);

}  // namespace expsvc::lm
