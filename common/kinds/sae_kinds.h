#pragma once
// Study 2 part II job kinds: train_sae, analyze_sae and intervene.
//
// Layers are named as the authors name them: "layer l" is the residual
// stream after decoder block l − 1 (Hugging Face's hidden_states[l]; for the
// last layer taken before the final norm), so a model with L blocks has
// layers 1..L. Checkpoints are named by their training step (iter_NNNNNNN).

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "common/kinds/param_schema.h"
#include "common/kinds/torch_device_params.h"
#include "nlohmann/json.hpp"

namespace expsvc::kinds {

// Which LM activations an SAE job reads: bound once for all three kinds.
struct SaeSiteParams : TorchDeviceParams {
  // A model folder under the worker's EXPSVC_MODELS_DIR (e.g. llm-jp-3-150m);
  // empty: the checkpoints of the parent train_lm job.
  std::string model;
  // Training step of the LM checkpoint (iter_NNNNNNN); 0 = the parent
  // train_lm job's last checkpoint.
  int64_t checkpoint = 0;
  // Authors' numbering, 1..L (see above).
  int64_t layer = 1;
  // Windows per LM forward pass (and per SAE step); each gives its tokens
  // after the BOS (the BOS activation is dropped).
  int64_t batch_windows = 32;
};

struct TrainSaeParams : SaeSiteParams {
  int64_t n_latents = 32768;
  int64_t k = 32;
  std::string dtype = "float32";
  std::string encoder_precision = "float32";
  // Optimiser steps; 0 = one pass over the training split (capped by max_windows).
  int64_t steps = 0;
  // Windows of the training split used; 0 = all.
  int64_t max_windows = 0;
  double lr = 1e-3;
  int64_t warmup_steps = 1000;
  // A latent that has not fired for this many tokens counts as dead.
  int64_t dead_after_tokens = 10'000'000;
  std::string file_layout = "saelens";
  int64_t resume_every = 200;
  int64_t seed = 1;

  static const JobKindSpec& Spec();
  static absl::StatusOr<TrainSaeParams> FromJson(const nlohmann::json& params);
};

struct AnalyzeSaeParams : SaeSiteParams {
  std::string language_rule = "all_activations";
  double language_threshold = 0.9;
  double cluster_threshold = 0.5;
  // Windows of the test split analysed; 0 = all.
  int64_t max_windows = 0;
  int64_t top_snippets = 10;

  static const JobKindSpec& Spec();
  static absl::StatusOr<AnalyzeSaeParams> FromJson(const nlohmann::json& params);
};

struct InterveneParams : SaeSiteParams {
  // The mid-training checkpoint whose residual stream is steered (the SAE
  // and its feature classes come from `checkpoint`, the trained model).
  int64_t target_checkpoint = 0;
  // Each added direction is scaled by the feature's activation times this.
  double scale = 1.0;
  // Features of each set used at most (the most active first); 0 = all.
  int64_t max_features = 0;
  int64_t max_windows = 0;

  static const JobKindSpec& Spec();
  static absl::StatusOr<InterveneParams> FromJson(const nlohmann::json& params);
};

}  // namespace expsvc::kinds
