#include "worker/lm/corpus/corpus_builder.h"

#include <algorithm>
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
#include "worker/lm/tokenizer/load_tokenizer.h"
#include "worker/lm/tokenizer/tokenizer_identity.h"
#include "worker/lm/tokenizer/tokenizer_json_exporter.h"

namespace expsvc::lm {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Copies an existing tokenizer file into `folder` as the corpus's tokenizer;
// a .model is also exported to tokenizer.json. Files of an earlier build
// that do not belong to it are removed.
absl::StatusOr<std::string> InstallTokenizer(const std::string& file, const std::string& folder) {
  const bool is_model = std::filesystem::path(file).extension() == ".model";
  if (!is_model && std::filesystem::path(file).extension() != ".json") {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer file ", file, " is neither a ", kSentencePieceModelFile,
                                                   " (.model) nor a ", kTokenizerJsonFile, " (.json)"));
  }
  std::error_code error;
  std::filesystem::create_directories(folder, error);
  if (error) return absl::InternalError(absl::StrCat("create ", folder, ": ", error.message()));
  const std::string model_path = (std::filesystem::path(folder) / kSentencePieceModelFile).string();
  const std::string json_path = (std::filesystem::path(folder) / kTokenizerJsonFile).string();
  EXPSVC_ASSIGN_OR_RETURN(const std::string bytes, fs::ReadFile(file));
  if (is_model) {
    EXPSVC_RETURN_IF_ERROR(fs::WriteFileAtomically(model_path, bytes));
    EXPSVC_RETURN_IF_ERROR(ExportTokenizerJson(model_path, json_path));
    return model_path;
  }
  std::filesystem::remove(model_path, error);
  EXPSVC_RETURN_IF_ERROR(fs::WriteFileAtomically(json_path, bytes));
  return json_path;
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

  CorpusBuildReport report;
  report.tokenizer_folder = (std::filesystem::path(output_folder) / kTokenizerFolderName).string();
  report.corpus_path = (std::filesystem::path(output_folder) / kCorpusFileName).string();
  if (std::find(splits.begin(), splits.end(), Split::kTrain) == splits.end()) {
    return absl::FailedPreconditionError("the training split is empty: too few documents");
  }
  std::string tokenizer_path;
  if (options.tokenizer_file.empty()) {
    // The tokenizer sees the training split only, so valid/test text is new to it too.
    std::vector<std::string> training_text;
    for (size_t d = 0; d < documents.size(); ++d) {
      if (splits[d] != Split::kTrain) continue;
      for (const std::string& paragraph : documents[d].paragraphs) training_text.push_back(paragraph);
    }
    if (training_text.empty()) {
      return absl::FailedPreconditionError("the training split is empty: too few documents");
    }
    EXPSVC_ASSIGN_OR_RETURN(const TrainedTokenizer trained,
                            TrainTokenizer(training_text, options.tokenizer, report.tokenizer_folder));
    report.tokenizer_sentences = trained.sentences;
    report.tokenizer_seconds = trained.training_seconds;
    tokenizer_path = trained.model_path;
  } else {
    const auto load_start = std::chrono::steady_clock::now();
    EXPSVC_ASSIGN_OR_RETURN(tokenizer_path, InstallTokenizer(options.tokenizer_file, report.tokenizer_folder));
    report.tokenizer_seconds = SecondsSince(load_start);
  }

  const auto tokenize_start = std::chrono::steady_clock::now();
  EXPSVC_ASSIGN_OR_RETURN(const std::unique_ptr<Tokenizer> tokenizer, LoadTokenizerFile(tokenizer_path));
  const TokenId bos = tokenizer->special_ids().bos;
  if (bos < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("the tokenizer ", tokenizer_path, " has no BOS token, and every window starts with one"));
  }
  EXPSVC_ASSIGN_OR_RETURN(report.tokenizer_identity, TokenizerIdentity(*tokenizer));
  report.vocab_size = tokenizer->vocab_size();
  LmCorpus corpus(tokenizer->vocab_size(), bos, options.tokens_per_window + 1, options.split_seed);
  corpus.set_tokenizer_identity(report.tokenizer_identity);
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

  EXPSVC_RETURN_IF_ERROR(WriteCorpusFile(report.corpus_path, corpus));
  std::error_code error;
  report.corpus_file_bytes = static_cast<int64_t>(std::filesystem::file_size(report.corpus_path, error));
  report.total_seconds = SecondsSince(start);
  return report;
}

}  // namespace expsvc::lm
