#include "worker/runtime/completion_batcher.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace expsvc::worker {

absl::StatusOr<std::string> CompletionBatcher::Complete(const expsvc::v1::JobLease& lease) {
  auto mine = std::make_shared<Pending>();
  mine->lease = lease;
  absl::MutexLock lock(&mu_);
  queue_.push_back(mine);
  while (!mine->done) {
    if (sending_) {
      changed_.Wait(&mu_);
      continue;
    }
    // Nobody is sending: this thread sends everything queued so far.
    sending_ = true;
    std::vector<std::shared_ptr<Pending>> batch = std::move(queue_);
    queue_.clear();
    mu_.Unlock();

    std::vector<expsvc::v1::JobLease> leases;
    leases.reserve(batch.size());
    for (const auto& pending : batch) leases.push_back(pending->lease);
    absl::StatusOr<std::vector<expsvc::v1::CompletionResult>> results = send_(leases);

    mu_.Lock();
    for (const auto& pending : batch) {
      pending->done = true;
      if (!results.ok()) {
        pending->result = results.status();
        continue;
      }
      pending->result =
          absl::UnknownError(absl::StrCat("CompleteJobs returned no result for job ", pending->lease.job_id()));
      for (const expsvc::v1::CompletionResult& result : *results) {
        // By job and epoch (a result without an epoch matches by job alone).
        if (result.job_id() == pending->lease.job_id() &&
            (result.epoch() == 0 || result.epoch() == pending->lease.epoch())) {
          pending->result = result.status();
        }
      }
    }
    sending_ = false;
    changed_.SignalAll();
  }
  return mine->result;
}

}  // namespace expsvc::worker
