#pragma once
// Group commit for the lease hot path. Every claim and completion costs a
// commit, and a commit waits for a WAL flush; with many workers leasing and
// completing at once the flushes, not the work, set the pace. The batcher
// lets concurrent callers share one: the first caller to find no batch in
// flight runs everything queued so far as one transaction
// (PostgresStore::RunLeaseBatch) while later callers queue for the next.
// There is no timer: a lone caller runs at once, alone, so batching costs
// nothing when the scheduler is quiet.
//
// Every result of a committed batch is the one the caller would have had
// alone (a batch that fails as a whole fails every request in it): each completion
// still matches its own worker and epoch and each claim bumps the epoch of
// what it takes, so the fencing guarantee is unchanged. A batch that fails
// with anything but UNAVAILABLE (which every caller would have met too) is
// run again request by request, so one bad request fails alone.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "expsvc/v1/workers.pb.h"
#include "server/storage/postgres_store.h"

namespace expsvc::scheduler {

class LeaseBatcher {
 public:
  // At most `max_batch` requests share a transaction (bounds how long its row
  // locks are held). `on_children_queued` runs after a batch whose
  // completions queued waiting jobs: the only way a completion makes work
  // for other workers, so idle long-polls are woken then and not at every
  // completion.
  LeaseBatcher(storage::PostgresStore* store, int max_batch, std::function<void()> on_children_queued = {});

  absl::StatusOr<std::vector<expsvc::v1::LeasedJob>> Claim(const storage::ClaimRequest& request)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::vector<expsvc::v1::CompletionResult>> Complete(const std::string& worker_id,
                                                                     std::vector<expsvc::v1::JobLease> leases)
      ABSL_LOCKS_EXCLUDED(mu_);

  struct Stats {
    int64_t batches = 0;   // transactions run
    int64_t requests = 0;  // requests they carried
  };
  Stats stats() const ABSL_LOCKS_EXCLUDED(mu_);

  // Called (without the lock) before each batch runs, with its size; a test
  // blocks in it to let requests queue behind a batch.
  void SetBeforeBatchHookForTesting(std::function<void(size_t)> hook) { before_batch_for_testing_ = std::move(hook); }
  // How many requests wait for the next batch.
  size_t QueuedForTesting() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Request;
  void Enqueue(Request& request) ABSL_LOCKS_EXCLUDED(mu_);
  // Runs `batch` and fills each request's result.
  void Run(const std::vector<Request*>& batch);

  storage::PostgresStore* store_;
  const size_t max_batch_;
  const std::function<void()> on_children_queued_;
  std::function<void(size_t)> before_batch_for_testing_;

  mutable absl::Mutex mu_;
  std::vector<Request*> queued_ ABSL_GUARDED_BY(mu_);
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace expsvc::scheduler
