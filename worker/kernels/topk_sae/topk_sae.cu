// The TopK-SAE kernels (topk_sae_cuda.h). Written for clarity first: each
// kernel is one block per token row, with the row's k codes in shared memory.

#include <cub/block/block_scan.cuh>

#include "worker/kernels/topk_sae/topk_sae_cuda.h"

namespace expsvc::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr uint32_t kNoBin = 256;

__device__ __forceinline__ float Relu(float v) { return v > 0.0f ? v : 0.0f; }  // NaN → 0, as the reference
__device__ __forceinline__ float ToFloat(float v) { return v; }
__device__ __forceinline__ float ToFloat(__nv_bfloat16 v) { return __bfloat162float(v); }
// After the ReLU every value is +0 or positive, and the bits of non-negative
// floats order like the floats: the radix select works on them directly.
__device__ __forceinline__ uint32_t KeyOf(float relu) { return __float_as_uint(relu); }

// The k selected (value, index) pairs live in dynamic shared memory:
// values first, then indices at the next 8-byte boundary.
__host__ __device__ inline size_t IndexOffset(int64_t k) { return (static_cast<size_t>(k) * 4 + 7) / 8 * 8; }

template <typename T>
__global__ void RowTopKKernel(const T* pre, int64_t n, int k, float* values, int64_t* indices) {
  using Scan = cub::BlockScan<int, kThreads>;
  __shared__ typename Scan::TempStorage scan_storage;
  __shared__ uint32_t histogram[256];
  __shared__ uint32_t s_prefix, s_remaining;
  __shared__ int s_above, s_equal_taken;
  extern __shared__ __align__(16) unsigned char selected[];
  float* sel_values = reinterpret_cast<float*>(selected);
  int64_t* sel_indices = reinterpret_cast<int64_t*>(selected + IndexOffset(k));

  const T* x = pre + static_cast<int64_t>(blockIdx.x) * n;
  const int lane = threadIdx.x & 31;
  // Loops run over whole tiles so every lane of a warp takes part in the
  // warp-wide votes below.
  const int64_t padded = (n + kThreads - 1) / kThreads * kThreads;
  if (threadIdx.x == 0) {
    s_prefix = 0;
    s_remaining = static_cast<uint32_t>(k);
    s_above = 0;
    s_equal_taken = 0;
  }

  // Radix select, eight bits at a time from the top: find the key of the
  // k-th largest value, and how many of the entries equal to it to take.
  uint32_t mask = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int b = threadIdx.x; b < 256; b += kThreads) histogram[b] = 0;
    __syncthreads();
    const uint32_t prefix = s_prefix;
    for (int64_t i = threadIdx.x; i < padded; i += kThreads) {
      uint32_t bin = kNoBin;
      if (i < n) {
        const uint32_t key = KeyOf(Relu(ToFloat(x[i])));
        if ((key & mask) == prefix) bin = (key >> shift) & 255u;
      }
      // Lanes with the same bin add once: after the ReLU, most keys share
      // the zero bin, and one shared counter would serialise them.
      const unsigned peers = __match_any_sync(0xffffffffu, bin);
      if (bin != kNoBin && lane == __ffs(peers) - 1) atomicAdd(&histogram[bin], __popc(peers));
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      const uint32_t remaining = s_remaining;
      uint32_t above = 0;
      for (int b = 255; b >= 0; --b) {
        if (above + histogram[b] >= remaining) {
          s_prefix = prefix | (static_cast<uint32_t>(b) << shift);
          s_remaining = remaining - above;
          break;
        }
        above += histogram[b];
      }
    }
    mask |= 255u << shift;
    __syncthreads();
  }

  // Gather: every key above the threshold, and the first `take_equal` keys
  // equal to it in index order (a block scan per tile keeps ties to the
  // lower indices, as the reference does).
  const uint32_t threshold = s_prefix;
  const int take_equal = static_cast<int>(s_remaining);
  const int above_total = k - take_equal;
  for (int64_t base = 0; base < padded; base += kThreads) {
    const int64_t i = base + threadIdx.x;
    float v = 0.0f;
    uint32_t key = 0;
    if (i < n) {
      v = Relu(ToFloat(x[i]));
      key = KeyOf(v);
      if (key > threshold) {
        const int slot = atomicAdd(&s_above, 1);
        sel_values[slot] = v;
        sel_indices[slot] = i;
      }
    }
    const int taken = s_equal_taken;
    const bool equal = i < n && key == threshold;
    if (__syncthreads_or(equal && taken < take_equal)) {
      int rank = 0, total = 0;
      Scan(scan_storage).ExclusiveSum(equal ? 1 : 0, rank, total);
      if (equal && taken + rank < take_equal) {
        sel_values[above_total + taken + rank] = v;
        sel_indices[above_total + taken + rank] = i;
      }
      __syncthreads();
      if (threadIdx.x == 0) s_equal_taken = taken + total;
      __syncthreads();
    }
  }
  __syncthreads();

  // Order the k entries: each one's rank is how many come before it.
  const int64_t out = static_cast<int64_t>(blockIdx.x) * k;
  for (int j = threadIdx.x; j < k; j += kThreads) {
    const float v = sel_values[j];
    const int64_t index = sel_indices[j];
    int rank = 0;
    for (int m = 0; m < k; ++m) {
      const float w = sel_values[m];
      rank += (w > v) || (w == v && sel_indices[m] < index);
    }
    values[out + rank] = v;
    indices[out + rank] = index;
  }
}

