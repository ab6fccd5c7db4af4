// Recovery against a real throwaway PostgreSQL (label: db): commits whose
// outcome is unknown, leases across a scheduler restart, retrying groups and
// sweeps, the housekeeping passes (ready children, offline workers, files
// without a record).

#include <filesystem>
#include <fstream>
#include <thread>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "gtest/gtest.h"
#include "server/scheduler/scheduler.h"
#include "server/scheduler/testing/scheduler_test_fixture.h"

namespace expsvc::scheduler {
namespace {

namespace v1 = expsvc::v1;
namespace fs = std::filesystem;

class RecoveryTest : public testing::SchedulerTest {
 protected:
  // The next commit of `what` lands, then its caller hears that the
  // connection broke during COMMIT (exactly what a PostgreSQL restart at that
  // instant does).
  void LoseConnectionAfterNextCommitOf(const std::string& what) {
    store_->SetAfterCommitHookForTesting([this, what](const char* committed) {
      if (what != committed || fault_fired_) return;
      fault_fired_ = true;
      throw pqxx::in_doubt_error("Connection lost while committing (injected)");
    });
  }

  std::string JobState(int64_t job_id) {
    return Query(absl::StrCat("SELECT state FROM jobs WHERE id = ", job_id))[0][0].c_str();
  }

