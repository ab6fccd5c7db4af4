// Scheduler logic against a real throwaway PostgreSQL (label: db).

#include "server/scheduler/scheduler.h"

#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "gtest/gtest.h"
#include "server/auth/token_authenticator.h"
#include "server/storage/migrator.h"
#include "server/testing/migrated_database_test.h"
#include "server/scheduler/testing/scheduler_test_fixture.h"
#include "server/testing/postgres_cluster.h"

namespace expsvc::scheduler {
namespace {

namespace v1 = expsvc::v1;
namespace fs = std::filesystem;

using testing::SchedulerTest;

constexpr char kChainSweep[] = R"yaml(
name: chain
stages:
  - name: train
    kind: noop
    grid: {seed: [1, 2]}
  - name: evaluate
    kind: noop
    grid: {seed: [1, 2]}
    depends_on: train
)yaml";

TEST_F(SchedulerTest, MigrationsAreIdempotentAndChecked) {
  auto again = storage::ApplyMigrations(conninfo_, EXPSVC_DEFAULT_MIGRATIONS_DIR);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->applied_now, 0);
  EXPECT_GE(again->already_applied, 1);

  const std::string copy = absl::StrCat(::testing::TempDir(), "/migrations-edited");
  fs::remove_all(copy);
  fs::copy(EXPSVC_DEFAULT_MIGRATIONS_DIR, copy);
  std::ofstream(absl::StrCat(copy, "/0001_initial.up.sql"), std::ios::app) << "\n-- edited\n";
  auto edited = storage::ApplyMigrations(conninfo_, copy);
  ASSERT_FALSE(edited.ok());
  EXPECT_NE(edited.status().message().find("was changed after it was applied"), std::string::npos) << edited.status();
}

TEST_F(SchedulerTest, ChildrenWaitForParents) {
  const int64_t sweep = Submit(kChainSweep);
  EXPECT_EQ(Counts(sweep).queued(), 2);
  EXPECT_EQ(Counts(sweep).waiting(), 2);
  auto first = Lease();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].job().stage(), "train");
  ASSERT_TRUE(Complete(first[0]).ok());
  // Exactly the child matching seed of the finished parent is released.
  EXPECT_EQ(Counts(sweep).queued(), 2);
  EXPECT_EQ(Counts(sweep).waiting(), 1);
  auto next = Lease(4);
  ASSERT_EQ(next.size(), 2u);
  for (const auto& job : next) ASSERT_TRUE(Complete(job).ok());
  auto last = Lease(4);
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].job().stage(), "evaluate");
  ASSERT_TRUE(Complete(last[0]).ok());
  EXPECT_EQ(Counts(sweep).succeeded(), 4);
  EXPECT_EQ(scheduler_->GetSweep(sweep)->state(), "succeeded");
}

TEST_F(SchedulerTest, StaleEpochIsRefusedEverywhere) {
  Submit("name: one\nstages:\n  - {name: a, kind: noop}\n");
  auto leased = Lease();
  ASSERT_EQ(leased.size(), 1u);
  // Another worker takes the job over after the lease expired.
  {
    // The test's TTL is long, so expire the lease by hand.
    pqxx::connection connection(conninfo_);
    pqxx::work txn(connection);
    txn.exec("UPDATE jobs SET lease_expires_at = now() - interval '1 second'");
    txn.commit();
  }
  auto rescued = scheduler_->RescueExpiredLeases();
  ASSERT_TRUE(rescued.ok());
  EXPECT_EQ(rescued->requeued, 1);
  v1::RegisterWorkerRequest registration;
  registration.set_name("second");
  const std::string second = scheduler_->RegisterWorker(registration)->worker_id();
  auto retaken = Lease(1, 64, second);
  ASSERT_EQ(retaken.size(), 1u);
  EXPECT_EQ(retaken[0].epoch(), leased[0].epoch() + 1);
  EXPECT_EQ(retaken[0].job().attempt(), 2);

  absl::Status stale = Complete(leased[0]);
  EXPECT_EQ(stale.code(), absl::StatusCode::kFailedPrecondition) << stale;
  v1::ReportMetricsRequest metrics;
  metrics.mutable_lease()->set_job_id(leased[0].job().id());
  metrics.mutable_lease()->set_epoch(leased[0].epoch());
  auto* point = metrics.add_points();
  point->set_key("loss");
  point->set_value(1.0);
  EXPECT_EQ(scheduler_->ReportMetrics(metrics).status().code(), absl::StatusCode::kFailedPrecondition);
  v1::HeartbeatRequest heartbeat;
  heartbeat.set_worker_id(worker_id_);
  *heartbeat.add_leases() = metrics.lease();
  auto beat = scheduler_->Heartbeat(heartbeat);
  ASSERT_TRUE(beat.ok());
  EXPECT_EQ(beat->leases(0).status(), "lost");

  ASSERT_TRUE(Complete(retaken[0], second).ok());
}

