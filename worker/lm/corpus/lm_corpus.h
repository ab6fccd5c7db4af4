#pragma once
// The tokenised bilingual corpus in memory: fixed-length windows (BOS + N
// tokens) per split, each labelled with its language and document, plus the
// document table and the identity of the tokenizer that made the ids
// (tokenizer_identity.h). Built by corpus_builder.h, stored by
// corpus_file_format.h.
//
// Token ids live either in the corpus (AddWindow, when building) or in
// memory someone else owns (AdoptWindows: the reader points a split into the
// memory-mapped corpus.bin, so a 100M-token corpus is not copied to the heap).
// Copies share adopted memory.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "worker/lm/corpus/document_split.h"
#include "worker/lm/corpus/language.h"
#include "worker/lm/tokenizer/tokenizer.h"

namespace expsvc::lm {

struct CorpusDocumentInfo {
  std::string key;
  std::string title;
  Language language = Language::kEnglish;
  Split split = Split::kTrain;
};

// One window of a split.
struct CorpusWindow {
  absl::Span<const TokenId> tokens;  // BOS first; window_length() ids
  Language language = Language::kEnglish;
  uint32_t document = 0;  // index into documents()
};

class LmCorpus {
 public:
  // `window_length` counts the BOS: tokens_per_window + 1.
  LmCorpus(int32_t vocab_size, TokenId bos_id, int32_t window_length, uint64_t split_seed);

  // Returns the new document's index.
  uint32_t AddDocument(CorpusDocumentInfo document);
  // `tokens` is one window (window_length() ids, BOS first); the window goes
  // to the split of its document and takes the document's language.
  // FailedPrecondition on a split whose windows were adopted.
  absl::Status AddWindow(uint32_t document, absl::Span<const TokenId> tokens);

  // Makes `tokens` (window_length() ids per window, BOS first) the windows of
  // `split`, window w belonging to documents[w], without copying: the ids
  // must stay valid while `storage` lives, and the corpus keeps `storage`.
  // Replaces the split's windows. Checks the counts; Validate() the rest.
  absl::Status AdoptWindows(Split split, absl::Span<const TokenId> tokens, std::vector<uint32_t> documents,
                            std::shared_ptr<const void> storage);

  // Lower-case hex SHA-256 of the tokenizer (tokenizer_identity.h); empty
  // when unknown (corpus files of format version 1).
  const std::string& tokenizer_identity() const { return tokenizer_identity_; }
  void set_tokenizer_identity(std::string identity) { tokenizer_identity_ = std::move(identity); }

  int32_t vocab_size() const { return vocab_size_; }
  TokenId bos_id() const { return bos_id_; }
  int32_t window_length() const { return window_length_; }
  int32_t tokens_per_window() const { return window_length_ - 1; }
  uint64_t split_seed() const { return split_seed_; }
  const std::vector<CorpusDocumentInfo>& documents() const { return documents_; }

  int64_t window_count(Split split) const;
  int64_t window_count(Split split, Language language) const;
  // `index` in [0, window_count(split)).
  CorpusWindow window(Split split, int64_t index) const;

  // Every id below vocab_size, every window starting with BOS, every label
  // and document index in range, the tokenizer identity empty or 64 hex
  // characters; the error names the first problem found.
  absl::Status Validate() const;

  // Raw storage, for the file format: the windows of a split back to back,
  // and their document indices.
  absl::Span<const TokenId> split_tokens(Split split) const { return splits_[static_cast<int>(split)].tokens(); }
  const std::vector<uint32_t>& split_documents(Split split) const { return splits_[static_cast<int>(split)].documents; }

 private:
  struct SplitWindows {
    std::vector<TokenId> built;         // AddWindow
    absl::Span<const TokenId> adopted;  // AdoptWindows; kept alive by storage_
    bool is_adopted = false;
    std::vector<uint32_t> documents;

    absl::Span<const TokenId> tokens() const { return is_adopted ? adopted : absl::MakeConstSpan(built); }
  };

  int32_t vocab_size_;
  TokenId bos_id_;
  int32_t window_length_;
  uint64_t split_seed_;
  std::string tokenizer_identity_;
  std::vector<CorpusDocumentInfo> documents_;
  std::array<SplitWindows, kSplitCount> splits_;
  std::vector<std::shared_ptr<const void>> storage_;
};

}  // namespace expsvc::lm
