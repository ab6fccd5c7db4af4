#pragma once
// analyze_sae, a group kind like train_sae: the members are the layers of
// one LM checkpoint, each with its parent train_sae job's SAE; one forward
// pass per batch of test windows serves them all. Per member: every
// feature's language class (the rule and threshold are parameters), its
// monosemanticity R (clusters of its tokens' LM input embeddings), mean span
// and activation count, and its top activating snippets.
//
// Metrics (step 0): fraction_japanese, fraction_english, fraction_mixed,
// fraction_dead (of all features; they sum to 1), mean_r, mean_span (over
// live features), live_features, test_fvu (the SAE's FVU on the windows
// analysed), forward_passes. Artifact: features.json (worker/lm/analysis/README.md).

#include "worker/runtime/job_group.h"

namespace expsvc::worker {

void RunAnalyzeSaeGroup(JobGroup& group);

}  // namespace expsvc::worker
