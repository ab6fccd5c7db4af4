// The five event-based attention variants of Study 1, each trained for the
// same wall time on a tokenised POP909 sample (bench/music_race_windows.h,
// written by music_race_export) and scored on its test windows: test loss
// per variant, the nearest a short GPU session gets to the paper's
// event-based table. Windows are whole (max_len is the longest one).
//
//   music_race --windows=FILE [--seconds=55 | --steps=N] [--device=auto|cpu|cuda]
//              [--d_model=256] [--n_layers=4] [--n_heads=8] [--d_ff=1536]
//              [--batch=8] [--lr=0.0003] [--warmup=100] [--dropout=0.1]
//              [--flash=0] [--seed=1]
//
// The defaults are music-attention.yaml's model (d_model 256, 4 layers, 8
// heads, d_ff 1536) and its optimiser (Adam, linear warm-up, gradient norm
// clipped at 1.0; constant after warm-up, since the budget is time, not
// steps). --steps=N gives every variant N steps instead of the same time.
// --flash=1 trains through the flash relative-attention kernel.
// Last line: key=value pairs.

#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "bench/attention_bench_inputs.h"
#include "bench/bench_flags.h"
#include "bench/music_race_windows.h"
#include "common/splitmix64.h"
#include "worker/kernels/flash_relative/flash_relative.h"
#include "worker/music/model/collate_sequences.h"
#include "worker/music/model/music_transformer.h"
#include "worker/music/model/sequence_loss.h"
#include "worker/runtime/heap_policy.h"

namespace {

using expsvc::bench::DoubleFlag;
using expsvc::bench::Flag;
using expsvc::bench::StringFlag;
using expsvc::music::AttentionKind;
using expsvc::music::TokenSequence;

struct RaceResult {
  int64_t steps = 0;
  double seconds = 0;
  double train_loss = 0;  // mean of the last 50 steps
  double test_loss = 0;   // over every test window, weighted by predicted tokens
  int64_t tokens_seen = 0;
};

int Fail(const std::string& message) {
  std::fprintf(stderr, "music_race: %s\n", message.c_str());
  return 1;
}

}  // namespace

int Race(int argc, char** argv);

int main(int argc, char** argv) {
  // Torch reports errors (out of memory, a failed launch) as exceptions.
  try {
    return Race(argc, argv);
  } catch (const std::exception& e) {
    return Fail(e.what());
  }
}

