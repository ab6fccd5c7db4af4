#include "server/scheduler/lease_batcher.h"

#include <algorithm>
#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"

namespace expsvc::scheduler {

struct LeaseBatcher::Request {
  // Exactly one of the two is set.
  const storage::ClaimRequest* claim = nullptr;
  const storage::CompletionRequest* completion = nullptr;
  // Written by whoever runs the batch, read by the caller once `done`.
  absl::Status status;
  std::vector<expsvc::v1::LeasedJob> leased;
  std::vector<expsvc::v1::CompletionResult> results;
  bool done = false;
};

LeaseBatcher::LeaseBatcher(storage::PostgresStore* store, int max_batch, std::function<void()> on_children_queued)
    : store_(store),
      max_batch_(static_cast<size_t>(std::max(1, max_batch))),
      on_children_queued_(std::move(on_children_queued)) {}

absl::StatusOr<std::vector<expsvc::v1::LeasedJob>> LeaseBatcher::Claim(const storage::ClaimRequest& claim) {
  Request request;
  request.claim = &claim;
  Enqueue(request);
  if (!request.status.ok()) return request.status;
  return std::move(request.leased);
}

absl::StatusOr<std::vector<expsvc::v1::CompletionResult>> LeaseBatcher::Complete(
    const std::string& worker_id, std::vector<expsvc::v1::JobLease> leases) {
  const storage::CompletionRequest completion{worker_id, std::move(leases)};
  Request request;
  request.completion = &completion;
  Enqueue(request);
  if (!request.status.ok()) return request.status;
  return std::move(request.results);
}

void LeaseBatcher::Enqueue(Request& request) {
  absl::MutexLock lock(&mu_);
  queued_.push_back(&request);
  while (!request.done) {
    if (running_) {
      // Wait for the batch in flight; then either ours ran in it or the way
      // is free to run the next one ourselves.
      auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return request.done || !running_; };
      mu_.Await(absl::Condition(&ready));
      continue;
    }
    running_ = true;
    const size_t taken = std::min(queued_.size(), max_batch_);
    std::vector<Request*> batch(queued_.begin(), queued_.begin() + static_cast<std::ptrdiff_t>(taken));
    queued_.erase(queued_.begin(), queued_.begin() + static_cast<std::ptrdiff_t>(taken));
    mu_.Unlock();
    // Nothing may escape with running_ set: every later request would wait
    // for ever. The store catches what the database throws; this is for the
    // rest (allocation failure, a test hook).
    try {
      Run(batch);
    } catch (const std::exception& error) {
      for (Request* failed : batch) failed->status = absl::InternalError(absl::StrCat("lease batch: ", error.what()));
    } catch (...) {
      for (Request* failed : batch) failed->status = absl::InternalError("lease batch: unknown exception");
    }
    mu_.Lock();
    for (Request* done : batch) done->done = true;
    running_ = false;
    ++stats_.batches;
    stats_.requests += static_cast<int64_t>(batch.size());
  }
}

void LeaseBatcher::Run(const std::vector<Request*>& batch) {
  if (before_batch_for_testing_) before_batch_for_testing_(batch.size());
  std::vector<storage::CompletionRequest> completions;
  std::vector<storage::ClaimRequest> claims;
  for (const Request* request : batch) {
    if (request->completion != nullptr) completions.push_back(*request->completion);
    if (request->claim != nullptr) claims.push_back(*request->claim);
  }
  absl::StatusOr<storage::LeaseBatchResult> result = store_->RunLeaseBatch(completions, claims);
  if (!result.ok() && batch.size() > 1 && !absl::IsUnavailable(result.status())) {
    // Something in the batch is wrong (a request the database refuses): run
    // each alone so only that one fails.
    for (Request* request : batch) Run({request});
    return;
  }
  if (result.ok() && result->children_queued > 0 && on_children_queued_) on_children_queued_();
  size_t next_completion = 0, next_claim = 0;
  for (Request* request : batch) {
    request->status = result.status();
    if (!result.ok()) continue;
    if (request->completion != nullptr) request->results = std::move(result->completions.at(next_completion++));
    if (request->claim != nullptr) request->leased = std::move(result->claims.at(next_claim++));
  }
}

LeaseBatcher::Stats LeaseBatcher::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

size_t LeaseBatcher::QueuedForTesting() const {
  absl::MutexLock lock(&mu_);
  return queued_.size();
}

}  // namespace expsvc::scheduler
