#pragma once
// The reference for relative_logits.h: the same contract written as plain
// loops over every (b, h, i, j) in double precision, one term at a time, with
// no chunk tricks of its own. Tests and benches only.

#include <vector>

#include <torch/torch.h>

#include "worker/kernels/relative_logits/relative_logits.h"

namespace expsvc::kernels {

// content + the terms at visible pairs (j ≤ i, not blocked), −inf elsewhere.
// Returns a new tensor of content's dtype; content is not changed.
torch::Tensor RelativeLogitsReference(const torch::Tensor& content, const std::vector<torch::Tensor>& chunk_tables,
                                      const FusedLogitsArgs& args);

// The gradient of every chunk table given the gradient of the logits.
std::vector<torch::Tensor> RelativeLogitsReferenceTableGrads(const torch::Tensor& grad,
                                                             const std::vector<torch::Tensor>& chunk_tables,
                                                             const FusedLogitsArgs& args);

}  // namespace expsvc::kernels
