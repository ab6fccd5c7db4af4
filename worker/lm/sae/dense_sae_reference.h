#pragma once
// The plain way: the top-k code scattered into a dense [N, n] tensor, the
// decoder a dense product, autograd for every gradient. What the sparse step
// (sparse_sae_step.h) must equal, and the baseline bench/sae_bench times.

#include <map>
#include <string>

#include <torch/torch.h>

#include "worker/lm/sae/topk_sae.h"

namespace expsvc::lm {

// The FVU of `x` as a differentiable tensor; call backward() on it.
torch::Tensor DenseSaeLoss(TopKSaeImpl& sae, const torch::Tensor& x);

// The sparse step against dense autograd on copies of `sae`'s parameters
// (`sae` itself is left untouched): both losses, and per parameter the
// largest gradient difference relative to the largest dense gradient entry
// and the sum of |sparse gradient|. What the tests assert and
// bench/sae_bench checks before it times.
struct SparseDenseComparison {
  double sparse_loss = 0;
  double dense_loss = 0;
  std::map<std::string, double> gradient_relative_error;
  std::map<std::string, double> sparse_gradient_abs_sum;
};
SparseDenseComparison CompareSparseWithDense(const TopKSaeImpl& sae, const torch::Tensor& x);

}  // namespace expsvc::lm
