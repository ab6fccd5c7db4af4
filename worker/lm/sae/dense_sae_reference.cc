#include "worker/lm/sae/dense_sae_reference.h"

namespace expsvc::lm {

torch::Tensor DenseSaeLoss(TopKSaeImpl& sae, const torch::Tensor& x) {
  const torch::Tensor pre = torch::addmm(sae.b_enc, x - sae.b_pre, sae.w_enc.t());
  const torch::Tensor activations = torch::relu(pre);
  auto [values, indices] = torch::topk(activations, sae.options().k(), /*dim=*/1, /*largest=*/true, /*sorted=*/false);
  const torch::Tensor code = torch::zeros_like(activations).scatter(1, indices, values);
  const torch::Tensor x_hat = torch::mm(code, sae.w_dec) + sae.b_pre;
  return FractionOfVarianceUnexplained(x, x_hat);
}

}  // namespace expsvc::lm
