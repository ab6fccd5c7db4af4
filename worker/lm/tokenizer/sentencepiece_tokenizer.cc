#include "worker/lm/tokenizer/sentencepiece_tokenizer.h"

#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/fs/file_io.h"
#include "common/status_macros.h"
#include "worker/lm/tokenizer/sentencepiece_model_proto.h"

namespace expsvc::lm {

absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> SentencePieceTokenizer::FromSerialized(
    const std::string& serialized_model) {
  std::string error;
  std::unique_ptr<spm_bridge::Processor> processor = spm_bridge::Processor::Load(serialized_model, &error);
  if (processor == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("not a loadable SentencePiece model: ", error));
  }
  return std::unique_ptr<SentencePieceTokenizer>(new SentencePieceTokenizer(std::move(processor), serialized_model));
}

absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> SentencePieceTokenizer::FromFile(const std::string& path) {
  EXPSVC_ASSIGN_OR_RETURN(const std::string bytes, fs::ReadFile(path));
  absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> tokenizer = FromSerialized(bytes);
  if (!tokenizer.ok()) {
    return absl::Status(tokenizer.status().code(), absl::StrCat(path, ": ", tokenizer.status().message()));
  }
  return tokenizer;
}

absl::StatusOr<std::vector<TokenId>> SentencePieceTokenizer::EncodeText(absl::string_view text) const {
  std::vector<int> ids;
  std::string error;
  if (!processor_->Encode(std::string_view(text.data(), text.size()), &ids, &error)) {
    return absl::InternalError(absl::StrCat("SentencePiece encode failed: ", error));
  }
  return std::vector<TokenId>(ids.begin(), ids.end());
}

absl::StatusOr<std::string> SentencePieceTokenizer::Decode(absl::Span<const TokenId> ids) const {
  for (TokenId id : ids) {
    if (id < 0 || id >= vocab_size()) {
      return absl::InvalidArgumentError(absl::StrCat("token id ", id, " is outside the vocabulary of ", vocab_size()));
    }
  }
  std::string text;
  std::string error;
  if (!processor_->Decode(std::vector<int>(ids.begin(), ids.end()), &text, &error)) {
    return absl::InternalError(absl::StrCat("SentencePiece decode failed: ", error));
  }
  return text;
}

SpecialTokenIds SentencePieceTokenizer::special_ids() const {
  return {.unk = processor_->unk_id(),
          .bos = processor_->bos_id(),
          .eos = processor_->eos_id(),
          .pad = processor_->pad_id()};
}

absl::StatusOr<std::string> SentencePieceTokenizer::PieceOf(TokenId id) const {
  if (id < 0 || id >= vocab_size()) {
    return absl::InvalidArgumentError(absl::StrCat("token id ", id, " is outside the vocabulary of ", vocab_size()));
  }
  return processor_->Piece(id);
}

absl::StatusOr<std::vector<UnigramPiece>> SentencePieceTokenizer::Vocabulary() const {
  EXPSVC_ASSIGN_OR_RETURN(SentencePieceModelInfo info, ReadSentencePieceModel(serialized_model_));
  if (static_cast<int32_t>(info.pieces.size()) != vocab_size()) {
    return absl::DataLossError(absl::StrCat("the model bytes hold ", info.pieces.size(),
                                            " pieces but libsentencepiece loaded ", vocab_size()));
  }
  return std::move(info.pieces);
}

}  // namespace expsvc::lm
