// The TopK SAE: the hand-written sparse step against dense autograd, the
// pieces of the training loop, and recovery of a known sparse dictionary.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "worker/lm/sae/dense_sae_reference.h"
#include "worker/lm/sae/sae_trainer.h"
#include "worker/lm/sae/sparse_sae_step.h"
#include "worker/lm/sae/topk_sae.h"

namespace expsvc::lm {
namespace {

torch::Tensor UnitRows(const torch::Tensor& x) {
  return x / x.norm(2, {1}, true);
}

TEST(SparseSaeStepTest, LossAndEveryGradientEqualDenseAutograd) {
  for (uint64_t seed : {1, 2, 3}) {
    torch::manual_seed(seed);
    TopKSae sae(TopKSaeOptions(24, 96, 5).seed(seed));
    // Non-trivial biases, so every gradient path carries something.
    {
      torch::NoGradGuard no_grad;
      sae->b_pre.copy_(torch::randn({24}) * 0.1);
      sae->b_enc.copy_(torch::randn({96}) * 0.1);
      sae->w_enc.add_(torch::randn({96, 24}) * 0.3);
    }
    const SparseDenseComparison comparison = CompareSparseWithDense(*sae, UnitRows(torch::randn({64, 24})));

    EXPECT_NEAR(comparison.sparse_loss, comparison.dense_loss, 1e-5 * comparison.dense_loss);
    ASSERT_EQ(comparison.gradient_relative_error.size(), 4u);
    for (const auto& [name, error] : comparison.gradient_relative_error) {
      EXPECT_LT(error, 1e-5) << name << ", seed " << seed;
    }
    // The gradients are not trivially zero.
    EXPECT_GT(comparison.sparse_gradient_abs_sum.at("w_enc"), 0);
    EXPECT_GT(comparison.sparse_gradient_abs_sum.at("b_pre"), 0);
  }
}

TEST(SparseSaeStepTest, KeepsKLatentsPerTokenAndDecodesThem) {
  torch::manual_seed(4);
  TopKSae sae(TopKSaeOptions(16, 64, 4));
  const torch::Tensor x = UnitRows(torch::randn({10, 16}));
  const TopKCodes codes = sae->Encode(x);
  ASSERT_EQ(codes.indices.sizes(), (std::vector<int64_t>{10, 4}));
  EXPECT_TRUE(codes.values.ge(0).all().item<bool>());
  // Decoding by hand: b_pre + Σ v_j W_dec[i_j].
  const torch::Tensor by_hand =
      (codes.values.unsqueeze(2) * sae->w_dec.index_select(0, codes.indices.reshape({-1})).view({10, 4, 16})).sum(1) +
      sae->b_pre;
  EXPECT_TRUE(torch::allclose(sae->Decode(codes), by_hand, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(SaeForward(*sae, x).x_hat, by_hand, 1e-5, 1e-6));
}

TEST(TopKSaeTest, RefusesBadOptions) {
  EXPECT_THROW(TopKSae(TopKSaeOptions(16, 8, 9)), c10::Error);
  EXPECT_THROW(TopKSae(TopKSaeOptions(0, 8, 1)), c10::Error);
  EXPECT_THROW(TopKSae(TopKSaeOptions(4, 8, 1).dtype(torch::kFloat64)), c10::Error);
  EXPECT_THROW(TopKSae(TopKSaeOptions(4, 8, 1).encoder_dtype(torch::kHalf)), c10::Error);
}

TEST(TopKSaeTest, Bf16EncoderProductKeepsTheCodesAndTheLoss) {
  // Mixed precision: only the encoder product is rounded to bf16 (8 bits of
  // mantissa), so most selected latents and the loss barely move, and the
  // step's outputs stay float32.
  torch::manual_seed(6);
  TopKSae exact(TopKSaeOptions(64, 512, 8).seed(3));
  TopKSae mixed(TopKSaeOptions(64, 512, 8).seed(3).encoder_dtype(torch::kBFloat16));
  const torch::Tensor x = UnitRows(torch::randn({128, 64}));
  const TopKCodes a = exact->Encode(x);
  const TopKCodes b = mixed->Encode(x);
  EXPECT_EQ(b.values.scalar_type(), torch::kFloat32);
  int64_t shared = 0;
  for (int64_t t = 0; t < x.size(0); ++t) {
    shared += torch::isin(b.indices[t], a.indices[t]).sum().item<int64_t>();
  }
  EXPECT_GT(static_cast<double>(shared) / a.indices.numel(), 0.9);
  const double exact_loss = SparseSaeForwardBackward(*exact, x).loss.item<double>();
  const double mixed_loss = SparseSaeForwardBackward(*mixed, x).loss.item<double>();
  EXPECT_NEAR(mixed_loss, exact_loss, 0.02 * exact_loss);
  EXPECT_EQ(mixed->w_enc.grad().scalar_type(), torch::kFloat32);
  EXPECT_GT(mixed->w_enc.grad().abs().sum().item<double>(), 0.0);
}

TEST(TopKSaeTest, DecoderRowsStayUnitAndTheProjectedGradientIsTangent) {
  torch::manual_seed(5);
  TopKSae sae(TopKSaeOptions(12, 40, 3));
  EXPECT_TRUE(torch::allclose(sae->w_dec.norm(2, {1}), torch::ones({40}), 1e-5, 1e-5));
  SparseSaeForwardBackward(*sae, UnitRows(torch::randn({32, 12})));
  sae->ProjectDecoderGradient();
  const torch::Tensor along = (sae->w_dec.grad() * sae->w_dec).sum(1);
  EXPECT_LT(along.abs().max().item<double>(), 1e-6);
  {
    torch::NoGradGuard no_grad;
    sae->w_dec.mul_(3.0);
  }
  sae->NormalizeDecoderRows();
  EXPECT_TRUE(torch::allclose(sae->w_dec.norm(2, {1}), torch::ones({40}), 1e-5, 1e-5));
}

TEST(TopKSaeTest, GeometricMedianResistsAnOutlier) {
  // Four points around (1, 1) and one far away: the mean moves, the median does not.
  const torch::Tensor points = torch::tensor({{0.0, 1.0}, {2.0, 1.0}, {1.0, 0.0}, {1.0, 2.0}, {100.0, 100.0}});
  const torch::Tensor median = GeometricMedian(points, 1000, 1e-9);
  // At the geometric median the unit vectors towards the points cancel.
  const torch::Tensor towards = points - median;
  const torch::Tensor pull = (towards / towards.norm(2, {1}, true)).sum(0);
  EXPECT_LT(pull.norm().item<double>(), 1e-3);
  // The outlier pulls it by its unit force only (to about (1.31, 1.31)), the mean by its distance.
  EXPECT_NEAR(median[0].item<double>(), 1.31, 0.05);
  EXPECT_NEAR(median[1].item<double>(), 1.31, 0.05);
  EXPECT_GT(points.mean(0)[0].item<double>(), 20.0);
}

TEST(SaeTrainerTest, TracksDeadLatentsOverATokenWindow) {
  torch::manual_seed(6);
  SaeTrainerOptions options;
  options.dead_after_tokens = 64;
  options.warmup_steps = 1;
  SaeTrainer trainer(TopKSae(TopKSaeOptions(8, 200, 1)), options);
  const torch::Tensor x = UnitRows(torch::randn({32, 8}));
  EXPECT_EQ(trainer.Step(x).dead_fraction, 0.0);  // 32 tokens: nobody has been silent for 64 yet
  // 64 tokens with k = 1 fire at most 64 of the 200 latents: the rest are dead now.
  const SaeStepStats stats = trainer.Step(x);
  EXPECT_GE(stats.dead_fraction, 1.0 - 64.0 / 200.0);
  EXPECT_LT(stats.dead_fraction, 1.0);
}

// Data from a known dictionary: each token is a non-negative mix of k of the
// n unit directions. A trained SAE's decoder rows should find them.
TEST(SaeTrainerTest, RecoversAKnownSparseDictionary) {
  torch::manual_seed(7);
  // The SAE gets twice as many latents as the dictionary has atoms, as usual.
  const int64_t d = 32, n = 64, latents = 128, k = 3, batch = 512;
  const torch::Tensor dictionary = UnitRows(torch::randn({n, d}));
  auto sample = [&](int64_t count) {
    const torch::Tensor ids = std::get<1>(torch::sort(torch::rand({count, n}), /*dim=*/1)).narrow(1, 0, k);
    const torch::Tensor weights = torch::rand({count, k}) + 0.5;
    return (weights.unsqueeze(2) * dictionary.index_select(0, ids.reshape({-1})).view({count, k, d})).sum(1);
  };
  SaeTrainerOptions options;
  options.lr = 3e-3;
  options.warmup_steps = 20;
  SaeTrainer trainer(TopKSae(TopKSaeOptions(d, latents, k).seed(3)), options);
  for (int step = 0; step < 1500; ++step) trainer.Step(sample(batch));

  const torch::Tensor held_out = sample(2048);
  const double fvu = SaeForward(*trainer.sae(), held_out).loss.item<double>();
  const torch::Tensor cosine = torch::mm(dictionary, trainer.sae()->w_dec.t());  // [true, learned]
  const double mean_best = std::get<0>(cosine.max(1)).mean().item<double>();
  EXPECT_LT(fvu, 0.1);
  EXPECT_GE(mean_best, 0.9);
  RecordProperty("fvu", std::to_string(fvu));
  RecordProperty("mean_best_cosine", std::to_string(mean_best));
}

}  // namespace
}  // namespace expsvc::lm
