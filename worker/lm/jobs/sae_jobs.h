#pragma once
// Registers the SAE job kinds of Study 2 (train_sae, analyze_sae, intervene).

#include "absl/status/status.h"
#include "worker/runtime/job_kind_registry.h"

namespace expsvc::worker {

absl::Status RegisterSaeJobs(JobKindRegistry& registry);

}  // namespace expsvc::worker
