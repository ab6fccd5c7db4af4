#include "worker/runtime/completion_batcher.h"

#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace expsvc::worker {
namespace {

expsvc::v1::JobLease Lease(int64_t job_id) {
  expsvc::v1::JobLease lease;
  lease.set_job_id(job_id);
  lease.set_epoch(1);
  return lease;
}

// Holds the batcher's first send until released, so that completions made
// meanwhile queue behind it and go out together.
struct FirstSendGate {
  absl::Notification started;
  absl::Notification release;
  void HoldFirstSend() {
    if (started.HasBeenNotified()) return;
    started.Notify();
    release.WaitForNotification();
  }
};

TEST(CompletionBatcherTest, CompletionsArrivingDuringASendGoOutTogether) {
  FirstSendGate gate;
  std::mutex mu;
  std::vector<size_t> batch_sizes;
  CompletionBatcher batcher([&](const std::vector<expsvc::v1::JobLease>& leases) {
    {
      std::lock_guard lock(mu);
      batch_sizes.push_back(leases.size());
    }
    gate.HoldFirstSend();
    std::vector<expsvc::v1::CompletionResult> results;
    for (const auto& lease : leases) {
      auto& result = results.emplace_back();
      result.set_job_id(lease.job_id());
      result.set_status(lease.job_id() == 3 ? "stale epoch" : "ok");
    }
    return results;
  });

  std::vector<absl::StatusOr<std::string>> results(4);
  std::vector<std::thread> threads;
  threads.emplace_back([&] { results[0] = batcher.Complete(Lease(0)); });
  gate.started.WaitForNotification();
  for (int i = 1; i < 4; ++i) threads.emplace_back([&, i] { results[i] = batcher.Complete(Lease(i)); });
  // Give the three late completions time to queue behind the first send.
  absl::SleepFor(absl::Milliseconds(100));
  gate.release.Notify();
  for (auto& thread : threads) thread.join();

  EXPECT_EQ(batch_sizes, (std::vector<size_t>{1, 3}));
  EXPECT_EQ(*results[0], "ok");
  EXPECT_EQ(*results[1], "ok");
  EXPECT_EQ(*results[3], "stale epoch");
}

// A job's old (lost) lease and its new one in the same batch each get their
// own answer.
TEST(CompletionBatcherTest, ResultsAreMatchedByJobAndEpoch) {
  FirstSendGate gate;
  CompletionBatcher batcher([&](const std::vector<expsvc::v1::JobLease>& leases) {
    gate.HoldFirstSend();
    std::vector<expsvc::v1::CompletionResult> results;
    for (const auto& lease : leases) {
      auto& result = results.emplace_back();
      result.set_job_id(lease.job_id());
      result.set_epoch(lease.epoch());
      result.set_status(lease.epoch() == 2 ? "ok" : "stale epoch 1 (current 2)");
    }
    return results;
  });
  expsvc::v1::JobLease old_lease = Lease(5);
  expsvc::v1::JobLease new_lease = Lease(5);
  new_lease.set_epoch(2);
  absl::StatusOr<std::string> first, old_result, new_result;
  std::thread blocker([&] { first = batcher.Complete(Lease(9)); });
  gate.started.WaitForNotification();
  std::thread old_thread([&] { old_result = batcher.Complete(old_lease); });
  std::thread new_thread([&] { new_result = batcher.Complete(new_lease); });
  absl::SleepFor(absl::Milliseconds(100));
  gate.release.Notify();
  blocker.join();
  old_thread.join();
  new_thread.join();
  EXPECT_EQ(*new_result, "ok");
  EXPECT_EQ(*old_result, "stale epoch 1 (current 2)");
}

TEST(CompletionBatcherTest, PassesTheCallErrorToEveryWaiter) {
  CompletionBatcher batcher(
      [](const std::vector<expsvc::v1::JobLease>&) -> absl::StatusOr<std::vector<expsvc::v1::CompletionResult>> {
        return absl::PermissionDeniedError("bad token");
      });
  EXPECT_EQ(batcher.Complete(Lease(7)).status().code(), absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace expsvc::worker
