#include "worker/kernels/topk_sae/topk_sae_reference.h"

#include <algorithm>
#include <numeric>

namespace expsvc::kernels {

TopKReferenceCodes RowTopKReference(const std::vector<float>& pre, const TopKSaeShape& shape) {
  const int64_t n = shape.latents, k = shape.k;
  TopKReferenceCodes codes;
  codes.values.resize(shape.tokens * k);
  codes.indices.resize(shape.tokens * k);
  std::vector<int64_t> order(n);
  std::vector<float> relu(n);
  for (int64_t t = 0; t < shape.tokens; ++t) {
    for (int64_t i = 0; i < n; ++i) {
      const float v = pre[t * n + i];
      relu[i] = v > 0.0f ? v : 0.0f;
    }
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return relu[a] > relu[b]; });
    for (int64_t j = 0; j < k; ++j) {
      codes.values[t * k + j] = relu[order[j]];
      codes.indices[t * k + j] = order[j];
    }
  }
  return codes;
}

std::vector<float> SparseDecodeReference(const TopKReferenceCodes& codes, const std::vector<float>& w_dec,
                                         const std::vector<float>& b_pre, const TopKSaeShape& shape) {
  const int64_t d = shape.d_in, k = shape.k;
  std::vector<float> x_hat(shape.tokens * d);
  for (int64_t t = 0; t < shape.tokens; ++t) {
    for (int64_t c = 0; c < d; ++c) {
      double sum = b_pre[c];
      for (int64_t j = 0; j < k; ++j) {
        sum += static_cast<double>(codes.values[t * k + j]) * w_dec[codes.indices[t * k + j] * d + c];
      }
      x_hat[t * d + c] = static_cast<float>(sum);
    }
  }
  return x_hat;
}

TopKSaeGradients SparseBackwardReference(const std::vector<float>& grad_x_hat, const std::vector<float>& centered,
                                         const TopKReferenceCodes& codes, const std::vector<float>& w_dec,
                                         const std::vector<float>& w_enc, const TopKSaeShape& shape) {
  const int64_t d = shape.d_in, k = shape.k, n = shape.latents;
  std::vector<double> g_dec(n * d, 0.0), g_enc(n * d, 0.0), g_b_enc(n, 0.0), g_b_pre(d, 0.0);
  for (int64_t t = 0; t < shape.tokens; ++t) {
    for (int64_t c = 0; c < d; ++c) g_b_pre[c] += grad_x_hat[t * d + c];
    for (int64_t j = 0; j < k; ++j) {
      const int64_t latent = codes.indices[t * k + j];
      const double value = codes.values[t * k + j];
      double grad_value = 0.0;
      for (int64_t c = 0; c < d; ++c) {
        g_dec[latent * d + c] += value * grad_x_hat[t * d + c];
        grad_value += static_cast<double>(grad_x_hat[t * d + c]) * w_dec[latent * d + c];
      }
      const double grad_pre = value > 0.0 ? grad_value : 0.0;
      for (int64_t c = 0; c < d; ++c) g_enc[latent * d + c] += grad_pre * centered[t * d + c];
      g_b_enc[latent] += grad_pre;
    }
  }
  for (int64_t l = 0; l < n; ++l) {
    for (int64_t c = 0; c < d; ++c) g_b_pre[c] -= g_b_enc[l] * w_enc[l * d + c];
  }
  auto to_float = [](const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); };
  return TopKSaeGradients{to_float(g_dec), to_float(g_enc), to_float(g_b_enc), to_float(g_b_pre)};
}

}  // namespace expsvc::kernels
