#pragma once
// Job kinds for testing the pipeline itself, without any model:
//  - noop:  succeeds at once.
//  - sleep: sleeps `seconds` in `steps` steps, reporting metrics `progress`
//           (step/steps) and `attempt` at each step; fails on request
//           (fail_attempts, fail_at_step) and checkpoints on request
//           (checkpoint_every), resuming from its checkpoint when retried.

#include "absl/status/status.h"
#include "worker/runtime/job_kind_registry.h"

namespace expsvc::worker {

absl::Status RegisterDiagnosticJobs(JobKindRegistry& registry);

// The job functions, exposed for tests.
absl::Status RunNoopJob(JobContext& context);
absl::Status RunSleepJob(JobContext& context);

}  // namespace expsvc::worker
