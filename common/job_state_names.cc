#include "common/job_state_names.h"

#include <array>
#include <utility>

namespace expsvc {
namespace {

constexpr std::array<std::pair<expsvc::v1::JobState, const char*>, 6> kNames = {{
    {expsvc::v1::JOB_STATE_WAITING, "waiting"},
    {expsvc::v1::JOB_STATE_QUEUED, "queued"},
    {expsvc::v1::JOB_STATE_RUNNING, "running"},
    {expsvc::v1::JOB_STATE_SUCCEEDED, "succeeded"},
    {expsvc::v1::JOB_STATE_FAILED, "failed"},
    {expsvc::v1::JOB_STATE_CANCELLED, "cancelled"},
}};

}  // namespace

const char* JobStateName(expsvc::v1::JobState state) {
  for (const auto& [known, name] : kNames) {
    if (known == state) return name;
  }
  return "";
}

std::optional<expsvc::v1::JobState> JobStateFromName(std::string_view name) {
  for (const auto& [state, known] : kNames) {
    if (name == known) return state;
  }
  return std::nullopt;
}

}  // namespace expsvc
