#pragma once
// The flash relative attention (flash_relative.h) as CUDA kernels against
// raw device pointers and a stream, so they build with nvcc alone; the
// Torch side (flash_relative_torch.cc) calls them with its tensors'
// pointers. One thread per output row runs the row functions of
// flash_relative_rows.h, the same code the CPU pass runs, which the
// gpu-labelled test compares them with. Each call checks the shape,
// launches and returns the launch's error (cudaErrorInvalidValue for a
// head size the kernels are not instantiated for, or more than 65,535
// batch × head pairs).

#include <cuda_runtime_api.h>

#include "worker/kernels/flash_relative/flash_relative_shapes.h"

namespace expsvc::kernels {

// out [B,H,L,head_dim] and lse [B,H,L].
template <typename T>
cudaError_t FlashRelativeForwardCuda(const FlashRelativeShape& shape, const FlashRelativeInputs<T>& in, T* out, T* lse,
                                     cudaStream_t stream);

// Three launches on the stream: query rows (∂Q, ∂QT, ∂QP), key rows (∂K,
// ∂V), index rows (the per-(b,h) shares of ∂E_idx).
template <typename T>
cudaError_t FlashRelativeBackwardCuda(const FlashRelativeShape& shape, const FlashRelativeInputs<T>& in,
                                      const FlashRelativeGrads<T>& grads, cudaStream_t stream);

}  // namespace expsvc::kernels
