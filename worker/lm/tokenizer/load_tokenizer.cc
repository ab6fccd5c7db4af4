#include "worker/lm/tokenizer/load_tokenizer.h"

#include <filesystem>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/lm/tokenizer/hf_tokenizer.h"
#include "worker/lm/tokenizer/sentencepiece_tokenizer.h"

namespace expsvc::lm {

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& folder) {
  const std::filesystem::path model_path = std::filesystem::path(folder) / kSentencePieceModelFile;
  const std::filesystem::path json_path = std::filesystem::path(folder) / kTokenizerJsonFile;
  std::error_code ignored;
  if (std::filesystem::exists(model_path, ignored)) {
    EXPSVC_ASSIGN_OR_RETURN(std::unique_ptr<SentencePieceTokenizer> tokenizer,
                            SentencePieceTokenizer::FromFile(model_path.string()));
    return std::unique_ptr<Tokenizer>(std::move(tokenizer));
  }
  if (std::filesystem::exists(json_path, ignored)) {
    EXPSVC_ASSIGN_OR_RETURN(std::unique_ptr<HfUnigramTokenizer> tokenizer,
                            HfUnigramTokenizer::FromFile(json_path.string()));
    return std::unique_ptr<Tokenizer>(std::move(tokenizer));
  }
  return absl::NotFoundError(
      absl::StrCat("no tokenizer in ", folder, ": neither ", kSentencePieceModelFile, " nor ", kTokenizerJsonFile));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizerFile(const std::string& path) {
  const std::string extension = std::filesystem::path(path).extension().string();
  if (extension == ".model") {
    EXPSVC_ASSIGN_OR_RETURN(std::unique_ptr<SentencePieceTokenizer> tokenizer, SentencePieceTokenizer::FromFile(path));
    return std::unique_ptr<Tokenizer>(std::move(tokenizer));
  }
  if (extension == ".json") {
    EXPSVC_ASSIGN_OR_RETURN(std::unique_ptr<HfUnigramTokenizer> tokenizer, HfUnigramTokenizer::FromFile(path));
    return std::unique_ptr<Tokenizer>(std::move(tokenizer));
  }
  return absl::InvalidArgumentError(absl::StrCat(path, ": not a tokenizer file (expected a .model or .json file, e.g. ",
                                                 kSentencePieceModelFile, " or ", kTokenizerJsonFile, ")"));
}

}  // namespace expsvc::lm
