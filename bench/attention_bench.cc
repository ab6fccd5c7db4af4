// Study 1 attention variants on this CPU: forward+backward time of one
// attention layer and of the 4-layer model, as ratios to Attn measured in the
// same run, and the memory the relative terms take at two lengths. Times
// are the fastest of several round-robin runs (see bench_timing.h), with the
// worker's allocator policy (worker/runtime/heap_policy.h).
//
//   attention_bench [--quick]
//
// First validates every variant against the naive O(L²·D_h) reference at a
// small size (exit 1 on mismatch). Last line: key=value pairs.

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "bench/attention_bench_inputs.h"
#include "bench/bench_timing.h"
#include "worker/music/model/attention.h"
#include "worker/music/model/music_transformer.h"
#include "worker/music/model/reference_attention.h"
#include "worker/runtime/heap_policy.h"

namespace {

using expsvc::bench::Fastest;
using expsvc::bench::Median;

using expsvc::music::AllAttentionKinds;
using expsvc::music::AttentionKind;
using expsvc::music::AttentionKindName;
using expsvc::music::kPositionsPerBar;
using expsvc::music::RelativeAttention;
using expsvc::music::RelativeAttentionOptions;

using expsvc::bench::ClearGrads;
using Inputs = expsvc::bench::AttentionInputs;

constexpr int64_t kModelDim = expsvc::bench::kAttentionModelDim;
constexpr int64_t kHeads = expsvc::bench::kAttentionHeads;
constexpr int64_t kBatch = 1;

std::string Key(AttentionKind kind) { return expsvc::bench::AttentionKey(kind); }

Inputs MakeInputs(int64_t length, torch::Dtype dtype, int64_t seed) {
  return expsvc::bench::MakeAttentionInputs(kBatch, length, dtype, torch::kCPU, seed);
}

double TimeMs(const std::function<void()>& run) {
  const auto start = std::chrono::steady_clock::now();
  run();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// One attention layer with its layout built beforehand, as in the model,
// where one layout per batch serves every layer (its cost is timed apart).
void LayerStep(RelativeAttention& attention, const Inputs& in, const expsvc::music::RelativeLayout& layout) {
  const torch::Tensor x = in.x.detach().requires_grad_(true);
  const torch::Tensor out = attention->forward(x, layout);
  out.backward(in.grad_output);
  ClearGrads(*attention);
}

void LayerStep(RelativeAttention& attention, const Inputs& in) {
  LayerStep(attention, in, attention->MakeLayout(in.times, in.pitches, in.has_pitch));
}

// The matrix products CirRelAttn-H's fused path cannot avoid, timed alone:
// per query chunk, its Q rows times the stacked index, time and pitch rows
// it reads (widths from the layout, as attention.cc builds them), forward
// and both backward products. Attn's time plus this is the floor of the
// method before its one pass over the logits: no tuning of that pass gets
// the layer below it.
double RelativeTableProductsMs(const expsvc::music::RelativeLayout& layout, int64_t length, int reps) {
  const int64_t head_dim = kModelDim / kHeads;
  torch::manual_seed(7);
  const torch::Tensor q = torch::randn({kBatch, kHeads, length, head_dim}).requires_grad_(true);
  std::vector<torch::Tensor> rows;
  std::vector<torch::Tensor> grads;
  const std::vector<torch::Tensor> q_chunks = q.split(layout.query_chunk, 2);
  for (size_t k = 0; k < q_chunks.size(); ++k) {
    const int64_t end = std::min<int64_t>(length, (static_cast<int64_t>(k) + 1) * layout.query_chunk);
    const int64_t width = end + layout.chunk_num_bars[k] * kPositionsPerBar +
                          layout.num_octaves * expsvc::music::kSemitonesPerOctave + 1;
    rows.push_back(torch::randn({width, head_dim}).requires_grad_(true));
    grads.push_back(torch::randn({kBatch, kHeads, q_chunks[k].size(2), width}));
  }
  std::vector<double> samples;
  for (int r = 0; r < reps + 1; ++r) {
    const double ms = TimeMs([&] {
      const std::vector<torch::Tensor> chunks = q.split(layout.query_chunk, 2);
      std::vector<torch::Tensor> tables;
      for (size_t k = 0; k < chunks.size(); ++k) tables.push_back(torch::matmul(chunks[k], rows[k].t()));
      torch::autograd::backward(tables, grads);
    });
    if (r > 0) samples.push_back(ms);  // the first run allocates
    q.mutable_grad() = torch::Tensor();
    for (torch::Tensor& t : rows) t.mutable_grad() = torch::Tensor();
  }
  return Fastest(samples);
}

void NaiveLayerStep(RelativeAttention& attention, const Inputs& in) {
  const torch::Tensor x = in.x.detach().requires_grad_(true);
  const torch::Tensor out = expsvc::music::ReferenceAttentionForward(*attention, x, in.times, in.pitches, in.has_pitch);
  out.backward(in.grad_output);
  ClearGrads(*attention);
}

// ---- validation ----

double MaxDifference(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

bool Validate() {
  bool ok = true;
  for (AttentionKind kind : AllAttentionKinds()) {
    torch::manual_seed(5);
    RelativeAttention attention(RelativeAttentionOptions(32, 4).kind(kind).max_len(16).max_relative_bars(2));
    attention->to(torch::kDouble);
    const int64_t L = 24;
    const torch::Tensor x = torch::randn({2, L, 32}, torch::kDouble);
    const torch::Tensor times = torch::randint(0, 6 * kPositionsPerBar, {2, L}, torch::kLong);
    const torch::Tensor pitches = torch::randint(0, 128, {2, L}, torch::kLong);
    const torch::Tensor has_pitch = torch::rand({2, L}) > 0.2;
    const torch::Tensor xf = x.clone().requires_grad_(true);
    const torch::Tensor xr = x.clone().requires_grad_(true);
    const torch::Tensor fast = attention->forward(xf, times, pitches, has_pitch);
    const torch::Tensor naive = expsvc::music::ReferenceAttentionForward(*attention, xr, times, pitches, has_pitch);
    const torch::Tensor g = torch::randn_like(fast);
    fast.backward(g);
    naive.backward(g);
    const double output_diff = MaxDifference(fast, naive);
    const double grad_diff = MaxDifference(xf.grad(), xr.grad());
    const bool pass = output_diff < 1e-9 && grad_diff < 1e-9;
    ok = ok && pass;
    std::printf(
        "validate %-13s vs naive reference (float64, B=2 L=%ld D=32 H=4): max|Δout|=%.2e max|Δgrad_x|=%.2e %s\n",
        AttentionKindName(kind).c_str(), static_cast<long>(L), output_diff, grad_diff, pass ? "ok" : "MISMATCH");
  }
  return ok;
}

// ---- peak RSS ----

int64_t StatusKb(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      std::istringstream fields(line.substr(field.size() + 1));
      int64_t kb = 0;
      fields >> kb;
      return kb;
    }
  }
  return -1;
}

// Peak RSS growth while `run` runs, in MiB; -1 if the peak cannot be reset.
double PeakExtraMiB(const std::function<void()>& run) {
  malloc_trim(0);  // hand freed heap pages back so the run has to fault them in again
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5" << std::flush;  // resets VmHWM to the current RSS
  if (!clear) return -1;
  const int64_t before = StatusKb("VmRSS");
  run();
  return static_cast<double>(StatusKb("VmHWM") - before) / 1024.0;
}

}  // namespace

