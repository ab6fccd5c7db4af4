#pragma once
// intervene (Study 2's intervention experiment), one job per layer. Our
// reading of the slides, exactly:
//
//  1. The trained model (checkpoint `checkpoint`, normally the last) runs on
//     each test window up to block l − 1; its residual r_T is L2-normalised
//     as in SAE training and encoded by that layer's SAE (the parent
//     train_sae job) into its top-k codes z.
//  2. Per feature set S — the features the parent analyze_sae job classed
//     English, Japanese or Mixed (bilingual); with max_features = M only the
//     M most active of each — the steering vector is
//       v = scale · Σ_{j ∈ S} z_j · W_dec[j]   (unit-norm space),
//     so only features that fire on this token contribute.
//  3. The mid-training model (`target_checkpoint`) runs the same window; its
//     residual after block l − 1 becomes r_M + ‖r_M‖ · v at every position
//     but the BOS (rescaled because the SAE lives on unit vectors), and the
//     forward pass continues to the logits.
//  4. Perplexity of the next token at every position after the BOS, per
//     window language, with no intervention and with each set.
//
// Metrics (step 0): ppl_en_<set>, ppl_ja_<set> for set in none, english,
// japanese, mixed; features_english / _japanese / _mixed (set sizes).

#include "absl/status/status.h"
#include "worker/runtime/job_context.h"

namespace expsvc::worker {

absl::Status RunIntervene(JobContext& context);

}  // namespace expsvc::worker