// Loads row `row`'s k codes into shared memory.
__device__ void LoadCodes(const float* values, const int64_t* indices, int64_t row, int k, float* s_values,
                          int64_t* s_indices) {
  for (int j = threadIdx.x; j < k; j += blockDim.x) {
    s_values[j] = values[row * k + j];
    s_indices[j] = indices[row * k + j];
  }
  __syncthreads();
}

__global__ void SparseDecodeKernel(const float* values, const int64_t* indices, const float* w_dec,
                                   const float* b_pre, int64_t d, int k, float* x_hat) {
  extern __shared__ __align__(16) unsigned char codes[];
  float* s_values = reinterpret_cast<float*>(codes);
  int64_t* s_indices = reinterpret_cast<int64_t*>(codes + IndexOffset(k));
  const int64_t row = blockIdx.x;
  LoadCodes(values, indices, row, k, s_values, s_indices);
  for (int64_t c = threadIdx.x; c < d; c += blockDim.x) {
    float sum = b_pre[c];
    for (int j = 0; j < k; ++j) sum += s_values[j] * w_dec[s_indices[j] * d + c];
    x_hat[row * d + c] = sum;
  }
}

// Per token: ∂v_j by one warp per code, then the scatter into the selected
// rows of ∂W_dec and ∂W_enc, and ∂b_enc.
__global__ void SparseBackwardRowsKernel(const float* grad_x_hat, const float* centered, const float* values,
                                         const int64_t* indices, const float* w_dec, int64_t d, int k,
                                         float* grad_w_dec, float* grad_w_enc, float* grad_b_enc) {
  extern __shared__ __align__(16) unsigned char codes[];
  float* s_values = reinterpret_cast<float*>(codes);
  int64_t* s_indices = reinterpret_cast<int64_t*>(codes + IndexOffset(k));
  float* s_grad_pre = reinterpret_cast<float*>(codes + IndexOffset(k) + static_cast<size_t>(k) * 8);
  const int64_t row = blockIdx.x;
  const float* g = grad_x_hat + row * d;
  LoadCodes(values, indices, row, k, s_values, s_indices);

  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  for (int j = warp; j < k; j += kWarps) {
    const float* w = w_dec + s_indices[j] * d;
    float dot = 0.0f;
    for (int64_t c = lane; c < d; c += 32) dot += g[c] * w[c];
    for (int offset = 16; offset > 0; offset /= 2) dot += __shfl_xor_sync(0xffffffffu, dot, offset);
    if (lane == 0) s_grad_pre[j] = s_values[j] > 0.0f ? dot : 0.0f;
  }
  __syncthreads();

  const float* xc = centered + row * d;
  for (int j = 0; j < k; ++j) {
    const float value = s_values[j], grad_pre = s_grad_pre[j];
    if (value == 0.0f) continue;  // a zero code adds nothing to either table
    float* dec = grad_w_dec + s_indices[j] * d;
    float* enc = grad_w_enc + s_indices[j] * d;
    for (int64_t c = threadIdx.x; c < d; c += blockDim.x) {
      atomicAdd(&dec[c], value * g[c]);
      atomicAdd(&enc[c], grad_pre * xc[c]);
    }
  }
  for (int j = threadIdx.x; j < k; j += blockDim.x) {
    if (s_values[j] != 0.0f) atomicAdd(&grad_b_enc[s_indices[j]], s_grad_pre[j]);
  }
}

