#pragma once
// What the SAE job kinds (train_sae, analyze_sae, intervene) read: the
// parent build_corpus job's corpus and an LM checkpoint folder, either from
// the worker's EXPSVC_MODELS_DIR (param `model`) or assembled from the
// parent train_lm job's iter_NNNNNNN.* artifacts. Layers are named as the
// authors name them (common/kinds/sae_kinds.h): layer l = block l − 1.

#include <cstdint>
#include <filesystem>
#include <string>

#include "absl/status/statusor.h"
#include "worker/lm/corpus/lm_corpus.h"
#include "worker/runtime/job_context.h"

namespace expsvc::worker {

inline constexpr char kCorpusArtifactName[] = "corpus.bin";
inline constexpr char kFeaturesArtifactName[] = "features.json";
// SAE files are uploaded as "sae.<file>" (cfg.json, the safetensors file).
inline constexpr char kSaeArtifactPrefix[] = "sae.";

absl::StatusOr<lm::LmCorpus> FetchParentCorpus(JobContext& context);

struct LmCheckpointFolder {
  std::filesystem::path dir;
  int64_t step = 0;
};

// `model` empty: the parent train_lm job's checkpoint at `step` (0 = its
// last), downloaded into the scratch folder. Otherwise
// $EXPSVC_MODELS_DIR/<model>/iter_NNNNNNN (0 = the newest there).
absl::StatusOr<LmCheckpointFolder> FetchLmCheckpoint(JobContext& context, const std::string& model, int64_t step);

// Refuses a corpus made with another tokenizer than the model's (the
// activations would mean nothing); logs a warning when either side does
// not record its tokenizer and only the vocabulary size could be compared.
absl::Status CheckCorpusFitsModel(JobContext& context, const lm::LmCorpus& corpus,
                                  const std::filesystem::path& model_dir);

// Block index of the authors' layer l (1..layers), or InvalidArgument.
absl::StatusOr<int64_t> BlockOfLayer(int64_t layer, int64_t model_layers);

// The SAE files of a parent train_sae job, downloaded into `dir` under
// their own names (cfg.json, ...). Returns `dir`.
absl::StatusOr<std::filesystem::path> FetchParentSae(JobContext& context, const std::filesystem::path& dir);

}  // namespace expsvc::worker
