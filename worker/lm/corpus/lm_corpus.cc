#include "worker/lm/corpus/lm_corpus.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "worker/lm/tokenizer/tokenizer_identity.h"

namespace expsvc::lm {

LmCorpus::LmCorpus(int32_t vocab_size, TokenId bos_id, int32_t window_length, uint64_t split_seed)
    : vocab_size_(vocab_size), bos_id_(bos_id), window_length_(window_length), split_seed_(split_seed) {}

uint32_t LmCorpus::AddDocument(CorpusDocumentInfo document) {
  documents_.push_back(std::move(document));
  return static_cast<uint32_t>(documents_.size() - 1);
}

absl::Status LmCorpus::AddWindow(uint32_t document, absl::Span<const TokenId> tokens) {
  if (document >= documents_.size()) {
    return absl::InvalidArgumentError(absl::StrCat("window of unknown document ", document));
  }
  if (static_cast<int64_t>(tokens.size()) != window_length_) {
    return absl::InvalidArgumentError(absl::StrCat("window of ", tokens.size(), " tokens, expected ", window_length_));
  }
  SplitWindows& split = splits_[static_cast<int>(documents_[document].split)];
  if (split.is_adopted) {
    return absl::FailedPreconditionError(
        absl::StrCat("the ", SplitName(documents_[document].split), " split's windows were adopted and are read-only"));
  }
  split.built.insert(split.built.end(), tokens.begin(), tokens.end());
  split.documents.push_back(document);
  return absl::OkStatus();
}

absl::Status LmCorpus::AdoptWindows(Split split, absl::Span<const TokenId> tokens, std::vector<uint32_t> documents,
                                    std::shared_ptr<const void> storage) {
  if (tokens.size() != documents.size() * static_cast<size_t>(window_length_)) {
    return absl::InvalidArgumentError(absl::StrCat(SplitName(split), ": ", tokens.size(), " ids are not ",
                                                   documents.size(), " windows of ", window_length_));
  }
  SplitWindows& windows = splits_[static_cast<int>(split)];
  windows.built.clear();
  windows.built.shrink_to_fit();
  windows.adopted = tokens;
  windows.is_adopted = true;
  windows.documents = std::move(documents);
  if (storage != nullptr && std::find(storage_.begin(), storage_.end(), storage) == storage_.end()) {
    storage_.push_back(std::move(storage));
  }
  return absl::OkStatus();
}

int64_t LmCorpus::window_count(Split split) const {
  return static_cast<int64_t>(splits_[static_cast<int>(split)].documents.size());
}

int64_t LmCorpus::window_count(Split split, Language language) const {
  int64_t count = 0;
  for (uint32_t document : splits_[static_cast<int>(split)].documents) {
    if (documents_[document].language == language) ++count;
  }
  return count;
}

CorpusWindow LmCorpus::window(Split split, int64_t index) const {
  const SplitWindows& windows = splits_[static_cast<int>(split)];
  CorpusWindow window;
  window.tokens = windows.tokens().subspan(static_cast<size_t>(index) * window_length_, window_length_);
  window.document = windows.documents[index];
  window.language = documents_[window.document].language;
  return window;
}

absl::Status LmCorpus::Validate() const {
  if (vocab_size_ < 1) return absl::DataLossError(absl::StrCat("vocab size ", vocab_size_));
  if (bos_id_ < 0 || bos_id_ >= vocab_size_) {
    return absl::DataLossError(absl::StrCat("BOS id ", bos_id_, " outside the vocabulary of ", vocab_size_));
  }
  if (window_length_ < 2) {
    return absl::DataLossError(absl::StrCat("window length ", window_length_, " (BOS + at least 1)"));
  }
  if (!tokenizer_identity_.empty() && !IsTokenizerIdentity(tokenizer_identity_)) {
    return absl::DataLossError(
        absl::StrCat("tokenizer identity \"", tokenizer_identity_, "\" is not 64 lower-case hex characters"));
  }
  for (size_t d = 0; d < documents_.size(); ++d) {
    const auto language = static_cast<uint8_t>(documents_[d].language);
    const auto split = static_cast<uint8_t>(documents_[d].split);
    if (language >= kLanguageCount) {
      return absl::DataLossError(absl::StrCat("document ", d, " has language label ", language));
    }
    if (split >= kSplitCount) {
      return absl::DataLossError(absl::StrCat("document ", d, " has split label ", split));
    }
  }
  for (Split split : kAllSplits) {
    const SplitWindows& windows = splits_[static_cast<int>(split)];
    const absl::Span<const TokenId> split_tokens = windows.tokens();
    if (split_tokens.size() != windows.documents.size() * window_length_) {
      return absl::DataLossError(absl::StrCat(SplitName(split), ": token count ", split_tokens.size(), " is not ",
                                              windows.documents.size(), " windows of ", window_length_));
    }
    for (size_t w = 0; w < windows.documents.size(); ++w) {
      const uint32_t document = windows.documents[w];
      if (document >= documents_.size()) {
        return absl::DataLossError(
            absl::StrCat(SplitName(split), " window ", w, ": document ", document, " does not exist"));
      }
      if (documents_[document].split != split) {
        return absl::DataLossError(absl::StrCat(SplitName(split), " window ", w, ": its document ", document,
                                                " is in the ", SplitName(documents_[document].split), " split"));
      }
      const TokenId* tokens = split_tokens.data() + w * window_length_;
      if (tokens[0] != bos_id_) {
        return absl::DataLossError(
            absl::StrCat(SplitName(split), " window ", w, " does not start with BOS (", tokens[0], ")"));
      }
      for (int32_t t = 0; t < window_length_; ++t) {
        if (tokens[t] < 0 || tokens[t] >= vocab_size_) {
          return absl::DataLossError(absl::StrCat(SplitName(split), " window ", w, " token ", t, ": id ", tokens[t],
                                                  " outside the vocabulary of ", vocab_size_));
        }
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace expsvc::lm
