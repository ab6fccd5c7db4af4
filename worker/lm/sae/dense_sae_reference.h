#pragma once
// The plain way: the top-k code scattered into a dense [N, n] tensor, the
// decoder a dense product, autograd for every gradient. What the sparse step
// (sparse_sae_step.h) must equal, and the baseline bench/sae_bench times.

#include <torch/torch.h>

#include "worker/lm/sae/topk_sae.h"

namespace expsvc::lm {

// The FVU of `x` as a differentiable tensor; call backward() on it.
torch::Tensor DenseSaeLoss(TopKSaeImpl& sae, const torch::Tensor& x);

}  // namespace expsvc::lm
