// Study 2 Llama forward pass on this CPU, as the SAE activation harvest
// uses it: windows of 65 tokens (BOS + 64), float32, no gradients.
//
//   lm_bench [--quick] [--threads=N]   (threads default: all cores; on a
//                                        loaded shared machine 1 is steadier)
//
// Measures, with a baseline from the same run:
//  1. activations only (residual after every block, no final norm / LM head)
//     vs the full forward with logits: tokens/s and the speed-up of skipping
//     the head;
//  2. every layer's residual from one pass vs one pass per layer (each
//     stopping after its layer), as a harvest per layer would do.
// Checks first that activations-only residuals equal the full forward's
// (exit 1 otherwise). Last line: key=value pairs.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <torch/torch.h>

#include "bench/bench_timing.h"
#include "worker/lm/model/llama_model.h"
#include "worker/runtime/heap_policy.h"

namespace {

using expsvc::bench::Median;
using expsvc::bench::Seconds;

using expsvc::lm::LlamaConfig;
using expsvc::lm::LlamaForwardOptions;
using expsvc::lm::LlamaModel;

constexpr int64_t kWindow = 65;
constexpr int64_t kBatch = 16;

LlamaConfig BenchConfig() {
  LlamaConfig config;
  config.vocab_size = 8000;
  config.hidden_size = 256;
  config.intermediate_size = 688;  // ≈ 8/3 · hidden, as Llama sizes its SwiGLU
  config.num_hidden_layers = 6;
  config.num_attention_heads = 8;
  config.num_key_value_heads = 8;
  config.rms_norm_eps = 1e-5;
  config.rope_theta = 10000.0;
  config.max_position_embeddings = 128;
  return config;
}

void RunOrDie(LlamaModel& model, const torch::Tensor& tokens, const LlamaForwardOptions& options) {
  absl::StatusOr<expsvc::lm::LlamaForwardOutput> output = model->Forward(tokens, options);
  if (!output.ok()) {
    std::fprintf(stderr, "forward failed: %s\n", output.status().ToString().c_str());
    std::exit(1);
  }
}

std::string Format(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.4g", value);
  return buffer;
}

}  // namespace

int main(int argc, char** argv) {
  // The worker's allocator policy, so the times are the ones its jobs see.
  const bool heap_policy = expsvc::worker::KeepLargeAllocationsInHeap();
  std::printf("allocator: %s\n", expsvc::worker::HeapPolicyDescription(heap_policy));
  bool quick = false;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strncmp(argv[i], "--threads=", 10) == 0 && std::atoi(argv[i] + 10) > 0) {
      threads = std::atoi(argv[i] + 10);
    } else {
      std::fprintf(stderr, "usage: lm_bench [--quick] [--threads=N]\n");
      return 2;
    }
  }
  const int repetitions = quick ? 2 : 5;
  torch::set_num_threads(threads);
  const LlamaConfig config = BenchConfig();
  const int64_t layers = config.num_hidden_layers;
  std::vector<int64_t> all_layers(layers);
  for (int64_t i = 0; i < layers; ++i) all_layers[i] = i;

  torch::manual_seed(1);
  LlamaModel model(config);
  model->eval();
  const torch::Tensor tokens = torch::randint(config.vocab_size, {kBatch, kWindow}, torch::kLong);
  const double tokens_per_batch = static_cast<double>(kBatch * kWindow);
  c10::InferenceMode inference;

  std::printf(
      "lm_bench: torch threads=%d, Llama %ld layers, hidden %ld, %ld heads, FFN %ld, vocab %ld, "
      "batch %ld windows x %ld tokens, float32, CPU\n",
      torch::get_num_threads(), layers, config.hidden_size, config.num_attention_heads, config.intermediate_size,
      config.vocab_size, kBatch, kWindow);

  // Validation: the cheap paths must return exactly what the full pass does.
  {
    const torch::Tensor few = tokens.slice(0, 0, 4);
    const auto full = *model->Forward(few, {.residual_layers = all_layers});
    const auto activations = *model->Forward(few, {.residual_layers = all_layers, .compute_logits = false});
    bool same = true;
    for (int64_t layer = 0; layer < layers; ++layer) {
      const auto stopped =
          *model->Forward(few, {.residual_layers = {layer}, .compute_logits = false, .stop_after_deepest_layer = true});
      same = same && torch::equal(activations.residuals.at(layer), full.residuals.at(layer)) &&
             torch::equal(stopped.residuals.at(layer), full.residuals.at(layer));
    }
    std::printf("validate activations-only and stop-after-layer residuals == full forward's: %s\n",
                same ? "ok" : "MISMATCH");
    if (!same) return 1;
  }

  const LlamaForwardOptions activations_only{.residual_layers = all_layers, .compute_logits = false};
  const LlamaForwardOptions with_head{.residual_layers = all_layers, .compute_logits = true};
  RunOrDie(model, tokens, activations_only);  // warm-up
  RunOrDie(model, tokens, with_head);

  // Round-robin repetitions so machine noise hits every variant alike.
  std::vector<double> acts_s, head_s, per_layer_s;
  std::vector<std::vector<double>> single_layer_s(layers);
  for (int rep = 0; rep < repetitions; ++rep) {
    acts_s.push_back(Seconds([&] { RunOrDie(model, tokens, activations_only); }));
    head_s.push_back(Seconds([&] { RunOrDie(model, tokens, with_head); }));
    double total = 0;
    for (int64_t layer = 0; layer < layers; ++layer) {
      const double seconds = Seconds([&] {
        RunOrDie(model, tokens,
                 {.residual_layers = {layer}, .compute_logits = false, .stop_after_deepest_layer = true});
      });
      single_layer_s[layer].push_back(seconds);
      total += seconds;
    }
    per_layer_s.push_back(total);
  }

  const double acts = Median(acts_s);
  const double head = Median(head_s);
  const double per_layer = Median(per_layer_s);
  const double acts_tps = tokens_per_batch / acts;
  const double head_tps = tokens_per_batch / head;
  std::printf("\nmedian of %d round-robin repetitions, %.0f tokens per batch\n", repetitions, tokens_per_batch);
  std::printf("%-58s %10s %12s %8s\n", "forward pass", "s/batch", "tokens/s", "ratio");
  std::printf("%-58s %10.4f %12.0f %8.2f\n", "with final norm + LM head (baseline)", head, head_tps, 1.0);
  std::printf("%-58s %10.4f %12.0f %8.2f\n", "activations only (no final norm, no LM head)", acts, acts_tps,
              head / acts);
  std::printf("\n%-58s %10s %8s %8s\n", "residuals of all layers", "s/batch", "passes", "ratio");
  std::printf("%-58s %10.4f %8ld %8.2f\n", "one pass per layer, each stopping at its layer (baseline)", per_layer,
              layers, 1.0);
  std::printf("%-58s %10.4f %8d %8.2f\n", "one pass returning every layer", acts, 1, per_layer / acts);
  std::printf("\nper-layer pass times (s):");
  for (int64_t layer = 0; layer < layers; ++layer) std::printf(" L%ld=%.4f", layer, Median(single_layer_s[layer]));
  std::printf("\n\n");

  std::printf(
      "acts_tokens_per_s=%s head_tokens_per_s=%s head_speedup=%s all_layers_one_pass_s=%s "
      "per_layer_passes_s=%s one_pass_speedup=%s passes_one=1 passes_per_layer=%ld\n",
      Format(acts_tps).c_str(), Format(head_tps).c_str(), Format(head / acts).c_str(), Format(acts).c_str(),
      Format(per_layer).c_str(), Format(per_layer / acts).c_str(), layers);
  return 0;
}
