#include "worker/lm/checkpoint/hf_checkpoint.h"

#include <algorithm>
#include <cstring>
#include <deque>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/fs/file_io.h"
#include "common/fs/testing/temp_dir.h"

namespace expsvc::lm {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A few tensors with distinct contents, as a model's weights might be.
class CheckpointTest : public ::testing::Test {
 protected:
  CheckpointTest() {
    Add("model.embed_tokens.weight", DType::kF32, {10, 4});
    Add("model.layers.0.self_attn.q_proj.weight", DType::kBF16, {4, 4});
    Add("model.layers.0.mlp.up_proj.weight", DType::kF16, {8, 4});
    Add("model.norm.weight", DType::kF32, {4});
    Add("lm_head.weight", DType::kF32, {10, 4});
  }

  void Add(std::string name, DType dtype, std::vector<int64_t> shape) {
    int64_t elements = 1;
    for (int64_t dim : shape) elements *= dim;
    std::vector<std::byte> bytes(elements * DTypeSize(dtype));
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::byte>((i * 13 + storage_.size() * 5) & 0xff);
    storage_.push_back(std::move(bytes));
    tensors_.push_back({std::move(name), dtype, std::move(shape), {}});
    for (size_t i = 0; i < tensors_.size(); ++i) tensors_[i].bytes = storage_[i];
  }

  void ExpectAllTensors(const HfCheckpoint& checkpoint) {
    ASSERT_EQ(checkpoint.names().size(), tensors_.size());
    for (const TensorToWrite& tensor : tensors_) {
      const TensorView* view = checkpoint.Find(tensor.name);
      ASSERT_NE(view, nullptr) << tensor.name;
      EXPECT_EQ(view->dtype, tensor.dtype);
      EXPECT_EQ(std::vector<int64_t>(view->shape.begin(), view->shape.end()), tensor.shape);
      ASSERT_EQ(view->bytes.size(), tensor.bytes.size());
      EXPECT_EQ(std::memcmp(view->bytes.data(), tensor.bytes.data(), tensor.bytes.size()), 0) << tensor.name;
    }
  }

  std::vector<std::string> FileNames(const std::filesystem::path& dir) {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) names.push_back(entry.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }

