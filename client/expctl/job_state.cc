#include "client/expctl/job_state.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "common/job_state_names.h"

namespace expsvc::expctl {

std::string JobStateName(v1::JobState state) {
  const std::string name = ::expsvc::JobStateName(state);
  return name.empty() ? "unknown" : name;
}

std::optional<v1::JobState> ParseJobState(absl::string_view text) {
  std::string name = absl::AsciiStrToLower(text);
  if (absl::StartsWith(name, "job_state_")) name = name.substr(10);
  // The short forms of the progress line and a spelling variant.
  if (name == "queue") return v1::JOB_STATE_QUEUED;
  if (name == "run") return v1::JOB_STATE_RUNNING;
  if (name == "ok") return v1::JOB_STATE_SUCCEEDED;
  if (name == "fail") return v1::JOB_STATE_FAILED;
  if (name == "canceled" || name == "cancel") return v1::JOB_STATE_CANCELLED;
  return ::expsvc::JobStateFromName(name);
}

bool IsTerminalJobState(v1::JobState state) {
  return state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_FAILED || state == v1::JOB_STATE_CANCELLED;
}

bool IsTerminalSweepState(absl::string_view state) {
  return !state.empty() && !absl::EqualsIgnoreCase(state, "running");
}

ProgressCounts ToProgressCounts(const v1::StateCounts& counts) {
  ProgressCounts progress;
  progress.total = counts.total();
  progress.waiting = counts.waiting();
  progress.queued = counts.queued();
  progress.running = counts.running();
  progress.succeeded = counts.succeeded();
  progress.failed = counts.failed();
  progress.cancelled = counts.cancelled();
  return progress;
}

}  // namespace expsvc::expctl
