#pragma once
// A tokenizer's identity: a SHA-256 (64 lower-case hex characters) over what
// decides which text gets which ids, so that a corpus and a model can be
// checked to speak the same ids. Hashed, in this order:
//
//   "expsvc-tokenizer-identity/1", the vocabulary size, the UNK, BOS, EOS
//   and PAD ids (-1 when absent), then per id: the piece type
//   (SentencePiece's numbers: normal 1, unknown 2, control 3, user-defined
//   4, unused 5, byte 6), the score's float32 bits, the piece text.
//
// Integers are little-endian (u32 size, i32 ids, u8 type, u32 text length).
// A control piece's text is left out: it is a name (<s>, <PAD|LLM-jp>) that
// no text encodes to under SentencePiece, and LLM-jp renamed some between
// tokenizer releases without changing a single id.
//
// A tokenizer.model and its tokenizer.json export (tokenizer_json_exporter.h)
// have the same identity: the .json reader reports SentencePiece's types and
// scores (hf_tokenizer.h). Normaliser settings are not hashed; the exporter
// writes only the one normalisation it supports.

#include <filesystem>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "worker/lm/tokenizer/tokenizer.h"
#include "worker/lm/tokenizer/vocabulary_piece.h"

namespace expsvc::lm {

// Hex characters of an identity.
inline constexpr size_t kTokenizerIdentityLength = 64;

absl::StatusOr<std::string> TokenizerIdentity(const Tokenizer& tokenizer);

// The same from a tokenizer.model (read as protobuf, sentencepiece_model_proto.h)
// or a tokenizer.json file, chosen by the file's extension. Needs no
// libsentencepiece, so the worker's Torch jobs can call it. Errors name the file.
absl::StatusOr<std::string> TokenizerIdentityOfFile(const std::filesystem::path& path);

// The hash itself; `pieces` in id order.
std::string TokenizerIdentityOf(absl::Span<const UnigramPiece> pieces, const SpecialTokenIds& special);

// 64 lower-case hex characters.
bool IsTokenizerIdentity(absl::string_view text);

// The first 12 characters, for messages ("3f2a9c0b1d4e"); "(none)" when empty.
std::string ShortTokenizerIdentity(absl::string_view identity);

}  // namespace expsvc::lm