  std::deque<std::vector<std::byte>> storage_;
  std::vector<TensorToWrite> tensors_;
};

TEST_F(CheckpointTest, SingleFileRoundTrip) {
  fs::TempDir dir("single");
  ASSERT_TRUE(WriteHfWeights(dir.path(), tensors_).ok());
  EXPECT_THAT(FileNames(dir.path()), ElementsAre("model.safetensors"));
  absl::StatusOr<std::unique_ptr<HfCheckpoint>> checkpoint = HfCheckpoint::Open(dir.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_EQ((*checkpoint)->num_files(), 1u);
  EXPECT_EQ((*checkpoint)->metadata().at("format"), "pt");
  ExpectAllTensors(**checkpoint);
  EXPECT_THAT((*checkpoint)->Get("model.layers.9.mlp.up_proj.weight").status().message(),
              AllOf(HasSubstr(dir.path().string()), HasSubstr("model.layers.9.mlp.up_proj.weight")));
}

TEST_F(CheckpointTest, ShardedRoundTrip) {
  fs::TempDir dir("sharded");
  // 160-byte embedding, 32 + 64 + 16 bytes of layer weights, 160-byte head.
  ASSERT_TRUE(WriteHfWeights(dir.path(), tensors_, {.max_shard_bytes = 160}).ok());
  EXPECT_THAT(FileNames(dir.path()), ElementsAre("model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                                                 "model-00003-of-00003.safetensors", "model.safetensors.index.json"));
  absl::StatusOr<std::unique_ptr<HfCheckpoint>> checkpoint = HfCheckpoint::Open(dir.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_EQ((*checkpoint)->num_files(), 3u);
  ExpectAllTensors(**checkpoint);
  EXPECT_THAT((*checkpoint)->FileOf("model.norm.weight"), HasSubstr("model-00002-of-00003.safetensors"));
  EXPECT_THAT((*checkpoint)->FileOf("lm_head.weight"), HasSubstr("model-00003-of-00003.safetensors"));

  const nlohmann::json index = nlohmann::json::parse(*fs::ReadFile(dir.path() / kWeightsIndexFileName));
  EXPECT_EQ(index["metadata"]["total_size"], 160 + 32 + 64 + 16 + 160);
  EXPECT_EQ(index["weight_map"].size(), tensors_.size());
  EXPECT_EQ(index["weight_map"]["model.embed_tokens.weight"], "model-00001-of-00003.safetensors");

  // Rewriting as one file removes the shards and the index.
  ASSERT_TRUE(WriteHfWeights(dir.path(), tensors_).ok());
  EXPECT_THAT(FileNames(dir.path()), ElementsAre("model.safetensors"));
  checkpoint = HfCheckpoint::Open(dir.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  ExpectAllTensors(**checkpoint);
}

TEST_F(CheckpointTest, RejectsABrokenIndex) {
  fs::TempDir dir("broken-index");
  ASSERT_TRUE(WriteHfWeights(dir.path(), tensors_, {.max_shard_bytes = 160}).ok());
  const std::filesystem::path index_path = dir.path() / kWeightsIndexFileName;
  const nlohmann::json index = nlohmann::json::parse(*fs::ReadFile(index_path));

  const auto open_with = [&](const nlohmann::json& edited) {
    EXPECT_TRUE(fs::WriteFileAtomically(index_path, edited.dump()).ok());
    return HfCheckpoint::Open(dir.path()).status();
  };
  nlohmann::json wrong_shard = index;
  wrong_shard["weight_map"]["model.norm.weight"] = "model-00001-of-00003.safetensors";
  EXPECT_THAT(open_with(wrong_shard).message(),
              AllOf(HasSubstr("'model.norm.weight'"), HasSubstr("model-00001-of-00003.safetensors"),
                    HasSubstr("no such tensor")));
  nlohmann::json escaping = index;
  escaping["weight_map"]["model.norm.weight"] = "../model-00002-of-00003.safetensors";
  EXPECT_THAT(open_with(escaping).message(), HasSubstr("must be a file name in the folder"));
  nlohmann::json missing_file = index;
  missing_file["weight_map"]["model.norm.weight"] = "model-00009-of-00009.safetensors";
  const absl::Status missing = open_with(missing_file);
  EXPECT_TRUE(absl::IsNotFound(missing)) << missing;
  EXPECT_THAT(missing.message(), HasSubstr("model-00009-of-00009.safetensors"));
  EXPECT_THAT(open_with(nlohmann::json{{"metadata", {}}}).message(), HasSubstr("weight_map"));
  ASSERT_TRUE(fs::WriteFileAtomically(index_path, "{ not json").ok());
  EXPECT_THAT(HfCheckpoint::Open(dir.path()).status().message(),
              AllOf(HasSubstr(kWeightsIndexFileName), HasSubstr("invalid JSON")));
}

TEST_F(CheckpointTest, ReportsAFolderWithoutWeights) {
  fs::TempDir dir("empty");
  const absl::Status status = HfCheckpoint::Open(dir.path()).status();
  EXPECT_TRUE(absl::IsNotFound(status)) << status;
  EXPECT_THAT(status.message(), AllOf(HasSubstr(dir.path().string()), HasSubstr("model.safetensors")));
}

TEST_F(CheckpointTest, RejectsDuplicateNamesAcrossShards) {
  fs::TempDir dir("duplicates");
  tensors_.push_back(tensors_.front());
  EXPECT_THAT(WriteHfWeights(dir.path(), tensors_, {.max_shard_bytes = 160}).message(), HasSubstr("given twice"));
}

TEST(ShardFileNameTest, MatchesTheHuggingFacePattern) {
  EXPECT_EQ(ShardFileName(1, 3), "model-00001-of-00003.safetensors");
  EXPECT_EQ(ShardFileName(12, 100), "model-00012-of-00100.safetensors");
}

}  // namespace
}  // namespace expsvc::lm
