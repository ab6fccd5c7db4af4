// TokenizerIdentity: the same for a tokenizer.model and its tokenizer.json
// export, read through either library or straight from the file; different
// when a piece, score or special id differs; the real LLM-jp v3 tokenizer
// when this machine has it.
#include "worker/lm/tokenizer/tokenizer_identity.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/fs/file_io.h"
#include "common/fs/testing/temp_dir.h"
#include "worker/lm/tokenizer/hf_tokenizer.h"
#include "worker/lm/tokenizer/load_tokenizer.h"
#include "worker/lm/tokenizer/sentencepiece_tokenizer.h"
#include "worker/lm/tokenizer/testing/bilingual_sample_text.h"
#include "worker/lm/tokenizer/testing/llmjp_tokenizer.h"
#include "worker/lm/tokenizer/tokenizer_json_exporter.h"
#include "worker/lm/tokenizer/tokenizer_trainer.h"

namespace expsvc::lm {
namespace {

using ::testing::HasSubstr;

// The identity of `path` read by its library (LoadTokenizerFile) and
// straight from the file; the two must agree.
std::string IdentityOf(const std::string& path) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = LoadTokenizerFile(path);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  if (!tokenizer.ok()) return "";
  absl::StatusOr<std::string> loaded = TokenizerIdentity(**tokenizer);
  absl::StatusOr<std::string> from_file = TokenizerIdentityOfFile(path);
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(from_file.ok()) << from_file.status();
  if (!loaded.ok() || !from_file.ok()) return "";
  EXPECT_EQ(*loaded, *from_file) << path;
  EXPECT_TRUE(IsTokenizerIdentity(*loaded)) << *loaded;
  return *loaded;
}

TrainedTokenizer Train(const fs::TempDir& dir, const std::string& name, int32_t vocab_size) {
  TokenizerTrainingOptions options;
  options.vocab_size = vocab_size;
  options.seed = 5;
  absl::StatusOr<TrainedTokenizer> trained =
      TrainTokenizer(test_support::BilingualTrainingLines(800, 3), options, dir.file(name));
  EXPECT_TRUE(trained.ok()) << trained.status();
  return trained.ok() ? *trained : TrainedTokenizer{};
}

// Rewrites a tokenizer.json through `edit`.
std::string EditedJson(const fs::TempDir& dir, const std::string& from, const std::string& name,
                       const std::function<void(nlohmann::json&)>& edit) {
  nlohmann::json json = nlohmann::json::parse(*fs::ReadFile(from));
  edit(json);
  const std::string path = dir.file(name);
  EXPECT_TRUE(fs::WriteFileAtomically(path, json.dump()).ok());
  return path;
}

TEST(TokenizerIdentityTest, ModelAndItsTokenizerJsonShareOneIdentity) {
  fs::TempDir dir("tokenizer_identity");
  const TrainedTokenizer trained = Train(dir, "a", 1000);
  const std::string from_model = IdentityOf(trained.model_path);
  const std::string from_json = IdentityOf(trained.json_path);
  EXPECT_EQ(from_model, from_json);
  EXPECT_EQ(ShortTokenizerIdentity(from_model), from_model.substr(0, 12));

  // Control pieces count by type and score only: renaming BOS (as LLM-jp
  // renamed <PAD> to <PAD|LLM-jp>) keeps every id.
  const std::string renamed = EditedJson(dir, trained.json_path, "renamed.json", [](nlohmann::json& json) {
    json["model"]["vocab"][1][0] = "<BOS|x>";
    for (nlohmann::json& token : json["added_tokens"]) {
      if (token["id"] == 1) token["content"] = "<BOS|x>";
    }
  });
  EXPECT_EQ(IdentityOf(renamed), from_model);
}

TEST(TokenizerIdentityTest, APieceAScoreOrASpecialIdChangesIt) {
  fs::TempDir dir("tokenizer_identity");
  const TrainedTokenizer trained = Train(dir, "a", 1000);
  const std::string original = IdentityOf(trained.json_path);
  EXPECT_NE(IdentityOf(Train(dir, "b", 950).model_path), original);

  const std::string score = EditedJson(dir, trained.json_path, "score.json", [](nlohmann::json& json) {
    json["model"]["vocab"][300][1] = json["model"]["vocab"][300][1].get<double>() - 0.5;
  });
  EXPECT_NE(IdentityOf(score), original);
  const std::string piece = EditedJson(dir, trained.json_path, "piece.json",
                                       [](nlohmann::json& json) { json["model"]["vocab"][300][0] = "▁zzzz"; });
  EXPECT_NE(IdentityOf(piece), original);
  // </s> renamed: the reader finds no EOS any more.
  const std::string eos = EditedJson(dir, trained.json_path, "eos.json", [](nlohmann::json& json) {
    json["model"]["vocab"][2][0] = "<eos>";
    for (nlohmann::json& token : json["added_tokens"]) {
      if (token["id"] == 2) token["content"] = "<eos>";
    }
  });
  EXPECT_NE(IdentityOf(eos), original);
}

TEST(TokenizerIdentityTest, FileErrorsNameTheFile) {
  fs::TempDir dir("tokenizer_identity");
  const absl::Status wrong_name = TokenizerIdentityOfFile(dir.file("vocab.txt")).status();
  EXPECT_EQ(wrong_name.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(wrong_name.message(), HasSubstr("vocab.txt"));
  EXPECT_EQ(TokenizerIdentityOfFile(dir.file("tokenizer.model")).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(fs::WriteFileAtomically(dir.file("tokenizer.json"), "{}").ok());
  EXPECT_THAT(TokenizerIdentityOfFile(dir.file("tokenizer.json")).status().message(), HasSubstr("tokenizer.json"));
  EXPECT_FALSE(IsTokenizerIdentity("abc"));
  EXPECT_FALSE(IsTokenizerIdentity(std::string(64, 'A')));
  EXPECT_EQ(ShortTokenizerIdentity(""), "(none)");
}

TEST(TokenizerIdentityTest, LlmJpModelAndItsExportShareOneIdentity) {
  const std::string model_path = test_support::LlmJpTokenizerModelPath();
  if (model_path.empty()) GTEST_SKIP() << test_support::kLlmJpTokenizerSkipMessage;
  fs::TempDir dir("llmjp_identity");
  const std::string json_path = dir.file("tokenizer.json");
  ASSERT_TRUE(ExportTokenizerJson(model_path, json_path).ok());
  const std::string identity = IdentityOf(model_path);
  EXPECT_EQ(IdentityOf(json_path), identity);
  std::cout << "LLM-jp tokenizer 3.0b1 identity: " << identity << "\n";
}

}  // namespace
}  // namespace expsvc::lm
