#pragma once
// Builds the bilingual LM corpus from documents: split 8:1:1 by document key
// (document_split.h), train a SentencePiece tokenizer on the training split
// only (or take an existing model's tokenizer file), tokenise every
// document, cut it into BOS + N windows (token_windows.h), and write
//
//   <output>/tokenizer/tokenizer.model, tokenizer.json   (tokenizer_trainer.h)
//   <output>/corpus.bin                                  (corpus_file_format.h)
//
// corpus.bin records the tokenizer's identity (tokenizer_identity.h). With
// an existing tokenizer.json, tokenizer/ holds only that file, and text that
// spells a special token (<s>) becomes that token, as Hugging Face encodes it.
//
// Each paragraph is encoded on its own and the ids are concatenated, so
// paragraph boundaries look like word boundaries (the ▁ SentencePiece puts
// in front of each) and no newline ids appear. Documents are processed in
// their input order; window order within a split follows it.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/lm/corpus/document.h"
#include "worker/lm/corpus/document_split.h"
#include "worker/lm/corpus/language.h"
#include "worker/lm/tokenizer/tokenizer_trainer.h"

namespace expsvc::lm {

inline constexpr const char* kCorpusFileName = "corpus.bin";
inline constexpr const char* kTokenizerFolderName = "tokenizer";

struct CorpusBuildOptions {
  // N: each window is BOS + N tokens (the study's 64 + BOS).
  int32_t tokens_per_window = 64;
  uint64_t split_seed = 1;
  SplitFractions fractions;
  TokenizerTrainingOptions tokenizer;  // vocab_size 8000 by default
  // Empty: train a tokenizer with `tokenizer`. Otherwise a tokenizer.model or
  // tokenizer.json file (by extension) to tokenise with; its vocabulary
  // size and BOS are the corpus's (ids above 65535 make 4-byte ids), and it
  // is copied to <output>/tokenizer/ (a .model also exported to .json).
  std::string tokenizer_file;
};

// Counts for one split and language.
struct CorpusCounts {
  int64_t documents = 0;
  int64_t windows = 0;
  int64_t tokens = 0;          // of the documents, before cutting
  int64_t dropped_tokens = 0;  // tails shorter than a window
};

struct CorpusBuildReport {
  std::array<std::array<CorpusCounts, kLanguageCount>, kSplitCount> counts{};
  int32_t vocab_size = 0;
  std::string tokenizer_identity;
  int64_t tokenizer_sentences = 0;  // 0 with an existing tokenizer
  double tokenizer_seconds = 0.0;   // training, or loading an existing one
  double tokenize_seconds = 0.0;
  double total_seconds = 0.0;
  std::string tokenizer_folder;
  std::string corpus_path;
  int64_t corpus_file_bytes = 0;

  const CorpusCounts& at(Split split, Language language) const {
    return counts[static_cast<int>(split)][static_cast<int>(language)];
  }
};

absl::StatusOr<CorpusBuildReport> BuildLmCorpus(const std::vector<Document>& documents,
                                                const CorpusBuildOptions& options, const std::string& output_folder);

}  // namespace expsvc::lm
