#pragma once
// Internal to this folder: the CUDA side of the autograd op in
// flash_relative.cc, defined in flash_relative_torch.cc (built only against
// a CUDA LibTorch). It launches on the tensors' device and Torch's current
// stream and turns a launch error into a Torch error.

#include <torch/torch.h>

#include "worker/kernels/flash_relative/flash_relative_shapes.h"

namespace expsvc::kernels {

#ifdef EXPSVC_FLASH_RELATIVE_CUDA
template <typename T>
void FlashRelativeCudaForward(const torch::Device& device, const FlashRelativeShape& shape,
                              const FlashRelativeInputs<T>& in, T* out, T* lse);
template <typename T>
void FlashRelativeCudaBackward(const torch::Device& device, const FlashRelativeShape& shape,
                               const FlashRelativeInputs<T>& in, const FlashRelativeGrads<T>& grads);
#endif

}  // namespace expsvc::kernels
