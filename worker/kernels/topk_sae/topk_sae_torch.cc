#include "worker/kernels/topk_sae/topk_sae_torch.h"

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "worker/kernels/topk_sae/topk_sae_cuda.h"

namespace expsvc::kernels {
namespace {

void CheckCuda(const torch::Tensor& t, const char* name, torch::Dtype dtype, int64_t dim) {
  TORCH_CHECK(t.is_cuda(), name, " must be on a CUDA device");
  TORCH_CHECK(t.scalar_type() == dtype, name, " must be ", c10::toString(dtype), ", got ",
              c10::toString(t.scalar_type()));
  TORCH_CHECK(t.dim() == dim, name, " must have ", dim, " dimensions, got ", t.dim());
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}

void CheckLaunch(cudaError_t error, const char* what) {
  TORCH_CHECK(error == cudaSuccess, what, ": ", cudaGetErrorString(error));
}

}  // namespace

std::pair<torch::Tensor, torch::Tensor> RowTopKTorch(const torch::Tensor& pre, int64_t k) {
  TORCH_CHECK(pre.is_cuda() && pre.dim() == 2 && pre.is_contiguous(), "pre must be a contiguous [N, n] CUDA tensor");
  TORCH_CHECK(k >= 1 && k <= pre.size(1) && k <= kMaxTopK, "k must be in [1, min(n, ", kMaxTopK, ")], got ", k);
  const c10::cuda::CUDAGuard guard(pre.device());
  const TopKSaeShape shape{pre.size(0), 1, pre.size(1), k};
  torch::Tensor values = torch::empty({pre.size(0), k}, pre.options().dtype(torch::kFloat32));
  torch::Tensor indices = torch::empty({pre.size(0), k}, pre.options().dtype(torch::kLong));
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  if (pre.scalar_type() == torch::kFloat32) {
    CheckLaunch(RowTopKCuda(pre.data_ptr<float>(), shape, values.data_ptr<float>(), indices.data_ptr<int64_t>(), stream),
                "RowTopKCuda");
  } else {
    TORCH_CHECK(pre.scalar_type() == torch::kBFloat16, "pre must be float32 or bfloat16");
    CheckLaunch(RowTopKCuda(reinterpret_cast<const __nv_bfloat16*>(pre.data_ptr()), shape, values.data_ptr<float>(),
                            indices.data_ptr<int64_t>(), stream),
                "RowTopKCuda");
  }
  return {values, indices};
}

torch::Tensor SparseDecodeTorch(const torch::Tensor& values, const torch::Tensor& indices, const torch::Tensor& w_dec,
                                const torch::Tensor& b_pre) {
  CheckCuda(values, "values", torch::kFloat32, 2);
  CheckCuda(indices, "indices", torch::kLong, 2);
  CheckCuda(w_dec, "w_dec", torch::kFloat32, 2);
  CheckCuda(b_pre, "b_pre", torch::kFloat32, 1);
  TORCH_CHECK(values.sizes() == indices.sizes() && b_pre.size(0) == w_dec.size(1), "values, indices, w_dec and b_pre disagree in shape");
  const c10::cuda::CUDAGuard guard(values.device());
  const TopKSaeShape shape{values.size(0), w_dec.size(1), w_dec.size(0), values.size(1)};
  torch::Tensor x_hat = torch::empty({shape.tokens, shape.d_in}, values.options());
  CheckLaunch(SparseDecodeCuda(values.data_ptr<float>(), indices.data_ptr<int64_t>(), w_dec.data_ptr<float>(),
                               b_pre.data_ptr<float>(), shape, x_hat.data_ptr<float>(),
                               c10::cuda::getCurrentCUDAStream()),
              "SparseDecodeCuda");
  return x_hat;
}

TopKSaeTorchGradients SparseBackwardTorch(const torch::Tensor& grad_x_hat, const torch::Tensor& centered,
                                          const torch::Tensor& values, const torch::Tensor& indices,
                                          const torch::Tensor& w_dec, const torch::Tensor& w_enc) {
  CheckCuda(grad_x_hat, "grad_x_hat", torch::kFloat32, 2);
  CheckCuda(centered, "centered", torch::kFloat32, 2);
  CheckCuda(values, "values", torch::kFloat32, 2);
  CheckCuda(indices, "indices", torch::kLong, 2);
  CheckCuda(w_dec, "w_dec", torch::kFloat32, 2);
  CheckCuda(w_enc, "w_enc", torch::kFloat32, 2);
  TORCH_CHECK(grad_x_hat.sizes() == centered.sizes() && values.sizes() == indices.sizes() &&
                  w_dec.sizes() == w_enc.sizes() && grad_x_hat.size(0) == values.size(0) &&
                  grad_x_hat.size(1) == w_dec.size(1),
              "grad_x_hat, centered, values, indices, w_dec and w_enc disagree in shape");
  const c10::cuda::CUDAGuard guard(values.device());
  const TopKSaeShape shape{values.size(0), w_dec.size(1), w_dec.size(0), values.size(1)};
  TopKSaeTorchGradients grads{torch::empty_like(w_dec), torch::empty_like(w_enc),
                              torch::empty({shape.latents}, w_dec.options()), torch::empty({shape.d_in}, w_dec.options())};
  CheckLaunch(SparseBackwardCuda(grad_x_hat.data_ptr<float>(), centered.data_ptr<float>(), values.data_ptr<float>(),
                                 indices.data_ptr<int64_t>(), w_dec.data_ptr<float>(), w_enc.data_ptr<float>(), shape,
                                 TopKSaeGradientPointers{grads.w_dec.data_ptr<float>(), grads.w_enc.data_ptr<float>(),
                                                         grads.b_enc.data_ptr<float>(), grads.b_pre.data_ptr<float>()},
                                 c10::cuda::getCurrentCUDAStream()),
              "SparseBackwardCuda");
  return grads;
}

}  // namespace expsvc::kernels
