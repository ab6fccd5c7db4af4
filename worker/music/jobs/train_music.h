#pragma once
// Job kind `train_music` (Study 1): trains a MusicTransformer with one
// attention variant on POP909 windows and reports, as metrics:
//   train_loss (every step), val_loss (every eval_every steps and at the end),
//   lr, ms_per_note (training time per note, averaged between evaluations),
//   params, best_val_loss, test_loss (best checkpoint on the test split).
// Artifacts: checkpoint.pt (model + optimizer + step, for resumption),
// best.pt (the model with the lowest validation loss) and model.json (the
// options needed to rebuild it).

#include <string>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "worker/runtime/job_context.h"
#include "worker/runtime/job_kind_registry.h"

namespace expsvc::worker {

absl::Status RunTrainMusic(JobContext& context);

// Where the tokenised-corpus cache lives: $EXPSVC_CACHE_DIR, else
// /tmp/expsvc-cache. Shared by every job on the machine, so a sweep of ten
// trainings builds the corpus once.
std::string MusicCacheDir();

absl::Status RegisterMusicJobs(JobKindRegistry& registry);

}  // namespace expsvc::worker