  bool fault_fired_ = false;
};

constexpr char kTrainThenEvaluate[] = R"yaml(
name: chain
stages:
  - {name: train, kind: noop}
  - {name: evaluate, kind: noop, depends_on: train}
)yaml";

TEST_F(RecoveryTest, ArtifactRecordWithUnknownCommitOutcomeIsReadBackNotDeleted) {
  Submit("name: one\nstages:\n  - {name: a, kind: noop}\n");
  auto leased = Lease();
  ASSERT_EQ(leased.size(), 1u);
  LoseConnectionAfterNextCommitOf("recording an artifact");
  const std::string content = "checkpoint at step 50";
  auto stored = Upload(leased[0], "checkpoint.pt", content);
  ASSERT_TRUE(fault_fired_);
  // The record committed: the read-back finds it, so the upload succeeded
  // and the file the record points at exists with its checksum.
  ASSERT_TRUE(stored.ok()) << stored.status();
  auto fetched = scheduler_->GetArtifact(stored->id());
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  ASSERT_TRUE(fs::exists(fetched->storage_path));
  EXPECT_EQ(*Sha256HexOfFile(fetched->storage_path), Sha256Hex(content));
  // A later attempt is offered the checkpoint.
  v1::FailJobRequest release;
  release.set_worker_id(worker_id_);
  release.mutable_lease()->set_job_id(leased[0].job().id());
  release.mutable_lease()->set_epoch(leased[0].epoch());
  release.set_release(true);
  ASSERT_TRUE(scheduler_->FailJob(release).ok());
  auto again = Lease();
  ASSERT_EQ(again.size(), 1u);
  ASSERT_EQ(again[0].own_artifacts_size(), 1);
  EXPECT_EQ(again[0].own_artifacts(0).sha256(), Sha256Hex(content));
}

TEST_F(RecoveryTest, MetricsWriteWithUnknownOutcomeIsRetryableAndStoredOnce) {
  Submit("name: one\nstages:\n  - {name: a, kind: noop}\n");
  auto leased = Lease();
  ASSERT_EQ(leased.size(), 1u);
  v1::ReportMetricsRequest metrics;
  metrics.mutable_lease()->set_job_id(leased[0].job().id());
  metrics.mutable_lease()->set_epoch(leased[0].epoch());
  for (int step = 1; step <= 3; ++step) {
    auto* point = metrics.add_points();
    point->set_key("loss");
    point->set_step(step);
    point->set_value(1.0 / step);
  }
  LoseConnectionAfterNextCommitOf("writing metrics");
  auto first = scheduler_->ReportMetrics(metrics);
  // Not INTERNAL (which a worker drops as permanent): UNAVAILABLE, retried.
  EXPECT_EQ(first.status().code(), absl::StatusCode::kUnavailable) << first.status();
  EXPECT_TRUE(storage::IsCommitOutcomeUnknown(first.status()));
  ASSERT_TRUE(scheduler_->ReportMetrics(metrics).ok());
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM metrics WHERE job_id = ", leased[0].job().id())), 3);
}

TEST_F(RecoveryTest, CompletionRepeatedAfterUnknownOutcomeIsOkAndQueuesChildrenOnce) {
  const int64_t sweep = Submit(kTrainThenEvaluate);
  auto leased = Lease();
  ASSERT_EQ(leased.size(), 1u);
  LoseConnectionAfterNextCommitOf("completing jobs");
  v1::CompleteJobsRequest request;
  request.set_worker_id(worker_id_);
  auto* lease = request.add_completions()->mutable_lease();
  lease->set_job_id(leased[0].job().id());
  lease->set_epoch(leased[0].epoch());
  EXPECT_EQ(scheduler_->CompleteJobs(request).status().code(), absl::StatusCode::kUnavailable);
  auto repeated = scheduler_->CompleteJobs(request);
  ASSERT_TRUE(repeated.ok()) << repeated.status();
  ASSERT_EQ(repeated->results_size(), 1);
  EXPECT_EQ(repeated->results(0).status(), "ok");
  EXPECT_EQ(Counts(sweep).succeeded(), 1);
  EXPECT_EQ(Counts(sweep).queued(), 1);
  EXPECT_EQ(Count(absl::StrCat("SELECT pending_parents FROM jobs WHERE sweep_id = ", sweep, " AND stage = 'evaluate'")),
            0);
}

TEST_F(RecoveryTest, RestartedSchedulerGivesLeasesGraceInsteadOfRescuingThem) {
  SchedulerOptions options = TestOptions();
  options.lease_ttl_ms = 300;
  options.rescue_interval_ms = 50;
  options.lease_grace_ms = 2000;
  MakeScheduler(options);
  const int64_t sweep = Submit("name: one\nstages:\n  - {name: a, kind: noop}\n");
  auto leased = Lease();
  ASSERT_EQ(leased.size(), 1u);
  // The scheduler is "down" past the TTL: the lease expires unrenewed.
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  scheduler_->Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(JobState(leased[0].job().id()), "running") << "a restart must not cost an attempt";
  v1::HeartbeatRequest heartbeat;
  heartbeat.set_worker_id(worker_id_);
  heartbeat.add_leases()->set_job_id(leased[0].job().id());
  heartbeat.mutable_leases(0)->set_epoch(leased[0].epoch());
  auto beat = scheduler_->Heartbeat(heartbeat);
  ASSERT_TRUE(beat.ok()) << beat.status();
  EXPECT_EQ(beat->leases(0).status(), "ok");
  EXPECT_EQ(beat->leases(0).epoch(), leased[0].epoch());
  // A worker that really is gone is rescued once grace and TTL have passed.
  std::this_thread::sleep_for(std::chrono::milliseconds(2600));
  EXPECT_EQ(JobState(leased[0].job().id()), "queued");
  EXPECT_EQ(Counts(sweep).queued(), 1);
  scheduler_->Stop();
}

constexpr char kGroupsFeedingOneReport[] = R"yaml(
name: groups
stages:
  - name: sae
    kind: noop
    max_attempts: 1
    grid: {checkpoint: [10, 20], layer: [1, 2]}
    group_by: [checkpoint]
  - name: report
    kind: noop
    depends_on: sae
)yaml";

TEST_F(RecoveryTest, RetryingAMemberOfAFailedGroupRetriesTheGroupAndTheirSharedChild) {
  const int64_t sweep = Submit(kGroupsFeedingOneReport);
  auto group = Lease(1, 64, "", {"noop"});
  ASSERT_EQ(group.size(), 2u);
  for (const auto& member : group) ASSERT_TRUE(Fail(member, /*retryable=*/false).ok());
  EXPECT_EQ(Counts(sweep).failed(), 2);
  EXPECT_EQ(Counts(sweep).cancelled(), 1);  // the report

  // Before, this was refused ("depends on job N, which is failed: retry job
  // N instead") from either member: a deadlock.
  v1::RetryJobRequest retry;
  retry.set_job_id(group[1].job().id());
  auto retried = scheduler_->RetryJob(retry);
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(retried->requeued_jobs(), 3);
  EXPECT_EQ(JobState(group[0].job().id()), "queued");
  EXPECT_EQ(JobState(group[1].job().id()), "queued");
  EXPECT_EQ(Counts(sweep).waiting(), 1);
  EXPECT_EQ(Counts(sweep).failed(), 0);
}

