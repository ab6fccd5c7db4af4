#pragma once
// A Hugging Face tokenizer.json with a Unigram model (the format LLM-jp-3
// ships): added tokens are cut out of the raw text, the rest is normalised
// (hf_normalizer.h), pre-tokenised (hf_pre_tokenizer.h) and segmented by
// Viterbi over the unigram vocabulary (unigram_model.h); decoding runs the
// file's decoder (hf_decoder.h).
//
// Kept the same as SentencePiece where the two libraries differ, so that a
// model exported by tokenizer_json_exporter.h gives the ids SentencePiece
// gives: byte pieces (<0xNN>), the unk piece and special added tokens are
// never matched as text by the model; scores are summed with
// SentencePiece's float arithmetic; invalid UTF-8 becomes U+FFFD per byte.
// "truncation" and "padding" are ignored (callers choose lengths), and the
// post-processor's BOS/EOS are reported (template_adds_bos) but only added
// when EncodeOptions asks.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "worker/lm/tokenizer/added_tokens.h"
#include "worker/lm/tokenizer/hf_decoder.h"
#include "worker/lm/tokenizer/hf_normalizer.h"
#include "worker/lm/tokenizer/hf_pre_tokenizer.h"
#include "worker/lm/tokenizer/tokenizer.h"
#include "worker/lm/tokenizer/unigram_model.h"

namespace expsvc::lm {

class HfUnigramTokenizer final : public Tokenizer {
 public:
  // Errors name the unsupported component or the malformed field.
  static absl::StatusOr<std::unique_ptr<HfUnigramTokenizer>> FromJson(absl::string_view json_text);
  // As FromJson; errors also name the file.
  static absl::StatusOr<std::unique_ptr<HfUnigramTokenizer>> FromFile(const std::string& path);

  absl::StatusOr<std::string> Decode(absl::Span<const TokenId> ids) const override;
  int32_t vocab_size() const override { return vocab_size_; }
  SpecialTokenIds special_ids() const override { return special_ids_; }
  absl::StatusOr<std::string> PieceOf(TokenId id) const override;
  // Types as SentencePiece would store them: unk_id's piece unknown,
  // <0xNN> pieces byte (with byte_fallback), special added tokens control,
  // other added tokens user-defined, the rest normal; added tokens past the
  // model's vocab score 0.
  absl::StatusOr<std::vector<UnigramPiece>> Vocabulary() const override;
  std::string format_name() const override { return "tokenizer.json (Unigram)"; }

  // Whether the file's TemplateProcessing puts BOS before / EOS after a
  // single sequence (what transformers would do by default).
  bool template_adds_bos() const { return template_adds_bos_; }
  bool template_adds_eos() const { return template_adds_eos_; }
  const UnigramModel& model() const { return model_; }

 protected:
  absl::StatusOr<std::vector<TokenId>> EncodeText(absl::string_view text) const override;

 private:
  HfUnigramTokenizer(UnigramModel model, HfNormalizer normalizer, HfPreTokenizer pre_tokenizer, HfDecoder decoder,
                     AddedTokenMatcher added_tokens)
      : model_(std::move(model)),
        normalizer_(std::move(normalizer)),
        pre_tokenizer_(std::move(pre_tokenizer)),
        decoder_(std::move(decoder)),
        added_tokens_(std::move(added_tokens)) {}

  UnigramModel model_;
  HfNormalizer normalizer_;
  HfPreTokenizer pre_tokenizer_;
  HfDecoder decoder_;
  AddedTokenMatcher added_tokens_;
  SpecialTokenIds special_ids_;
  int32_t vocab_size_ = 0;
  bool template_adds_bos_ = false;
  bool template_adds_eos_ = false;
};

}  // namespace expsvc::lm
