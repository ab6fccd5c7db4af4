#include "worker/runtime/job_kind_registry.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/kinds/job_kind_catalog.h"
#include "common/status_macros.h"

namespace expsvc::worker {

absl::Status JobKindRegistry::Register(std::string name, JobFunction function) {
  EXPSVC_RETURN_IF_ERROR(CheckNewKind(name, static_cast<bool>(function)));
  functions_.emplace(std::move(name), std::move(function));
  return absl::OkStatus();
}

absl::Status JobKindRegistry::RegisterGroup(std::string name, GroupJobFunction function) {
  EXPSVC_RETURN_IF_ERROR(CheckNewKind(name, static_cast<bool>(function)));
  group_functions_.emplace(std::move(name), std::move(function));
  return absl::OkStatus();
}

absl::Status JobKindRegistry::CheckNewKind(const std::string& name, bool has_function) const {
  if (!has_function) {
    return absl::InvalidArgumentError(absl::StrCat("job kind '", name, "': no function given"));
  }
  // The scheduler validates submitted jobs against the catalog, so a kind
  // outside it could never be leased to this worker.
  if (FindJobKind(name) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("job kind '", name, "' is not in the job kind catalog (common/kinds/job_kind_catalog.cc)"));
  }
  if (functions_.contains(name) || group_functions_.contains(name)) {
    return absl::AlreadyExistsError(absl::StrCat("job kind '", name, "' is already registered"));
  }
  return absl::OkStatus();
}

const JobFunction* JobKindRegistry::Find(std::string_view name) const {
  auto it = functions_.find(name);
  return it == functions_.end() ? nullptr : &it->second;
}

const GroupJobFunction* JobKindRegistry::FindGroup(std::string_view name) const {
  auto it = group_functions_.find(name);
  return it == group_functions_.end() ? nullptr : &it->second;
}

std::vector<std::string> JobKindRegistry::Kinds() const {
  std::vector<std::string> kinds;
  kinds.reserve(functions_.size() + group_functions_.size());
  for (const auto& [name, function] : functions_) kinds.push_back(name);
  for (const auto& [name, function] : group_functions_) kinds.push_back(name);
  std::sort(kinds.begin(), kinds.end());
  return kinds;
}

std::vector<std::string> JobKindRegistry::GroupKinds() const {
  std::vector<std::string> kinds;
  for (const auto& [name, function] : group_functions_) kinds.push_back(name);
  return kinds;
}

}  // namespace expsvc::worker