int main(int argc, char** argv) {
  // The worker's allocator policy, so the times are the ones its jobs see.
  const bool heap_policy = expsvc::worker::KeepLargeAllocationsInHeap();
  std::printf("allocator: %s\n", expsvc::worker::HeapPolicyDescription(heap_policy));
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  // Torch's own default, as the worker's jobs use (threads: 0).
  const int threads = torch::get_num_threads();
  std::printf("attention_bench: torch threads=%d, B=%ld D=%ld H=%ld (D_h=%ld), 16-bar windows, float32\n", threads,
              static_cast<long>(kBatch), static_cast<long>(kModelDim), static_cast<long>(kHeads),
              static_cast<long>(kModelDim / kHeads));
  if (!Validate()) {
    std::printf("validation failed\n");
    return 1;
  }

  const std::vector<int64_t> lengths = {512, 1024};
  const std::vector<AttentionKind> kinds = AllAttentionKinds();
  const int warmup = quick ? 1 : 2;
  const int layer_reps = quick ? 5 : 11;
  const int model_reps = quick ? 3 : 5;
  std::map<std::string, double> summary;

  // ---- one attention layer, forward + backward ----
  for (int64_t L : lengths) {
    const Inputs in = MakeInputs(L, torch::kFloat, 100 + L);
    std::vector<RelativeAttention> layers;
    for (AttentionKind kind : kinds) {
      torch::manual_seed(1);
      layers.emplace_back(RelativeAttentionOptions(kModelDim, kHeads).kind(kind));
    }
    std::vector<expsvc::music::RelativeLayout> layouts;
    for (auto& layer : layers) layouts.push_back(layer->MakeLayout(in.times, in.pitches, in.has_pitch));
    for (int w = 0; w < warmup; ++w) {
      for (size_t k = 0; k < kinds.size(); ++k) LayerStep(layers[k], in, layouts[k]);
    }
    // Round-robin so load from other processes hits every kind alike.
    std::vector<std::vector<double>> samples(kinds.size());
    std::vector<std::vector<double>> layout_samples(kinds.size());
    for (int r = 0; r < layer_reps; ++r) {
      for (size_t k = 0; k < kinds.size(); ++k) {
        samples[k].push_back(TimeMs([&] { LayerStep(layers[k], in, layouts[k]); }));
        layout_samples[k].push_back(TimeMs([&] { layers[k]->MakeLayout(in.times, in.pitches, in.has_pitch); }));
      }
    }
    const double attn_ms = Fastest(samples[0]);
    for (size_t k = 0; k < kinds.size(); ++k) {
      const double ms = Fastest(samples[k]);
      const double layout_ms = Fastest(layout_samples[k]);
      std::printf(
          "layer  L=%-5ld %-13s fwd+bwd best of %d %8.2f ms (median %8.2f)  ratio to Attn %.2f  "
          "(+ layout once per batch %6.2f ms: ratio %.2f if one layer paid it)\n",
          static_cast<long>(L), AttentionKindName(kinds[k]).c_str(), layer_reps, ms, Median(samples[k]), ms / attn_ms,
          layout_ms, (ms + layout_ms) / (attn_ms + Fastest(layout_samples[0])));
      summary["layer_ms_" + Key(kinds[k]) + "_" + std::to_string(L)] = ms;
      summary["layer_ratio_" + Key(kinds[k]) + "_" + std::to_string(L)] = ms / attn_ms;
      summary["layout_ms_" + Key(kinds[k]) + "_" + std::to_string(L)] = layout_ms;
    }
    {
      const size_t cirrel_h = static_cast<size_t>(
          std::find(kinds.begin(), kinds.end(), AttentionKind::kCirRelAttnH) - kinds.begin());
      const double products_ms = RelativeTableProductsMs(layouts.at(cirrel_h), L, layer_reps);
      const double floor_ratio = (attn_ms + products_ms) / attn_ms;
      std::printf(
          "layer  L=%-5ld %-13s its table products alone (fwd+bwd) %8.2f ms: Attn + these = ratio %.2f, the floor "
          "of this method before its pass over the logits\n",
          static_cast<long>(L), "CirRelAttn-H", products_ms, floor_ratio);
      summary["layer_ms_cirrel_h_table_products_" + std::to_string(L)] = products_ms;
      summary["layer_ratio_cirrel_h_floor_" + std::to_string(L)] = floor_ratio;
    }
    // For scale: CirRelAttn-H through the generic skew + gather path (what
    // CUDA runs without the CUDA kernel), and the naive O(L²·D_h) reference,
    // same parameters.
    torch::manual_seed(1);
    RelativeAttention generic(
        RelativeAttentionOptions(kModelDim, kHeads).kind(AttentionKind::kCirRelAttnH).fused_kernel(false));
    std::vector<double> generic_ms;
    std::vector<double> naive_ms;
    const auto generic_layout = generic->MakeLayout(in.times, in.pitches, in.has_pitch);
    LayerStep(generic, in, generic_layout);
    NaiveLayerStep(layers.back(), in);
    for (int r = 0; r < (quick ? 1 : 3); ++r) {
      generic_ms.push_back(TimeMs([&] { LayerStep(generic, in, generic_layout); }));
      naive_ms.push_back(TimeMs([&] { NaiveLayerStep(layers.back(), in); }));
    }
    std::printf("layer  L=%-5ld %-13s fwd+bwd best of %zu %8.2f ms  ratio to Attn %.2f  (generic skew + gather path)\n",
                static_cast<long>(L), "CirRelAttn-H", generic_ms.size(), Fastest(generic_ms), Fastest(generic_ms) / attn_ms);
    std::printf("layer  L=%-5ld %-13s fwd+bwd best of %zu %8.2f ms  ratio to Attn %.2f  (naive L×L×D_h reference)\n",
                static_cast<long>(L), "CirRelAttn-H", naive_ms.size(), Fastest(naive_ms), Fastest(naive_ms) / attn_ms);
    summary["layer_ratio_cirrel_h_generic_" + std::to_string(L)] = Fastest(generic_ms) / attn_ms;
    summary["layer_ratio_cirrel_h_naive_" + std::to_string(L)] = Fastest(naive_ms) / attn_ms;
  }

  // ---- the 4-layer model (event-based, default sizes), forward + loss + backward ----
  for (int64_t L : lengths) {
    const Inputs in = MakeInputs(L, torch::kFloat, 200 + L);
    expsvc::music::MusicBatch batch;
    batch.tokens = torch::randint(0, 224, {kBatch, L, 1}, torch::kLong);
    batch.times = in.times;
    batch.pitches = in.pitches;
    batch.has_pitch = in.has_pitch;
    std::vector<expsvc::music::MusicTransformer> models;
    for (AttentionKind kind : kinds) {
      torch::manual_seed(1);
      models.emplace_back(expsvc::music::MusicTransformerOptions()
                              .representation(expsvc::music::Representation::kEventBased)
                              .attention(kind));
    }
    const auto step = [&](expsvc::music::MusicTransformer& model) {
      auto loss = model->Loss(batch);
      if (!loss.ok()) {
        std::fprintf(stderr, "%s\n", loss.status().ToString().c_str());
        std::exit(1);
      }
      loss->total.backward();
      ClearGrads(*model);
    };
    for (int w = 0; w < warmup; ++w) {
      for (auto& model : models) step(model);
    }
    std::vector<std::vector<double>> samples(kinds.size());
    for (int r = 0; r < model_reps; ++r) {
      for (size_t k = 0; k < kinds.size(); ++k) samples[k].push_back(TimeMs([&] { step(models[k]); }));
    }
    const double attn_ms = Fastest(samples[0]);
    for (size_t k = 0; k < kinds.size(); ++k) {
      const double ms = Fastest(samples[k]);
      std::printf("model  L=%-5ld %-13s fwd+bwd best of %d %8.2f ms (%.3f ms/token)  ratio to Attn %.2f  params %ld\n",
                  static_cast<long>(L), AttentionKindName(kinds[k]).c_str(), model_reps, ms,
                  ms / static_cast<double>(kBatch * L),
                  ms / attn_ms, static_cast<long>(expsvc::music::CountParameters(*models[k])));
      summary["model_ratio_" + Key(kinds[k]) + "_" + std::to_string(L)] = ms / attn_ms;
    }
  }

  // ---- memory of the relative terms ----
  // From the shapes of the tensors the relative path actually creates.
  for (AttentionKind kind : kinds) {
    if (kind == AttentionKind::kAttn) continue;
    std::vector<expsvc::music::RelativeTermBytes> sizes;
    for (int64_t L : lengths) {
      const Inputs in = MakeInputs(L, torch::kFloat, 300 + L);
      torch::manual_seed(1);
      RelativeAttention attention(RelativeAttentionOptions(kModelDim, kHeads).kind(kind));
      sizes.push_back(attention->MeasureRelativeTerms(in.x, attention->MakeLayout(in.times, in.pitches, in.has_pitch)));
    }
    const double mib = 1024.0 * 1024.0;
    const auto growth = [](int64_t a, int64_t b) {
      return a > 0 ? static_cast<double>(b) / static_cast<double>(a) : 0.0;
    };
    std::printf(
        "memory %-13s L=512 → 1024: embedding rows (the only D_h-wide tensors) %6.2f → %6.2f MiB (x%.2f); "
        "score tables [B,H,L,rows] %6.2f → %6.2f MiB (x%.2f); L×L maps without D %6.2f → %6.2f MiB (x%.2f)\n",
        AttentionKindName(kind).c_str(), sizes[0].embedding_rows / mib, sizes[1].embedding_rows / mib,
        growth(sizes[0].embedding_rows, sizes[1].embedding_rows), sizes[0].score_tables / mib,
        sizes[1].score_tables / mib, growth(sizes[0].score_tables, sizes[1].score_tables), sizes[0].pair_maps / mib,
        sizes[1].pair_maps / mib, growth(sizes[0].pair_maps, sizes[1].pair_maps));
    for (size_t n = 0; n < lengths.size(); ++n) {
      const std::string suffix = Key(kind) + "_" + std::to_string(lengths[n]);
      summary["mem_rows_mib_" + suffix] = sizes[n].embedding_rows / mib;
      summary["mem_scores_mib_" + suffix] = sizes[n].score_tables / mib;
      summary["mem_pairs_mib_" + suffix] = sizes[n].pair_maps / mib;
    }
  }
  for (int64_t L : lengths) {
    const double naive_tensor_mib = static_cast<double>(kBatch * L * L * (kModelDim / kHeads) * 4) / (1024.0 * 1024.0);
    std::printf(
        "memory naive: one [B,L,L,D_h] float32 relative-embedding tensor at L=%ld is %.1f MiB "
        "(the CirRelAttn-H reference builds 8 per layer: 1 index, 3 time, 4 pitch)\n",
        static_cast<long>(L), naive_tensor_mib);
  }

  // Peak RSS growth of one layer's forward+backward. Large blocks are
  // mmapped from here on, so freed memory leaves the RSS and peaks are real.
  mallopt(M_MMAP_THRESHOLD, 64 * 1024);
  mallopt(M_TRIM_THRESHOLD, 0);
  for (int64_t L : lengths) {
    const Inputs in = MakeInputs(L, torch::kFloat, 400 + L);
    torch::manual_seed(1);
    RelativeAttention attn(RelativeAttentionOptions(kModelDim, kHeads).kind(AttentionKind::kAttn));
    RelativeAttention cirrel(RelativeAttentionOptions(kModelDim, kHeads).kind(AttentionKind::kCirRelAttnH));
    LayerStep(attn, in);
    LayerStep(cirrel, in);
    const double attn_peak = PeakExtraMiB([&] { LayerStep(attn, in); });
    const double index_peak = PeakExtraMiB([&] { LayerStep(cirrel, in); });
    const double naive_peak = PeakExtraMiB([&] { NaiveLayerStep(cirrel, in); });
    std::printf(
        "peak RSS L=%-5ld Attn %7.1f MiB, CirRelAttn-H index-based %7.1f MiB (+%.1f), naive %7.1f MiB (+%.1f)\n",
        static_cast<long>(L), attn_peak, index_peak, index_peak - attn_peak, naive_peak, naive_peak - attn_peak);
    summary["peak_extra_mib_cirrel_h_index_" + std::to_string(L)] = index_peak - attn_peak;
    summary["peak_extra_mib_cirrel_h_naive_" + std::to_string(L)] = naive_peak - attn_peak;
  }

  std::string last = "threads=" + std::to_string(threads);
  for (const auto& [key, value] : summary) {
    char buffer[64];
    std::snprintf(buffer, sizeof(buffer), "%.3f", value);
    last += " " + key + "=" + buffer;
  }
  std::printf("%s\n", last.c_str());
  return 0;
}
