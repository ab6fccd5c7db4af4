#pragma once
// Maps a job kind name to the function that runs it (one job at a time,
// or a whole leased group for group kinds). Study job kinds
// register here (each study's jobs/ folder); the worker advertises the registered
// names when it registers with the scheduler.

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "worker/runtime/job_context.h"
#include "worker/runtime/job_group.h"

namespace expsvc::worker {

using JobFunction = std::function<absl::Status(JobContext&)>;

class JobKindRegistry {
 public:
  // Fails if the name is taken or not in the common job kind catalog.
  absl::Status Register(std::string name, JobFunction function);
  // A group kind (job_group.h): leased groups of it run as one call.
  absl::Status RegisterGroup(std::string name, GroupJobFunction function);
  // nullptr when unknown (or of the other sort).
  const JobFunction* Find(std::string_view name) const;
  const GroupJobFunction* FindGroup(std::string_view name) const;
  // Both sorts.
  std::vector<std::string> Kinds() const;
  // The group kinds only (the scheduler leases their groups whole).
  std::vector<std::string> GroupKinds() const;

 private:
  absl::Status CheckNewKind(const std::string& name, bool has_function) const;

  std::map<std::string, JobFunction, std::less<>> functions_;
  std::map<std::string, GroupJobFunction, std::less<>> group_functions_;
};

}  // namespace expsvc::worker
