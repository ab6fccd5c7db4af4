#pragma once
// A unigram language-model vocabulary (pieces with log-probability scores)
// and its encoder: the segmentation with the best sum of scores, found by
// Viterbi over the lattice of pieces that match the text — the same search
// SentencePiece's unigram model does, including its tie-breaking (its mix of
// float and double sums; the first path found wins a tie) and its treatment
// of characters no piece covers (one unknown node per character, scored min score − 10, then either
// the character's UTF-8 bytes as <0xNN> pieces or one unk id per run).

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/lm/tokenizer/tokenizer.h"
#include "worker/lm/tokenizer/vocabulary_piece.h"

namespace expsvc::lm {

// Penalty below the lowest piece score given to an unknown character, as in
// SentencePiece and Hugging Face tokenizers.
inline constexpr float kUnknownCharacterPenalty = 10.0f;

class UnigramModel {
 public:
  // `unk_id` must name a piece of kind kUnknown when given; with
  // `byte_fallback` all 256 <0xNN> pieces must be present (kind kByte).
  static absl::StatusOr<UnigramModel> Create(std::vector<UnigramPiece> pieces, std::optional<TokenId> unk_id,
                                             bool byte_fallback);

  // Appends to `ids` the best segmentation of `text`, which is already
  // normalised (spaces replaced by ▁) and valid UTF-8. Fails only when a
  // character is covered by no piece and there is neither byte fallback nor
  // an unk piece.
  absl::Status EncodeInto(absl::string_view text, std::vector<TokenId>* ids) const;

  const std::vector<UnigramPiece>& pieces() const { return pieces_; }
  int32_t size() const { return static_cast<int32_t>(pieces_.size()); }
  std::optional<TokenId> unk_id() const { return unk_id_; }
  bool byte_fallback() const { return byte_fallback_; }
  // Any piece, whatever its kind.
  std::optional<TokenId> IdOfPiece(absl::string_view piece) const;
  // The <0xNN> piece of `byte`; only with byte fallback.
  TokenId ByteId(unsigned char byte) const { return byte_ids_[byte]; }
  // Score given to a character no piece covers.
  float unknown_score() const { return unknown_score_; }

  // "<0x41>" for 0x41.
  static std::string BytePieceText(unsigned char byte);
  // The byte a "<0xNN>" piece stands for.
  static std::optional<unsigned char> ParseBytePiece(absl::string_view piece);

 private:
  UnigramModel() = default;

  std::vector<UnigramPiece> pieces_;
  absl::flat_hash_map<std::string, TokenId> id_of_piece_;
  absl::flat_hash_map<std::string, TokenId> matchable_id_;  // kNormal and kUserDefined
  size_t longest_matchable_bytes_ = 0;
  std::optional<TokenId> unk_id_;
  bool byte_fallback_ = false;
  std::array<TokenId, 256> byte_ids_{};
  float unknown_score_ = 0.0f;
  float highest_normal_score_ = 0.0f;
};

}  // namespace expsvc::lm
