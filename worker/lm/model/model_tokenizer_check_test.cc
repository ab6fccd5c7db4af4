#include "worker/lm/model/model_tokenizer_check.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <span>
#include <vector>

#include "common/fs/file_io.h"
#include "common/fs/testing/temp_dir.h"
#include "worker/lm/checkpoint/hf_checkpoint.h"
#include "worker/lm/checkpoint/llama_config.h"
#include "worker/lm/tokenizer/testing/bilingual_sample_text.h"
#include "worker/lm/tokenizer/tokenizer_identity.h"
#include "worker/lm/tokenizer/tokenizer_trainer.h"

namespace expsvc::lm {
namespace {

namespace stdfs = std::filesystem;
using ::testing::HasSubstr;

LlamaConfig SmallConfig(int64_t vocab_size) {
  LlamaConfig config;
  config.vocab_size = vocab_size;
  config.hidden_size = 8;
  config.intermediate_size = 16;
  config.num_hidden_layers = 1;
  config.num_attention_heads = 2;
  config.num_key_value_heads = 2;
  return config;
}

// A one-window corpus over `vocab_size` ids with `identity`.
LmCorpus CorpusWith(int32_t vocab_size, const std::string& identity) {
  LmCorpus corpus(vocab_size, 1, 3, 1);
  const uint32_t document = corpus.AddDocument({.key = "a", .title = "a"});
  EXPECT_TRUE(corpus.AddWindow(document, std::vector<TokenId>{1, 5, 6}).ok());
  corpus.set_tokenizer_identity(identity);
  return corpus;
}

class ModelTokenizerCheckTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::TempDir("model_tokenizer_check");
    TokenizerTrainingOptions options;
    options.vocab_size = 1000;
    for (const char* name : {"a", "b"}) {
      options.vocab_size -= 50;
      absl::StatusOr<TrainedTokenizer> trained =
          TrainTokenizer(test_support::BilingualTrainingLines(800, 3), options, dir_->file(name));
      ASSERT_TRUE(trained.ok()) << trained.status();
      (std::string(name) == "a" ? a_ : b_) = new TrainedTokenizer(*trained);
    }
  }
  static void TearDownTestSuite() {
    delete a_;
    delete b_;
    delete dir_;
  }

  // A model folder with config.json and, if given, a tokenizer file.
  stdfs::path ModelWith(const std::string& name, const std::string& tokenizer_file) {
    const stdfs::path model = dir_->path() / name;
    stdfs::create_directories(model);
    EXPECT_TRUE(WriteLlamaConfig(model, SmallConfig(1000)).ok());
    if (!tokenizer_file.empty()) {
      stdfs::copy_file(tokenizer_file, model / stdfs::path(tokenizer_file).filename(),
                       stdfs::copy_options::overwrite_existing);
    }
    return model;
  }
  static std::string IdentityOf(const std::string& path) { return TokenizerIdentityOfFile(path).value(); }

  static fs::TempDir* dir_;
  static TrainedTokenizer* a_;
  static TrainedTokenizer* b_;
};
fs::TempDir* ModelTokenizerCheckTest::dir_ = nullptr;
TrainedTokenizer* ModelTokenizerCheckTest::a_ = nullptr;
TrainedTokenizer* ModelTokenizerCheckTest::b_ = nullptr;

TEST_F(ModelTokenizerCheckTest, MatchingTokenizersPass) {
  const LmCorpus corpus = CorpusWith(a_->vocab_size, IdentityOf(a_->model_path));
  for (const std::string& file : {a_->model_path, a_->json_path}) {
    const stdfs::path model = ModelWith(stdfs::path(file).extension() == ".json" ? "json" : "model", file);
    absl::StatusOr<CorpusModelCheck> check = CheckCorpusMatchesModel(corpus, model);
    ASSERT_TRUE(check.ok()) << check.status();
    EXPECT_TRUE(check->identity_matched);
    EXPECT_EQ(check->warning, "");
  }
}

TEST_F(ModelTokenizerCheckTest, MismatchIsRefusedNamingBothIdentities) {
  const std::string corpus_identity = IdentityOf(b_->json_path);
  const std::string model_identity = IdentityOf(a_->json_path);
  ASSERT_NE(corpus_identity, model_identity);
  const stdfs::path model = ModelWith("mismatch", a_->json_path);
  const absl::Status status = CheckCorpusMatchesModel(CorpusWith(b_->vocab_size, corpus_identity), model).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr(corpus_identity.substr(0, 12)));
  EXPECT_THAT(status.message(), HasSubstr(model_identity.substr(0, 12)));
}

TEST_F(ModelTokenizerCheckTest, CheckpointFoldersUseTheirModelsTokenizerOrTheirMetadata) {
  const std::string identity = IdentityOf(a_->model_path);
  const stdfs::path model = ModelWith("parent", a_->model_path);
  const stdfs::path checkpoint = model / "iter_0000010";
  stdfs::create_directories(checkpoint);
  EXPECT_EQ(*ModelTokenizerIdentity(checkpoint), identity);

  // No tokenizer anywhere: the weights' metadata.
  const stdfs::path bare = ModelWith("bare", "");
  EXPECT_EQ(ModelTokenizerIdentity(bare).status().code(), absl::StatusCode::kNotFound);
  const std::vector<float> weight = {0.5f, 1.5f};
  const std::vector<TensorToWrite> tensors = {{"w", DType::kF32, {2}, std::as_bytes(std::span(weight))}};
  ASSERT_TRUE(
      WriteHfWeights(bare, tensors, {.metadata = {{"format", "pt"}, {kTokenizerIdentityMetadataKey, identity}}}).ok());
  EXPECT_EQ(*ModelTokenizerIdentity(bare), identity);
  absl::StatusOr<CorpusModelCheck> check = CheckCorpusMatchesModel(CorpusWith(a_->vocab_size, identity), bare);
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_TRUE(check->identity_matched);
}

TEST_F(ModelTokenizerCheckTest, UnknownIdentitiesFallBackToVocabularySizesWithAWarning) {
  const stdfs::path model = ModelWith("fallback", a_->json_path);
  absl::StatusOr<CorpusModelCheck> version_one = CheckCorpusMatchesModel(CorpusWith(a_->vocab_size, ""), model);
  ASSERT_TRUE(version_one.ok()) << version_one.status();
  EXPECT_FALSE(version_one->identity_matched);
  EXPECT_THAT(version_one->warning, HasSubstr("no tokenizer identity"));

  const stdfs::path bare = ModelWith("no-tokenizer", "");
  absl::StatusOr<CorpusModelCheck> no_model_identity =
      CheckCorpusMatchesModel(CorpusWith(a_->vocab_size, IdentityOf(a_->json_path)), bare);
  ASSERT_TRUE(no_model_identity.ok()) << no_model_identity.status();
  EXPECT_THAT(no_model_identity->warning, HasSubstr("no tokenizer identity for the model"));

  const absl::Status too_large = CheckCorpusMatchesModel(CorpusWith(1001, ""), model).status();
  EXPECT_EQ(too_large.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(too_large.message(), HasSubstr("1001"));
}

}  // namespace
}  // namespace expsvc::lm
