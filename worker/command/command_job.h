#pragma once
// The `command` job kind: runs the program a sweep names as a job.
//
// In the job's scratch folder, with the worker's user, the program gets
//  - its arguments with {param} placeholders filled (placeholders.h);
//  - params.json (every parameter, defaults filled) and EXPSVC_PARAM_<NAME>
//    variables (name upper-cased, other characters as '_');
//  - outputs/, holding what earlier attempts left there (restored from their
//    artifacts), so a retried program can resume;
//  - EXPSVC_ADDR, EXPSVC_JOB_TOKEN (scoped to this job and lease; the worker's
//    own token is never passed on), EXPSVC_JOB_ID, EXPSVC_SWEEP_ID,
//    EXPSVC_ATTEMPT, EXPSVC_LEASE_EPOCH, EXPSVC_OUTPUTS_DIR, EXPSVC_STOP_FILE,
//    EXPSVC_PARAMS_FILE, and CUDA_VISIBLE_DEVICES set to the GPUs the worker
//    assigned to the job (empty when it asked for none).
// Standard output lines in the metric form (metric_lines.h) become metrics,
// every other line of standard output and error goes to the job's log. Files
// directly in outputs/ become artifacts when the program ends (also when it
// fails, and when a draining worker stopped it), replacing earlier ones of the
// same name. A non-zero exit fails the job (retryable) with the last lines of
// standard error as the reason. Cancel or drain: the stop file is created, the
// process group gets SIGTERM and, after grace_seconds, SIGKILL.

#include <string>

#include "absl/status/status.h"
#include "worker/runtime/job_kind_registry.h"

namespace expsvc::worker {

struct CommandJobOptions {
  // What the program's client connects to (EXPSVC_ADDR, EXPSVC_TLS_CA).
  std::string scheduler_address;
  std::string tls_ca_file;
  // Put in front of the program's PYTHONPATH, so `import expsvc` finds the
  // client built beside the worker; empty: PYTHONPATH is left alone.
  std::string python_path;
};

absl::Status RegisterCommandJob(JobKindRegistry& registry, CommandJobOptions options);

absl::Status RunCommandJob(JobContext& context, const CommandJobOptions& options);

}  // namespace expsvc::worker
