#pragma once
// Internal to this folder: the per-device passes the autograd op in
// relative_logits.cc runs. Forward adds the terms to the logits in place;
// backward writes every chunk table's gradient whole.

#include <vector>

#include <torch/torch.h>

#include "worker/kernels/relative_logits/relative_logits.h"

namespace expsvc::kernels {

void RelativeLogitsCpuPass(const FusedLogitsArgs& args, const torch::Tensor& logits_or_grad,
                           const std::vector<torch::Tensor>& tables, bool backward);

#ifdef EXPSVC_RELATIVE_LOGITS_CUDA
// relative_logits_torch.cc: the CUDA kernels on the tensors' device and
// Torch's current stream.
void RelativeLogitsCudaPass(const FusedLogitsArgs& args, const torch::Tensor& logits_or_grad,
                            const std::vector<torch::Tensor>& tables, bool backward);
#endif

}  // namespace expsvc::kernels