int Race(int argc, char** argv) {
  // As the worker runs its jobs (large tensors stay in the heap).
  const bool heap_policy = expsvc::worker::KeepLargeAllocationsInHeap();
  const std::string path = StringFlag(argc, argv, "windows", "");
  if (path.empty()) return Fail("--windows=FILE is required (write it with music_race_export)");
  const absl::StatusOr<expsvc::bench::RaceWindows> windows = expsvc::bench::ReadRaceWindows(path);
  if (!windows.ok()) return Fail(windows.status().ToString());
  if (windows->fields_per_token != 1) return Fail("the race trains event-based windows (1 field per token)");

  const std::string device_name = StringFlag(argc, argv, "device", "auto");
  if (device_name != "auto" && device_name != "cpu" && device_name != "cuda") {
    return Fail("--device must be auto, cpu or cuda, got " + device_name);
  }
  if (device_name == "cuda" && !torch::cuda::is_available()) return Fail("--device=cuda but CUDA is not available");
  const torch::Device device =
      (device_name == "cuda" || (device_name == "auto" && torch::cuda::is_available())) ? torch::kCUDA : torch::kCPU;
  const double seconds = DoubleFlag(argc, argv, "seconds", 55);
  const int64_t step_budget = Flag(argc, argv, "steps", 0);
  const int64_t batch_size = Flag(argc, argv, "batch", 8);
  const double peak_lr = DoubleFlag(argc, argv, "lr", 3e-4);
  const int64_t warmup = Flag(argc, argv, "warmup", 100);
  const uint64_t seed = static_cast<uint64_t>(Flag(argc, argv, "seed", 1));
  const bool flash = Flag(argc, argv, "flash", 0) != 0;
  if (seconds <= 0 || batch_size < 1 || peak_lr <= 0 || warmup < 0 || step_budget < 0) {
    return Fail("--seconds, --batch and --lr must be positive and --warmup and --steps not negative");
  }
  int64_t longest = 0;
  for (const auto* split : {&windows->train, &windows->test}) {
    for (const TokenSequence& w : *split) longest = std::max<int64_t>(longest, static_cast<int64_t>(w.length()));
  }
  expsvc::music::MusicTransformerOptions base;
  base.representation(expsvc::music::Representation::kEventBased)
      .d_model(Flag(argc, argv, "d_model", 256))
      .n_layers(Flag(argc, argv, "n_layers", 4))
      .n_heads(Flag(argc, argv, "n_heads", 8))
      .d_ff(Flag(argc, argv, "d_ff", 1536))
      .dropout(DoubleFlag(argc, argv, "dropout", 0.1))
      .max_len(longest)
      .flash_kernel(flash);
  if (base.d_model() < 1 || base.n_heads() < 1 || base.n_layers() < 1 || base.d_ff() < 1) {
    return Fail("--d_model, --n_heads, --n_layers and --d_ff must be positive");
  }
  if (base.d_model() % base.n_heads() != 0) return Fail("--n_heads must divide --d_model");
  if (flash && !expsvc::kernels::FlashRelativeRunsOn(device, torch::kFloat32, base.d_model() / base.n_heads())) {
    return Fail("--flash=1: the flash kernel has no pass for " + device.str() + " with head size " +
                std::to_string(base.d_model() / base.n_heads()) + " in this build");
  }
  std::printf("music_race: %s\n", windows->description.c_str());
  std::printf(
      "music_race: %s per variant on %s, d_model %ld, %ld layers, %ld heads, d_ff %ld, batch %ld, "
      "max_len %ld, %s path\n",
      (step_budget > 0 ? std::to_string(step_budget) + " steps" : std::to_string(seconds) + " s").c_str(),
      device.str().c_str(), static_cast<long>(base.d_model()), static_cast<long>(base.n_layers()),
      static_cast<long>(base.n_heads()), static_cast<long>(base.d_ff()), static_cast<long>(batch_size),
      static_cast<long>(longest), flash ? "flash" : "fused");
  std::printf("allocator: %s\n", expsvc::worker::HeapPolicyDescription(heap_policy));

  std::map<std::string, double> summary;
  for (AttentionKind kind : expsvc::music::AllAttentionKinds()) {
    torch::manual_seed(seed);
    expsvc::music::MusicTransformerOptions options = base;
    options.attention(kind);
    expsvc::music::MusicTransformer model(options);
    model->to(device);
    model->train();
    torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(peak_lr));
    expsvc::SplitMix64 rng(seed);
    RaceResult result;
    std::vector<double> recent;
    // One untimed step on a copy of the model first, so that the variant
    // that runs first does not pay the library's start-up (cuBLAS handles,
    // lazily loaded kernels) out of its budget.
    {
      expsvc::music::MusicTransformer warm_up(options);
      warm_up->to(device);
      const std::vector<TokenSequence> first(
          windows->train.begin(),
          windows->train.begin() + std::min<size_t>(windows->train.size(), static_cast<size_t>(batch_size)));
      absl::StatusOr<expsvc::music::NextTokenLoss> loss =
          warm_up->Loss(expsvc::music::CollateSequences(first, longest, device));
      if (!loss.ok()) return Fail(loss.status().ToString());
      loss->total.backward();
    }
    const auto start = std::chrono::steady_clock::now();
    const auto elapsed = [&] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    while (step_budget > 0 ? result.steps < step_budget : elapsed() < seconds) {
      const double lr = peak_lr * std::min(1.0, static_cast<double>(result.steps + 1) / std::max<int64_t>(1, warmup));
      for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
      std::vector<TokenSequence> picked;
      for (int64_t b = 0; b < batch_size; ++b) {
        picked.push_back(windows->train[rng.UniformBelow(windows->train.size())]);
        result.tokens_seen += static_cast<int64_t>(picked.back().length());
      }
      const expsvc::music::MusicBatch batch = expsvc::music::CollateSequences(picked, longest, device);
      absl::StatusOr<expsvc::music::NextTokenLoss> loss = model->Loss(batch);
      if (!loss.ok()) return Fail(loss.status().ToString());
      optimizer.zero_grad();
      loss->total.backward();
      torch::nn::utils::clip_grad_norm_(model->parameters(), 1.0);
      optimizer.step();
      recent.push_back(loss->total.item<double>());  // also waits for the GPU
      if (recent.size() > 50) recent.erase(recent.begin());
      ++result.steps;
    }
    result.seconds = elapsed();
    for (double value : recent) result.train_loss += value / static_cast<double>(recent.size());
    const absl::StatusOr<double> test = expsvc::music::MeanSequenceLoss(
        model, windows->test.size(), [&](size_t i) { return windows->test[i]; }, batch_size, longest, device);
    if (!test.ok()) return Fail(test.status().ToString());
    if (std::isnan(*test)) return Fail("no test window has a token to predict");
    result.test_loss = *test;
    std::printf("%-13s steps %6ld  %7.1f ms/step  %8.0f tokens/s  train loss %.4f  test loss %.4f\n",
                expsvc::music::AttentionKindName(kind).c_str(), static_cast<long>(result.steps),
                1e3 * result.seconds / static_cast<double>(result.steps),
                static_cast<double>(result.tokens_seen) / result.seconds, result.train_loss, result.test_loss);
    std::fflush(stdout);
    const std::string key = expsvc::bench::AttentionKey(kind);
    summary["race_steps_" + key] = static_cast<double>(result.steps);
    summary["race_test_loss_" + key] = result.test_loss;
    summary["race_train_loss_" + key] = result.train_loss;
  }
  if (step_budget > 0) {
    summary["race_steps_per_variant"] = static_cast<double>(step_budget);
  } else {
    summary["race_seconds_per_variant"] = seconds;
  }
  std::string line;
  for (const auto& [key, value] : summary) line += key + "=" + std::to_string(value) + " ";
  std::printf("%s\n", line.c_str());
  return 0;
}
