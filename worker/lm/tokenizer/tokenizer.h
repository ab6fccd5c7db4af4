#pragma once
// The tokenizer the bilingual LM study codes against. Two implementations:
// SentencePiece models (`tokenizer.model`, sentencepiece_tokenizer.h) and
// Hugging Face `tokenizer.json` files with a Unigram model (hf_tokenizer.h);
// LoadTokenizer (load_tokenizer.h) picks one for a folder.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "worker/lm/tokenizer/vocabulary_piece.h"

namespace expsvc::lm {

using TokenId = int32_t;

// File names of the two forms in a model folder.
inline constexpr const char* kSentencePieceModelFile = "tokenizer.model";
inline constexpr const char* kTokenizerJsonFile = "tokenizer.json";

// Ids of the special tokens; -1 where the tokenizer has none.
struct SpecialTokenIds {
  TokenId unk = -1;
  TokenId bos = -1;
  TokenId eos = -1;
  TokenId pad = -1;
};

// BOS/EOS are never added silently: a caller that wants them says so (a
// tokenizer.json template that adds BOS only shows up in
// HfUnigramTokenizer::template_adds_bos()).
struct EncodeOptions {
  bool add_bos = false;
  bool add_eos = false;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Text → ids. Fails only when a requested BOS/EOS does not exist or the
  // implementation cannot represent a character (no unk, no byte fallback).
  absl::StatusOr<std::vector<TokenId>> Encode(absl::string_view text, const EncodeOptions& options = {}) const;

  // Ids → text. Control tokens (BOS, EOS, PAD) produce no text; an id
  // outside [0, vocab_size()) is InvalidArgument.
  virtual absl::StatusOr<std::string> Decode(absl::Span<const TokenId> ids) const = 0;

  // Ids are in [0, vocab_size()).
  virtual int32_t vocab_size() const = 0;
  virtual SpecialTokenIds special_ids() const = 0;

  // The vocabulary entry of `id` ("▁the", "<0x0A>", "<s>").
  virtual absl::StatusOr<std::string> PieceOf(TokenId id) const = 0;

  // Every id's piece, score and type, in id order (vocab_size() entries),
  // as SentencePiece stores them: what TokenizerIdentity hashes.
  virtual absl::StatusOr<std::vector<UnigramPiece>> Vocabulary() const = 0;

  // Which file format the tokenizer came from, for logs and errors.
  virtual std::string format_name() const = 0;

 protected:
  // The ids of `text` without BOS/EOS.
  virtual absl::StatusOr<std::vector<TokenId>> EncodeText(absl::string_view text) const = 0;
};

}  // namespace expsvc::lm
