// Study 1's attention variants on a CUDA GPU: forward+backward of one layer
// at L = 1024 and 2048 (through the fused relative-logits kernel where the
// build has its CUDA pass, and through the generic tensor-op path), as
// ratios to Attn measured in the same run, and the forward, loss and
// backward of the 4-layer event-based model at its default size (ms per
// token).
//
//   attention_gpu_bench [--quick]
//
// Validates first: every kind on the GPU (fused where built, and generic) against the CPU
// in float64 at a small size (exit 1 on mismatch). Without a CUDA device it
// says so and exits 0. Last line: key=value pairs.

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "bench/attention_bench_inputs.h"
#include "bench/bench_timing.h"
#include "worker/kernels/relative_logits/relative_logits.h"
#include "worker/music/model/attention.h"
#include "worker/music/model/music_transformer.h"

namespace {

using expsvc::bench::Fastest;
using expsvc::music::AllAttentionKinds;
using expsvc::music::AttentionKind;
using expsvc::music::AttentionKindName;
using expsvc::music::RelativeAttention;
using expsvc::music::RelativeAttentionOptions;

using expsvc::bench::ClearGrads;
using Inputs = expsvc::bench::AttentionInputs;

constexpr int64_t kModelDim = expsvc::bench::kAttentionModelDim;
constexpr int64_t kHeads = expsvc::bench::kAttentionHeads;

std::string Key(AttentionKind kind) {
  return expsvc::bench::AttentionKey(kind);
}

Inputs MakeInputs(int64_t batch, int64_t length, torch::Dtype dtype, const torch::Device& device, int64_t seed) {
  return expsvc::bench::MakeAttentionInputs(batch, length, dtype, device, seed);
}

double GpuMs(const std::function<void()>& run) {
  torch::cuda::synchronize();
  const double seconds = expsvc::bench::Seconds([&] {
    run();
    torch::cuda::synchronize();
  });
  return seconds * 1e3;
}

// Output and ∂x of every kind on the GPU, fused and generic, against the CPU
// (its fused pass) in float64.
bool Validate(const torch::Device& cuda, bool fused_on_cuda) {
  bool ok = true;
  const Inputs cpu_in = MakeInputs(2, 40, torch::kFloat64, torch::kCPU, 1);
  for (AttentionKind kind : AllAttentionKinds()) {
    for (bool fused : {true, false}) {
      if (fused && !fused_on_cuda) continue;  // it would run the generic path under the "fused" label
      torch::manual_seed(1);
      RelativeAttention cpu(RelativeAttentionOptions(32, 4).kind(kind).max_len(64).query_chunk(16));
      cpu->to(torch::kFloat64);
      RelativeAttention gpu(RelativeAttentionOptions(32, 4).kind(kind).max_len(64).query_chunk(16).fused_kernel(fused));
      gpu->to(torch::kFloat64);
      {
        torch::NoGradGuard copying;
        for (size_t n = 0; n < cpu->parameters().size(); ++n) gpu->parameters()[n].copy_(cpu->parameters()[n]);
      }
      gpu->to(cuda);
      const torch::Tensor x_cpu = cpu_in.x.narrow(2, 0, 32).clone().requires_grad_(true);
      const torch::Tensor out_cpu = cpu->forward(x_cpu, cpu_in.times, cpu_in.pitches, cpu_in.has_pitch);
      out_cpu.sum().backward();
      const torch::Tensor x_gpu = x_cpu.detach().to(cuda).requires_grad_(true);
      const torch::Tensor out_gpu =
          gpu->forward(x_gpu, cpu_in.times.to(cuda), cpu_in.pitches.to(cuda), cpu_in.has_pitch.to(cuda));
      out_gpu.sum().backward();
      const double out_error = (out_gpu.cpu() - out_cpu).abs().max().item<double>();
      const double grad_error = (x_gpu.grad().cpu() - x_cpu.grad()).abs().max().item<double>();
      const bool good = out_error < 1e-9 && grad_error < 1e-9;
      std::printf("validate %-13s %-7s GPU vs CPU (float64, B=2 L=40): max|Δout|=%.2e max|Δgrad_x|=%.2e %s\n",
                  AttentionKindName(kind).c_str(), fused ? "fused" : "generic", out_error, grad_error,
                  good ? "ok" : "MISMATCH");
      ok = ok && good;
    }
  }
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  if (!torch::cuda::is_available()) {
    std::printf("attention_gpu_bench: no CUDA device (or this LibTorch has no CUDA): nothing to time\n");
    return 0;
  }
  const torch::Device cuda(torch::kCUDA);
  const bool fused_on_cuda = expsvc::kernels::RelativeLogitsRunsOn(cuda, torch::kFloat32);
  std::printf("attention_gpu_bench: B=1 D=%ld H=%ld (D_h=%ld), 16-bar windows, float32; fused kernel on CUDA: %s\n",
              static_cast<long>(kModelDim), static_cast<long>(kHeads), static_cast<long>(kModelDim / kHeads),
              fused_on_cuda ? "yes" : "no (generic path only)");
  if (!Validate(cuda, fused_on_cuda)) {
    std::printf("validation failed\n");
    return 1;
  }
  const int reps = quick ? 5 : 20;
  std::map<std::string, double> summary;
  const std::vector<AttentionKind> kinds = AllAttentionKinds();

  // ---- one layer, forward + backward ----
  for (int64_t L : {1024, 2048}) {
    const Inputs in = MakeInputs(1, L, torch::kFloat32, cuda, 100 + L);
    for (bool fused : {true, false}) {
      if (fused && !fused_on_cuda) continue;
      std::vector<RelativeAttention> layers;
      std::vector<expsvc::music::RelativeLayout> layouts;
      for (AttentionKind kind : kinds) {
        torch::manual_seed(1);
        layers.emplace_back(RelativeAttentionOptions(kModelDim, kHeads).kind(kind).fused_kernel(fused));
        layers.back()->to(cuda);
        layouts.push_back(layers.back()->MakeLayout(in.times, in.pitches, in.has_pitch));
      }
      const auto step = [&](size_t k) {
        const torch::Tensor x = in.x.detach().requires_grad_(true);
        layers[k]->forward(x, layouts[k]).backward(in.grad_output);
        ClearGrads(*layers[k]);
      };
      for (size_t k = 0; k < kinds.size(); ++k) step(k);  // warm-up
      std::vector<std::vector<double>> samples(kinds.size());
      for (int r = 0; r < reps; ++r) {
        for (size_t k = 0; k < kinds.size(); ++k) samples[k].push_back(GpuMs([&] { step(k); }));
      }
      const double attn_ms = Fastest(samples[0]);
      for (size_t k = 0; k < kinds.size(); ++k) {
        const double ms = Fastest(samples[k]);
        std::printf("layer  L=%-5ld %-13s %-7s fwd+bwd best of %d %8.3f ms  ratio to Attn %.2f\n", static_cast<long>(L),
                    AttentionKindName(kinds[k]).c_str(), fused ? "fused" : "generic", reps, ms, ms / attn_ms);
        const std::string suffix = std::string(fused ? "" : "_generic") + "_" + std::to_string(L);
        summary["gpu_layer_ms_" + Key(kinds[k]) + suffix] = ms;
        summary["gpu_layer_ratio_" + Key(kinds[k]) + suffix] = ms / attn_ms;
      }
    }
  }

  // ---- the 4-layer event-based model at its default size, loss + backward ----
  for (int64_t L : {1024, 1536}) {
    const int64_t batch_size = 8;
    const Inputs in = MakeInputs(batch_size, L, torch::kFloat32, cuda, 200 + L);
    expsvc::music::MusicBatch batch;
    batch.tokens = torch::randint(0, 224, {batch_size, L, 1}, torch::kLong).to(cuda);
    batch.times = in.times;
    batch.pitches = in.pitches;
    batch.has_pitch = in.has_pitch;
    std::vector<double> best(kinds.size());
    for (size_t k = 0; k < kinds.size(); ++k) {
      torch::manual_seed(1);
      expsvc::music::MusicTransformer model(expsvc::music::MusicTransformerOptions()
                                                .representation(expsvc::music::Representation::kEventBased)
                                                .attention(kinds[k])
                                                .max_len(L));
      model->to(cuda);
      const auto step = [&] {
        auto loss = model->Loss(batch);
        if (!loss.ok()) {
          std::fprintf(stderr, "%s\n", loss.status().ToString().c_str());
          std::exit(1);
        }
        loss->total.backward();
        ClearGrads(*model);
      };
      step();
      std::vector<double> samples;
      for (int r = 0; r < (quick ? 3 : 10); ++r) samples.push_back(GpuMs(step));
      best[k] = Fastest(samples);
    }
    for (size_t k = 0; k < kinds.size(); ++k) {
      const double per_token = best[k] / static_cast<double>(batch_size * L);
      std::printf("model  L=%-5ld %-13s B=%ld fwd+bwd %8.2f ms (%.4f ms/token)  ratio to Attn %.2f\n",
                  static_cast<long>(L), AttentionKindName(kinds[k]).c_str(), static_cast<long>(batch_size), best[k],
                  per_token, best[k] / best[0]);
      summary["gpu_model_ms_per_token_" + Key(kinds[k]) + "_" + std::to_string(L)] = per_token;
      summary["gpu_model_ratio_" + Key(kinds[k]) + "_" + std::to_string(L)] = best[k] / best[0];
    }
  }

  std::string line;
  for (const auto& [key, value] : summary) line += key + "=" + std::to_string(value) + " ";
  std::printf("%s\n", line.c_str());
  return 0;
}
