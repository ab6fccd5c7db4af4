#pragma once
// The SAE's loss and gradients written by hand so that only the encoder
// product is dense work. For a batch X [N, d]:
//
//   forward   pre = (X − b_pre) W_encᵀ + b_enc         2·N·d·n FLOPs (the one GEMM)
//             top-k of ReLU(pre)                       N·n
//             X̂ = b_pre + Σ_j v_j W_dec[i_j]           N·k·d (embedding_bag)
//   backward  g = ∂FVU/∂X̂ = 2(X̂ − X) / Σ‖X − X̄‖²
//             ∂W_dec[i_j] += v_j g,  ∂v_j = g · W_dec[i_j]       N·k·d each
//             ∂pre_j = ∂v_j [v_j > 0]
//             ∂W_enc[i_j] += ∂pre_j (X − b_pre),  ∂b_enc[i_j] += ∂pre_j
//             ∂b_pre = Σ g − Σ_j ∂pre_j W_enc[i_j]                N·k·d
//
// about 2·N·d·n + 5·N·k·d FLOPs in all, where dense autograd through the
// scattered [N, n] code spends about 6·2·N·d·n. dense_sae_reference.h is the
// autograd version the tests compare this with.

#include <torch/torch.h>

#include "worker/lm/sae/topk_sae.h"

namespace expsvc::lm {

struct SaeStepResult {
  torch::Tensor loss;   // scalar FVU (float32)
  TopKCodes codes;      // what the encoder kept
  torch::Tensor x_hat;  // [N, d] reconstruction
};

// Computes the FVU of `x` and ACCUMULATES its gradients into the
// parameters' .grad() (allocating them when undefined), like backward()
// would. No autograd graph is built.
SaeStepResult SparseSaeForwardBackward(TopKSaeImpl& sae, const torch::Tensor& x);

// The same loss with no gradients (evaluation).
SaeStepResult SaeForward(const TopKSaeImpl& sae, const torch::Tensor& x);

}  // namespace expsvc::lm
