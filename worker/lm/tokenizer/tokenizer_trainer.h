#pragma once
// Trains a SentencePiece unigram tokenizer and saves it in both forms an HF
// model folder can carry: `tokenizer.model` and `tokenizer.json`.
//
// Fixed choices, so that both files encode alike and the LM study's ids stay
// stable: byte fallback on (no text is ever <unk>); identity normalisation
// with whitespace kept as is (no NFKC, runs of spaces not collapsed; a ▁ is
// put in front of the text); the special pieces
//   <unk> = 0, <s> (BOS) = 1, </s> (EOS) = 2, <pad> = 3,
// then the 256 byte pieces <0x00>..<0xFF>, then the learned pieces.
//
// Determinism: SentencePiece's random generator is seeded from `seed` and all
// sentences are used (no sampling), so the same sentences, options and
// thread count give the same model bytes. Its EM sums are split across
// threads, so a different num_threads may change scores in the last bits.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/lm/tokenizer/tokenizer.h"

namespace expsvc::lm {

inline constexpr TokenId kTrainedUnkId = 0;
inline constexpr TokenId kTrainedBosId = 1;
inline constexpr TokenId kTrainedEosId = 2;
inline constexpr TokenId kTrainedPadId = 3;

struct TokenizerTrainingOptions {
  // Upper bound: a small corpus may support fewer pieces, and SentencePiece
  // then stops early instead of failing (hard_vocab_limit=false).
  int32_t vocab_size = 8000;
  double character_coverage = 0.9995;
  int num_threads = 1;
  uint32_t seed = 1;
  // SentencePiece skips (with a warning) sentences longer than this.
  int32_t max_sentence_bytes = 1 << 16;
  // SentencePiece's own progress log on stderr.
  bool verbose = false;
};

struct TrainedTokenizer {
  std::string model_path;
  std::string json_path;
  int32_t vocab_size = 0;
  int64_t sentences = 0;  // after splitting at newlines and dropping empty lines
  double training_seconds = 0.0;
};

// Trains on `texts`; each is split at newlines into SentencePiece sentences.
// Writes `output_folder`/tokenizer.model and /tokenizer.json (atomically),
// creating the folder.
absl::StatusOr<TrainedTokenizer> TrainTokenizer(const std::vector<std::string>& texts,
                                                const TokenizerTrainingOptions& options,
                                                const std::string& output_folder);

// The same, on the lines of a UTF-8 text file.
absl::StatusOr<TrainedTokenizer> TrainTokenizerFromTextFile(const std::string& text_path,
                                                            const TokenizerTrainingOptions& options,
                                                            const std::string& output_folder);

}  // namespace expsvc::lm
