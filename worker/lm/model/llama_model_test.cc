#include <cstring>
#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/fs/file_io.h"
#include "common/fs/testing/temp_dir.h"
#include "worker/lm/checkpoint/hf_checkpoint.h"
#include "worker/lm/model/llama_checkpoint.h"
#include "worker/lm/model/llama_model.h"
#include "worker/lm/model/reference_llama.h"

namespace expsvc::lm {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

LlamaConfig TinyConfig() {
  LlamaConfig config;
  config.vocab_size = 37;
  config.hidden_size = 32;
  config.intermediate_size = 48;
  config.num_hidden_layers = 3;
  config.num_attention_heads = 4;
  config.num_key_value_heads = 2;  // grouped-query: 2 query heads per key/value head
  config.rms_norm_eps = 1e-5;
  config.rope_theta = 100.0;  // fast-turning frequencies, so positions matter at L = 7
  config.max_position_embeddings = 64;
  config.bos_token_id = 1;
  config.eos_token_id = 2;
  return config;
}

// Larger weights than the 0.02 initialisation, and non-unit norms, so every
// term (attention pattern, norms, gating) visibly shapes the output.
void Randomize(LlamaModel& model, uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard no_grad;
  for (auto& parameter : model->named_parameters()) {
    if (parameter.key().ends_with("norm.weight")) {
      parameter.value().uniform_(0.5, 1.5);
    } else {
      parameter.value().normal_(0.0, 0.3);
    }
  }
}

std::map<std::string, torch::Tensor> Weights(const LlamaModel& model) {
  std::map<std::string, torch::Tensor> weights;
  for (const auto& parameter : model->named_parameters()) weights[parameter.key()] = parameter.value();
  return weights;
}

torch::Tensor RandomTokens(const LlamaConfig& config, int64_t batch, int64_t length, uint64_t seed) {
  torch::manual_seed(seed);
  return torch::randint(config.vocab_size, {batch, length}, torch::kLong);
}

std::vector<int64_t> AllLayers(const LlamaConfig& config) {
  std::vector<int64_t> layers;
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) layers.push_back(i);
  return layers;
}

double MaxAbsDifference(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

void ExpectMatchesReference(const LlamaConfig& config) {
  LlamaModel model(config);
  model->to(torch::kDouble);
  Randomize(model, 3);
  const torch::Tensor tokens = RandomTokens(config, 2, 7, 4);
  absl::StatusOr<LlamaForwardOutput> output = model->Forward(tokens, {.residual_layers = AllLayers(config)});
  ASSERT_TRUE(output.ok()) << output.status();
  const ReferenceLlamaOutput reference = ReferenceLlamaForward(config, Weights(model), tokens);

  ASSERT_EQ(output->residuals.size(), reference.residuals.size());
  for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer) {
    const torch::Tensor& residual = output->residuals.at(layer);
    EXPECT_EQ(residual.sizes(), reference.residuals[layer].sizes());
    EXPECT_LT(MaxAbsDifference(residual, reference.residuals[layer]), 1e-12) << "layer " << layer;
  }
  ASSERT_TRUE(output->logits.defined());
  EXPECT_EQ(output->logits.sizes(), (std::vector<int64_t>{2, 7, config.vocab_size}));
  EXPECT_LT(MaxAbsDifference(output->logits, reference.logits), 1e-12);
  // Not trivially small numbers: the comparison means something.
  EXPECT_GT(reference.logits.abs().max().item<double>(), 0.5);
}

TEST(LlamaModelTest, ParameterNamesFollowHuggingFace) {
  LlamaModel model(TinyConfig());
  const auto parameters = model->named_parameters();
  for (const char* name :
       {"model.embed_tokens.weight", "model.layers.0.input_layernorm.weight", "model.layers.2.self_attn.q_proj.weight",
        "model.layers.2.self_attn.k_proj.weight", "model.layers.2.self_attn.v_proj.weight",
        "model.layers.2.self_attn.o_proj.weight", "model.layers.1.post_attention_layernorm.weight",
        "model.layers.1.mlp.gate_proj.weight", "model.layers.1.mlp.up_proj.weight",
        "model.layers.1.mlp.down_proj.weight", "model.norm.weight", "lm_head.weight"}) {
    EXPECT_TRUE(parameters.contains(name)) << name;
  }
  EXPECT_EQ(parameters.size(), 2u + 9u * 3u + 1u);
  EXPECT_EQ(parameters["model.layers.0.self_attn.k_proj.weight"].sizes(), (std::vector<int64_t>{16, 32}));
  EXPECT_EQ(parameters["model.layers.0.mlp.down_proj.weight"].sizes(), (std::vector<int64_t>{32, 48}));
  EXPECT_EQ(parameters["lm_head.weight"].sizes(), (std::vector<int64_t>{37, 32}));

  LlamaConfig tied = TinyConfig();
  tied.tie_word_embeddings = true;
  EXPECT_FALSE(LlamaModel(tied)->named_parameters().contains("lm_head.weight"));
}