TEST_F(RecoveryTest, RetryingASweepOrAStageRequeuesEveryFailureInOneCall) {
  const int64_t sweep = Submit(kGroupsFeedingOneReport);
  for (int i = 0; i < 2; ++i) {
    for (const auto& member : Lease(1, 64, "", {"noop"})) ASSERT_TRUE(Fail(member, /*retryable=*/false).ok());
  }
  EXPECT_EQ(Counts(sweep).failed(), 4);
  v1::RetryJobRequest retry;
  retry.set_sweep_id(sweep);
  retry.set_stage("report");
  // The report alone cannot run: its parents failed outside the retry.
  auto refused = scheduler_->RetryJob(retry);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("expctl retry --sweep"), std::string::npos) << refused.status();
  retry.set_stage("no-such-stage");
  EXPECT_EQ(scheduler_->RetryJob(retry).status().code(), absl::StatusCode::kNotFound);
  retry.set_stage("sae");
  auto retried = scheduler_->RetryJob(retry);
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(retried->requeued_jobs(), 5);
  EXPECT_EQ(Counts(sweep).queued(), 4);
  EXPECT_EQ(Counts(sweep).waiting(), 1);
  retry.set_stage("");
  EXPECT_EQ(scheduler_->RetryJob(retry).status().code(), absl::StatusCode::kFailedPrecondition)
      << "nothing left to retry";
}

TEST_F(RecoveryTest, RetryingOneJobOfACancelledSweepKeepsTheSweepCancelled) {
  const int64_t sweep = Submit("name: c\nstages:\n  - {name: a, kind: noop, grid: {i: [1, 2]}}\n");
  v1::CancelSweepRequest cancel;
  cancel.set_sweep_id(sweep);
  ASSERT_TRUE(scheduler_->CancelSweep(cancel).ok());
  v1::ListJobsRequest list;
  list.set_sweep_id(sweep);
  auto jobs = scheduler_->ListJobs(list);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  v1::RetryJobRequest retry;
  retry.set_job_id(jobs->jobs(0).id());
  ASSERT_TRUE(scheduler_->RetryJob(retry).ok());
  EXPECT_EQ(scheduler_->GetSweep(sweep)->state(), "running");
  auto leased = Lease();
  ASSERT_EQ(leased.size(), 1u);
  ASSERT_TRUE(Complete(leased[0]).ok());
  EXPECT_EQ(scheduler_->GetSweep(sweep)->state(), "cancelled") << "not 'failed'";
  // Retrying what is left un-cancels it.
  v1::RetryJobRequest rest;
  rest.set_sweep_id(sweep);
  ASSERT_TRUE(scheduler_->RetryJob(rest).ok());
  auto last = Lease();
  ASSERT_EQ(last.size(), 1u);
  ASSERT_TRUE(Complete(last[0]).ok());
  EXPECT_EQ(scheduler_->GetSweep(sweep)->state(), "succeeded");
}

TEST_F(RecoveryTest, HousekeepingQueuesAChildLeftWaitingBehindSucceededParents) {
  const int64_t sweep = Submit(kTrainThenEvaluate);
  auto leased = Lease();
  ASSERT_EQ(leased.size(), 1u);
  ASSERT_TRUE(Complete(leased[0]).ok());
  // The race's outcome: a retry reset the child to waiting and counted the
  // parent as unfinished while the parent's completion committed.
  Query(absl::StrCat("UPDATE jobs SET state = 'waiting', pending_parents = 1 WHERE sweep_id = ", sweep,
                   " AND stage = 'evaluate'"));
  EXPECT_TRUE(Lease().empty());
  scheduler_->RunHousekeeping();
  auto child = Lease();
  ASSERT_EQ(child.size(), 1u);
  EXPECT_EQ(child[0].job().stage(), "evaluate");
}