TEST_F(SchedulerTest, MetricsAreIdempotentPerKeyAndStep) {
  Submit("name: one\nstages:\n  - {name: a, kind: noop}\n");
  auto leased = Lease();
  ASSERT_EQ(leased.size(), 1u);
  v1::ReportMetricsRequest request;
  request.mutable_lease()->set_job_id(leased[0].job().id());
  request.mutable_lease()->set_epoch(leased[0].epoch());
  for (int step = 0; step < 5; ++step) {
    auto* point = request.add_points();
    point->set_key("loss");
    point->set_step(step);
    point->set_value(10.0 - step);
  }
  ASSERT_TRUE(scheduler_->ReportMetrics(request).ok());
  ASSERT_TRUE(scheduler_->ReportMetrics(request).ok());  // a retried batch
  v1::QueryMetricsRequest query;
  query.add_job_ids(leased[0].job().id());
  query.set_shape(v1::METRICS_SHAPE_SERIES);
  auto series = scheduler_->QueryMetrics(query);
  ASSERT_TRUE(series.ok()) << series.status();
  ASSERT_EQ(series->series_size(), 1);
  EXPECT_EQ(series->series(0).points_size(), 5);

  // A job resuming from step 2 replaces what came after it.
  v1::ReportMetricsRequest resume;
  *resume.mutable_lease() = request.lease();
  resume.set_has_replace_after_step(true);
  resume.set_replace_after_step(2);
  ASSERT_TRUE(scheduler_->ReportMetrics(resume).ok());
  series = scheduler_->QueryMetrics(query);
  EXPECT_EQ(series->series(0).points_size(), 3);

  query.set_shape(v1::METRICS_SHAPE_TABLE);
  query.set_aggregate(v1::METRICS_AGGREGATE_MIN);
  auto table = scheduler_->QueryMetrics(query);
  ASSERT_TRUE(table.ok());
  ASSERT_EQ(table->rows_size(), 1);
  EXPECT_DOUBLE_EQ(table->rows(0).values().at("loss"), 8.0);
}

TEST_F(SchedulerTest, GroupIsLeasedTogether) {
  const int64_t sweep = Submit(R"yaml(
name: groups
stages:
  - name: sae
    kind: noop
    grid: {checkpoint: [10, 20], layer: [0, 1, 2]}
    group_by: [checkpoint]
)yaml");
  EXPECT_EQ(scheduler_->GetSweep(sweep)->groups(), 2);
  // A group of a group kind is one unit of work: a worker with one free slot
  // takes all of it.
  auto leased = Lease(1, 64, "", {"noop"});
  ASSERT_EQ(leased.size(), 3u);
  for (const auto& job : leased) EXPECT_EQ(job.job().group_key(), leased[0].job().group_key());
  auto second = Lease(16);
  ASSERT_EQ(second.size(), 3u);
  EXPECT_NE(second[0].job().group_key(), leased[0].job().group_key());
}

TEST_F(SchedulerTest, ResourcesLimitWhatIsLeased) {
  Submit("name: big\nstages:\n  - {name: a, kind: noop, resources: {cpu_cores: 4}, grid: {i: [1, 2, 3]}}\n");
  EXPECT_TRUE(Lease(4, 2).empty());
  EXPECT_EQ(Lease(4, 8).size(), 2u);  // two fit in 8 cores, not three
}

TEST_F(SchedulerTest, RetriesThenFailsAndCancelsChildren) {
  const int64_t sweep = Submit(R"yaml(
name: failing
stages:
  - {name: train, kind: noop, max_attempts: 2}
  - {name: evaluate, kind: noop, depends_on: train}
)yaml");
  auto first = Lease();
  ASSERT_EQ(first.size(), 1u);
  auto retried = Fail(first[0], true);
  ASSERT_TRUE(retried.ok());
  EXPECT_EQ(retried->new_state(), v1::JOB_STATE_QUEUED);
  auto second = Lease();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].job().attempt(), 2);
  auto failed = Fail(second[0], true);
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->new_state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(Counts(sweep).failed(), 1);
  EXPECT_EQ(Counts(sweep).cancelled(), 1);
  v1::ListJobsRequest list;
  list.set_sweep_id(sweep);
  list.add_states(v1::JOB_STATE_CANCELLED);
  auto cancelled = scheduler_->ListJobs(list);
  ASSERT_EQ(cancelled->jobs_size(), 1);
  EXPECT_NE(cancelled->jobs(0).error().find("failed"), std::string::npos);

  // Retrying the child alone would leave it waiting for a failed parent forever.
  v1::RetryJobRequest retry_child;
  retry_child.set_job_id(cancelled->jobs(0).id());
  auto refused = scheduler_->RetryJob(retry_child);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_NE(refused.status().message().find(absl::StrCat("retry job ", second[0].job().id())), std::string::npos)
      << refused.status();

  // Retrying the failed parent brings its cancelled child back.
  v1::RetryJobRequest retry;
  retry.set_job_id(second[0].job().id());
  auto requeued = scheduler_->RetryJob(retry);
  ASSERT_TRUE(requeued.ok()) << requeued.status();
  EXPECT_EQ(requeued->requeued_jobs(), 2);
  EXPECT_EQ(Counts(sweep).queued(), 1);
  EXPECT_EQ(Counts(sweep).waiting(), 1);
}

