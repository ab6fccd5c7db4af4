// CUDA kernels of the flash relative attention: one thread per output row,
// each running the row function that the CPU pass runs in a loop
// (flash_relative_rows.h). Threads of a block take consecutive rows, so
// their loops are about as long and read the same key rows at the same
// step (served from L1).
#include "worker/kernels/flash_relative/flash_relative_cuda.h"

#include <algorithm>

#include "worker/kernels/flash_relative/flash_relative_rows.h"

namespace expsvc::kernels {
namespace {

// Small blocks, so that short sequences still spread over the SMs (a row
// per thread gives B·H·L threads in all).
constexpr int kThreadsPerBlock = 64;
constexpr int64_t kMaxGridY = 65535;

template <typename T, int kDh>
__global__ void ForwardKernel(FlashRelativeShape s, FlashRelativeInputs<T> in, T* out, T* lse) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= s.length) return;
  flash_rows::ForwardRow<T, kDh>(s, in, out, lse, blockIdx.y, i);
}

template <typename T, int kDh>
__global__ void BackwardQueryKernel(FlashRelativeShape s, FlashRelativeInputs<T> in, FlashRelativeGrads<T> g) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= s.length) return;
  flash_rows::BackwardQueryRow<T, kDh>(s, in, g, blockIdx.y, i);
}

template <typename T, int kDh>
__global__ void BackwardKeyKernel(FlashRelativeShape s, FlashRelativeInputs<T> in, FlashRelativeGrads<T> g) {
  const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= s.length) return;
  flash_rows::BackwardKeyRow<T, kDh>(s, in, g, blockIdx.y, j);
}

template <typename T, int kDh>
__global__ void BackwardIndexKernel(FlashRelativeShape s, FlashRelativeInputs<T> in, FlashRelativeGrads<T> g,
                                    int64_t rows) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  flash_rows::BackwardIndexRow<T, kDh>(s, in, g, blockIdx.y, r);
}

dim3 Grid(const FlashRelativeShape& s, int64_t rows) {
  return dim3(static_cast<unsigned>((rows + kThreadsPerBlock - 1) / kThreadsPerBlock),
              static_cast<unsigned>(s.batch * s.heads));
}

bool ShapeOk(const FlashRelativeShape& s) {
  return s.batch * s.heads <= kMaxGridY && FlashRelativeHeadDimSupported(s.head_dim) && s.dropout >= 0.0 &&
         s.dropout < 1.0 && (s.time_columns == 0 || (s.rules.time_period > 0 && s.rules.pitch_period > 0));
}

template <typename T, int kDh>
cudaError_t Forward(const FlashRelativeShape& s, const FlashRelativeInputs<T>& in, T* out, T* lse,
                    cudaStream_t stream) {
  ForwardKernel<T, kDh><<<Grid(s, s.length), kThreadsPerBlock, 0, stream>>>(s, in, out, lse);
  return cudaGetLastError();
}

template <typename T, int kDh>
cudaError_t Backward(const FlashRelativeShape& s, const FlashRelativeInputs<T>& in, const FlashRelativeGrads<T>& g,
                     cudaStream_t stream) {
  BackwardQueryKernel<T, kDh><<<Grid(s, s.length), kThreadsPerBlock, 0, stream>>>(s, in, g);
  if (const cudaError_t error = cudaGetLastError(); error != cudaSuccess) return error;
  BackwardKeyKernel<T, kDh><<<Grid(s, s.length), kThreadsPerBlock, 0, stream>>>(s, in, g);
  if (const cudaError_t error = cudaGetLastError(); error != cudaSuccess) return error;
  if (s.index_rows > 0) {
    const int64_t rows = std::min(s.index_rows, s.length);
    BackwardIndexKernel<T, kDh><<<Grid(s, rows), kThreadsPerBlock, 0, stream>>>(s, in, g, rows);
  }
  return cudaGetLastError();
}

}  // namespace

template <typename T>
cudaError_t FlashRelativeForwardCuda(const FlashRelativeShape& s, const FlashRelativeInputs<T>& in, T* out, T* lse,
                                     cudaStream_t stream) {
  if (!ShapeOk(s)) return cudaErrorInvalidValue;
  if (s.batch * s.heads * s.length == 0) return cudaSuccess;
  switch (s.head_dim) {
    case 8: return Forward<T, 8>(s, in, out, lse, stream);
    case 16: return Forward<T, 16>(s, in, out, lse, stream);
    case 32: return Forward<T, 32>(s, in, out, lse, stream);
    case 64: return Forward<T, 64>(s, in, out, lse, stream);
    default: return Forward<T, 128>(s, in, out, lse, stream);
  }
}

template <typename T>
cudaError_t FlashRelativeBackwardCuda(const FlashRelativeShape& s, const FlashRelativeInputs<T>& in,
                                      const FlashRelativeGrads<T>& g, cudaStream_t stream) {
  if (!ShapeOk(s)) return cudaErrorInvalidValue;
  if (s.batch * s.heads * s.length == 0) return cudaSuccess;
  switch (s.head_dim) {
    case 8: return Backward<T, 8>(s, in, g, stream);
    case 16: return Backward<T, 16>(s, in, g, stream);
    case 32: return Backward<T, 32>(s, in, g, stream);
    case 64: return Backward<T, 64>(s, in, g, stream);
    default: return Backward<T, 128>(s, in, g, stream);
  }
}

template cudaError_t FlashRelativeForwardCuda<float>(const FlashRelativeShape&, const FlashRelativeInputs<float>&,
                                                     float*, float*, cudaStream_t);
template cudaError_t FlashRelativeForwardCuda<double>(const FlashRelativeShape&, const FlashRelativeInputs<double>&,
                                                      double*, double*, cudaStream_t);
template cudaError_t FlashRelativeBackwardCuda<float>(const FlashRelativeShape&, const FlashRelativeInputs<float>&,
                                                      const FlashRelativeGrads<float>&, cudaStream_t);
template cudaError_t FlashRelativeBackwardCuda<double>(const FlashRelativeShape&, const FlashRelativeInputs<double>&,
                                                       const FlashRelativeGrads<double>&, cudaStream_t);

}  // namespace expsvc::kernels
