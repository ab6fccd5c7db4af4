#pragma once
// CUDA kernels for the TopK SAE's sparse steps, against raw device pointers
// and a stream, so they build with nvcc alone (no CUDA LibTorch needed); the
// Torch side calls them with its tensors' pointers and current stream. The
// contract of each is its plain-loop twin in topk_sae_reference.h, which the
// gpu-labelled test compares them with.
//
// Every pointer is device memory, row-major and contiguous (topk_sae_shapes.h).
// Each call checks its shape, launches, and returns the launch's error.

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "worker/kernels/topk_sae/topk_sae_shapes.h"

namespace expsvc::kernels {

// Top-k of ReLU(pre) per row: pre [N, n] (float or bfloat16, as the encoder
// product left it) → values [N, k] float, indices [N, k] int64, in order
// (value descending, ties to the lower index). A radix select on the values'
// bits, one block per row: five reads of the row, no sort of it.
template <typename T>
cudaError_t RowTopKCuda(const T* pre, const TopKSaeShape& shape, float* values, int64_t* indices,
                        cudaStream_t stream);

// x̂ [N, d] = b_pre + Σ_j values[t, j] · W_dec[indices[t, j]]: k rows of W_dec
// per token, never the [N, n] code.
cudaError_t SparseDecodeCuda(const float* values, const int64_t* indices, const float* w_dec, const float* b_pre,
                             const TopKSaeShape& shape, float* x_hat, cudaStream_t stream);

// Where SparseBackwardCuda writes the gradients (overwritten, not added to).
struct TopKSaeGradientPointers {
  float* w_dec = nullptr;  // [n, d]
  float* w_enc = nullptr;  // [n, d]
  float* b_enc = nullptr;  // [n]
  float* b_pre = nullptr;  // [d]
};

// The gradients of SparseBackwardReference from g = ∂loss/∂x̂ [N, d] and
// centered = x − b_pre [N, d]: only the selected rows of W_dec and W_enc are
// read and written (atomically, so the order of the float sums varies).
cudaError_t SparseBackwardCuda(const float* grad_x_hat, const float* centered, const float* values,
                               const int64_t* indices, const float* w_dec, const float* w_enc,
                               const TopKSaeShape& shape, const TopKSaeGradientPointers& grads, cudaStream_t stream);

}  // namespace expsvc::kernels
