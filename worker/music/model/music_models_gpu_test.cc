// CUDA checks; skipped where torch::cuda::is_available() is false (Debian's
// LibTorch is CPU-only, so this only runs against a CUDA build of LibTorch),
// failed there instead under EXPSVC_REQUIRE_GPU=1.

#include <cstdio>

#include <torch/torch.h>

#include "gtest/gtest.h"
#include "worker/kernels/flash_relative/flash_relative.h"
#include "worker/kernels/gpu_required.h"
#include "worker/kernels/relative_logits/relative_logits.h"
#include "worker/music/model/attention.h"
#include "worker/music/model/music_transformer.h"

namespace expsvc::music {
namespace {

// Torch's own view of CUDA; EXPSVC_REQUIRE_GPU=1 turns the skip into a
// failure, as in the kernels' gpu tests.
#define SKIP_WITHOUT_CUDA()                                                                              \
  if (!torch::cuda::is_available()) {                                                                    \
    if (kernels::GpuRequired()) FAIL() << "EXPSVC_REQUIRE_GPU=1 but this LibTorch sees no CUDA device"; \
    GTEST_SKIP() << "no CUDA device (or this LibTorch has no CUDA)";                                     \
  }

// Every kind, through the fused kernel (its CUDA pass, where the build has
// it), the generic tensor-op path and the flash kernel (where built),
// against the CPU's fused pass; chunks of 16 query rows, so the 40 rows span
// three chunk tables.
TEST(MusicModelsGpu, EveryKindMatchesCpuFusedAndGeneric) {
  SKIP_WITHOUT_CUDA();
  const torch::Device cuda(torch::kCUDA);
#ifdef EXPSVC_RELATIVE_LOGITS_CUDA
  ASSERT_TRUE(kernels::RelativeLogitsRunsOn(cuda, torch::kFloat64));
#else
  std::printf("this build has no CUDA pass of the fused kernel: both paths below are the generic one\n");
#endif
  const bool flash_on_cuda = kernels::FlashRelativeRunsOn(cuda, torch::kFloat64, 8);
#ifdef EXPSVC_FLASH_RELATIVE_CUDA
  ASSERT_TRUE(flash_on_cuda);
#else
  std::printf("this build has no CUDA pass of the flash kernel: its path is left out\n");
#endif
  for (AttentionKind kind : AllAttentionKinds()) {
    // fused, generic, flash
    for (int path = 0; path < 3; ++path) {
      if (path == 2 && !flash_on_cuda) continue;
      const bool fused = path == 0;
      SCOPED_TRACE(AttentionKindName(kind) + (path == 0 ? " fused" : (path == 1 ? " generic" : " flash")));
      torch::manual_seed(1);
      RelativeAttention cpu(RelativeAttentionOptions(32, 4).kind(kind).max_len(64).query_chunk(16));
      cpu->to(torch::kDouble);
      const int64_t B = 2, L = 40;
      const torch::Tensor x = torch::randn({B, L, 32}, torch::kDouble);
      const torch::Tensor times =
          std::get<0>(torch::sort(torch::randint(0, 16 * kPositionsPerBar, {B, L}, torch::kLong), 1));
      const torch::Tensor pitches = torch::randint(0, kNumPitches, {B, L}, torch::kLong);
      const torch::Tensor has_pitch = torch::rand({B, L}) > 0.2;
      const torch::Tensor padding = torch::rand({B, L}) < 0.1;

      const torch::Tensor x_cpu = x.clone().requires_grad_(true);
      const torch::Tensor out_cpu = cpu->forward(x_cpu, times, pitches, has_pitch, padding);
      out_cpu.sum().backward();

      RelativeAttention gpu(
          RelativeAttentionOptions(32, 4).kind(kind).max_len(64).query_chunk(16).fused_kernel(fused).flash_kernel(
              path == 2));
      gpu->to(torch::kDouble);
      {
        torch::NoGradGuard copying;
        for (size_t n = 0; n < cpu->parameters().size(); ++n) gpu->parameters()[n].copy_(cpu->parameters()[n]);
      }
      gpu->to(cuda);
      const torch::Tensor x_gpu = x.to(cuda).requires_grad_(true);
      const torch::Tensor out_gpu =
          gpu->forward(x_gpu, times.to(cuda), pitches.to(cuda), has_pitch.to(cuda), padding.to(cuda));
      out_gpu.sum().backward();
      EXPECT_LE((out_gpu.cpu() - out_cpu).abs().max().item<double>(), 1e-9);
      EXPECT_LE((x_gpu.grad().cpu() - x_cpu.grad()).abs().max().item<double>(), 1e-9);
      for (size_t n = 0; n < cpu->parameters().size(); ++n) {
        EXPECT_LE((gpu->parameters()[n].grad().cpu() - cpu->parameters()[n].grad()).abs().max().item<double>(),
                  1e-9)
            << n;
      }
    }
  }
}

TEST(MusicModelsGpu, TransformerTrainsOnCuda) {
  SKIP_WITHOUT_CUDA();
  const torch::Device cuda(torch::kCUDA);
  torch::manual_seed(2);
  MusicTransformer model(MusicTransformerOptions()
                             .representation(Representation::kEventBased)
                             .d_model(64)
                             .n_layers(2)
                             .n_heads(4)
                             .d_ff(128)
                             .dropout(0.0)
                             .attention(AttentionKind::kCirRelAttnH));
  model->to(cuda);
  MusicBatch batch;
  batch.tokens = torch::randint(0, 224, {2, 32, 1}, torch::kLong);
  batch.times = std::get<0>(torch::sort(torch::randint(0, 768, {2, 32}, torch::kLong), 1));
  batch.pitches = torch::randint(0, 128, {2, 32}, torch::kLong);
  batch.has_pitch = torch::rand({2, 32}) > 0.3;
  batch = batch.To(cuda);
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(1e-2));
  double first = 0, last = 0;
  for (int step = 0; step < 40; ++step) {
    auto loss = model->Loss(batch);
    ASSERT_TRUE(loss.ok()) << loss.status();
    if (step == 0) first = loss->total.item<double>();
    last = loss->total.item<double>();
    optimizer.zero_grad();
    loss->total.backward();
    optimizer.step();
  }
  EXPECT_LT(last, 0.5 * first);
}

}  // namespace
}  // namespace expsvc::music
