#include "worker/lm/jobs/sae_jobs.h"

#include "common/status_macros.h"
#include "worker/lm/jobs/analyze_sae_job.h"
#include "worker/lm/jobs/intervene_job.h"
#include "worker/lm/jobs/train_sae_job.h"

namespace expsvc::worker {

absl::Status RegisterSaeJobs(JobKindRegistry& registry) {
  EXPSVC_RETURN_IF_ERROR(registry.RegisterGroup("train_sae", RunTrainSaeGroup));
  EXPSVC_RETURN_IF_ERROR(registry.RegisterGroup("analyze_sae", RunAnalyzeSaeGroup));
  EXPSVC_RETURN_IF_ERROR(registry.Register("intervene", RunIntervene));
  return absl::OkStatus();
}

}  // namespace expsvc::worker
