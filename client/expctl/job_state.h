#pragma once
// Job and sweep states as the CLI spells them.

#include <optional>
#include <string>
#include "absl/strings/string_view.h"

#include "client/expctl/progress.h"
#include "expsvc/v1/common.pb.h"

namespace expsvc::expctl {

// "waiting", "queued", "running", "succeeded", "failed", "cancelled".
std::string JobStateName(v1::JobState state);

// Accepts the names above in any case, "JOB_STATE_FAILED", and the short
// forms used on the progress line ("ok", "fail", "run", "queue").
std::optional<v1::JobState> ParseJobState(absl::string_view text);

bool IsTerminalJobState(v1::JobState state);

// A sweep's state string is derived by the server; anything but "running"
// (or empty) means it has ended.
bool IsTerminalSweepState(absl::string_view state);

ProgressCounts ToProgressCounts(const v1::StateCounts& counts);

}  // namespace expsvc::expctl
