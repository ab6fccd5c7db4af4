// Two scheduler replicas on one database: work submitted or unblocked
// through one wakes a worker long-polling the other at once, through
// LISTEN/NOTIFY, not through the other's poll (set far longer than the test).

#include "server/scheduler/work_listener.h"

#include <chrono>
#include <memory>
#include <thread>

#include "gtest/gtest.h"
#include "server/scheduler/testing/scheduler_test_fixture.h"

namespace expsvc::scheduler {
namespace {

using Clock = std::chrono::steady_clock;

class WorkListenerTest : public testing::SchedulerTest {
 protected:
  void SetUp() override {
    SchedulerTest::SetUp();
    if (HasFatalFailure()) return;
    auto store = storage::PostgresStore::Open(conninfo_, 2);
    ASSERT_TRUE(store.ok()) << store.status();
    other_store_ = std::move(*store);
    SchedulerOptions options = TestOptions();
    options.lease_poll_interval_ms = 60000;  // only a wake-up ends a long-poll early
    other_ = std::make_unique<Scheduler>(other_store_.get(), artifacts_.get(), options);
    listener_ = std::make_unique<WorkListener>(conninfo_, [this] { other_->WakeLeaseWaiters(); });
    listener_->Start();
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (!listener_->listening() && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_TRUE(listener_->listening());
    other_worker_ = RegisterWorker(*other_, "other-replica-worker");
  }

  void TearDown() override {
    listener_.reset();
    other_.reset();
  }

  // Long-polls the other replica for up to 20 s while `act` runs.
  std::pair<std::vector<v1::LeasedJob>, double> PollOtherWhile(const std::function<void()>& act) {
    return LongPollWhile(*other_, other_worker_, 20000, act);
  }

  std::unique_ptr<storage::PostgresStore> other_store_;
  std::unique_ptr<Scheduler> other_;
  std::unique_ptr<WorkListener> listener_;
  std::string other_worker_;
};

TEST_F(WorkListenerTest, ASweepSubmittedThroughOneReplicaWakesTheOther) {
  const int64_t received_before = listener_->received();
  auto [leased, seconds] =
      PollOtherWhile([&] { Submit("name: s\nstages:\n  - name: a\n    kind: noop\n    grid: {i: [0]}\n"); });
  ASSERT_EQ(leased.size(), 1u) << "the other replica's worker got nothing in 20 s";
  EXPECT_LT(seconds, 5.0);
  EXPECT_GT(listener_->received(), received_before);
}

TEST_F(WorkListenerTest, AChildQueuedByACompletionWakesTheOtherReplica) {
  Submit(
      "name: s\nstages:\n  - name: a\n    kind: noop\n    grid: {i: [0]}\n"
      "  - name: b\n    kind: noop\n    depends_on: a\n");
  auto parent = Lease();
  ASSERT_EQ(parent.size(), 1u);
  auto [leased, seconds] = PollOtherWhile([&] { ASSERT_TRUE(Complete(parent[0]).ok()); });
  ASSERT_EQ(leased.size(), 1u);
  EXPECT_EQ(leased[0].job().stage(), "b");
  EXPECT_LT(seconds, 5.0);
}

// A completion that queues nothing announces nothing: replicas' idle
// workers are not sent to claim for nothing at every completion.
TEST_F(WorkListenerTest, CompletionsThatQueueNothingAnnounceNothing) {
  Submit("name: s\nstages:\n  - name: a\n    kind: noop\n    grid: {i: [0, 1]}\n");
  auto first = Lease();
  ASSERT_EQ(first.size(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the submit's announcement arrives
  const int64_t received_before = listener_->received();
  ASSERT_TRUE(Complete(first[0]).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(listener_->received(), received_before);
}

}  // namespace
}  // namespace expsvc::scheduler