TEST(LlamaModelTest, CreateRejectsAnInvalidConfig) {
  LlamaConfig config = TinyConfig();
  config.num_key_value_heads = 3;
  EXPECT_THAT(CreateLlamaModel(config).status().message(), HasSubstr("num_key_value_heads"));
  EXPECT_TRUE(CreateLlamaModel(TinyConfig()).ok());
}

TEST(LlamaModelTest, ForwardMatchesNaiveReferenceWithGroupedQueryAttention) {
  ExpectMatchesReference(TinyConfig());
}

TEST(LlamaModelTest, ForwardMatchesNaiveReferenceWithMultiHeadAttentionAndTiedEmbeddings) {
  LlamaConfig config = TinyConfig();
  config.num_key_value_heads = config.num_attention_heads;
  config.tie_word_embeddings = true;
  config.rope_theta = 10000.0;
  ExpectMatchesReference(config);
}

TEST(LlamaModelTest, RotaryEmbeddingMatchesHandComputedValues) {
  // One head of dimension 4, θ = 10000: frequencies 1 and 1/100; dimension
  // 0 turns against 2, dimension 1 against 3 (rotate_half pairing).
  const RotaryTables tables = MakeRotaryTables(4, 4, 10000.0, torch::TensorOptions().dtype(torch::kDouble));
  const torch::Tensor x = torch::tensor({1.0, 2.0, 3.0, 4.0}, torch::kDouble).expand({4, 4});
  const torch::Tensor rotated = ApplyRotaryEmbedding(x, tables);
  const auto expect_row = [&](int64_t position, std::vector<double> expected) {
    for (int64_t i = 0; i < 4; ++i) {
      EXPECT_NEAR(rotated[position][i].item<double>(), expected[i], 1e-14) << "position " << position << " dim " << i;
    }
  };
  expect_row(0, {1.0, 2.0, 3.0, 4.0});  // position 0: no rotation
  // position 1: (cos 1 − 3 sin 1, 2 cos .01 − 4 sin .01, 3 cos 1 + sin 1, 4 cos .01 + 2 sin .01)
  expect_row(1, {-1.9841106485555495, 1.959900667496664, 2.4623779024123156, 4.019799668334994});
  // position 3: angles 3 and 0.03
  expect_row(3, {-1.413352520780047, 1.8791180666879925, -2.828857481741469, 4.058191135400942});
  // Rotation keeps each pair's length.
  EXPECT_NEAR(rotated[3].pow(2).sum().item<double>(), 30.0, 1e-12);
  EXPECT_TRUE(torch::equal(RotateHalf(torch::tensor({1.0, 2.0, 3.0, 4.0})), torch::tensor({-3.0, -4.0, 1.0, 2.0})));
}

TEST(LlamaModelTest, ActivationsOnlyForwardEqualsResidualsOfFullForward) {
  const LlamaConfig config = TinyConfig();
  LlamaModel model(config);
  Randomize(model, 5);
  const torch::Tensor tokens = RandomTokens(config, 3, 9, 6);
  torch::NoGradGuard no_grad;
  const LlamaForwardOutput full = *model->Forward(tokens, {.residual_layers = AllLayers(config)});

  for (bool stop_early : {false, true}) {
    absl::StatusOr<LlamaForwardOutput> activations = model->Forward(
        tokens, {.residual_layers = {1, 0}, .compute_logits = false, .stop_after_deepest_layer = stop_early});
    ASSERT_TRUE(activations.ok()) << activations.status();
    EXPECT_FALSE(activations->logits.defined());
    ASSERT_EQ(activations->residuals.size(), 2u);
    for (int64_t layer : {0, 1}) {
      EXPECT_TRUE(torch::equal(activations->residuals.at(layer), full.residuals.at(layer))) << layer;
    }
  }

  // Stopping really skips the later blocks: poison block 2, layer 1 stays clean.
  model->model->layer(2)->self_attn->q_proj->weight.fill_(std::numeric_limits<float>::quiet_NaN());
  const LlamaForwardOutput stopped =
      *model->Forward(tokens, {.residual_layers = {1}, .compute_logits = false, .stop_after_deepest_layer = true});
  EXPECT_TRUE(torch::equal(stopped.residuals.at(1), full.residuals.at(1)));
  EXPECT_TRUE(model->Forward(tokens)->logits.isnan().any().item<bool>());
}

