#pragma once
// A SentencePiece model (`tokenizer.model`) run by libsentencepiece itself:
// the reference the tokenizer.json path is checked against.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "worker/lm/tokenizer/sentencepiece_bridge.h"
#include "worker/lm/tokenizer/tokenizer.h"

namespace expsvc::lm {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  static absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> FromSerialized(const std::string& serialized_model);
  // Errors name the file.
  static absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> FromFile(const std::string& path);

  absl::StatusOr<std::string> Decode(absl::Span<const TokenId> ids) const override;
  int32_t vocab_size() const override { return processor_->piece_count(); }
  SpecialTokenIds special_ids() const override;
  absl::StatusOr<std::string> PieceOf(TokenId id) const override;
  // Read from the model bytes (sentencepiece_model_proto.h): libsentencepiece
  // does not report user-defined types.
  absl::StatusOr<std::vector<UnigramPiece>> Vocabulary() const override;
  std::string format_name() const override { return "SentencePiece (tokenizer.model)"; }

 protected:
  absl::StatusOr<std::vector<TokenId>> EncodeText(absl::string_view text) const override;

 private:
  SentencePieceTokenizer(std::unique_ptr<spm_bridge::Processor> processor, std::string serialized_model)
      : processor_(std::move(processor)), serialized_model_(std::move(serialized_model)) {}

  std::unique_ptr<spm_bridge::Processor> processor_;
  std::string serialized_model_;  // for Vocabulary()
};

}  // namespace expsvc::lm
