// The CUDA side of the flash relative attention for Torch tensors (see
// flash_relative_passes.h). Built only where LibTorch has CUDA.

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "worker/kernels/flash_relative/flash_relative_cuda.h"
#include "worker/kernels/flash_relative/flash_relative_passes.h"

namespace expsvc::kernels {

template <typename T>
void FlashRelativeCudaForward(const torch::Device& device, const FlashRelativeShape& shape,
                              const FlashRelativeInputs<T>& in, T* out, T* lse) {
  const c10::cuda::CUDAGuard guard(device);
  const cudaError_t error = FlashRelativeForwardCuda<T>(shape, in, out, lse, c10::cuda::getCurrentCUDAStream());
  TORCH_CHECK(error == cudaSuccess, "FlashRelativeForwardCuda: ", cudaGetErrorString(error));
}

template <typename T>
void FlashRelativeCudaBackward(const torch::Device& device, const FlashRelativeShape& shape,
                               const FlashRelativeInputs<T>& in, const FlashRelativeGrads<T>& grads) {
  const c10::cuda::CUDAGuard guard(device);
  const cudaError_t error = FlashRelativeBackwardCuda<T>(shape, in, grads, c10::cuda::getCurrentCUDAStream());
  TORCH_CHECK(error == cudaSuccess, "FlashRelativeBackwardCuda: ", cudaGetErrorString(error));
}

template void FlashRelativeCudaForward<float>(const torch::Device&, const FlashRelativeShape&,
                                              const FlashRelativeInputs<float>&, float*, float*);
template void FlashRelativeCudaForward<double>(const torch::Device&, const FlashRelativeShape&,
                                               const FlashRelativeInputs<double>&, double*, double*);
template void FlashRelativeCudaBackward<float>(const torch::Device&, const FlashRelativeShape&,
                                               const FlashRelativeInputs<float>&, const FlashRelativeGrads<float>&);
template void FlashRelativeCudaBackward<double>(const torch::Device&, const FlashRelativeShape&,
                                                const FlashRelativeInputs<double>&, const FlashRelativeGrads<double>&);

}  // namespace expsvc::kernels
