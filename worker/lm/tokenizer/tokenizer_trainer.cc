#include "worker/lm/tokenizer/tokenizer_trainer.h"

#include <chrono>
#include <filesystem>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/fs/file_io.h"
#include "common/status_macros.h"
#include "worker/lm/tokenizer/sentencepiece_bridge.h"
#include "worker/lm/tokenizer/sentencepiece_model_proto.h"
#include "worker/lm/tokenizer/tokenizer_json_exporter.h"

namespace expsvc::lm {
namespace {

absl::Status CheckOptions(const TokenizerTrainingOptions& options) {
  if (options.vocab_size < 300) {
    // 4 special + 256 byte pieces come first.
    return absl::InvalidArgumentError(absl::StrCat("vocab_size ", options.vocab_size, " is too small (at least 300)"));
  }
  if (!(options.character_coverage > 0.0 && options.character_coverage <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("character_coverage ", options.character_coverage, " must be in (0, 1]"));
  }
  if (options.num_threads < 1 || options.num_threads > 1024) {
    return absl::InvalidArgumentError(absl::StrCat("num_threads ", options.num_threads, " must be in [1, 1024]"));
  }
  if (options.seed == static_cast<uint32_t>(-1)) {
    return absl::InvalidArgumentError("seed 0xFFFFFFFF is reserved by SentencePiece");
  }
  if (options.max_sentence_bytes < 1) {
    return absl::InvalidArgumentError("max_sentence_bytes must be positive");
  }
  return absl::OkStatus();
}

std::vector<std::pair<std::string, std::string>> TrainerFlags(const TokenizerTrainingOptions& options) {
  return {
      {"model_type", "unigram"},
      {"vocab_size", absl::StrCat(options.vocab_size)},
      {"hard_vocab_limit", "false"},
      {"character_coverage", absl::StrCat(options.character_coverage)},
      {"byte_fallback", "true"},
      {"normalization_rule_name", "identity"},
      {"remove_extra_whitespaces", "false"},
      {"add_dummy_prefix", "true"},
      {"unk_id", absl::StrCat(kTrainedUnkId)},
      {"bos_id", absl::StrCat(kTrainedBosId)},
      {"eos_id", absl::StrCat(kTrainedEosId)},
      {"pad_id", absl::StrCat(kTrainedPadId)},
      {"num_threads", absl::StrCat(options.num_threads)},
      {"max_sentence_length", absl::StrCat(options.max_sentence_bytes)},
      {"input_sentence_size", "0"},  // use every sentence: no sampling
      {"shuffle_input_sentence", "false"},
      {"minloglevel", options.verbose ? "0" : "1"},
  };
}

absl::StatusOr<TrainedTokenizer> TrainOnSentences(const std::vector<std::string>& sentences,
                                                  const TokenizerTrainingOptions& options,
                                                  const std::string& output_folder) {
  EXPSVC_RETURN_IF_ERROR(CheckOptions(options));
  if (sentences.empty()) return absl::InvalidArgumentError("no training text");
  std::error_code error_code;
  std::filesystem::create_directories(output_folder, error_code);
  if (error_code) {
    return absl::PermissionDeniedError(absl::StrCat("cannot create ", output_folder, ": ", error_code.message()));
  }
  const auto start = std::chrono::steady_clock::now();
  std::string serialized;
  std::string error;
  if (!spm_bridge::Train(TrainerFlags(options), sentences, options.seed, &serialized, &error)) {
    return absl::InternalError(absl::StrCat("SentencePiece training failed: ", error));
  }
  TrainedTokenizer trained;
  trained.training_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  trained.sentences = static_cast<int64_t>(sentences.size());
  trained.model_path = (std::filesystem::path(output_folder) / kSentencePieceModelFile).string();
  trained.json_path = (std::filesystem::path(output_folder) / kTokenizerJsonFile).string();
  EXPSVC_ASSIGN_OR_RETURN(const SentencePieceModelInfo info, ReadSentencePieceModel(serialized));
  trained.vocab_size = static_cast<int32_t>(info.pieces.size());
  EXPSVC_ASSIGN_OR_RETURN(const std::string json, SentencePieceModelToTokenizerJson(serialized));
  EXPSVC_RETURN_IF_ERROR(fs::WriteFileAtomically(trained.model_path, serialized));
  EXPSVC_RETURN_IF_ERROR(fs::WriteFileAtomically(trained.json_path, json));
  return trained;
}

void AppendLines(absl::string_view text, std::vector<std::string>* sentences) {
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) sentences->emplace_back(line);
  }
}

}  // namespace

absl::StatusOr<TrainedTokenizer> TrainTokenizer(const std::vector<std::string>& texts,
                                                const TokenizerTrainingOptions& options,
                                                const std::string& output_folder) {
  std::vector<std::string> sentences;
  for (const std::string& text : texts) AppendLines(text, &sentences);
  return TrainOnSentences(sentences, options, output_folder);
}

absl::StatusOr<TrainedTokenizer> TrainTokenizerFromTextFile(const std::string& text_path,
                                                            const TokenizerTrainingOptions& options,
                                                            const std::string& output_folder) {
  EXPSVC_ASSIGN_OR_RETURN(const std::string text, fs::ReadFile(text_path));
  std::vector<std::string> sentences;
  AppendLines(text, &sentences);
  if (sentences.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(text_path, ": no training text"));
  }
  return TrainOnSentences(sentences, options, output_folder);
}

}  // namespace expsvc::lm