TEST(LlamaModelTest, ForwardValidatesItsInput) {
  const LlamaConfig config = TinyConfig();
  LlamaModel model(config);
  const torch::Tensor tokens = RandomTokens(config, 2, 5, 1);
  EXPECT_THAT(model->Forward(tokens.clone().fill_(config.vocab_size)).status().message(),
              HasSubstr("outside the vocabulary"));
  EXPECT_THAT(model->Forward(tokens.to(torch::kInt)).status().message(), HasSubstr("int64"));
  EXPECT_THAT(model->Forward(tokens.flatten()).status().message(), HasSubstr("[batch, length]"));
  EXPECT_THAT(model->Forward(tokens, {.residual_layers = {3}}).status().message(), HasSubstr("outside 0..2"));
  EXPECT_THAT(model->Forward(tokens, {.residual_layers = {1, 1}}).status().message(), HasSubstr("twice"));
  EXPECT_THAT(model->Forward(tokens, {.residual_layers = {1}, .stop_after_deepest_layer = true}).status().message(),
              HasSubstr("compute_logits"));
  EXPECT_THAT(model->Forward(tokens, {.compute_logits = false}).status().message(), HasSubstr("nothing requested"));
}

TEST(LlamaCheckpointTest, SaveThenLoadIsBitIdentical) {
  const LlamaConfig config = TinyConfig();
  LlamaModel model(config);
  Randomize(model, 7);
  fs::TempDir dir("llama-save");
  ASSERT_TRUE(SaveLlamaModel(model, dir.path(), {.metadata = {{"step", "100"}}}).ok());

  absl::StatusOr<LlamaModel> loaded = LoadLlamaModel(dir.path());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->config(), config);
  const auto original = model->named_parameters();
  const auto reloaded = (*loaded)->named_parameters();
  ASSERT_EQ(original.size(), reloaded.size());
  for (const auto& parameter : original) {
    EXPECT_TRUE(torch::equal(parameter.value(), reloaded[parameter.key()])) << parameter.key();
  }
  torch::NoGradGuard no_grad;
  const torch::Tensor tokens = RandomTokens(config, 2, 6, 8);
  EXPECT_TRUE(torch::equal(model->Forward(tokens)->logits, (*loaded)->Forward(tokens)->logits));

  // Saving the reloaded model reproduces the very same bytes.
  fs::TempDir again("llama-save-again");
  ASSERT_TRUE(SaveLlamaModel(*loaded, again.path(), {.metadata = {{"step", "100"}}}).ok());
  EXPECT_EQ(*fs::ReadFile(dir.path() / "model.safetensors"), *fs::ReadFile(again.path() / "model.safetensors"));
  const std::unique_ptr<HfCheckpoint> checkpoint = *HfCheckpoint::Open(dir.path());
  EXPECT_EQ(checkpoint->metadata().at("format"), "pt");
  EXPECT_EQ(checkpoint->metadata().at("step"), "100");
}

TEST(LlamaCheckpointTest, LoadsShardedCheckpointsIntoFloat64) {
  const LlamaConfig config = TinyConfig();
  LlamaModel model(config);
  Randomize(model, 9);
  fs::TempDir dir("llama-sharded");
  ASSERT_TRUE(SaveLlamaModel(model, dir.path(), {.max_shard_bytes = 8192}).ok());
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "model.safetensors.index.json"));
  absl::StatusOr<LlamaModel> loaded = LoadLlamaModel(dir.path(), {.dtype = torch::kDouble});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->dtype(), torch::kDouble);
  for (const auto& parameter : model->named_parameters()) {
    EXPECT_TRUE(torch::equal(parameter.value().to(torch::kDouble), (*loaded)->named_parameters()[parameter.key()]));
  }
}

TEST(LlamaCheckpointTest, ConvertsHalfPrecisionWeights) {
  const LlamaConfig config = TinyConfig();
  LlamaModel model(config);
  Randomize(model, 10);
  for (DType dtype : {DType::kBF16, DType::kF16}) {
    const torch::Dtype torch_dtype = dtype == DType::kBF16 ? torch::kBFloat16 : torch::kHalf;
    // Write the weights as 16-bit floats (what LLM-jp ships: bf16).
    std::vector<torch::Tensor> halves;
    std::vector<TensorToWrite> tensors;
    for (const auto& parameter : model->named_parameters()) {
      halves.push_back(parameter.value().detach().to(torch_dtype).contiguous());
      tensors.push_back({parameter.key(), dtype, halves.back().sizes().vec(),
                         std::span<const std::byte>(static_cast<const std::byte*>(halves.back().data_ptr()),
                                                    halves.back().numel() * 2)});
    }
    fs::TempDir dir("llama-half");
    ASSERT_TRUE(WriteHfWeights(dir.path(), tensors).ok());
    LlamaConfig half_config = config;
    half_config.torch_dtype = dtype == DType::kBF16 ? "bfloat16" : "float16";
    ASSERT_TRUE(WriteLlamaConfig(dir.path(), half_config).ok());

    absl::StatusOr<LlamaModel> loaded = LoadLlamaModel(dir.path());
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ((*loaded)->dtype(), torch::kFloat);
    size_t i = 0;
    for (const auto& parameter : model->named_parameters()) {
      EXPECT_TRUE(torch::equal(halves[i++].to(torch::kFloat), (*loaded)->named_parameters()[parameter.key()]))
          << parameter.key() << " " << DTypeName(dtype);
    }
  }
}

