// Study 1's attention variants on a CUDA GPU: forward+backward of one layer
// at L = 1024 and 2048 on three paths (the fused relative-logits kernel and
// the flash relative-attention kernel where the build has their CUDA
// passes, and the generic tensor-op path), as ratios to Attn on the same
// path measured in the same run (flash also against the fused path's Attn),
// and the forward, loss and backward of the 4-layer event-based model at
// its default size (ms per token), fused and flash.
//
//   attention_gpu_bench [--quick]
//
// Validates first: every kind on the GPU on every path it has against the
// CPU's fused path in float64 at a small size (exit 1 on mismatch). Without a CUDA device it
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
#include "worker/kernels/flash_relative/flash_relative.h"
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

// The attention paths timed: the fused relative-logits kernel, the generic
// tensor ops, the flash kernel.
enum class Path { kFused, kGeneric, kFlash };
constexpr Path kPaths[] = {Path::kFused, Path::kGeneric, Path::kFlash};

const char* PathName(Path path) {
  switch (path) {
    case Path::kFused: return "fused";
    case Path::kGeneric: return "generic";
    case Path::kFlash: return "flash";
  }
  return "";
}

// The summary keys' suffix ("" for the fused path, as the CPU bench's keys).
std::string PathSuffix(Path path) {
  return path == Path::kFused ? "" : std::string("_") + PathName(path);
}

RelativeAttentionOptions WithPath(RelativeAttentionOptions options, Path path) {
  return options.fused_kernel(path == Path::kFused).flash_kernel(path == Path::kFlash);
}

// Whether `path` has a CUDA pass in this build (otherwise its label would
// time another path).
bool PathOnCuda(Path path, const torch::Device& cuda, int64_t head_dim) {
  switch (path) {
    case Path::kFused: return expsvc::kernels::RelativeLogitsRunsOn(cuda, torch::kFloat32);
    case Path::kGeneric: return true;
    case Path::kFlash: return expsvc::kernels::FlashRelativeRunsOn(cuda, torch::kFloat32, head_dim);
  }
  return false;
}

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

// Output and ∂x of every kind on the GPU, on each path it has, against the
// CPU (its fused pass) in float64.
bool Validate(const torch::Device& cuda) {
  bool ok = true;
  const Inputs cpu_in = MakeInputs(2, 40, torch::kFloat64, torch::kCPU, 1);
  for (AttentionKind kind : AllAttentionKinds()) {
    for (Path path : kPaths) {
      if (!PathOnCuda(path, cuda, 8)) continue;
      torch::manual_seed(1);
      RelativeAttention cpu(RelativeAttentionOptions(32, 4).kind(kind).max_len(64).query_chunk(16));
      cpu->to(torch::kFloat64);
      RelativeAttention gpu(WithPath(RelativeAttentionOptions(32, 4).kind(kind).max_len(64).query_chunk(16), path));
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
                  AttentionKindName(kind).c_str(), PathName(path), out_error, grad_error, good ? "ok" : "MISMATCH");
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
  const int64_t head_dim = kModelDim / kHeads;
  std::printf(
      "attention_gpu_bench: B=1 D=%ld H=%ld (D_h=%ld), 16-bar windows, float32; on CUDA: fused kernel %s, "
      "flash kernel %s\n",
      static_cast<long>(kModelDim), static_cast<long>(kHeads), static_cast<long>(head_dim),
      PathOnCuda(Path::kFused, cuda, head_dim) ? "yes" : "no", PathOnCuda(Path::kFlash, cuda, head_dim) ? "yes" : "no");
  if (!Validate(cuda)) {
    std::printf("validation failed\n");
    return 1;
  }
  const int reps = quick ? 5 : 20;
  std::map<std::string, double> summary;
  const std::vector<AttentionKind> kinds = AllAttentionKinds();

  // ---- one layer, forward + backward ----
  for (int64_t L : {1024, 2048}) {
    const Inputs in = MakeInputs(1, L, torch::kFloat32, cuda, 100 + L);
    double fused_attn_ms = 0;
    for (Path path : kPaths) {
      if (!PathOnCuda(path, cuda, head_dim)) continue;
      std::vector<RelativeAttention> layers;
      std::vector<expsvc::music::RelativeLayout> layouts;
      for (AttentionKind kind : kinds) {
        torch::manual_seed(1);
        layers.emplace_back(WithPath(RelativeAttentionOptions(kModelDim, kHeads).kind(kind), path));
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
      if (path == Path::kFused) fused_attn_ms = attn_ms;
      for (size_t k = 0; k < kinds.size(); ++k) {
        const double ms = Fastest(samples[k]);
        std::printf("layer  L=%-5ld %-13s %-7s fwd+bwd best of %d %8.3f ms  ratio to Attn %.2f\n", static_cast<long>(L),
                    AttentionKindName(kinds[k]).c_str(), PathName(path), reps, ms, ms / attn_ms);
        const std::string suffix = PathSuffix(path) + "_" + std::to_string(L);
        summary["gpu_layer_ms_" + Key(kinds[k]) + suffix] = ms;
        summary["gpu_layer_ratio_" + Key(kinds[k]) + suffix] = ms / attn_ms;
        // Flash against Attn's usual (fused, materialised) path.
        if (path == Path::kFlash && fused_attn_ms > 0) {
          summary["gpu_layer_ratio_" + Key(kinds[k]) + "_flash_vs_fused_attn_" + std::to_string(L)] =
              ms / fused_attn_ms;
        }
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
    for (Path path : {Path::kFused, Path::kFlash}) {
      if (!PathOnCuda(path, cuda, head_dim)) continue;
      std::vector<double> best(kinds.size());
      for (size_t k = 0; k < kinds.size(); ++k) {
        torch::manual_seed(1);
        expsvc::music::MusicTransformer model(expsvc::music::MusicTransformerOptions()
                                                  .representation(expsvc::music::Representation::kEventBased)
                                                  .attention(kinds[k])
                                                  .max_len(L)
                                                  .fused_kernel(path == Path::kFused)
                                                  .flash_kernel(path == Path::kFlash));
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
        std::printf("model  L=%-5ld %-13s %-5s B=%ld fwd+bwd %8.2f ms (%.4f ms/token)  ratio to Attn %.2f\n",
                    static_cast<long>(L), AttentionKindName(kinds[k]).c_str(), PathName(path),
                    static_cast<long>(batch_size), best[k], per_token, best[k] / best[0]);
        const std::string suffix = PathSuffix(path) + "_" + std::to_string(L);
        summary["gpu_model_ms_per_token_" + Key(kinds[k]) + suffix] = per_token;
        summary["gpu_model_ratio_" + Key(kinds[k]) + suffix] = best[k] / best[0];
      }
    }
  }

  std::string line;
  for (const auto& [key, value] : summary) line += key + "=" + std::to_string(value) + " ";
  std::printf("%s\n", line.c_str());
  return 0;
}
