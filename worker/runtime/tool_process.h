#pragma once
// Runs a helper program of the project as a child process for a job
// (child_process.h): its stdout and stderr go, line by line, to the job's
// log; a cancelled or stopping job terminates it.
//
// Why a separate process: the LM corpus builder links libsentencepiece,
// whose bundled protobuf symbols cannot share a process with the full
// libprotobuf that gRPC (and so the worker) uses.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/runtime/job_context.h"

namespace expsvc::worker {

// The path of a project program: $<env_variable> when set, else the first of
// `relative_candidates` (relative to the folder of the running executable)
// that exists. NotFound names every place looked at.
absl::StatusOr<std::string> FindProjectTool(const std::string& env_variable,
                                            const std::vector<std::string>& relative_candidates);

// Runs `argv` (argv[0] is the program path) to completion. Non-zero exit →
// an error carrying the last lines of its output.
absl::Status RunToolProcess(JobContext& context, const std::vector<std::string>& argv);

}  // namespace expsvc::worker
