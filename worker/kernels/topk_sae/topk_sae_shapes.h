#pragma once
// The shapes of one TopK-SAE batch, shared by the CUDA kernels
// (topk_sae_cuda.h) and their CPU reference (topk_sae_reference.h). The math
// is worker/lm/sae/sparse_sae_step.h's; the kernels replace its gather,
// scatter and top-k steps on a GPU, the encoder product stays with cuBLAS.
//
// Tables are row-major and contiguous: W_enc and W_dec are [n, d] (one row per
// latent), activations and gradients [N, d], codes [N, k].

#include <cstdint>

namespace expsvc::kernels {

struct TopKSaeShape {
  int64_t tokens = 0;   // N
  int64_t d_in = 0;     // d
  int64_t latents = 0;  // n
  int64_t k = 0;        // latents kept per token
};

// The largest k the top-k kernel takes: its selected entries are ranked in
// shared memory, 12 bytes each (the study uses 32).
inline constexpr int64_t kMaxTopK = 1024;

}  // namespace expsvc::kernels
