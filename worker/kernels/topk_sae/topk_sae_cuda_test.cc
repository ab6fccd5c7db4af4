// The CUDA kernels against their plain-loop reference on fresh random inputs
// (float32 and bfloat16 encoder outputs, ties, rows with fewer than k
// positive entries). Skips, saying so, where no CUDA device is usable.
#include <gtest/gtest.h>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <random>
#include <vector>

#include "worker/kernels/cuda_test_support.h"
#include "worker/kernels/topk_sae/topk_sae_cuda.h"
#include "worker/kernels/topk_sae/topk_sae_reference.h"

namespace expsvc::kernels {
namespace {

std::vector<float> Normal(size_t count, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(count);
  for (float& x : v) x = normal(rng);
  return v;
}

// max |a − b| / max |b|.
double RelativeError(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0.0, scale = 1e-12;
  for (size_t i = 0; i < a.size(); ++i) {
    const double error = std::abs(static_cast<double>(a[i]) - b[i]);
    if (!(error <= diff)) diff = error;  // a NaN makes the whole error NaN, which fails every check
    scale = std::max(scale, std::abs(static_cast<double>(b[i])));
  }
  return diff / scale;
}

// Encoder outputs with the awkward cases in it: row 0 has fewer than k
// positive entries, row 1 repeats a few values many times (ties at the
// threshold), the rest are normal.
std::vector<float> EncoderOutput(const TopKSaeShape& shape, std::mt19937& rng) {
  std::vector<float> pre = Normal(shape.tokens * shape.latents, rng);
  for (int64_t i = 0; i < shape.latents; ++i) {
    pre[i] = -std::abs(pre[i]);
    pre[shape.latents + i] = std::round(pre[shape.latents + i] * 2.0f) / 2.0f;
  }
  for (int64_t j = 0; j < shape.k / 2; ++j) pre[j * 7 % shape.latents] = 1.0f + j;
  // The values the ReLU must map to +0 (NaN, −0), an infinity, a subnormal.
  if (shape.tokens > 2 && shape.latents > 8) {
    float* row = &pre[2 * shape.latents];
    row[1] = std::nanf("");
    row[3] = -0.0f;
    row[5] = std::numeric_limits<float>::infinity();
    row[7] = std::numeric_limits<float>::denorm_min();
  }
  return pre;
}

void ExpectTopKMatches(const std::vector<float>& pre_as_float, const DeviceBuffer<float>& values,
                       const DeviceBuffer<int64_t>& indices, const TopKSaeShape& shape) {
  const TopKReferenceCodes expected = RowTopKReference(pre_as_float, shape);
  EXPECT_EQ(indices.ToHost(), expected.indices);
  EXPECT_EQ(values.ToHost(), expected.values);
}

TEST(TopKSaeCudaTest, RowTopKMatchesReferenceInFloat32AndBfloat16) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(1);
  for (const TopKSaeShape& shape : {TopKSaeShape{37, 1, 5000, 32}, TopKSaeShape{9, 1, 32768, 32},
                                    TopKSaeShape{5, 1, 300, 300}, TopKSaeShape{4, 1, 2000, 1},
                                    TopKSaeShape{3, 1, 4096, kMaxTopK}}) {
    SCOPED_TRACE(testing::Message() << "N=" << shape.tokens << " n=" << shape.latents << " k=" << shape.k);
    const std::vector<float> pre = EncoderOutput(shape, rng);
    DeviceBuffer<float> values(shape.tokens * shape.k);
    DeviceBuffer<int64_t> indices(shape.tokens * shape.k);

    // Outputs start as garbage, so a slot the kernel does not write fails.
    auto poison = [&] {
      ASSERT_CUDA(cudaMemset(values.get(), 0xff, shape.tokens * shape.k * sizeof(float)));
      ASSERT_CUDA(cudaMemset(indices.get(), 0xff, shape.tokens * shape.k * sizeof(int64_t)));
    };
    poison();
    const DeviceBuffer<float> pre_f32(pre);
    ASSERT_CUDA(RowTopKCuda(pre_f32.get(), shape, values.get(), indices.get(), nullptr));
    ASSERT_CUDA(cudaDeviceSynchronize());
    ExpectTopKMatches(pre, values, indices, shape);

    // bfloat16: the reference sees the same rounded values.
    std::vector<__nv_bfloat16> pre_bf16(pre.size());
    std::vector<float> rounded(pre.size());
    for (size_t i = 0; i < pre.size(); ++i) {
      pre_bf16[i] = __float2bfloat16(pre[i]);
      rounded[i] = __bfloat162float(pre_bf16[i]);
    }
    const DeviceBuffer<__nv_bfloat16> pre_device(pre_bf16);
    poison();
    ASSERT_CUDA(RowTopKCuda(pre_device.get(), shape, values.get(), indices.get(), nullptr));
    ASSERT_CUDA(cudaDeviceSynchronize());
    ExpectTopKMatches(rounded, values, indices, shape);
  }
}

TEST(TopKSaeCudaTest, RefusesImpossibleShapes) {
  SKIP_WITHOUT_GPU();
  DeviceBuffer<float> buffer(64);
  DeviceBuffer<int64_t> indices(64);
  EXPECT_EQ(RowTopKCuda(buffer.get(), TopKSaeShape{1, 1, 8, 9}, buffer.get(), indices.get(), nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(RowTopKCuda(buffer.get(), TopKSaeShape{1, 1, 4096, kMaxTopK + 1}, buffer.get(), indices.get(), nullptr),
            cudaErrorInvalidValue);
}

TEST(TopKSaeCudaTest, DecodeAndBackwardMatchReference) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(2);
  for (const TopKSaeShape& shape : {TopKSaeShape{19, 96, 700, 8}, TopKSaeShape{64, 257, 4096, 32}}) {
    SCOPED_TRACE(testing::Message() << "N=" << shape.tokens << " d=" << shape.d_in << " n=" << shape.latents);
    const TopKReferenceCodes codes = RowTopKReference(EncoderOutput(shape, rng), shape);
    const std::vector<float> w_dec = Normal(shape.latents * shape.d_in, rng, 0.1f);
    const std::vector<float> w_enc = Normal(shape.latents * shape.d_in, rng, 0.1f);
    const std::vector<float> b_pre = Normal(shape.d_in, rng, 0.1f);
    const std::vector<float> grad_x_hat = Normal(shape.tokens * shape.d_in, rng);
    const std::vector<float> centered = Normal(shape.tokens * shape.d_in, rng);

    const DeviceBuffer<float> values(codes.values), d_w_dec(w_dec), d_w_enc(w_enc), d_b_pre(b_pre),
        d_grad(grad_x_hat), d_centered(centered);
    const DeviceBuffer<int64_t> indices(codes.indices);
    DeviceBuffer<float> x_hat(shape.tokens * shape.d_in);
    ASSERT_CUDA(SparseDecodeCuda(values.get(), indices.get(), d_w_dec.get(), d_b_pre.get(), shape, x_hat.get(),
                                 nullptr));
    DeviceBuffer<float> g_dec(w_dec.size()), g_enc(w_enc.size()), g_b_enc(shape.latents), g_b_pre(shape.d_in);
    ASSERT_CUDA(SparseBackwardCuda(d_grad.get(), d_centered.get(), values.get(), indices.get(), d_w_dec.get(),
                                   d_w_enc.get(), shape,
                                   TopKSaeGradientPointers{g_dec.get(), g_enc.get(), g_b_enc.get(), g_b_pre.get()},
                                   nullptr));
    ASSERT_CUDA(cudaDeviceSynchronize());

    EXPECT_LT(RelativeError(x_hat.ToHost(), SparseDecodeReference(codes, w_dec, b_pre, shape)), 1e-5);
    const TopKSaeGradients expected = SparseBackwardReference(grad_x_hat, centered, codes, w_dec, w_enc, shape);
    EXPECT_LT(RelativeError(g_dec.ToHost(), expected.w_dec), 1e-5);
    EXPECT_LT(RelativeError(g_enc.ToHost(), expected.w_enc), 1e-5);
    EXPECT_LT(RelativeError(g_b_enc.ToHost(), expected.b_enc), 1e-5);
    EXPECT_LT(RelativeError(g_b_pre.ToHost(), expected.b_pre), 1e-4);
  }
}

}  // namespace
}  // namespace expsvc::kernels
