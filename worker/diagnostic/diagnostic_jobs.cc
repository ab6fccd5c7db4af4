#include "worker/diagnostic/diagnostic_jobs.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/fs/file_io.h"
#include "common/kinds/diagnostic_kinds.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace expsvc::worker {
namespace {

constexpr char kCheckpointName[] = "checkpoint.json";

using kinds::SleepParams;

// The injected failure hits one step: fail_at_step, or step 1 when unset.
// It hits while attempt <= fail_attempts; with fail_attempts = 0 a set
// fail_at_step hits every attempt that runs that step (an attempt resuming
// from a checkpoint past it gets through).
bool InjectedFailureAt(const SleepParams& p, int32_t attempt, int64_t step) {
  const int64_t failing_step = p.fail_at_step >= 1 ? p.fail_at_step : 1;
  if (step != failing_step) return false;
  return p.fail_attempts > 0 ? attempt <= p.fail_attempts : p.fail_at_step >= 1;
}

absl::Status Stopped(const JobContext& context, int64_t step) {
  if (context.shutting_down()) {
    return absl::AbortedError(absl::StrCat("worker shutting down at step ", step));
  }
  return absl::CancelledError(absl::StrCat("stopped at step ", step));
}

// Sleeps in short slices so a cancel or shutdown is seen within ~20 ms.
bool SleepUnlessStopped(const JobContext& context, absl::Duration duration) {
  const absl::Time deadline = absl::Now() + duration;
  while (!context.should_stop()) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return true;
    absl::SleepFor(std::min(left, absl::Milliseconds(20)));
  }
  return false;
}

// The step of this job's checkpoint from an earlier attempt; 0 without one.
absl::StatusOr<int64_t> ResumeStep(JobContext& context, int64_t steps) {
  std::optional<expsvc::v1::ArtifactRef> checkpoint = context.FindOwnArtifact(kCheckpointName);
  if (!checkpoint.has_value()) return 0;
  EXPSVC_ASSIGN_OR_RETURN(std::string path, context.FetchArtifact(*checkpoint));
  const absl::StatusOr<std::string> text = fs::ReadFile(path);
  const nlohmann::json content = text.ok() ? nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false)
                                           : nlohmann::json(nlohmann::json::value_t::discarded);
  if (content.is_discarded() || !content.is_object() || !content.contains("step") ||
      !content["step"].is_number_integer()) {
    context.Log(absl::StrCat("checkpoint artifact ", checkpoint->id(), " is unreadable; starting over"));
    return 0;
  }
  return std::clamp<int64_t>(content["step"].get<int64_t>(), 0, steps);
}

absl::Status WriteAndUploadCheckpoint(JobContext& context, int64_t step) {
  const std::string path = (std::filesystem::path(context.scratch_dir()) / kCheckpointName).string();
  EXPSVC_RETURN_IF_ERROR(fs::WriteFileAtomically(path, nlohmann::json{{"step", step}}.dump() + "\n"));
  EXPSVC_ASSIGN_OR_RETURN(expsvc::v1::ArtifactRef uploaded, context.UploadArtifact(kCheckpointName, path));
  context.Log(absl::StrCat("checkpoint at step ", step, " (artifact ", uploaded.id(), ")"));
  return absl::OkStatus();
}

}  // namespace

absl::Status RunNoopJob(JobContext& context) {
  return absl::OkStatus();
}

absl::Status RunSleepJob(JobContext& context) {
  EXPSVC_ASSIGN_OR_RETURN(const SleepParams p, SleepParams::FromJson(context.params()));
  const int64_t steps = std::max<int64_t>(p.steps, 1);
  const absl::Duration step_duration = absl::Seconds(std::max(p.seconds, 0.0) / static_cast<double>(steps));

  EXPSVC_ASSIGN_OR_RETURN(int64_t done, ResumeStep(context, steps));
  if (done > 0) {
    EXPSVC_RETURN_IF_ERROR(context.ReplaceMetricsAfter(done));
    context.Log(absl::StrCat("resuming from checkpoint at step ", done, " (attempt ", context.attempt(), ")"));
  }
  for (int64_t step = done + 1; step <= steps; ++step) {
    if (!SleepUnlessStopped(context, step_duration)) return Stopped(context, step);
    if (InjectedFailureAt(p, context.attempt(), step)) {
      return absl::UnavailableError("injected failure");
    }
    context.ReportMetric("progress", step, static_cast<double>(step) / static_cast<double>(steps));
    context.ReportMetric("attempt", step, context.attempt());
    if (p.checkpoint_every > 0 && step % p.checkpoint_every == 0) {
      EXPSVC_RETURN_IF_ERROR(WriteAndUploadCheckpoint(context, step));
    }
  }
  return absl::OkStatus();
}

absl::Status RegisterDiagnosticJobs(JobKindRegistry& registry) {
  EXPSVC_RETURN_IF_ERROR(registry.Register("noop", RunNoopJob));
  EXPSVC_RETURN_IF_ERROR(registry.Register("sleep", RunSleepJob));
  return absl::OkStatus();
}

}  // namespace expsvc::worker
