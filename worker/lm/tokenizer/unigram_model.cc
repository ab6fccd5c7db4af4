#include "worker/lm/tokenizer/unigram_model.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "worker/lm/tokenizer/utf8.h"

namespace expsvc::lm {
namespace {

// Best path found so far that ends at a byte offset of the text.
struct PathEnd {
  float score = 0.0f;
  TokenId last_piece = -1;
  size_t starts_at = 0;
  bool reached = false;
};

}  // namespace

std::string UnigramModel::BytePieceText(unsigned char byte) {
  return absl::StrFormat("<0x%02X>", byte);
}

std::optional<unsigned char> UnigramModel::ParseBytePiece(absl::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return std::nullopt;
  int value = 0;
  for (char c : piece.substr(3, 2)) {
    value *= 16;
    if (c >= '0' && c <= '9') {
      value += c - '0';
    } else if (c >= 'A' && c <= 'F') {
      value += c - 'A' + 10;
    } else {
      return std::nullopt;  // SentencePiece writes upper-case hex only
    }
  }
  return static_cast<unsigned char>(value);
}

absl::StatusOr<UnigramModel> UnigramModel::Create(std::vector<UnigramPiece> pieces, std::optional<TokenId> unk_id,
                                                  bool byte_fallback) {
  if (pieces.empty()) return absl::InvalidArgumentError("unigram vocabulary is empty");
  UnigramModel model;
  model.byte_fallback_ = byte_fallback;
  model.byte_ids_.fill(-1);
  if (unk_id.has_value()) {
    if (*unk_id < 0 || *unk_id >= static_cast<TokenId>(pieces.size())) {
      return absl::InvalidArgumentError(
          absl::StrCat("unk id ", *unk_id, " is outside the vocabulary of ", pieces.size()));
    }
    if (pieces[*unk_id].kind != PieceKind::kUnknown) {
      return absl::InvalidArgumentError(absl::StrCat("unk id ", *unk_id, " names piece '", pieces[*unk_id].text,
                                                     "', which is not of the unknown kind"));
    }
    model.unk_id_ = unk_id;
  }
  float lowest_normal_score = std::numeric_limits<float>::max();
  float highest_normal_score = std::numeric_limits<float>::lowest();
  for (size_t i = 0; i < pieces.size(); ++i) {
    const UnigramPiece& piece = pieces[i];
    const TokenId id = static_cast<TokenId>(i);
    if (piece.text.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("piece ", id, " is empty"));
    }
    if (!model.id_of_piece_.emplace(piece.text, id).second) {
      return absl::InvalidArgumentError(absl::StrCat("piece '", piece.text, "' appears twice (ids ",
                                                     model.id_of_piece_[piece.text], " and ", id, ")"));
    }
    if (piece.kind == PieceKind::kUnknown && unk_id != id) {
      return absl::InvalidArgumentError(
          absl::StrCat("piece ", id, " is of the unknown kind but the unk id is not ", id));
    }
    if (piece.kind == PieceKind::kNormal || piece.kind == PieceKind::kUserDefined) {
      model.matchable_id_.emplace(piece.text, id);
      model.longest_matchable_bytes_ = std::max(model.longest_matchable_bytes_, piece.text.size());
    }
    if (piece.kind == PieceKind::kNormal) {
      lowest_normal_score = std::min(lowest_normal_score, piece.score);
      highest_normal_score = std::max(highest_normal_score, piece.score);
    }
    if (piece.kind == PieceKind::kByte) {
      const std::optional<unsigned char> byte = ParseBytePiece(piece.text);
      if (!byte.has_value()) {
        return absl::InvalidArgumentError(
            absl::StrCat("byte piece ", id, " '", piece.text, "' is not of the form <0xNN>"));
      }
      model.byte_ids_[*byte] = id;
    }
  }
  if (byte_fallback) {
    for (int byte = 0; byte < 256; ++byte) {
      if (model.byte_ids_[byte] < 0) {
        return absl::InvalidArgumentError(absl::StrCat("byte fallback is on but the vocabulary has no piece ",
                                                       BytePieceText(static_cast<unsigned char>(byte))));
      }
    }
  }
  if (lowest_normal_score == std::numeric_limits<float>::max()) lowest_normal_score = 0.0f;
  if (highest_normal_score == std::numeric_limits<float>::lowest()) highest_normal_score = 0.0f;
  model.unknown_score_ = lowest_normal_score - kUnknownCharacterPenalty;
  model.highest_normal_score_ = highest_normal_score;
  model.pieces_ = std::move(pieces);
  return model;
}

