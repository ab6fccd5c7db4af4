// The plain-loop reference against the trainer's own Torch step
// (worker/lm/sae/sparse_sae_step.h, itself tested against dense autograd):
// what the CUDA kernels are compared with is what the trainer computes.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "worker/kernels/topk_sae/topk_sae_reference.h"
#include "worker/lm/sae/sparse_sae_step.h"
#include "worker/lm/sae/topk_sae.h"

namespace expsvc::kernels {
namespace {

std::vector<float> ToVector(const torch::Tensor& t) {
  const torch::Tensor flat = t.detach().to(torch::kFloat32).contiguous().reshape({-1});
  return std::vector<float>(flat.data_ptr<float>(), flat.data_ptr<float>() + flat.numel());
}

torch::Tensor ToTensor(const std::vector<float>& v, std::vector<int64_t> shape) {
  return torch::from_blob(const_cast<float*>(v.data()), shape, torch::kFloat32).clone();
}

double RelativeError(const torch::Tensor& actual, const torch::Tensor& expected) {
  return (actual - expected).abs().max().item<double>() / expected.abs().max().clamp_min(1e-12).item<double>();
}

TEST(TopKSaeReferenceTest, MatchesTheTrainersSparseStep) {
  constexpr int64_t kTokens = 40, kD = 24, kN = 96, kK = 6;
  for (uint64_t seed : {1, 2}) {
    torch::manual_seed(seed);
    lm::TopKSae sae(lm::TopKSaeOptions(kD, kN, kK).seed(seed));
    {
      torch::NoGradGuard no_grad;
      sae->b_pre.copy_(torch::randn({kD}) * 0.1);
      sae->b_enc.copy_(torch::randn({kN}) * 0.1);
      sae->w_enc.add_(torch::randn({kN, kD}) * 0.3);
    }
    torch::Tensor x = torch::randn({kTokens, kD});
    x = x / x.norm(2, {1}, true);
    const TopKSaeShape shape{kTokens, kD, kN, kK};

    // Encode: the reference's top-k of the encoder product is the trainer's.
    const torch::Tensor centered = x - sae->b_pre.detach();
    const torch::Tensor pre = torch::addmm(sae->b_enc.detach(), centered, sae->w_enc.detach().t());
    const TopKReferenceCodes codes = RowTopKReference(ToVector(pre), shape);
    const lm::TopKCodes trainer = sae->Encode(x);
    // The trainer's order is unspecified: sort its codes the reference's way.
    const torch::Tensor order = std::get<1>(trainer.values.sort(/*dim=*/1, /*descending=*/true));
    const torch::Tensor trainer_indices = trainer.indices.gather(1, order);
    const torch::Tensor trainer_values = trainer.values.gather(1, order);
    const std::vector<float> reference_indices(codes.indices.begin(), codes.indices.end());
    EXPECT_TRUE(torch::equal(ToTensor(reference_indices, {kTokens, kK}).to(torch::kLong), trainer_indices))
        << "seed " << seed;
    EXPECT_LT(RelativeError(ToTensor(codes.values, {kTokens, kK}), trainer_values), 1e-6);

    // Decode.
    const std::vector<float> x_hat = SparseDecodeReference(codes, ToVector(sae->w_dec), ToVector(sae->b_pre), shape);
    const torch::Tensor trainer_x_hat = sae->Decode(trainer);
    EXPECT_LT(RelativeError(ToTensor(x_hat, {kTokens, kD}), trainer_x_hat), 1e-5);

    // Backward, from the FVU's gradient at x̂.
    const lm::SaeStepResult step = lm::SparseSaeForwardBackward(*sae, x);
    const torch::Tensor grad_x_hat = (step.x_hat - x) * (2.0 / lm::BatchVariance(x));
    const TopKSaeGradients grads = SparseBackwardReference(ToVector(grad_x_hat), ToVector(centered), codes,
                                                           ToVector(sae->w_dec), ToVector(sae->w_enc), shape);
    EXPECT_LT(RelativeError(ToTensor(grads.w_dec, {kN, kD}), sae->w_dec.grad()), 1e-5);
    EXPECT_LT(RelativeError(ToTensor(grads.w_enc, {kN, kD}), sae->w_enc.grad()), 1e-5);
    EXPECT_LT(RelativeError(ToTensor(grads.b_enc, {kN}), sae->b_enc.grad()), 1e-5);
    EXPECT_LT(RelativeError(ToTensor(grads.b_pre, {kD}), sae->b_pre.grad()), 1e-5);
    EXPECT_GT(sae->b_pre.grad().abs().sum().item<double>(), 0.0);
  }
}

TEST(TopKSaeReferenceTest, OrdersByValueThenIndexAndPadsWithZeros) {
  // Row 0: a tie (0.5 at latents 1 and 3) goes to the lower index. Row 1:
  // two positives only, so the rest are zeros at the lowest other indices
  // (negative values and NaN count as 0).
  const std::vector<float> pre = {0.1f, 0.5f, -1.0f, 0.5f, 0.9f, 0.0f,  //
                                  -2.0f, std::nanf(""), 0.3f, -0.5f, 0.0f, 0.7f};
  const TopKReferenceCodes codes = RowTopKReference(pre, TopKSaeShape{2, 1, 6, 4});
  EXPECT_EQ(codes.indices, (std::vector<int64_t>{4, 1, 3, 0, 5, 2, 0, 1}));
  EXPECT_EQ(codes.values, (std::vector<float>{0.9f, 0.5f, 0.5f, 0.1f, 0.7f, 0.3f, 0.0f, 0.0f}));
}

}  // namespace
}  // namespace expsvc::kernels
