#include "worker/lm/model/models_dir.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "common/fs/file_io.h"
#include "common/fs/testing/temp_dir.h"

namespace expsvc::lm {
namespace {

namespace stdfs = std::filesystem;
using ::testing::HasSubstr;

// $EXPSVC_MODELS_DIR/llm-jp-3-150m/{tokenizer.json, iter_0000010/, iter_0000020/}.
class ModelsDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = dir_.path() / "llm-jp-3-150m";
    stdfs::create_directories(model_ / "iter_0000010");
    stdfs::create_directories(model_ / "iter_0000020");
    ASSERT_TRUE(fs::WriteFileAtomically(model_ / "tokenizer.json", "{}").ok());
    setenv(kModelsDirVariable, dir_.path().c_str(), 1);
  }
  void TearDown() override { unsetenv(kModelsDirVariable); }

  fs::TempDir dir_{"models_dir"};
  stdfs::path model_;
};

TEST_F(ModelsDirTest, NamesResolveUnderTheModelsDir) {
  EXPECT_EQ(*ResolveModelPath("llm-jp-3-150m"), model_);
  EXPECT_EQ(*ResolveModelPath("llm-jp-3-150m/iter_0000010"), model_ / "iter_0000010");
  EXPECT_EQ(*ResolveModelPath(model_.string()), model_);  // absolute: as is

  const absl::Status missing = ResolveModelPath("llm-jp-3-980m").status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.message(), HasSubstr("EXPSVC_MODELS_DIR"));
  EXPECT_THAT(missing.message(), HasSubstr((dir_.path() / "llm-jp-3-980m").string()));
  EXPECT_EQ(ResolveModelPath("/no/such/model").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(ResolveModelPath("../etc").status().message(), HasSubstr("'..'"));
  EXPECT_EQ(ResolveModelPath("").status().code(), absl::StatusCode::kInvalidArgument);

  unsetenv(kModelsDirVariable);
  const absl::Status unset = ResolveModelPath("llm-jp-3-150m").status();
  EXPECT_EQ(unset.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(unset.message(), HasSubstr("EXPSVC_MODELS_DIR is not set"));
}

TEST_F(ModelsDirTest, CheckpointFolders) {
  EXPECT_EQ(CheckpointFolderName(10), "iter_0000010");
  EXPECT_EQ(CheckpointFolderName(988240), "iter_0988240");
  EXPECT_EQ(*ResolveCheckpointDir("llm-jp-3-150m", 20), model_ / "iter_0000020");
  const absl::Status missing = ResolveCheckpointDir("llm-jp-3-150m", 50).status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.message(), HasSubstr("iter_0000050"));
  EXPECT_THAT(missing.message(), HasSubstr("checkpoints there: iter_0000010, iter_0000020"));
  EXPECT_EQ(ResolveCheckpointDir("llm-jp-3-150m", -1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ModelsDirTest, TokenizerFileIsFoundInTheFolderOrItsParent) {
  EXPECT_EQ(*FindModelTokenizerFile(model_), model_ / "tokenizer.json");
  EXPECT_EQ(*FindModelTokenizerFile(model_ / "iter_0000010"), model_ / "tokenizer.json");
  EXPECT_EQ(*FindModelTokenizerFile(model_ / "tokenizer.json"), model_ / "tokenizer.json");
  // tokenizer.model wins, as in LoadTokenizer.
  ASSERT_TRUE(fs::WriteFileAtomically(model_ / "iter_0000010" / "tokenizer.model", "x").ok());
  EXPECT_EQ(*FindModelTokenizerFile(model_ / "iter_0000010"), model_ / "iter_0000010" / "tokenizer.model");

  stdfs::create_directories(dir_.path() / "bare" / "iter_0000010");
  const absl::Status none = FindModelTokenizerFile(dir_.path() / "bare" / "iter_0000010").status();
  EXPECT_EQ(none.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(none.message(), HasSubstr((dir_.path() / "bare" / "tokenizer.json").string()));
  ASSERT_TRUE(fs::WriteFileAtomically(dir_.path() / "notes.txt", "x").ok());
  EXPECT_EQ(FindModelTokenizerFile(dir_.path() / "notes.txt").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace expsvc::lm
