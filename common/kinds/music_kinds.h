#pragma once
// Study 1 (symbolic music) job kinds: train_music, evaluate_music and
// generate_music. The attention-variant and representation names are
// defined here once; the model (worker/music/model) maps them to its enums
// and expctl orders report rows by them.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/kinds/param_schema.h"
#include "common/kinds/torch_device_params.h"
#include "nlohmann/json.hpp"

namespace expsvc::kinds {

// In the paper's order: Attn, RelAttn, RIPOAttn, CirRelAttn-S, CirRelAttn-H.
const std::vector<std::string>& AttentionVariantNames();
// note (6-field note tuples), event (one token per event).
const std::vector<std::string>& RepresentationNames();

struct TrainMusicParams : TorchDeviceParams {
  std::string representation = "event";
  std::string attention = "Attn";
  int64_t d_model = 256;
  int64_t n_layers = 4;
  int64_t n_heads = 8;
  int64_t d_ff = 1024;
  double dropout = 0.1;
  // 0: the longest window of the data, so no window is cut.
  int64_t max_len = 0;
  int64_t batch_size = 8;
  double lr = 3e-4;
  std::string lr_schedule = "cosine";
  int64_t warmup_steps = 100;
  int64_t steps = 0;
  double epochs = 1.0;
  int64_t eval_every = 200;
  int64_t eval_windows = 512;
  int64_t checkpoint_every = 200;
  double data_fraction = 1.0;
  int64_t max_songs = 0;
  int64_t max_notes_per_window = 375;
  int64_t window_bars = 16;
  std::string event_pitch_rule = "causal";
  int64_t split_seed = 1;
  int64_t seed = 1;
  std::string precision = "float32";
  std::string attention_kernel = "fused";
  std::string data_dir;

  static const JobKindSpec& Spec();
  static absl::StatusOr<TrainMusicParams> FromJson(const nlohmann::json& params);
};

// What every job kind that samples from a trained music model takes.
struct MusicSamplingParams : TorchDeviceParams {
  double temperature = 1.0;
  int64_t top_k = 0;
  double top_p = 0.9;
  int64_t seed = 1;
  int64_t context_tokens = 0;
  // Labels without defaults: a job that leaves them out shows its parent's
  // values in `expctl report`; when given they must match the parent.
  std::optional<std::string> representation;
  std::optional<std::string> attention;
  std::optional<std::string> event_pitch_rule;
  std::optional<double> data_fraction;
  std::string data_dir;
};

struct EvaluateMusicParams : MusicSamplingParams {
  int64_t windows = 100;
  int64_t sample_seed = 1;
  int64_t prompt_bars = 0;
  int64_t continuations = 4;
  int64_t continuation_prompt_bars = 4;
  int64_t batch_size = 8;

  static const JobKindSpec& Spec();
  static absl::StatusOr<EvaluateMusicParams> FromJson(const nlohmann::json& params);
};

struct GenerateMusicParams : MusicSamplingParams {
  int64_t pieces = 4;
  int64_t sample_seed = 1;
  int64_t prompt_bars = 4;
  int64_t generate_bars = 12;
  int64_t max_new_tokens = 4096;

  static const JobKindSpec& Spec();
  static absl::StatusOr<GenerateMusicParams> FromJson(const nlohmann::json& params);
};

}  // namespace expsvc::kinds
