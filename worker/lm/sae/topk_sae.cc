#include "worker/lm/sae/topk_sae.h"

#include "worker/kernels/topk_sae/topk_sae_shapes.h"
#ifdef EXPSVC_TOPK_SAE_CUDA
#include "worker/kernels/topk_sae/topk_sae_torch.h"
#endif

#include <cmath>

namespace expsvc::lm {

TopKSaeImpl::TopKSaeImpl(TopKSaeOptions options) : options_(std::move(options)) {
  reset();
}

void TopKSaeImpl::reset() {
  const int64_t n = options_.n_latents();
  const int64_t d = options_.d_in();
  TORCH_CHECK(d > 0 && n > 0, "d_in and n_latents must be positive");
  TORCH_CHECK(options_.k() > 0 && options_.k() <= n, "k must be in [1, n_latents]");
  TORCH_CHECK(options_.dtype() == torch::kFloat32 || options_.dtype() == torch::kBFloat16,
              "dtype must be float32 or bfloat16");
  TORCH_CHECK(options_.encoder_dtype() == torch::kFloat32 || options_.encoder_dtype() == torch::kBFloat16,
              "encoder_dtype must be float32 or bfloat16");
  // A private generator: the same seed gives the same SAE whatever else ran.
  auto generator = at::detail::createCPUGenerator(options_.seed());
  torch::Tensor decoder = at::normal(0.0, 1.0, {n, d}, generator, torch::TensorOptions().dtype(torch::kFloat32));
  decoder = decoder / decoder.norm(2, {1}, true).clamp_min(1e-12);
  const auto dtype = torch::TensorOptions().dtype(options_.dtype());
  // As the authors do: the encoder starts as the decoder's transpose, its bias at zero.
  // (Copies: registering a parameter makes that very tensor require grad.)
  w_enc = register_parameter("w_enc", decoder.clone().to(dtype));
  w_dec = register_parameter("w_dec", decoder.clone().to(dtype));
  b_enc = register_parameter("b_enc", torch::zeros({n}, dtype));
  b_pre = register_parameter("b_pre", torch::zeros({d}, dtype));
}

bool BuiltWithSaeCudaKernels() {
#ifdef EXPSVC_TOPK_SAE_CUDA
  return true;
#else
  return false;
#endif
}

bool TopKSaeImpl::UsesCudaKernels(const torch::Device& device) const {
  // Larger k than the top-k kernel ranks in shared memory: Torch's ops.
  return BuiltWithSaeCudaKernels() && options_.cuda_kernels() && device.is_cuda() && options_.k() <= kernels::kMaxTopK;
}

TopKCodes TopKSaeImpl::Encode(const torch::Tensor& x) const {
  torch::NoGradGuard no_grad;
  TORCH_CHECK(x.dim() == 2 && x.size(1) == options_.d_in(), "x must be [N, d_in]");
  const torch::Tensor xf = x.to(torch::kFloat32);
  const torch::Dtype product = options_.encoder_dtype();
  const torch::Tensor pre = torch::addmm(b_enc.to(product), (xf - b_pre.to(torch::kFloat32)).to(product),
                                         w_enc.to(product).t());
#ifdef EXPSVC_TOPK_SAE_CUDA
  if (UsesCudaKernels(x.device())) {
    auto [values, indices] = kernels::RowTopKTorch(pre.contiguous(), options_.k());
    return TopKCodes{values, indices};
  }
#endif
  auto [values, indices] =
      torch::topk(pre.to(torch::kFloat32), options_.k(), /*dim=*/1, /*largest=*/true, /*sorted=*/false);
  // ReLU then top-k keeps the same set as top-k then ReLU: ReLU is monotone.
  return TopKCodes{values.clamp_min(0), indices};
}

torch::Tensor TopKSaeImpl::Decode(const TopKCodes& codes) const {
  torch::NoGradGuard no_grad;
#ifdef EXPSVC_TOPK_SAE_CUDA
  if (UsesCudaKernels(codes.indices.device())) {
    return kernels::SparseDecodeTorch(codes.values.to(torch::kFloat32).contiguous(), codes.indices.contiguous(),
                                      w_dec.to(torch::kFloat32).contiguous(), b_pre.to(torch::kFloat32).contiguous());
  }
#endif
  const torch::Tensor decoder = w_dec.to(torch::kFloat32);
  const torch::Tensor sum = std::get<0>(torch::embedding_bag(
      decoder, codes.indices.reshape({-1}),
      torch::arange(0, codes.indices.numel(), codes.indices.size(1),
                    torch::TensorOptions().dtype(torch::kLong).device(codes.indices.device())),
      /*scale_grad_by_freq=*/false, /*mode=*/0, /*sparse=*/false, codes.values.reshape({-1}).contiguous(),
      /*include_last_offset=*/false));
  return sum + b_pre.to(torch::kFloat32);
}

void TopKSaeImpl::NormalizeDecoderRows() {
  torch::NoGradGuard no_grad;
  const torch::Tensor rows = w_dec.to(torch::kFloat32);
  w_dec.copy_(rows / rows.norm(2, {1}, true).clamp_min(1e-12));
}

void TopKSaeImpl::ProjectDecoderGradient() {
  torch::NoGradGuard no_grad;
  if (!w_dec.grad().defined()) return;
  const torch::Tensor rows = w_dec.to(torch::kFloat32);
  torch::Tensor grad = w_dec.mutable_grad().to(torch::kFloat32);
  grad -= (grad * rows).sum(1, true) * rows;
  w_dec.mutable_grad().copy_(grad);
}

void TopKSaeImpl::InitializePreBias(const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  b_pre.copy_(GeometricMedian(x.to(torch::kFloat32)));
}

torch::Tensor GeometricMedian(const torch::Tensor& points, int64_t max_iterations, double tolerance) {
  torch::NoGradGuard no_grad;
  TORCH_CHECK(points.dim() == 2 && points.size(0) > 0, "points must be [N, d] with N > 0");
  torch::Tensor guess = points.mean(0);
  for (int64_t iteration = 0; iteration < max_iterations; ++iteration) {
    const torch::Tensor weights = 1.0 / ((points - guess).norm(2, {1}) + 1e-8);
    const torch::Tensor next = (weights.unsqueeze(1) * points).sum(0) / weights.sum();
    const bool converged = (next - guess).norm().item<double>() < tolerance;
    guess = next;
    if (converged) break;
  }
  return guess;
}

torch::Tensor BatchVariance(const torch::Tensor& x) {
  return (x - x.mean(0, true)).pow(2).sum().clamp_min(1e-12);
}

torch::Tensor FractionOfVarianceUnexplained(const torch::Tensor& x, const torch::Tensor& x_hat) {
  return (x - x_hat).pow(2).sum() / BatchVariance(x);
}

}  // namespace expsvc::lm