// ∂b_pre = Σ_t g_t − Σ_l ∂b_enc[l] W_enc[l]: one thread per column, the rows
// and latents split into grid.y slices that add their partial sums.
__global__ void PreBiasGradKernel(const float* grad_x_hat, const float* grad_b_enc, const float* w_enc,
                                  int64_t tokens, int64_t latents, int64_t d, float* grad_b_pre) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= d) return;
  float sum = 0.0f;
  for (int64_t t = blockIdx.y; t < tokens; t += gridDim.y) sum += grad_x_hat[t * d + c];
  for (int64_t l = blockIdx.y; l < latents; l += gridDim.y) {
    const float grad = grad_b_enc[l];
    if (grad != 0.0f) sum -= grad * w_enc[l * d + c];
  }
  atomicAdd(&grad_b_pre[c], sum);
}

bool ValidShape(const TopKSaeShape& shape) {
  return shape.tokens >= 0 && shape.d_in > 0 && shape.latents > 0 && shape.k > 0 && shape.k <= shape.latents &&
         shape.k <= kMaxTopK && shape.tokens <= 0x7fffffff;
}

size_t CodesBytes(int64_t k) { return IndexOffset(k) + static_cast<size_t>(k) * 8; }

}  // namespace

template <typename T>
cudaError_t RowTopKCuda(const T* pre, const TopKSaeShape& shape, float* values, int64_t* indices,
                        cudaStream_t stream) {
  if (!ValidShape(shape)) return cudaErrorInvalidValue;
  if (shape.tokens == 0) return cudaSuccess;
  RowTopKKernel<T><<<static_cast<unsigned>(shape.tokens), kThreads, CodesBytes(shape.k), stream>>>(
      pre, shape.latents, static_cast<int>(shape.k), values, indices);
  return cudaGetLastError();
}

template cudaError_t RowTopKCuda<float>(const float*, const TopKSaeShape&, float*, int64_t*, cudaStream_t);
template cudaError_t RowTopKCuda<__nv_bfloat16>(const __nv_bfloat16*, const TopKSaeShape&, float*, int64_t*,
                                                cudaStream_t);

cudaError_t SparseDecodeCuda(const float* values, const int64_t* indices, const float* w_dec, const float* b_pre,
                             const TopKSaeShape& shape, float* x_hat, cudaStream_t stream) {
  if (!ValidShape(shape)) return cudaErrorInvalidValue;
  if (shape.tokens == 0) return cudaSuccess;
  SparseDecodeKernel<<<static_cast<unsigned>(shape.tokens), kThreads, CodesBytes(shape.k), stream>>>(
      values, indices, w_dec, b_pre, shape.d_in, static_cast<int>(shape.k), x_hat);
  return cudaGetLastError();
}

cudaError_t SparseBackwardCuda(const float* grad_x_hat, const float* centered, const float* values,
                               const int64_t* indices, const float* w_dec, const float* w_enc,
                               const TopKSaeShape& shape, const TopKSaeGradientPointers& grads, cudaStream_t stream) {
  if (!ValidShape(shape)) return cudaErrorInvalidValue;
  const size_t table = static_cast<size_t>(shape.latents) * shape.d_in * sizeof(float);
  for (auto [pointer, bytes] : {std::pair{grads.w_dec, table}, std::pair{grads.w_enc, table},
                                std::pair{grads.b_enc, shape.latents * sizeof(float)},
                                std::pair{grads.b_pre, shape.d_in * sizeof(float)}}) {
    if (cudaError_t error = cudaMemsetAsync(pointer, 0, bytes, stream); error != cudaSuccess) return error;
  }
  if (shape.tokens == 0) return cudaSuccess;
  SparseBackwardRowsKernel<<<static_cast<unsigned>(shape.tokens), kThreads, CodesBytes(shape.k) + shape.k * 4,
                             stream>>>(grad_x_hat, centered, values, indices, w_dec, shape.d_in,
                                       static_cast<int>(shape.k), grads.w_dec, grads.w_enc, grads.b_enc);
  if (cudaError_t error = cudaGetLastError(); error != cudaSuccess) return error;
  constexpr int kColumns = 128, kSlices = 64;
  const dim3 grid(static_cast<unsigned>((shape.d_in + kColumns - 1) / kColumns), kSlices);
  PreBiasGradKernel<<<grid, kColumns, 0, stream>>>(grad_x_hat, grads.b_enc, w_enc, shape.tokens, shape.latents,
                                                   shape.d_in, grads.b_pre);
  return cudaGetLastError();
}

}  // namespace expsvc::kernels
