#pragma once
// Job kinds that use a trained music model (the parent train_music job's
// best.pt and model.json):
//
// evaluate_music — objective next-bar evaluation on the test split (all
//   windows or a seeded sample): the teacher-forced loss (eval_loss); then,
//   for each window, its first window_bars−1 bars in and the last one
//   generated and compared with the truth: note_f1, pianoroll_f1,
//   grooving_similarity, chroma_similarity, pitch_range_similarity (means
//   over windows). For a few windows, `continuations` pieces of 4 bars in
//   and the rest generated give bar-level self-similarity matrices:
//   self_similarity_lag4/8/12 (and truth_self_similarity_lag4/8/12 of the
//   same windows as they are). Artifact: self_similarity.json.
//
// generate_music — `pieces` continuations of test windows (prompt_bars in,
//   generate_bars generated), written as piece_N.mid (+ the original as
//   original_N.mid) and piece_N.json (tokens, prompt length, why it stopped).
//   Metrics: generated_notes, notes_per_second.

#include "absl/status/status.h"
#include "worker/runtime/job_context.h"

namespace expsvc::worker {

absl::Status RunEvaluateMusic(JobContext& context);
absl::Status RunGenerateMusic(JobContext& context);

}  // namespace expsvc::worker