TEST_F(SchedulerTest, CancelledSweepTellsRunningJobs) {
  const int64_t sweep = Submit("name: c\nstages:\n  - {name: a, kind: noop, grid: {i: [1, 2]}}\n");
  auto leased = Lease();
  ASSERT_EQ(leased.size(), 1u);
  v1::CancelSweepRequest cancel;
  cancel.set_sweep_id(sweep);
  auto cancelled = scheduler_->CancelSweep(cancel);
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(cancelled->cancelled_jobs(), 2);
  v1::HeartbeatRequest heartbeat;
  heartbeat.set_worker_id(worker_id_);
  heartbeat.add_leases()->set_job_id(leased[0].job().id());
  heartbeat.mutable_leases(0)->set_epoch(leased[0].epoch());
  auto beat = scheduler_->Heartbeat(heartbeat);
  ASSERT_TRUE(beat.ok());
  EXPECT_EQ(beat->leases(0).status(), "cancelled");
  EXPECT_EQ(Complete(leased[0]).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(scheduler_->GetSweep(sweep)->state(), "cancelled");
}

TEST_F(SchedulerTest, BadInputChangesNothing) {
  const auto before = scheduler_->ListSweeps({})->sweeps_size();
  v1::SubmitSweepRequest request;
  request.set_file_name("bad.yaml");
  for (const char* yaml : {"name: x\nstages: [\n", "name: x\nstages:\n  - {name: a, kind: nosuchkind}\n",
                           "name: x\nstages:\n  - {name: a, kind: sleep, params: {seconds: abc}}\n",
                           "name: x\nstages:\n  - {name: a, kind: noop, depends_on: b}\n  - {name: b, kind: noop, "
                           "depends_on: a}\n",
                           "name: x\nstages:\n  - {name: a, kind: noop, grid: {i: [1,2,3,4,5,6,7,8,9,10], j: "
                           "[1,2,3,4,5,6,7,8,9,10], k: [1,2,3,4,5,6,7,8,9,10,11]}}\n"}) {
    request.set_spec_yaml(yaml);
    auto response = scheduler_->SubmitSweep(request);
    ASSERT_FALSE(response.ok()) << yaml;
    EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument) << response.status();
    EXPECT_NE(response.status().message().find("bad.yaml"), std::string::npos) << response.status();
  }
  EXPECT_EQ(scheduler_->ListSweeps({})->sweeps_size(), before);
  EXPECT_EQ(scheduler_->GetSweep(987654).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(scheduler_->GetJob(987654).status().code(), absl::StatusCode::kNotFound);
  v1::RetryJobRequest retry;
  retry.set_job_id(987654);
  EXPECT_EQ(scheduler_->RetryJob(retry).status().code(), absl::StatusCode::kNotFound);
}

// Found by tests/fuzz/scheduler_requests_fuzzer.cc: an id past 2^31 in a
// filter made PostgreSQL infer `integer` for the parameter and fail
// (INTERNAL). Ids are bigint everywhere.
TEST_F(SchedulerTest, IdsPastTwoToTheThirtyOneAreNotInternalErrors) {
  constexpr int64_t kHuge = 31134149628;
  v1::ListJobsRequest jobs;
  jobs.set_sweep_id(kHuge);
  jobs.set_after_id(kHuge);
  auto listed = scheduler_->ListJobs(jobs);
  EXPECT_NE(listed.status().code(), absl::StatusCode::kInternal) << listed.status();
  v1::ListArtifactsRequest artifacts;
  artifacts.set_job_id(kHuge);
  EXPECT_EQ(scheduler_->ListArtifacts(artifacts).status().code(), absl::StatusCode::kNotFound);
  v1::QueryMetricsRequest metrics;
  metrics.add_job_ids(kHuge);
  auto queried = scheduler_->QueryMetrics(metrics);
  EXPECT_TRUE(queried.ok()) << queried.status();
}

TEST_F(SchedulerTest, IdempotencyKeyReturnsTheSameSweep) {
  const int64_t first = Submit(kChainSweep, "key-1");
  const int64_t second = Submit(kChainSweep, "key-1");
  EXPECT_EQ(first, second);
  EXPECT_EQ(Counts(first).total(), 4);
  EXPECT_NE(Submit(kChainSweep, "key-2"), first);
}

TEST_F(SchedulerTest, TokensAuthenticateByRole) {
  auth::TokenAuthenticator authenticator(store_.get());
  auto token = authenticator.CreateToken("alice", auth::Role::kUser);
  ASSERT_TRUE(token.ok());
  auto role = authenticator.Authenticate(*token);
  ASSERT_TRUE(role.ok());
  EXPECT_EQ(*role, auth::Role::kUser);
  EXPECT_EQ(authenticator.Authenticate("expsvc_wrong").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(authenticator.Authenticate("").status().code(), absl::StatusCode::kUnauthenticated);
  // Only the hash is stored.
  pqxx::connection connection(conninfo_);
  pqxx::work txn(connection);
  EXPECT_TRUE(txn.exec_params("SELECT 1 FROM auth_tokens WHERE token_hash = $1", *token).empty());
  EXPECT_FALSE(txn.exec_params("SELECT 1 FROM auth_tokens WHERE token_hash = $1", Sha256Hex(*token)).empty());
}

TEST_F(SchedulerTest, ArtifactUploadChecksSizeAndChecksum) {
  Submit("name: one\nstages:\n  - {name: a, kind: noop}\n");
  auto leased = Lease();
  ASSERT_EQ(leased.size(), 1u);
  const std::string content = "checkpoint-bytes";
  v1::ArtifactHeader header;
  header.mutable_lease()->set_job_id(leased[0].job().id());
  header.mutable_lease()->set_epoch(leased[0].epoch());
  header.set_name("model.bin");
  header.set_size_bytes(static_cast<int64_t>(content.size()));
  header.set_sha256(Sha256Hex("something else"));
  {
    auto upload = scheduler_->BeginArtifactUpload(header);
    ASSERT_TRUE(upload.ok()) << upload.status();
    ASSERT_TRUE((*upload)->Append(content).ok());
    EXPECT_EQ(scheduler_->FinishArtifactUpload(header, **upload).status().code(), absl::StatusCode::kDataLoss);
  }
  header.set_sha256(Sha256Hex(content));
  auto upload = scheduler_->BeginArtifactUpload(header);
  ASSERT_TRUE(upload.ok());
  ASSERT_TRUE((*upload)->Append(content).ok());
  auto stored = scheduler_->FinishArtifactUpload(header, **upload);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->size_bytes(), static_cast<int64_t>(content.size()));
  auto fetched = scheduler_->GetArtifact(stored->id());
  ASSERT_TRUE(fetched.ok());
  EXPECT_EQ(*Sha256HexOfFile(fetched->storage_path), Sha256Hex(content));

  header.set_name("../escape");
  EXPECT_EQ(scheduler_->BeginArtifactUpload(header).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SchedulerTest, ReleasedJobSeesItsCheckpointWhenLeasedAgain) {
  Submit("name: one\nstages:\n  - {name: a, kind: noop}\n");
  auto leased = Lease();
  ASSERT_EQ(leased.size(), 1u);
  const std::string content = "{\"step\": 3}";
  v1::ArtifactHeader header;
  header.mutable_lease()->set_job_id(leased[0].job().id());
  header.mutable_lease()->set_epoch(leased[0].epoch());
  header.set_name("checkpoint.json");
  header.set_size_bytes(static_cast<int64_t>(content.size()));
  header.set_sha256(Sha256Hex(content));
  auto upload = scheduler_->BeginArtifactUpload(header);
  ASSERT_TRUE(upload.ok());
  ASSERT_TRUE((*upload)->Append(content).ok());
  ASSERT_TRUE(scheduler_->FinishArtifactUpload(header, **upload).ok());
  v1::FailJobRequest release;
  release.set_worker_id(worker_id_);
  *release.mutable_lease() = header.lease();
  release.set_release(true);
  release.set_reason("worker shutting down");
  ASSERT_TRUE(scheduler_->FailJob(release).ok());

  auto again = Lease();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].job().attempt(), 1) << "a release does not spend an attempt";
  ASSERT_EQ(again[0].own_artifacts_size(), 1) << "the checkpoint must be offered for resumption";
  EXPECT_EQ(again[0].own_artifacts(0).name(), "checkpoint.json");
}

}  // namespace
}  // namespace expsvc::scheduler
