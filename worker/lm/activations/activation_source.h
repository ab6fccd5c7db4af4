#pragma once
// Residual-stream activations for the SAE study, streamed: for a model and a
// set of layers, every non-BOS token of every window of a corpus split, from
// ONE forward pass per batch of windows for all requested layers (stopping
// after the deepest one, no final norm, no LM head), each vector
// L2-normalised. Nothing is written to disk unless a cache file is asked
// for: then the first sweep over the split writes it and later sweeps read
// it instead of running the model (forward_passes() tells which happened).
//
//   ActivationSource source(model, corpus, {.layers = {2, 6, 11}});
//   EXPSVC_RETURN_IF_ERROR(source.ForEachBatch([&](const ActivationBatch& batch) {
//     ... batch.layers.at(6) is [rows, hidden] ...
//     return absl::OkStatus();
//   }));

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "worker/lm/corpus/lm_corpus.h"
#include "worker/lm/model/llama_model.h"

namespace expsvc::lm {

struct ActivationSourceOptions {
  std::vector<int64_t> layers;  // block indices, 0-based
  Split split = Split::kTest;
  int64_t batch_windows = 32;
  int64_t max_windows = 0;  // 0 = every window of the split
  bool drop_bos = true;     // the study drops the BOS activation
  bool normalize = true;    // L2-normalise each vector
  // When set: written on the first ForEachBatch, read on later ones (and by
  // a later source with the same settings; a mismatch is an error).
  std::string cache_path;
};

struct ActivationBatch {
  int64_t first_window = 0;                 // index of the batch's first window in the split
  std::map<int64_t, torch::Tensor> layers;  // layer → [rows, hidden] float32, CPU
  torch::Tensor token_ids;                  // [rows] int64: the token at each row's position
  torch::Tensor languages;                  // [rows] uint8 (Language)
  torch::Tensor windows;                    // [rows] int64: window index in the split
  torch::Tensor positions;                  // [rows] int64: position in the window (1.. with drop_bos)
  int64_t rows() const { return token_ids.numel(); }
};

class ActivationSource {
 public:
  ActivationSource(LlamaModel model, const LmCorpus& corpus, ActivationSourceOptions options);

  // Calls `consume` for each batch in order; stops at the first error.
  // Layer indices are checked against the model first.
  absl::Status ForEachBatch(const std::function<absl::Status(const ActivationBatch&)>& consume);

  // One forward pass over the given windows of the split, in that order
  // (the SAE trainer's shuffled batches). No cache.
  absl::StatusOr<ActivationBatch> Compute(absl::Span<const int64_t> window_indices);

  int64_t forward_passes() const { return forward_passes_; }
  int64_t windows() const;  // windows per sweep over the split
  int64_t rows_per_sweep() const;

 private:
  absl::Status Validate() const;
  absl::StatusOr<ActivationBatch> ComputeBatch(int64_t first_window, int64_t count);
  // Unchecked; under NoGradGuard.
  absl::StatusOr<ActivationBatch> ComputeWindows(absl::Span<const int64_t> window_indices);
  absl::Status ReadCache(const std::function<absl::Status(const ActivationBatch&)>& consume);

  LlamaModel model_;
  const LmCorpus& corpus_;
  ActivationSourceOptions options_;
  int64_t forward_passes_ = 0;
};

}  // namespace expsvc::lm
