// LeaseBatcher against a real database: requests that arrive while a batch
// runs share the next transaction, each still gets its own answer, and a
// request the database refuses fails alone.

#include "server/scheduler/lease_batcher.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "server/scheduler/testing/scheduler_test_fixture.h"

namespace expsvc::scheduler {
namespace {

using testing::SchedulerTest;

class LeaseBatcherTest : public SchedulerTest {
 protected:
  std::string NewWorker(const std::string& name) { return RegisterWorker(*scheduler_, name); }

  static storage::ClaimRequest ClaimFor(const std::string& worker, int max_jobs) {
    storage::ClaimRequest claim;
    claim.worker_id = worker;
    claim.free_cpu_cores = 64;
    claim.free_memory_mb = 1 << 20;
    claim.free_gpus = 8;
    claim.max_jobs = max_jobs;
    claim.kinds = {"noop"};
    return claim;
  }

  static v1::JobLease LeaseOf(const v1::LeasedJob& job, int64_t epoch_offset = 0) {
    v1::JobLease lease;
    lease.set_job_id(job.job().id());
    lease.set_epoch(job.epoch() + epoch_offset);
    return lease;
  }

  // Holds the first batch (of the request started first) until `queued`
  // more requests wait behind it, so they must share the second.
  void HoldFirstBatchUntilQueued(LeaseBatcher& batcher, size_t queued) {
    batcher.SetBeforeBatchHookForTesting([this, &batcher, queued](size_t) {
      if (first_batch_running_.exchange(true)) return;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (batcher.QueuedForTesting() < queued && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
  }

  // Starts `first`, waits until it is running, then starts `rest` together.
  void RunBehindFirst(const std::function<void()>& first, const std::vector<std::function<void()>>& rest) {
    std::vector<std::thread> threads;
    threads.emplace_back(first);
    while (!first_batch_running_) std::this_thread::yield();
    for (const auto& call : rest) threads.emplace_back(call);
    for (auto& thread : threads) thread.join();
  }

  std::atomic<bool> first_batch_running_{false};
};

TEST_F(LeaseBatcherTest, ConcurrentRequestsShareOneCommitAndKeepTheirOwnAnswers) {
  const int64_t sweep = Submit("name: s\nstages:\n  - name: a\n    kind: noop\n    grid: {i: [0,1,2,3,4,5,6,7,8,9]}\n");
  const std::string a = NewWorker("a"), b = NewWorker("b"), c = NewWorker("c");
  // Two jobs already running, to be completed inside the shared batch.
  auto held_a = store_->ClaimJobs(ClaimFor(a, 1));
  auto held_b = store_->ClaimJobs(ClaimFor(b, 1));
  ASSERT_TRUE(held_a.ok() && held_a->size() == 1);
  ASSERT_TRUE(held_b.ok() && held_b->size() == 1);

  LeaseBatcher batcher(store_.get(), 32);
  HoldFirstBatchUntilQueued(batcher, 5);
  absl::StatusOr<std::vector<v1::LeasedJob>> first, claim_a, claim_b, claim_c;
  absl::StatusOr<std::vector<v1::CompletionResult>> done_a, stale_b;
  RunBehindFirst([&] { first = batcher.Claim(ClaimFor(c, 1)); },
                 {[&] { claim_a = batcher.Claim(ClaimFor(a, 2)); },
                  [&] { claim_b = batcher.Claim(ClaimFor(b, 2)); },
                  [&] { claim_c = batcher.Claim(ClaimFor(c, 3)); },
                  [&] { done_a = batcher.Complete(a, {LeaseOf(held_a->at(0))}); },
                  // A worker answering for an attempt it no longer holds.
                  [&] { stale_b = batcher.Complete(b, {LeaseOf(held_b->at(0), -1)}); }});

  EXPECT_EQ(batcher.stats().batches, 2);
  EXPECT_EQ(batcher.stats().requests, 6);
  ASSERT_TRUE(first.ok() && claim_a.ok() && claim_b.ok() && claim_c.ok()) << claim_a.status();
  ASSERT_TRUE(done_a.ok() && stale_b.ok());
  ASSERT_EQ(done_a->size(), 1u);
  EXPECT_EQ(done_a->at(0).status(), "ok");
  ASSERT_EQ(stale_b->size(), 1u);
  EXPECT_NE(stale_b->at(0).status().find("stale epoch"), std::string::npos) << stale_b->at(0).status();

  // Each claim got as many jobs as it asked for, none twice, each leased to
  // its own worker under the epoch it was told.
  EXPECT_EQ(first->size(), 1u);
  EXPECT_EQ(claim_a->size(), 2u);
  EXPECT_EQ(claim_b->size(), 2u);
  EXPECT_EQ(claim_c->size(), 3u);
  std::set<int64_t> seen = {held_a->at(0).job().id(), held_b->at(0).job().id()};
  for (const auto& [worker, jobs] : std::vector<std::pair<std::string, std::vector<v1::LeasedJob>>>{
           {c, *first}, {a, *claim_a}, {b, *claim_b}, {c, *claim_c}}) {
    for (const auto& job : jobs) {
      EXPECT_TRUE(seen.insert(job.job().id()).second) << "job " << job.job().id() << " leased twice";
      EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM jobs WHERE id = ", job.job().id(), " AND worker_id = '",
                                   worker, "' AND lease_epoch = ", job.epoch(), " AND state = 'running'")),
                1);
    }
  }
  const v1::StateCounts counts = Counts(sweep);
  EXPECT_EQ(counts.succeeded(), 1);
  EXPECT_EQ(counts.running(), 9);
  EXPECT_EQ(counts.queued(), 0);
}

TEST_F(LeaseBatcherTest, ARequestTheDatabaseRefusesFailsAlone) {
  Submit("name: s\nstages:\n  - name: a\n    kind: noop\n    grid: {i: [0,1,2,3]}\n");
  const std::string a = NewWorker("a"), b = NewWorker("b");
  auto held = store_->ClaimJobs(ClaimFor(a, 1));
  ASSERT_TRUE(held.ok() && held->size() == 1);

  LeaseBatcher batcher(store_.get(), 32);
  HoldFirstBatchUntilQueued(batcher, 3);
  absl::StatusOr<std::vector<v1::LeasedJob>> first, good, bad;
  absl::StatusOr<std::vector<v1::CompletionResult>> done;
  RunBehindFirst([&] { first = batcher.Claim(ClaimFor(b, 1)); },
                 {[&] { done = batcher.Complete(a, {LeaseOf(held->at(0))}); },
                  // Not UTF-8: PostgreSQL refuses the statement, and with it
                  // the whole transaction it shares.
                  [&] { bad = batcher.Claim(ClaimFor("w-\xff", 1)); },
                  [&] { good = batcher.Claim(ClaimFor(b, 1)); }});

  EXPECT_FALSE(bad.ok());
  ASSERT_TRUE(first.ok() && good.ok() && done.ok()) << good.status() << done.status();
  EXPECT_EQ(first->size(), 1u);
  EXPECT_EQ(good->size(), 1u);
  ASSERT_EQ(done->size(), 1u);
  EXPECT_EQ(done->at(0).status(), "ok");
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE state = 'succeeded'"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE state = 'running'"), 2);
}