// Copies a saved checkpoint's tensors into a new folder, edited by `edit`.
void RewriteWeights(const std::filesystem::path& from, const std::filesystem::path& to,
                    const std::function<void(std::vector<TensorToWrite>&)>& edit) {
  const std::unique_ptr<HfCheckpoint> checkpoint = *HfCheckpoint::Open(from);
  std::vector<TensorToWrite> tensors;
  for (const std::string& name : checkpoint->names()) {
    const TensorView view = *checkpoint->Get(name);
    tensors.push_back({name, view.dtype, std::vector<int64_t>(view.shape.begin(), view.shape.end()), view.bytes});
  }
  edit(tensors);
  ASSERT_TRUE(WriteHfWeights(to, tensors).ok());
  ASSERT_TRUE(WriteLlamaConfig(to, *ReadLlamaConfig(from)).ok());
}

TEST(LlamaCheckpointTest, LoadRejectsMissingMisshapenAndUnexpectedTensors) {
  const LlamaConfig config = TinyConfig();
  LlamaModel model(config);
  fs::TempDir saved("llama-good");
  ASSERT_TRUE(SaveLlamaModel(model, saved.path()).ok());

  fs::TempDir missing("llama-missing");
  RewriteWeights(saved.path(), missing.path(), [](std::vector<TensorToWrite>& tensors) {
    std::erase_if(tensors, [](const TensorToWrite& t) { return t.name == "model.layers.1.mlp.up_proj.weight"; });
  });
  absl::Status status = LoadLlamaModel(missing.path()).status();
  EXPECT_TRUE(absl::IsNotFound(status)) << status;
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr(missing.path().string()), HasSubstr("no tensor 'model.layers.1.mlp.up_proj.weight'"),
                    HasSubstr("[48, 32]")));

  fs::TempDir misshapen("llama-misshapen");
  RewriteWeights(saved.path(), misshapen.path(), [](std::vector<TensorToWrite>& tensors) {
    for (TensorToWrite& t : tensors) {
      if (t.name == "model.layers.0.self_attn.k_proj.weight") t.shape = {32, 16};  // same bytes, transposed shape
    }
  });
  status = LoadLlamaModel(misshapen.path()).status();
  EXPECT_THAT(status.message(), AllOf(HasSubstr("'model.layers.0.self_attn.k_proj.weight'"),
                                      HasSubstr("has shape [32, 16], the model needs [16, 32]")));

  const std::vector<float> extra_values(4, 1.0f);
  fs::TempDir unexpected("llama-unexpected");
  RewriteWeights(saved.path(), unexpected.path(), [&](std::vector<TensorToWrite>& tensors) {
    tensors.push_back({"model.layers.3.mlp.up_proj.weight", DType::kF32, {4}, std::as_bytes(std::span(extra_values))});
    tensors.push_back(
        {"model.layers.0.self_attn.rotary_emb.inv_freq", DType::kF32, {4}, std::as_bytes(std::span(extra_values))});
  });
  status = LoadLlamaModel(unexpected.path()).status();
  EXPECT_THAT(status.message(), AllOf(HasSubstr("does not"), HasSubstr("'model.layers.3.mlp.up_proj.weight'")));
  EXPECT_THAT(status.message(), ::testing::Not(HasSubstr("inv_freq")));

  const std::vector<int32_t> integers(8 * 16, 0);
  fs::TempDir integer("llama-integer");
  RewriteWeights(saved.path(), integer.path(), [&](std::vector<TensorToWrite>& tensors) {
    for (TensorToWrite& t : tensors) {
      if (t.name == "model.norm.weight") t = {t.name, DType::kI32, {32}, std::as_bytes(std::span(integers)).first(128)};
    }
  });
  EXPECT_THAT(LoadLlamaModel(integer.path()).status().message(),
              AllOf(HasSubstr("'model.norm.weight'"), HasSubstr("I32")));

  fs::TempDir no_config("llama-no-config");
  EXPECT_THAT(LoadLlamaModel(no_config.path()).status().message(), HasSubstr("config.json"));
}

}  // namespace
}  // namespace expsvc::lm
