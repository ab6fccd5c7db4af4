#pragma once
// The TopK-SAE kernels' contract as plain loops in double precision: slow and
// obviously right. The CUDA test compares the kernels with it on fresh random
// inputs; topk_sae_reference_test ties it to the trainer's own Torch step.

#include <cstdint>
#include <vector>

#include "worker/kernels/topk_sae/topk_sae_shapes.h"

namespace expsvc::kernels {

// What the encoder keeps per token, k entries in order: value descending,
// ties to the lower latent index.
struct TopKReferenceCodes {
  std::vector<float> values;     // [N, k], ReLU'd, so ≥ 0
  std::vector<int64_t> indices;  // [N, k]
};

// Top-k of ReLU(pre) per row, pre [N, n]. A value that is not > 0 (NaN too)
// counts as 0, so a row with fewer than k positive entries is padded with
// zeros at its lowest remaining indices.
TopKReferenceCodes RowTopKReference(const std::vector<float>& pre, const TopKSaeShape& shape);

// x̂ [N, d] = b_pre + Σ_j values[t, j] · W_dec[indices[t, j]].
std::vector<float> SparseDecodeReference(const TopKReferenceCodes& codes, const std::vector<float>& w_dec,
                                         const std::vector<float>& b_pre, const TopKSaeShape& shape);

// The parameters' gradients given g = ∂loss/∂x̂ [N, d] and centered = x − b_pre
// [N, d] (sparse_sae_step.h):
//   ∂W_dec[i_j] += v_j g                  ∂v_j = g · W_dec[i_j]
//   ∂pre_j = ∂v_j [v_j > 0]
//   ∂W_enc[i_j] += ∂pre_j centered        ∂b_enc[i_j] += ∂pre_j
//   ∂b_pre = Σ_t g_t − Σ_l ∂b_enc[l] W_enc[l]
struct TopKSaeGradients {
  std::vector<float> w_dec;  // [n, d]
  std::vector<float> w_enc;  // [n, d]
  std::vector<float> b_enc;  // [n]
  std::vector<float> b_pre;  // [d]
};
TopKSaeGradients SparseBackwardReference(const std::vector<float>& grad_x_hat, const std::vector<float>& centered,
                                         const TopKReferenceCodes& codes, const std::vector<float>& w_dec,
                                         const std::vector<float>& w_enc, const TopKSaeShape& shape);

}  // namespace expsvc::kernels
