#include "worker/lm/sae/dense_sae_reference.h"

#include "worker/lm/sae/sparse_sae_step.h"

namespace expsvc::lm {

torch::Tensor DenseSaeLoss(TopKSaeImpl& sae, const torch::Tensor& x) {
  const torch::Tensor pre = torch::addmm(sae.b_enc, x - sae.b_pre, sae.w_enc.t());
  const torch::Tensor activations = torch::relu(pre);
  auto [values, indices] = torch::topk(activations, sae.options().k(), /*dim=*/1, /*largest=*/true, /*sorted=*/false);
  const torch::Tensor code = torch::zeros_like(activations).scatter(1, indices, values);
  const torch::Tensor x_hat = torch::mm(code, sae.w_dec) + sae.b_pre;
  return FractionOfVarianceUnexplained(x, x_hat);
}

SparseDenseComparison CompareSparseWithDense(const TopKSaeImpl& sae, const torch::Tensor& x) {
  TopKSaeImpl sparse(sae.options());
  TopKSaeImpl dense(sae.options());
  // On the compared SAE's device, so a GPU SAE is checked on the GPU.
  sparse.to(sae.w_enc.device());
  dense.to(sae.w_enc.device());
  {
    torch::NoGradGuard no_grad;
    for (const auto& parameter : sae.named_parameters()) {
      sparse.named_parameters()[parameter.key()].copy_(parameter.value());
      dense.named_parameters()[parameter.key()].copy_(parameter.value());
    }
  }
  SparseDenseComparison comparison;
  comparison.sparse_loss = SparseSaeForwardBackward(sparse, x).loss.item<double>();
  const torch::Tensor dense_loss = DenseSaeLoss(dense, x);
  dense_loss.backward();
  comparison.dense_loss = dense_loss.item<double>();
  for (const auto& parameter : sparse.named_parameters()) {
    const torch::Tensor got = parameter.value().grad();
    const torch::Tensor want = dense.named_parameters()[parameter.key()].grad();
    TORCH_CHECK(got.defined() && want.defined(), "no gradient for ", parameter.key());
    comparison.gradient_relative_error[parameter.key()] =
        ((got - want).abs().max() / want.abs().max().clamp_min(1e-30)).item<double>();
    comparison.sparse_gradient_abs_sum[parameter.key()] = got.abs().sum().item<double>();
  }
  return comparison;
}

}  // namespace expsvc::lm
