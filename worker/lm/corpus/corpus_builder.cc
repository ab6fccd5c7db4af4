#include "worker/lm/corpus/corpus_builder.h"

#include <chrono>
#include <filesystem>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/fs/file_io.h"
#include "common/status_macros.h"
#include "worker/lm/corpus/corpus_file_format.h"
#include "worker/lm/corpus/lm_corpus.h"
#include "worker/lm/corpus/token_windows.h"
#include "worker/lm/tokenizer/sentencepiece_tokenizer.h"

namespace expsvc::lm {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

absl::StatusOr<std::vector<TokenId>> TokenizeDocument(const Tokenizer& tokenizer, const Document& document) {
  std::vector<TokenId> ids;
  for (const std::string& paragraph : document.paragraphs) {
    EXPSVC_ASSIGN_OR_RETURN(const std::vector<TokenId> paragraph_ids, tokenizer.Encode(paragraph));
    ids.insert(ids.end(), paragraph_ids.begin(), paragraph_ids.end());
  }
  return ids;
}

}  // namespace

absl::StatusOr<CorpusBuildReport> BuildLmCorpus(const std::vector<Document>& documents,
                                                const CorpusBuildOptions& options, const std::string& output_folder) {
  const auto start = std::chrono::steady_clock::now();
  if (options.tokens_per_window < 1 || options.tokens_per_window > (1 << 16)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokens_per_window ", options.tokens_per_window, " must be in [1, 65536]"));
  }
  if (documents.empty()) return absl::InvalidArgumentError("no documents");
  EXPSVC_ASSIGN_OR_RETURN(const std::vector<Split> splits,
                          AssignSplits(documents, options.split_seed, options.fractions));

  // The tokenizer sees the training split only, so valid/test text is new to it too.
  std::vector<std::string> training_text;
  for (size_t d = 0; d < documents.size(); ++d) {
    if (splits[d] != Split::kTrain) continue;
    for (const std::string& paragraph : documents[d].paragraphs) training_text.push_back(paragraph);
  }
  if (training_text.empty()) {
    return absl::FailedPreconditionError("the training split is empty: too few documents");
  }
  CorpusBuildReport report;
  report.tokenizer_folder = (std::filesystem::path(output_folder) / kTokenizerFolderName).string();
  report.corpus_path = (std::filesystem::path(output_folder) / kCorpusFileName).string();
  EXPSVC_ASSIGN_OR_RETURN(const TrainedTokenizer trained,
                          TrainTokenizer(training_text, options.tokenizer, report.tokenizer_folder));
  report.vocab_size = trained.vocab_size;
  report.tokenizer_sentences = trained.sentences;
  report.tokenizer_seconds = trained.training_seconds;

  const auto tokenize_start = std::chrono::steady_clock::now();
  EXPSVC_ASSIGN_OR_RETURN(std::unique_ptr<SentencePieceTokenizer> tokenizer,
                          SentencePieceTokenizer::FromFile(trained.model_path));
  const TokenId bos = tokenizer->special_ids().bos;
  LmCorpus corpus(tokenizer->vocab_size(), bos, options.tokens_per_window + 1, options.split_seed);
  std::vector<TokenId> windows;
  for (size_t d = 0; d < documents.size(); ++d) {
    const Document& document = documents[d];
    const uint32_t index = corpus.AddDocument(
        {.key = document.key, .title = document.title, .language = document.language, .split = splits[d]});
    EXPSVC_ASSIGN_OR_RETURN(const std::vector<TokenId> ids, TokenizeDocument(*tokenizer, document));
    windows.clear();
    const int64_t count = AppendWindows(ids, bos, options.tokens_per_window, &windows);
    for (int64_t w = 0; w < count; ++w) {
      EXPSVC_RETURN_IF_ERROR(corpus.AddWindow(
          index, absl::MakeConstSpan(windows).subspan(w * corpus.window_length(), corpus.window_length())));
    }
    CorpusCounts& counts = report.counts[static_cast<int>(splits[d])][static_cast<int>(document.language)];
    ++counts.documents;
    counts.windows += count;
    counts.tokens += static_cast<int64_t>(ids.size());
    counts.dropped_tokens += static_cast<int64_t>(ids.size()) - count * options.tokens_per_window;
  }
  report.tokenize_seconds = SecondsSince(tokenize_start);

  EXPSVC_ASSIGN_OR_RETURN(const std::string bytes, EncodeCorpusFile(corpus));
  EXPSVC_RETURN_IF_ERROR(fs::WriteFileAtomically(report.corpus_path, bytes));
  report.corpus_file_bytes = static_cast<int64_t>(bytes.size());
  report.total_seconds = SecondsSince(start);
  return report;
}

}  // namespace expsvc::lm
