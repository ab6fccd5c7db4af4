#pragma once
// Group job kinds. A sweep stage with group_by leases all ready members of a
// group to one worker at once. For an ordinary kind each member then runs on
// its own thread; for a group kind the worker calls ONE function with every
// member, so work the members share (train_sae: one LM forward pass per
// batch feeds every layer's SAE) is done once. Each member keeps its own
// lease, heartbeats, metrics, artifacts and outcome:
//
//   registry.RegisterGroup("train_sae", [](JobGroup& group) {
//     for (int i = 0; i < group.size(); ++i) ... group.member(i).params() ...
//     group.Finish(i, absl::OkStatus());     // as soon as member i is done
//   });
//
// A member that is cancelled or fails is finished alone (Finish with
// CancelledError / its error) while the others go on. Shutdown works per
// member as for ordinary kinds (AbortedError after saving a resume point).

#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "worker/runtime/job_context.h"

namespace expsvc::worker {

class JobGroup {
 public:
  virtual ~JobGroup() = default;

  virtual int size() const = 0;
  // Valid until the member is finished.
  virtual JobContext& member(int index) = 0;
  // Reports member `index`'s outcome now, with the same meaning as a
  // JobFunction's return value; later calls for it are ignored. Members not
  // finished when the group function returns get an internal error.
  virtual void Finish(int index, absl::Status status) = 0;
  virtual bool finished(int index) const = 0;
  // Host memory the group may use, in MiB (the worker's own flag, else its
  // memory). A group needing more trains its members in subsets.
  virtual int64_t memory_budget_mb() const = 0;
  // The same for the memory of the group's GPU, for a group that runs there:
  // the flag, else 90% of the device's memory; 0 when it has no GPU.
  virtual int64_t gpu_memory_budget_mb() const { return 0; }
};

using GroupJobFunction = std::function<void(JobGroup&)>;

}  // namespace expsvc::worker
