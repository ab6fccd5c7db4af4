#pragma once
// The CPU pass of the flash relative attention on host pointers: the same
// row functions as the CUDA kernels (flash_relative_rows.h), run in loops
// over the rows (in parallel with Torch's thread pool). It is the reference
// the gpu test compares the kernels with; on the CPU itself the fused
// relative-logits path (matrix products, then one pass over the logits) is
// faster.

#include "worker/kernels/flash_relative/flash_relative_shapes.h"

namespace expsvc::kernels {

// out [B,H,L,head_dim] and lse [B,H,L], written whole.
template <typename T>
void FlashRelativeForwardCpu(const FlashRelativeShape& shape, const FlashRelativeInputs<T>& in, T* out, T* lse);

// Every gradient in `grads` (see FlashRelativeGrads for what the caller
// zeroes first).
template <typename T>
void FlashRelativeBackwardCpu(const FlashRelativeShape& shape, const FlashRelativeInputs<T>& in,
                              const FlashRelativeGrads<T>& grads);

}  // namespace expsvc::kernels