TEST_F(RecoveryTest, WorkersGoOfflineAndUnreferencedOnesArePruned) {
  v1::RegisterWorkerRequest registration;
  registration.set_name("gone-worker");
  const std::string gone = scheduler_->RegisterWorker(registration)->worker_id();
  registration.set_name("gone-worker-with-history");
  const std::string gone_with_history = scheduler_->RegisterWorker(registration)->worker_id();
  Submit("name: one\nstages:\n  - {name: a, kind: noop}\n");
  auto leased = Lease(1, 64, gone_with_history);
  ASSERT_EQ(leased.size(), 1u);
  ASSERT_TRUE(Complete(leased[0], gone_with_history).ok());
  Query(absl::StrCat("UPDATE workers SET last_seen_at = now() - interval '2 days' WHERE id IN ('", gone, "', '",
                   gone_with_history, "')"));

  auto online = scheduler_->ListWorkers(v1::ListWorkersRequest());
  ASSERT_TRUE(online.ok());
  ASSERT_EQ(online->workers_size(), 1);
  EXPECT_EQ(online->workers(0).worker_id(), worker_id_);
  EXPECT_TRUE(online->workers(0).online());
  v1::ListWorkersRequest all;
  all.set_include_offline(true);
  auto everyone = scheduler_->ListWorkers(all);
  ASSERT_TRUE(everyone.ok());
  ASSERT_EQ(everyone->workers_size(), 3);
  EXPECT_FALSE(everyone->workers(2).online());

  scheduler_->RunHousekeeping();  // retention: 24 h
  everyone = scheduler_->ListWorkers(all);
  ASSERT_TRUE(everyone.ok());
  ASSERT_EQ(everyone->workers_size(), 2) << "the worker no job refers to is pruned";
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM workers WHERE id = '", gone_with_history, "'")), 1);
}

TEST_F(RecoveryTest, FilesWithoutARecordAndInterruptedUploadsAreRemovedAtStartUp) {
  Submit("name: one\nstages:\n  - {name: a, kind: noop}\n");
  auto leased = Lease();
  ASSERT_EQ(leased.size(), 1u);
  auto stored = Upload(leased[0], "model.bin", "weights");
  ASSERT_TRUE(stored.ok()) << stored.status();
  const std::string recorded = scheduler_->GetArtifact(stored->id())->storage_path;
  const fs::path orphan = fs::path(artifact_root_) / "sweep-1" / "job-1" / "0123456789abcdef-orphan.bin";
  const fs::path part = fs::path(artifact_root_) / "tmp" / "upload-1-1-1.part";
  const fs::path fresh_part = fs::path(artifact_root_) / "tmp" / "upload-1-1-2.part";
  fs::create_directories(orphan.parent_path());
  for (const fs::path& path : {orphan, part, fresh_part}) std::ofstream(path) << "bytes";
  const auto old = fs::file_time_type::clock::now() - std::chrono::hours(1);
  for (const fs::path& path : {fs::path(recorded), orphan, part}) fs::last_write_time(path, old);

  // The same root spelled differently ("<root>/."): every file would look
  // unrecorded, so nothing may be removed.
  ArtifactStore respelled(artifact_root_ + "/.");
  Scheduler other(store_.get(), &respelled, TestOptions());
  ASSERT_TRUE(other.RemoveUnrecordedFiles());
  EXPECT_TRUE(fs::exists(recorded));
  EXPECT_TRUE(fs::exists(orphan));

  ASSERT_TRUE(scheduler_->RemoveUnrecordedFiles());
  EXPECT_TRUE(fs::exists(recorded));
  EXPECT_FALSE(fs::exists(orphan));
  EXPECT_FALSE(fs::exists(part));
  EXPECT_TRUE(fs::exists(fresh_part)) << "an upload in progress is left alone";
}

}  // namespace
}  // namespace expsvc::scheduler
