// The activation source: one forward pass per batch for all layers, BOS
// dropped, unit vectors equal to the model's own residuals, and a cache that
// replays the same batches without running the model.
#include "worker/lm/activations/activation_source.h"

#include <filesystem>

#include <torch/torch.h>

#include "gtest/gtest.h"

namespace expsvc::lm {
namespace {

LlamaConfig TinyConfig() {
  LlamaConfig config;
  config.vocab_size = 50;
  config.hidden_size = 16;
  config.intermediate_size = 32;
  config.num_hidden_layers = 3;
  config.num_attention_heads = 4;
  config.num_key_value_heads = 2;
  config.max_position_embeddings = 64;
  return config;
}

// 7 test windows of BOS + 8 tokens, alternating languages.
LmCorpus TinyCorpus() {
  LmCorpus corpus(/*vocab_size=*/50, /*bos_id=*/1, /*window_length=*/9, /*split_seed=*/1);
  const uint32_t english = corpus.AddDocument({"en-doc", "English", Language::kEnglish, Split::kTest});
  const uint32_t japanese = corpus.AddDocument({"ja-doc", "Japanese", Language::kJapanese, Split::kTest});
  for (int w = 0; w < 7; ++w) {
    std::vector<TokenId> tokens = {1};
    for (int t = 0; t < 8; ++t) tokens.push_back(2 + (w * 8 + t) % 48);
    EXPECT_TRUE(corpus.AddWindow(w % 2 == 0 ? english : japanese, tokens).ok());
  }
  return corpus;
}

TEST(ActivationSource, OnePassPerBatchForAllLayersUnitVectorsWithoutBos) {
  torch::manual_seed(1);
  LlamaModel model(TinyConfig());
  const LmCorpus corpus = TinyCorpus();
  ActivationSource source(model, corpus, {.layers = {2, 0}, .split = Split::kTest, .batch_windows = 3});
  EXPECT_EQ(source.windows(), 7);
  EXPECT_EQ(source.rows_per_sweep(), 7 * 8);
  int64_t rows = 0;
  int64_t batches = 0;
  ASSERT_TRUE(source
                  .ForEachBatch([&](const ActivationBatch& batch) {
                    ++batches;
                    EXPECT_EQ(batch.layers.size(), 2u);
                    for (const auto& [layer, values] : batch.layers) {
                      EXPECT_EQ(values.size(0), batch.rows());
                      EXPECT_TRUE(torch::allclose(values.norm(2, -1), torch::ones({batch.rows()}), 1e-5, 1e-5));
                    }
                    // Equal to the model's residual at the same (window, position), normalised.
                    const int64_t count = batch.rows() / 8;
                    torch::Tensor tokens = torch::empty({count, 9}, torch::kLong);
                    for (int64_t w = 0; w < count; ++w) {
                      const CorpusWindow window = corpus.window(Split::kTest, batch.first_window + w);
                      for (int t = 0; t < 9; ++t) tokens[w][t] = window.tokens[t];
                    }
                    LlamaForwardOptions all;
                    all.residual_layers = {0, 2};
                    const LlamaForwardOutput full = model->forward(tokens, all);
                    for (int64_t layer : {0, 2}) {
                      torch::Tensor expected = full.residuals.at(layer).narrow(1, 1, 8).reshape({-1, 16});
                      expected = expected / expected.norm(2, -1, true);
                      EXPECT_TRUE(torch::allclose(batch.layers.at(layer), expected, 1e-5, 1e-5)) << layer;
                    }
                    EXPECT_EQ(batch.positions.min().item<int64_t>(), 1);
                    EXPECT_EQ(batch.languages[0].item<int64_t>(), batch.first_window % 2);
                    EXPECT_NE(batch.token_ids.eq(1).sum().item<int64_t>(), batch.rows()) << "BOS rows dropped";
                    rows += batch.rows();
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(rows, 56);
  EXPECT_EQ(batches, 3);
  EXPECT_EQ(source.forward_passes(), 3) << "one pass per batch, not one per layer";
}

TEST(ActivationSource, CacheReplaysTheSameBatchesWithoutTheModel) {
  torch::manual_seed(2);
  LlamaModel model(TinyConfig());
  const LmCorpus corpus = TinyCorpus();
  const std::string cache = ::testing::TempDir() + "/activations.cache";
  std::filesystem::remove(cache);
  ActivationSourceOptions options{.layers = {1}, .split = Split::kTest, .batch_windows = 4, .cache_path = cache};
  std::vector<torch::Tensor> first;
  ActivationSource writer(model, corpus, options);
  ASSERT_TRUE(writer
                  .ForEachBatch([&](const ActivationBatch& b) {
                    first.push_back(b.layers.at(1).clone());
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(writer.forward_passes(), 2);
  ActivationSource reader(model, corpus, options);
  size_t index = 0;
  ASSERT_TRUE(reader
                  .ForEachBatch([&](const ActivationBatch& b) {
                    EXPECT_TRUE(torch::equal(b.layers.at(1), first.at(index++)));
                    EXPECT_EQ(b.rows(), b.layers.at(1).size(0));
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(index, first.size());
  EXPECT_EQ(reader.forward_passes(), 0);
  // Other settings or another model: the cache is refused, not misread.
  const auto refused = [&](LlamaModel m, ActivationSourceOptions o) {
    ActivationSource other(m, corpus, o);
    return other.ForEachBatch([](const ActivationBatch&) { return absl::OkStatus(); }).code() ==
           absl::StatusCode::kFailedPrecondition;
  };
  ActivationSourceOptions other_layers = options;
  other_layers.layers = {0};
  EXPECT_TRUE(refused(model, other_layers));
  ActivationSourceOptions other_batches = options;
  other_batches.batch_windows = 3;
  EXPECT_TRUE(refused(model, other_batches));
  torch::manual_seed(99);
  EXPECT_TRUE(refused(LlamaModel(TinyConfig()), options)) << "a cache of other weights";
  std::filesystem::remove(cache);
}

TEST(ActivationSource, RejectsMissingLayers) {
  LlamaModel model(TinyConfig());
  const LmCorpus corpus = TinyCorpus();
  ActivationSource source(model, corpus, {.layers = {3}});
  const absl::Status status = source.ForEachBatch([](const ActivationBatch&) { return absl::OkStatus(); });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("0..2"), std::string::npos) << status;
}

}  // namespace
}  // namespace expsvc::lm
