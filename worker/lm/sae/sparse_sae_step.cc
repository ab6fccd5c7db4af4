#include "worker/lm/sae/sparse_sae_step.h"

#include <algorithm>

#ifdef EXPSVC_TOPK_SAE_CUDA
#include "worker/kernels/topk_sae/topk_sae_torch.h"
#endif

namespace expsvc::lm {
namespace {

constexpr int64_t kTokensPerChunk = 128;

// Rows `indices` [N, k] of `table` [n, d] as [N, k, d].
torch::Tensor GatherRows(const torch::Tensor& table, const torch::Tensor& indices) {
  return table.index_select(0, indices.reshape({-1})).view({indices.size(0), indices.size(1), table.size(1)});
}

// Adds `update` (float32, the parameter's shape) into its gradient,
// allocating it in the parameter's dtype when undefined.
void AccumulateGrad(torch::Tensor& parameter, const torch::Tensor& update) {
  if (!parameter.grad().defined()) {
    parameter.mutable_grad() = update.to(parameter.scalar_type());
  } else {
    parameter.mutable_grad().add_(update.to(parameter.scalar_type()));
  }
}

// The forward pass the gradients need: the module's own encoding and
// decoding, and Σ‖x − x̄‖² (the FVU's denominator, a constant of the batch).
struct Forward {
  torch::Tensor x;  // float32 [N, d]
  TopKCodes codes;
  torch::Tensor x_hat;
  torch::Tensor variance;
  torch::Tensor loss;
};

Forward RunForward(const TopKSaeImpl& sae, const torch::Tensor& x) {
  Forward f;
  f.codes = sae.Encode(x);
  f.x_hat = sae.Decode(f.codes);
  f.x = x.to(torch::kFloat32);
  f.variance = BatchVariance(f.x);
  f.loss = (f.x_hat - f.x).pow(2).sum() / f.variance;
  return f;
}

}  // namespace

SaeStepResult SaeForward(const TopKSaeImpl& sae, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  Forward f = RunForward(sae, x);
  return SaeStepResult{f.loss, f.codes, f.x_hat};
}

SaeStepResult SparseSaeForwardBackward(TopKSaeImpl& sae, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  Forward f = RunForward(sae, x);
  const int64_t n = sae.options().n_latents();
  const int64_t d = sae.options().d_in();
  const int64_t tokens = f.x.size(0);
  const torch::Tensor encoder = sae.w_enc.to(torch::kFloat32);
  const torch::Tensor decoder = sae.w_dec.to(torch::kFloat32);
  const torch::Tensor centered = f.x - sae.b_pre.to(torch::kFloat32);
  // ∂FVU/∂x̂.
  const torch::Tensor grad_x_hat = (f.x_hat - f.x) * (2.0 / f.variance);  // [N, d]
#ifdef EXPSVC_TOPK_SAE_CUDA
  if (sae.UsesCudaKernels(f.x.device())) {
    const kernels::TopKSaeTorchGradients grads =
        kernels::SparseBackwardTorch(grad_x_hat.contiguous(), centered.contiguous(), f.codes.values.contiguous(),
                                     f.codes.indices.contiguous(), decoder.contiguous(), encoder.contiguous());
    AccumulateGrad(sae.w_dec, grads.w_dec);
    AccumulateGrad(sae.w_enc, grads.w_enc);
    AccumulateGrad(sae.b_enc, grads.b_enc);
    AccumulateGrad(sae.b_pre, grads.b_pre);
    return SaeStepResult{f.loss, f.codes, f.x_hat};
  }
#endif
  // Gradients are summed in float32 tables and added to .grad() once.
  const auto float32 = torch::TensorOptions().dtype(torch::kFloat32).device(sae.w_enc.device());
  torch::Tensor grad_w_dec = torch::zeros({n, d}, float32);
  torch::Tensor grad_w_enc = torch::zeros({n, d}, float32);
  torch::Tensor grad_b_enc = torch::zeros({n}, float32);

  // Token chunks keep the [chunk, k, d] temporaries in cache.
  for (int64_t start = 0; start < tokens; start += kTokensPerChunk) {
    const int64_t count = std::min(kTokensPerChunk, tokens - start);
    const torch::Tensor indices = f.codes.indices.narrow(0, start, count);
    const torch::Tensor flat_indices = indices.reshape({-1});
    const torch::Tensor values = f.codes.values.narrow(0, start, count);
    const torch::Tensor g = grad_x_hat.narrow(0, start, count);
    // Decoder: ∂W_dec[i_j] += v_j g; ∂v_j = g · W_dec[i_j].
    grad_w_dec.index_add_(0, flat_indices, (values.unsqueeze(2) * g.unsqueeze(1)).reshape({-1, d}));
    const torch::Tensor grad_values = torch::bmm(GatherRows(decoder, indices), g.unsqueeze(2)).squeeze(2);
    // Through the ReLU: selected latents that were not positive pass nothing.
    const torch::Tensor grad_pre = grad_values * values.gt(0).to(torch::kFloat32);  // [chunk, k]
    // Encoder: ∂W_enc[i_j] += ∂pre_j (x − b_pre); ∂b_enc[i_j] += ∂pre_j.
    grad_w_enc.index_add_(0, flat_indices,
                          (grad_pre.unsqueeze(2) * centered.narrow(0, start, count).unsqueeze(1)).reshape({-1, d}));
    grad_b_enc.index_add_(0, flat_indices, grad_pre.reshape({-1}));
  }
  // b_pre enters the decoder directly (+1) and the encoder through −b_pre:
  // Σ_tokens Σ_j ∂pre_j W_enc[i_j] = ∂b_encᵀ W_enc, one [n] × [n, d] product.
  const torch::Tensor grad_b_pre = grad_x_hat.sum(0) - torch::mv(encoder.t(), grad_b_enc);

  AccumulateGrad(sae.w_dec, grad_w_dec);
  AccumulateGrad(sae.w_enc, grad_w_enc);
  AccumulateGrad(sae.b_enc, grad_b_enc);
  AccumulateGrad(sae.b_pre, grad_b_pre);
  return SaeStepResult{f.loss, f.codes, f.x_hat};
}

}  // namespace expsvc::lm
