#include "worker/lm/checkpoint/llama_config.h"

#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/fs/file_io.h"
#include "common/fs/testing/temp_dir.h"

namespace expsvc::lm {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// Shaped like LLM-jp-3 1.8B's config.json (fields a Llama config carries).
constexpr std::string_view kLlmJpLikeConfig = R"({
  "architectures": ["LlamaForCausalLM"],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 1,
  "eos_token_id": 2,
  "hidden_act": "silu",
  "hidden_size": 2048,
  "initializer_range": 0.02,
  "intermediate_size": 7168,
  "max_position_embeddings": 4096,
  "mlp_bias": false,
  "model_type": "llama",
  "num_attention_heads": 16,
  "num_hidden_layers": 24,
  "num_key_value_heads": 16,
  "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_scaling": null,
  "rope_theta": 10000,
  "tie_word_embeddings": false,
  "torch_dtype": "bfloat16",
  "use_cache": true,
  "vocab_size": 99584
})";

// The LLM-jp-like config with `from` replaced by `to`.
std::string Edited(std::string_view from, std::string_view to) {
  std::string text(kLlmJpLikeConfig);
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "edit did not apply: " << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

std::string ErrorOf(std::string_view text) {
  absl::StatusOr<LlamaConfig> config = ParseLlamaConfig(text, "/models/x/config.json");
  EXPECT_FALSE(config.ok());
  return std::string(config.status().message());
}

TEST(LlamaConfigTest, ParsesAnLlmJpStyleConfig) {
  absl::StatusOr<LlamaConfig> config = ParseLlamaConfig(kLlmJpLikeConfig);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->vocab_size, 99584);
  EXPECT_EQ(config->hidden_size, 2048);
  EXPECT_EQ(config->intermediate_size, 7168);
  EXPECT_EQ(config->num_hidden_layers, 24);
  EXPECT_EQ(config->num_attention_heads, 16);
  EXPECT_EQ(config->num_key_value_heads, 16);
  EXPECT_EQ(config->head_dim(), 128);
  EXPECT_DOUBLE_EQ(config->rms_norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(config->rope_theta, 10000.0);
  EXPECT_EQ(config->max_position_embeddings, 4096);
  EXPECT_FALSE(config->tie_word_embeddings);
  EXPECT_EQ(config->bos_token_id, 1);
  EXPECT_EQ(config->eos_token_id, 2);
  EXPECT_EQ(config->torch_dtype, "bfloat16");
}

TEST(LlamaConfigTest, FillsHuggingFaceDefaults) {
  absl::StatusOr<LlamaConfig> config = ParseLlamaConfig(
      R"({"vocab_size": 100, "hidden_size": 64, "intermediate_size": 128,
          "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": null})");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->num_key_value_heads, 4);
  EXPECT_DOUBLE_EQ(config->rms_norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(config->rope_theta, 10000.0);
  EXPECT_EQ(config->max_position_embeddings, 2048);
  EXPECT_FALSE(config->tie_word_embeddings);
  EXPECT_EQ(config->bos_token_id, 1);
  EXPECT_EQ(config->eos_token_id, 2);
  EXPECT_EQ(config->torch_dtype, "float32");
}

TEST(LlamaConfigTest, AcceptsGroupedQueryHeadsAndEosLists) {
  absl::StatusOr<LlamaConfig> config =
      ParseLlamaConfig(Edited(R"("num_key_value_heads": 16)", R"("num_key_value_heads": 4)"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->num_key_value_heads, 4);
  config = ParseLlamaConfig(Edited(R"("eos_token_id": 2)", R"("eos_token_id": [7, 2])"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->eos_token_id, 7);
  config = ParseLlamaConfig(Edited(R"("bos_token_id": 1)", R"("bos_token_id": null)"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->bos_token_id.has_value());
}

TEST(LlamaConfigTest, RejectsMissingFieldsNamingFileAndField) {
  EXPECT_THAT(ErrorOf(Edited(R"("hidden_size": 2048,)", "")),
              AllOf(HasSubstr("/models/x/config.json"), HasSubstr("\"hidden_size\""), HasSubstr("missing")));
  EXPECT_THAT(ErrorOf(Edited(R"("vocab_size": 99584)", R"("vocab": 99584)")),
              AllOf(HasSubstr("\"vocab_size\""), HasSubstr("missing")));
  EXPECT_THAT(ErrorOf(Edited(R"("num_hidden_layers": 24,)", R"("num_hidden_layers": null,)")),
              AllOf(HasSubstr("\"num_hidden_layers\""), HasSubstr("missing")));
}

TEST(LlamaConfigTest, RejectsInvalidValuesNamingTheField) {
  EXPECT_THAT(ErrorOf(Edited(R"("hidden_size": 2048)", R"("hidden_size": "2048")")),
              AllOf(HasSubstr("config.json"), HasSubstr("\"hidden_size\" must be an integer")));
  EXPECT_THAT(ErrorOf(Edited(R"("hidden_size": 2048)", R"("hidden_size": 2048.5)")), HasSubstr("\"hidden_size\""));
  EXPECT_THAT(ErrorOf(Edited(R"("intermediate_size": 7168)", R"("intermediate_size": -1)")),
              AllOf(HasSubstr("\"intermediate_size\""), HasSubstr("positive")));
  EXPECT_THAT(ErrorOf(Edited(R"("num_attention_heads": 16)", R"("num_attention_heads": 15)")),
              AllOf(HasSubstr("\"num_attention_heads\""), HasSubstr("divide hidden_size")));
  EXPECT_THAT(ErrorOf(Edited(R"("hidden_size": 2048)", R"("hidden_size": 48)")),  // 48 / 16 = 3: odd head dim
              AllOf(HasSubstr("\"num_attention_heads\""), HasSubstr("odd head dimension")));
  EXPECT_THAT(ErrorOf(Edited(R"("num_key_value_heads": 16)", R"("num_key_value_heads": 3)")),
              AllOf(HasSubstr("\"num_key_value_heads\""), HasSubstr("divide num_attention_heads")));
  EXPECT_THAT(ErrorOf(Edited(R"("rms_norm_eps": 1e-05)", R"("rms_norm_eps": 0)")), HasSubstr("\"rms_norm_eps\""));
  EXPECT_THAT(ErrorOf(Edited(R"("rope_theta": 10000)", R"("rope_theta": "big")")), HasSubstr("\"rope_theta\""));
  EXPECT_THAT(ErrorOf(Edited(R"("tie_word_embeddings": false)", R"("tie_word_embeddings": 0)")),
              HasSubstr("\"tie_word_embeddings\""));
  EXPECT_THAT(ErrorOf(Edited(R"("eos_token_id": 2)", R"("eos_token_id": 99584)")),
              AllOf(HasSubstr("\"eos_token_id\""), HasSubstr("outside the vocabulary")));
  EXPECT_THAT(ErrorOf(Edited(R"("torch_dtype": "bfloat16")", R"("torch_dtype": "int8")")),
              HasSubstr("\"torch_dtype\""));
  EXPECT_THAT(ErrorOf(Edited(R"("vocab_size": 99584)", R"("vocab_size": 18446744073709551615)")),
              HasSubstr("\"vocab_size\""));
}

TEST(LlamaConfigTest, RejectsFeaturesThisModelLacks) {
  EXPECT_THAT(ErrorOf(Edited(R"("model_type": "llama")", R"("model_type": "mistral")")), HasSubstr("\"model_type\""));
  EXPECT_THAT(ErrorOf(Edited(R"("hidden_act": "silu")", R"("hidden_act": "gelu")")), HasSubstr("\"hidden_act\""));
  EXPECT_THAT(ErrorOf(Edited(R"("rope_scaling": null)", R"("rope_scaling": {"type": "linear", "factor": 2.0})")),
              HasSubstr("\"rope_scaling\""));
  EXPECT_THAT(ErrorOf(Edited(R"("attention_bias": false)", R"("attention_bias": true)")),
              HasSubstr("\"attention_bias\""));
  EXPECT_THAT(ErrorOf(Edited(R"("use_cache": true)", R"("use_cache": true, "head_dim": 64)")),
              HasSubstr("\"head_dim\""));
}

TEST(LlamaConfigTest, RejectsBadJson) {
  EXPECT_THAT(ErrorOf("{\"vocab_size\": "), AllOf(HasSubstr("/models/x/config.json"), HasSubstr("invalid JSON")));
  EXPECT_THAT(ErrorOf("[]"), HasSubstr("not a JSON object"));
  EXPECT_THAT(ErrorOf(""), HasSubstr("invalid JSON"));
}

TEST(LlamaConfigTest, WritesAndReadsBack) {
  LlamaConfig config = *ParseLlamaConfig(kLlmJpLikeConfig);
  config.num_key_value_heads = 8;
  config.tie_word_embeddings = true;
  config.eos_token_id.reset();
  config.rope_theta = 500000.0;
  fs::TempDir dir("config");
  ASSERT_TRUE(WriteLlamaConfig(dir.path(), config).ok());
  absl::StatusOr<LlamaConfig> read = ReadLlamaConfig(dir.path());
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, config);
  // What transformers needs to pick the class.
  const std::string text = *fs::ReadFile(dir.path() / "config.json");
  EXPECT_THAT(text, AllOf(HasSubstr("\"LlamaForCausalLM\""), HasSubstr("\"model_type\": \"llama\"")));

  LlamaConfig invalid = config;
  invalid.num_attention_heads = 0;
  EXPECT_THAT(WriteLlamaConfig(dir.path(), invalid).message(), HasSubstr("\"num_attention_heads\""));
}

TEST(LlamaConfigTest, ReadReportsAMissingFile) {
  fs::TempDir dir("no-config");
  const absl::Status status = ReadLlamaConfig(dir.path()).status();
  EXPECT_TRUE(absl::IsNotFound(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("config.json"));
}

}  // namespace
}  // namespace expsvc::lm
