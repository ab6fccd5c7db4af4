#pragma once
// Reports successful jobs with as few CompleteJobs calls as possible: the
// first job to finish sends its completion at once; jobs that finish while
// that call is in flight queue up and go out together in the next call (a
// group of jobs finishing at the same time costs one or two calls, not one
// per job). Thread-safe.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "expsvc/v1/workers.pb.h"

namespace expsvc::worker {

class CompletionBatcher {
 public:
  // Sends one CompleteJobsRequest's worth of completions (retrying as it
  // sees fit) and returns the scheduler's per-job results.
  using SendFunction = std::function<absl::StatusOr<std::vector<expsvc::v1::CompletionResult>>(
      const std::vector<expsvc::v1::JobLease>&)>;

  explicit CompletionBatcher(SendFunction send) : send_(std::move(send)) {}

  // Blocks until this lease's completion was sent. Returns the scheduler's
  // status for the job ("ok" or why it refused), or the call's error.
  absl::StatusOr<std::string> Complete(const expsvc::v1::JobLease& lease);

 private:
  struct Pending {
    expsvc::v1::JobLease lease;
    bool done = false;
    absl::StatusOr<std::string> result;
  };

  const SendFunction send_;
  absl::Mutex mu_;
  absl::CondVar changed_;
  std::vector<std::shared_ptr<Pending>> queue_ ABSL_GUARDED_BY(mu_);
  bool sending_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace expsvc::worker