TEST_F(LeaseBatcherTest, ALoneRequestRunsAtOnceByItself) {
  Submit("name: s\nstages:\n  - name: a\n    kind: noop\n    grid: {i: [0,1]}\n");
  LeaseBatcher batcher(store_.get(), 32);
  for (int i = 0; i < 2; ++i) {
    auto leased = batcher.Claim(ClaimFor(worker_id_, 1));
    ASSERT_TRUE(leased.ok()) << leased.status();
    ASSERT_EQ(leased->size(), 1u);
    auto done = batcher.Complete(worker_id_, {LeaseOf(leased->at(0))});
    ASSERT_TRUE(done.ok()) << done.status();
    EXPECT_EQ(done->at(0).status(), "ok");
  }
  EXPECT_EQ(batcher.stats().batches, 4);
  EXPECT_EQ(batcher.stats().requests, 4);
}

// Idle long-polls are woken by completions that queue children, and only by
// them: with many idle workers, a wake at every completion would send all of
// them to claim nothing each time. (The poll interval is set far longer than
// the test, so only a wake-up makes a long-poll claim again early.)
TEST_F(LeaseBatcherTest, OnlyCompletionsThatQueueChildrenWakeIdleLongPolls) {
  SchedulerOptions options = TestOptions();
  options.lease_poll_interval_ms = 60000;
  MakeScheduler(options);
  Submit(
      "name: s\nstages:\n  - name: a\n    kind: noop\n    grid: {i: [0, 1]}\n"
      "  - name: b\n    kind: noop\n    depends_on: a\n");
  const std::vector<v1::LeasedJob> parents = Lease(2);
  ASSERT_EQ(parents.size(), 2u);
  const std::string idle = NewWorker("idle");
  // Long-polls as `idle` for `wait_ms` while `act` runs; returns what it got
  // and how many claims it made (the batcher's requests, less the act's).
  auto poll_while = [&](int wait_ms, const std::function<void()>& act) {
    const int64_t before = scheduler_->lease_batch_stats().requests;
    std::vector<v1::LeasedJob> leased = LongPollWhile(*scheduler_, idle, wait_ms, act).first;
    return std::make_pair(leased, scheduler_->lease_batch_stats().requests - before - 1);
  };

  // The first parent's completion leaves the child waiting: the idle poll
  // claims at its start and at its deadline only.
  auto [nothing, claims] = poll_while(1500, [&] { ASSERT_TRUE(Complete(parents[0]).ok()); });
  EXPECT_TRUE(nothing.empty());
  EXPECT_EQ(claims, 2) << "a completion that queued nothing woke the idle poll";

  // The second queues the child: the poll is woken and gets it at once.
  const auto start = std::chrono::steady_clock::now();
  auto [child, unused] = poll_while(20000, [&] { ASSERT_TRUE(Complete(parents[1]).ok()); });
  ASSERT_EQ(child.size(), 1u);
  EXPECT_EQ(child[0].job().stage(), "b");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
}

}  // namespace
}  // namespace expsvc::scheduler
