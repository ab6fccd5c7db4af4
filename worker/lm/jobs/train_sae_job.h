#pragma once
// train_sae, a group job kind (worker/runtime/job_group.h). A group is the
// layers of one LM checkpoint (group_by [model, checkpoint]): every member's
// TopK SAE trains from ONE forward pass of the LM per batch, which yields
// the residual stream of all the members' layers at once.
//
// Per member (job): metrics fvu (every step), dead_fraction (every 10 steps
// and at the end), forward_passes (LM passes this attempt, shared by
// saes_per_forward_pass members), tokens_per_second; artifacts sae.cfg.json
// and sae.<weights> (SAELens or sparsify layout, file_layout) and the
// resume point sae_resume.pt. A member that is cancelled, or whose loss
// stops being finite, ends alone; on worker shutdown each member saves its
// resume point and is released, and a re-leased group resumes every member
// from its own point with the same batches (they depend on seed and step).
// Before training, the members' memory (SAE + Adam + step buffers) plus the
// LM is checked against the worker's budget; a group that does not fit is
// trained in subsets of layers, each with its own passes over the data.

#include "absl/status/status.h"
#include "worker/runtime/job_group.h"

namespace expsvc::worker {

void RunTrainSaeGroup(JobGroup& group);

}  // namespace expsvc::worker
