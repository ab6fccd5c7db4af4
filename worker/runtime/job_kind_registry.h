#pragma once
// Maps a job kind name to the function that runs it. Study job kinds
// register here (each study's jobs/ folder); the worker advertises the registered
// names when it registers with the scheduler.

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "worker/runtime/job_context.h"

namespace expsvc::worker {

using JobFunction = std::function<absl::Status(JobContext&)>;

class JobKindRegistry {
 public:
  // Fails if the name is taken or not in the common job kind catalog.
  absl::Status Register(std::string name, JobFunction function);
  // nullptr when unknown.
  const JobFunction* Find(std::string_view name) const;
  std::vector<std::string> Kinds() const;

 private:
  std::map<std::string, JobFunction, std::less<>> functions_;
};

}  // namespace expsvc::worker
