#pragma once
// Pieces the music job kinds share: batching token sequences, the mean
// next-token loss over windows, picking a device, and loading the model a
// parent train_music job stored (model.json + best.pt).

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "common/kinds/music_kinds.h"
#include "common/sample_indices.h"
#include "nlohmann/json.hpp"
#include "worker/music/data/music_dataset.h"
#include "worker/music/model/collate_sequences.h"
#include "worker/music/model/music_transformer.h"
#include "worker/music/model/sequence_loss.h"
#include "worker/runtime/job_context.h"
#include "worker/torch/torch_job_support.h"

namespace expsvc::worker {

inline constexpr char kMusicCheckpointName[] = "checkpoint.pt";
inline constexpr char kMusicBestModelName[] = "best.pt";
inline constexpr char kMusicModelConfigName[] = "model.json";

using music::CollateSequences;

// Mean next-token loss (sum of field losses) over the given windows of a
// split, weighted by the number of predicted tokens; windows longer than
// max_len are cut, as in training.
absl::StatusOr<double> MeanWindowLoss(music::MusicTransformer& model, const music::MusicDataset& dataset,
                                      music::Split split, const std::vector<size_t>& windows, int64_t batch_size,
                                      int64_t max_len, const torch::Device& device);

using ::expsvc::SampleIndices;  // common/sample_indices.h

// What train_music writes to model.json, read back.
struct TrainedMusicModelConfig {
  music::MusicTransformerOptions options;
  music::MusicDataConfig data;
  int64_t max_len = 0;  // the training sequence length (the model's context)
};
absl::StatusOr<TrainedMusicModelConfig> ParseTrainedMusicModelConfig(const nlohmann::json& config);

struct TrainedMusicModel {
  music::MusicTransformer model{nullptr};
  TrainedMusicModelConfig config;
  nlohmann::json config_json;
};

// The model of the parent train_music job: model.json and best.pt fetched
// from the parent's artifacts, loaded on `device`. Errors name what is
// missing. `params` may carry labels (representation, attention): when
// set they must agree with the model, so a sweep cannot pair a job with the
// wrong parent silently. data_dir, when set, replaces the trained one.
absl::StatusOr<TrainedMusicModel> LoadParentMusicModel(JobContext& context, const kinds::MusicSamplingParams& params,
                                                       const torch::Device& device);

}  // namespace expsvc::worker
