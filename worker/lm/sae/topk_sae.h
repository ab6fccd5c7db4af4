#pragma once
// The TopK sparse autoencoder of Study 2 (Gao et al. 2024), as LLM-jp's
// authors train it (llm-jp/llm-jp-sae, model.py / train.py):
//
//   z  = TopK_k(ReLU(W_enc (x − b_pre) + b_enc))      n latents, k of them kept
//   x̂  = W_dec z + b_pre                              W_dec rows unit-norm
//
// Followed from the authors' code: an encoder bias (initialised to zero),
// ReLU before the top-k, the encoder initialised as the decoder's transpose,
// decoder rows renormalised after every step, b_pre at the geometric median
// of the first batch, inputs L2-normalised per token (the activation source
// already does it), Adam with lr 1e-3 and eps 6.25e-10 after a constant
// warm-up. Where we differ or they are silent (README.md): the loss is the
// FVU, and the gradient component along each decoder row is removed before
// the step (OpenAI's and EleutherAI's trainers do; the authors do not).
//
// Parameters are stored as [n, d] tables (W_enc and W_dec both one row per
// latent), so a latent's encoder and decoder directions are rows that the
// sparse step gathers and scatters.

#include <cstdint>

#include <torch/torch.h>

namespace expsvc::lm {

struct TopKSaeOptions {
  TopKSaeOptions(int64_t d_in, int64_t n_latents, int64_t k) : d_in_(d_in), n_latents_(n_latents), k_(k) {}
  TORCH_ARG(int64_t, d_in);
  TORCH_ARG(int64_t, n_latents);
  TORCH_ARG(int64_t, k);
  // Parameter dtype: kFloat32 or kBFloat16 (bf16 halves the memory; the
  // sparse step accumulates in float32 either way).
  TORCH_ARG(torch::Dtype, dtype) = torch::kFloat32;
  // The encoder product's dtype: kBFloat16 runs the one dense product in
  // bf16 (float32 accumulation, the tensor cores' rate on a GPU) and keeps
  // its [N, n] output in bf16; everything after it stays float32.
  TORCH_ARG(torch::Dtype, encoder_dtype) = torch::kFloat32;
  TORCH_ARG(uint64_t, seed) = 1;
  // On a GPU, with a build that has them (UsesCudaKernels), the top-k, the
  // decode and the sparse backward run as the hand-written kernels of
  // worker/kernels/topk_sae; false keeps Torch's own ops (to compare).
  TORCH_ARG(bool, cuda_kernels) = true;
};

// What the encoder keeps for a batch of N inputs.
struct TopKCodes {
  torch::Tensor values;   // [N, k] post-ReLU activations (may be 0 when fewer than k are positive)
  torch::Tensor indices;  // [N, k] int64 latent ids
};

class TopKSaeImpl : public torch::nn::Module {
 public:
  explicit TopKSaeImpl(TopKSaeOptions options);
  void reset();

  // x: [N, d_in]. Encoding and decoding without autograd bookkeeping.
  TopKCodes Encode(const torch::Tensor& x) const;
  torch::Tensor Decode(const TopKCodes& codes) const;
  torch::Tensor forward(const torch::Tensor& x) { return Decode(Encode(x)); }

  // Rows of W_dec back to unit norm (after every optimiser step).
  void NormalizeDecoderRows();
  // Removes from W_dec's gradient the component along each row, so a step
  // moves the rows along their unit sphere rather than off it.
  void ProjectDecoderGradient();
  // b_pre := the geometric median of `x` (Weiszfeld's iteration).
  void InitializePreBias(const torch::Tensor& x);

  const TopKSaeOptions& options() const { return options_; }
  // Whether Encode, Decode and the sparse step use the CUDA kernels for
  // inputs on `device` (a CUDA build, cuda_kernels, a GPU, k ≤ kMaxTopK).
  bool UsesCudaKernels(const torch::Device& device) const;

  torch::Tensor w_enc;  // [n, d]
  torch::Tensor b_enc;  // [n]
  torch::Tensor w_dec;  // [n, d], unit rows
  torch::Tensor b_pre;  // [d]

 private:
  TopKSaeOptions options_;
};
TORCH_MODULE(TopKSae);

// Whether this build has the TopK-SAE CUDA kernels (a CUDA LibTorch and nvcc).
bool BuiltWithSaeCudaKernels();

// Weiszfeld's iteration for the point minimising the summed distances to
// the rows of `points` [N, d]; starts at the mean.
torch::Tensor GeometricMedian(const torch::Tensor& points, int64_t max_iterations = 100, double tolerance = 1e-5);

// Σ‖x − mean(x)‖² over the batch x [N, d] (at least 1e-12).
torch::Tensor BatchVariance(const torch::Tensor& x);
// Fraction of variance unexplained: Σ‖x − x̂‖² / BatchVariance(x).
torch::Tensor FractionOfVarianceUnexplained(const torch::Tensor& x, const torch::Tensor& x_hat);

}  // namespace expsvc::lm
