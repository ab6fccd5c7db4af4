#pragma once
// One vocabulary entry as SentencePiece stores it: the piece, its unigram
// score and its type. Shared by the unigram model, the model-file reader and
// the Tokenizer interface (Vocabulary(), which TokenizerIdentity hashes).

#include <string>

namespace expsvc::lm {

// SentencePiece's piece types. Only kNormal and kUserDefined pieces are
// matched against text; the others are reached by id only.
enum class PieceKind { kNormal, kUnknown, kControl, kUserDefined, kByte, kUnused };

struct UnigramPiece {
  std::string text;
  float score = 0.0f;
  PieceKind kind = PieceKind::kNormal;
};

}  // namespace expsvc::lm
