#include "worker/runtime/job_kind_registry.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/kinds/job_kind_catalog.h"

namespace expsvc::worker {

absl::Status JobKindRegistry::Register(std::string name, JobFunction function) {
  if (!function) {
    return absl::InvalidArgumentError(absl::StrCat("job kind '", name, "': no function given"));
  }
  // The scheduler validates submitted jobs against the catalog, so a kind
  // outside it could never be leased to this worker.
  if (FindJobKind(name) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("job kind '", name, "' is not in the job kind catalog (common/kinds/job_kind_catalog.cc)"));
  }
  if (functions_.contains(name)) {
    return absl::AlreadyExistsError(absl::StrCat("job kind '", name, "' is already registered"));
  }
  functions_.emplace(std::move(name), std::move(function));
  return absl::OkStatus();
}

const JobFunction* JobKindRegistry::Find(std::string_view name) const {
  auto it = functions_.find(name);
  return it == functions_.end() ? nullptr : &it->second;
}

std::vector<std::string> JobKindRegistry::Kinds() const {
  std::vector<std::string> kinds;
  kinds.reserve(functions_.size());
  for (const auto& [name, function] : functions_) kinds.push_back(name);
  return kinds;
}

}  // namespace expsvc::worker
