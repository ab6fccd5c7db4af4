#pragma once
// The one spelling of job states ("waiting", "queued", "running",
// "succeeded", "failed", "cancelled"): the database stores it, the API's
// filters use it, and expctl prints it.

#include <optional>
#include <string_view>

#include "expsvc/v1/common.pb.h"

namespace expsvc {

// "" for JOB_STATE_UNSPECIFIED or a value outside the enum.
const char* JobStateName(expsvc::v1::JobState state);
// Exact names only; nullopt for anything else.
std::optional<expsvc::v1::JobState> JobStateFromName(std::string_view name);

}  // namespace expsvc