std::optional<TokenId> UnigramModel::IdOfPiece(absl::string_view piece) const {
  auto it = id_of_piece_.find(piece);
  if (it == id_of_piece_.end()) return std::nullopt;
  return it->second;
}

absl::Status UnigramModel::EncodeInto(absl::string_view text, std::vector<TokenId>* ids) const {
  if (text.empty()) return absl::OkStatus();
  // best[end]: the best path over text[0, end). Filled forwards: every
  // reached start extends by every piece that matches there, so each end's
  // best is final once all starts before it are done.
  std::vector<PathEnd> best(text.size() + 1);
  best[0].reached = true;
  // SentencePiece's arithmetic, kept exactly so that near-ties resolve the
  // same way: a piece candidate is summed and compared in double, then stored
  // as float; an unknown-character candidate is float throughout.
  const auto offer_piece = [&](size_t start, size_t end, TokenId piece, double piece_score) {
    const double score = piece_score + static_cast<double>(best[start].score);
    PathEnd& target = best[end];
    if (!target.reached || score > static_cast<double>(target.score)) {
      target = {static_cast<float>(score), piece, start, true};
    }
  };
  const auto offer_unknown = [&](size_t start, size_t end) {
    const float score = unknown_score_ + best[start].score;
    PathEnd& target = best[end];
    if (!target.reached || score > target.score) target = {score, -1, start, true};
  };
  for (size_t start = 0; start < text.size();) {
    size_t char_length = Utf8CharLength(text, start);
    if (char_length == 0) char_length = 1;  // callers pass valid UTF-8; stay safe anyway
    bool single_character_piece = false;
    // Candidate ends at character boundaries, up to the longest piece.
    for (size_t end = start + char_length; end <= text.size() && end - start <= longest_matchable_bytes_;) {
      auto it = matchable_id_.find(text.substr(start, end - start));
      if (it != matchable_id_.end()) {
        const UnigramPiece& piece = pieces_[it->second];
        // SentencePiece ranks user-defined pieces above any normal path.
        const double score = piece.kind == PieceKind::kUserDefined
                                 ? static_cast<float>(end - start) * highest_normal_score_ - 0.1
                                 : static_cast<double>(piece.score);
        offer_piece(start, end, it->second, score);
        if (end == start + char_length) single_character_piece = true;
      }
      if (end == text.size()) break;
      const size_t next_length = Utf8CharLength(text, end);
      end += next_length == 0 ? 1 : next_length;
    }
    if (!single_character_piece) offer_unknown(start, start + char_length);
    start += char_length;
  }

  // Walk back from the end; piece -1 marks an unknown character.
  std::vector<std::pair<size_t, TokenId>> path;  // (start, piece)
  for (size_t end = text.size(); end > 0;) {
    const PathEnd& node = best[end];
    path.emplace_back(node.starts_at, node.last_piece);
    end = node.starts_at;
  }
  std::reverse(path.begin(), path.end());
  for (size_t i = 0; i < path.size(); ++i) {
    const auto [start, piece] = path[i];
    if (piece >= 0) {
      ids->push_back(piece);
      continue;
    }
    const size_t end = i + 1 < path.size() ? path[i + 1].first : text.size();
    if (byte_fallback_) {
      for (size_t b = start; b < end; ++b) {
        ids->push_back(byte_ids_[static_cast<unsigned char>(text[b])]);
      }
    } else if (unk_id_.has_value()) {
      // A run of unknown characters becomes one unk, as in both libraries.
      if (i == 0 || path[i - 1].second >= 0) ids->push_back(*unk_id_);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("character '", text.substr(start, end - start),
                       "' is in no piece and the model has neither byte fallback nor an unk piece"));
    }
  }
  return absl::OkStatus();
}

}  // namespace expsvc::lm
