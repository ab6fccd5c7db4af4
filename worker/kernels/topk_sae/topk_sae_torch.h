#pragma once
// The TopK-SAE CUDA kernels (topk_sae_cuda.h) for Torch tensors: checks
// shapes, dtypes and devices, allocates the outputs, and launches on the
// tensors' device and Torch's current stream. Compiled only where LibTorch
// has CUDA (the target defines EXPSVC_TOPK_SAE_CUDA); the SAE module and
// sparse step call it when their parameters are on a GPU. Errors are
// c10::Error, as from any Torch op.

#include <torch/torch.h>

namespace expsvc::kernels {

// Top-k of ReLU(pre) per row; pre [N, n] float32 or bfloat16. Returns
// (values [N, k] float32, indices [N, k] int64), ordered as the reference.
std::pair<torch::Tensor, torch::Tensor> RowTopKTorch(const torch::Tensor& pre, int64_t k);

// b_pre + Σ_j values[:, j] W_dec[indices[:, j]], float32 [N, d].
torch::Tensor SparseDecodeTorch(const torch::Tensor& values, const torch::Tensor& indices, const torch::Tensor& w_dec,
                                const torch::Tensor& b_pre);

struct TopKSaeTorchGradients {
  torch::Tensor w_dec, w_enc, b_enc, b_pre;  // float32
};

// The gradients of the parameters from ∂loss/∂x̂ and x − b_pre (float32 [N, d]).
TopKSaeTorchGradients SparseBackwardTorch(const torch::Tensor& grad_x_hat, const torch::Tensor& centered,
                                          const torch::Tensor& values, const torch::Tensor& indices,
                                          const torch::Tensor& w_dec, const torch::Tensor& w_enc);

}  // namespace expsvc::kernels
