// PostgresStore against a real throwaway PostgreSQL (label: db): the claim
// under concurrency, group claims, and the lease epoch as a fencing token.
// server/scheduler/scheduler_test.cc covers the same store through the
// scheduler; these tests hold the store's own promises.

#include "server/storage/postgres_store.h"

#include <algorithm>
#include <barrier>
#include <cstdio>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "server/storage/migrator.h"
#include "server/testing/migrated_database_test.h"
#include "server/testing/postgres_cluster.h"

namespace expsvc::storage {
namespace {

namespace v1 = expsvc::v1;

class PostgresStoreTest : public expsvc::testing::MigratedDatabaseTest {
 protected:
  void SetUp() override {
    CreateMigratedDatabase("postgres_store_test");
    if (HasFatalFailure()) return;
    auto store = PostgresStore::Open(conninfo_, 4);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    worker_a_ = RegisterWorker("a");
    worker_b_ = RegisterWorker("b");
  }

  std::string RegisterWorker(const std::string& name) {
    v1::RegisterWorkerRequest request;
    request.set_name(name);
    auto id = store_->RegisterWorker(request);
    EXPECT_TRUE(id.ok()) << id.status();
    return id.ok() ? *id : "";
  }

  static PlannedJob Job(int seed, const std::string& group_key = "", int priority = 0, int cpu_cores = 1) {
    PlannedJob job;
    job.stage = "train";
    job.kind = "noop";
    job.params = {{"seed", seed}};
    job.priority = priority;
    job.group_key = group_key;
    job.resources.cpu_cores = cpu_cores;
    job.resources.memory_mb = 16;
    return job;
  }

  // Stores `jobs` as one sweep; returns the new jobs' ids in plan order.
  std::vector<int64_t> CreateSweep(std::vector<PlannedJob> jobs) {
    SweepPlan plan;
    plan.name = "store-test";
    plan.jobs = std::move(jobs);
    auto created = store_->CreateSweep(plan, "name: store-test\n", "");
    EXPECT_TRUE(created.ok()) << created.status();
    if (!created.ok()) return {};
    std::vector<int64_t> ids;
    for (const auto& row :
         Query(absl::StrCat("SELECT id FROM jobs WHERE sweep_id = ", created->sweep_id, " ORDER BY id"))) {
      ids.push_back(row[0].as<int64_t>());
    }
    EXPECT_EQ(ids.size(), plan.jobs.size());
    return ids;
  }

  // whole_groups: the worker runs "noop" as a group kind (groups leased whole).
  static ClaimRequest Claim(const std::string& worker_id, int max_jobs, int cpu_cores = 64,
                            bool whole_groups = false) {
    ClaimRequest request;
    request.worker_id = worker_id;
    request.free_cpu_cores = cpu_cores;
    request.free_memory_mb = 1 << 20;
    request.free_gpus = 8;
    request.max_jobs = max_jobs;
    request.kinds = {"noop"};
    if (whole_groups) request.group_kinds = {"noop"};
    request.lease_ttl_ms = 60000;
    return request;
  }

  // Claims and returns the leased jobs' ids, failing the test on an error.
  std::vector<int64_t> ClaimIds(const ClaimRequest& request) {
    auto leased = store_->ClaimJobs(request);
    EXPECT_TRUE(leased.ok()) << leased.status();
    std::vector<int64_t> ids;
    if (leased.ok()) {
      for (const auto& job : *leased) ids.push_back(job.job().id());
    }
    return ids;
  }

  std::unique_ptr<PostgresStore> store_;
  std::string worker_a_;
  std::string worker_b_;
};

// Two claimers, each on its own connection, claim until the queue is empty
// at once: every job is leased exactly once.
TEST_F(PostgresStoreTest, ConcurrentClaimsNeverLeaseAJobTwice) {
  for (int max_jobs : {1, 4}) {
    SCOPED_TRACE(absl::StrCat("max_jobs ", max_jobs));
    std::vector<PlannedJob> plan;
    for (int i = 0; i < 200; ++i) plan.push_back(Job(i, "", /*priority=*/i % 3));
    const std::vector<int64_t> all_ids = CreateSweep(std::move(plan));
    ASSERT_EQ(all_ids.size(), 200u);

    std::barrier start(2);
    std::vector<int64_t> claimed[2];
    std::vector<std::string> errors[2];
    const std::string workers[2] = {worker_a_, worker_b_};
    auto claim_until_empty = [&](int claimer) {
      start.arrive_and_wait();
      while (true) {
        auto leased = store_->ClaimJobs(Claim(workers[claimer], max_jobs));
        if (!leased.ok()) {
          errors[claimer].push_back(leased.status().ToString());
          return;
        }
        if (leased->empty()) return;
        if (static_cast<int>(leased->size()) > max_jobs) errors[claimer].push_back("more jobs than max_jobs");
        for (const auto& job : *leased) claimed[claimer].push_back(job.job().id());
      }
    };
    std::thread first(claim_until_empty, 0);
    std::thread second(claim_until_empty, 1);
    first.join();
    second.join();
    EXPECT_TRUE(errors[0].empty()) << errors[0].front();
    EXPECT_TRUE(errors[1].empty()) << errors[1].front();

    const std::set<int64_t> by_first(claimed[0].begin(), claimed[0].end());
    const std::set<int64_t> by_second(claimed[1].begin(), claimed[1].end());
    EXPECT_EQ(by_first.size(), claimed[0].size()) << "a claimer was given a job twice";
    EXPECT_EQ(by_second.size(), claimed[1].size()) << "a claimer was given a job twice";
    std::vector<int64_t> both;
    std::set_intersection(by_first.begin(), by_first.end(), by_second.begin(), by_second.end(),
                          std::back_inserter(both));
    EXPECT_TRUE(both.empty()) << both.size() << " jobs leased to both claimers, e.g. job " << both.front();
    std::set<int64_t> either = by_first;
    either.insert(by_second.begin(), by_second.end());
    EXPECT_EQ(either, std::set<int64_t>(all_ids.begin(), all_ids.end()));

    // The database agrees: each job running once, under its claimer.
    for (int claimer = 0; claimer < 2; ++claimer) {
      if (claimed[claimer].empty()) continue;
      EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM jobs WHERE state = 'running' AND lease_epoch = 1 AND "
                                   "attempt = 1 AND worker_id = '",
                                   workers[claimer], "' AND id = ANY('{", absl::StrJoin(claimed[claimer], ","),
                                   "}'::bigint[])")),
                static_cast<int64_t>(claimed[claimer].size()));
    }
    EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE state = 'queued'"), 0);
    std::printf("max_jobs %d: %zu and %zu jobs claimed\n", max_jobs, claimed[0].size(), claimed[1].size());
  }
}

// A grouped head of a group kind brings every ready member of its group, past
// max_jobs and past the summed free resources (each member must fit on its
// own); a member still waiting on a parent stays behind.
TEST_F(PostgresStoreTest, GroupedHeadLeasesItsReadyMembersTogether) {
  std::vector<PlannedJob> plan;
  plan.push_back(Job(0, "", /*priority=*/0));  // ungrouped, lower priority: not part of the group's claim
  for (int i = 1; i <= 5; ++i) plan.push_back(Job(i, "layer-group", /*priority=*/5, /*cpu_cores=*/2));
  PlannedJob waiting = Job(6, "layer-group", /*priority=*/5, /*cpu_cores=*/2);
  waiting.parents = {0};
  plan.push_back(waiting);
  plan.push_back(Job(7, "other-group", /*priority=*/1));
  const std::vector<int64_t> ids = CreateSweep(std::move(plan));
  ASSERT_EQ(ids.size(), 8u);

  auto leased = store_->ClaimJobs(Claim(worker_a_, /*max_jobs=*/1, /*cpu_cores=*/3, /*whole_groups=*/true));
  ASSERT_TRUE(leased.ok()) << leased.status();
  ASSERT_EQ(leased->size(), 5u);
  for (int i = 0; i < 5; ++i) {
    const v1::LeasedJob& job = (*leased)[i];
    EXPECT_EQ(job.job().id(), ids[i + 1]);
    EXPECT_EQ(job.job().group_key(), "layer-group");
    EXPECT_EQ(job.epoch(), 1);
    EXPECT_EQ(job.job().state(), v1::JOB_STATE_RUNNING);
    EXPECT_EQ(job.job().worker_id(), worker_a_);
    EXPECT_GT(job.lease_expires_at_ms(), 0);
  }
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM jobs WHERE id = ", ids[6], " AND state = 'waiting'")), 1);

  // The next claim starts on the other group, which has one member.
  EXPECT_EQ(ClaimIds(Claim(worker_b_, 4)), std::vector<int64_t>{ids[7]});
  // Then the ungrouped job; after that nothing is ready.
  EXPECT_EQ(ClaimIds(Claim(worker_b_, 4)), std::vector<int64_t>{ids[0]});
  EXPECT_TRUE(ClaimIds(Claim(worker_b_, 4)).empty());
}

// Ungrouped jobs come up to max_jobs, and only while their summed resources
// fit; grouped jobs never join an ungrouped head's claim.
TEST_F(PostgresStoreTest, UngroupedClaimsRespectMaxJobsAndFreeResources) {
  std::vector<PlannedJob> plan;
  for (int i = 0; i < 6; ++i) plan.push_back(Job(i, "", /*priority=*/1, /*cpu_cores=*/2));
  for (int i = 6; i < 9; ++i) plan.push_back(Job(i, "late-group", /*priority=*/0, /*cpu_cores=*/2));
  const std::vector<int64_t> ids = CreateSweep(std::move(plan));
  ASSERT_EQ(ids.size(), 9u);

  // max_jobs binds.
  EXPECT_EQ(ClaimIds(Claim(worker_a_, /*max_jobs=*/2)), (std::vector<int64_t>{ids[0], ids[1]}));
  // Free cores bind: 2 + 2 fit in 5, a third would not.
  EXPECT_EQ(ClaimIds(Claim(worker_a_, /*max_jobs=*/10, /*cpu_cores=*/5)), (std::vector<int64_t>{ids[2], ids[3]}));
  // The rest of the ungrouped jobs, without the group queued behind them.
  EXPECT_EQ(ClaimIds(Claim(worker_a_, /*max_jobs=*/10)), (std::vector<int64_t>{ids[4], ids[5]}));
  // A job that does not fit on its own is never leased.
  EXPECT_TRUE(ClaimIds(Claim(worker_a_, /*max_jobs=*/10, /*cpu_cores=*/1)).empty());
  EXPECT_EQ(ClaimIds(Claim(worker_a_, /*max_jobs=*/1, 64, /*whole_groups=*/true)),
            (std::vector<int64_t>{ids[6], ids[7], ids[8]}));
}

// gpu_memory_gb is per device: a job is leased only when the worker's largest
// free GPU has that much, and GPU counts (not memory) add up within a claim.
TEST_F(PostgresStoreTest, ClaimsMatchGpuCountAndPerDeviceMemory) {
  std::vector<PlannedJob> plan;
  for (int i = 0; i < 3; ++i) {
    PlannedJob job = Job(i);
    job.resources.gpus = 1;
    job.resources.gpu_memory_gb = i == 0 ? 120 : 40;
    plan.push_back(job);
  }
  const std::vector<int64_t> ids = CreateSweep(std::move(plan));
  ASSERT_EQ(ids.size(), 3u);

  ClaimRequest small = Claim(worker_a_, /*max_jobs=*/10);
  small.free_gpus = 2;
  small.free_gpu_memory_gb = 80;
  // The 120 GiB job is skipped; the two 40 GiB ones come, one device each.
  EXPECT_EQ(ClaimIds(small), (std::vector<int64_t>{ids[1], ids[2]}));
  ClaimRequest no_gpu = Claim(worker_a_, /*max_jobs=*/10);
  no_gpu.free_gpus = 0;
  no_gpu.free_gpu_memory_gb = 0;
  EXPECT_TRUE(ClaimIds(no_gpu).empty());
  ClaimRequest large = Claim(worker_a_, /*max_jobs=*/10);
  large.free_gpus = 1;
  large.free_gpu_memory_gb = 140;
  const auto leased = store_->ClaimJobs(large);
  ASSERT_TRUE(leased.ok()) << leased.status();
  ASSERT_EQ(leased->size(), 1u);
  EXPECT_EQ((*leased)[0].job().id(), ids[0]);
  EXPECT_EQ((*leased)[0].job().resources().gpu_memory_gb(), 120);  // read back with the job
}

// A group of a kind the worker runs job by job comes at most max_jobs members
// at a time (and only while their resources fit together), never mixed with
// ungrouped jobs; the group's next queued member heads the next claim. A
// worker killed mid-group thus costs at most its slots in attempts.
TEST_F(PostgresStoreTest, PlainKindGroupComesAtMostMaxJobsMembersAtATime) {
  std::vector<PlannedJob> plan;
  for (int i = 0; i < 5; ++i) plan.push_back(Job(i, "sleepers", /*priority=*/1, /*cpu_cores=*/2));
  plan.push_back(Job(5, "", /*priority=*/0));
  const std::vector<int64_t> ids = CreateSweep(std::move(plan));
  ASSERT_EQ(ids.size(), 6u);
  EXPECT_EQ(ClaimIds(Claim(worker_a_, /*max_jobs=*/2)), (std::vector<int64_t>{ids[0], ids[1]}));
  // Free cores bind too: 2 + 2 do not fit in 3.
  EXPECT_EQ(ClaimIds(Claim(worker_b_, /*max_jobs=*/4, /*cpu_cores=*/3)), (std::vector<int64_t>{ids[2]}));
  EXPECT_EQ(ClaimIds(Claim(worker_b_, /*max_jobs=*/4)), (std::vector<int64_t>{ids[3], ids[4]}));
  EXPECT_EQ(ClaimIds(Claim(worker_b_, /*max_jobs=*/4)), (std::vector<int64_t>{ids[5]}));
}

// Concurrent claimers on grouped work: each claim is one whole group, and no
// group is split between claimers.
TEST_F(PostgresStoreTest, ConcurrentGroupClaimsNeverSplitAGroup) {
  constexpr int kGroups = 30;
  constexpr int kMembers = 4;
  std::vector<PlannedJob> plan;
  for (int member = 0; member < kMembers; ++member) {
    // Interleaved, so a group's members are not adjacent ids.
    for (int group = 0; group < kGroups; ++group) {
      plan.push_back(Job(group * kMembers + member, absl::StrCat("g", group)));
    }
  }
  ASSERT_EQ(CreateSweep(std::move(plan)).size(), static_cast<size_t>(kGroups * kMembers));

  std::barrier start(2);
  std::vector<std::vector<v1::LeasedJob>> claims[2];
  std::vector<std::string> errors[2];
  const std::string workers[2] = {worker_a_, worker_b_};
  auto claim_until_empty = [&](int claimer) {
    start.arrive_and_wait();
    while (true) {
      auto leased = store_->ClaimJobs(Claim(workers[claimer], /*max_jobs=*/1, 64, /*whole_groups=*/true));
      if (!leased.ok()) {
        errors[claimer].push_back(leased.status().ToString());
        return;
      }
      if (leased->empty()) return;
      claims[claimer].push_back(std::move(*leased));
    }
  };
  std::thread first(claim_until_empty, 0);
  std::thread second(claim_until_empty, 1);
  first.join();
  second.join();
  EXPECT_TRUE(errors[0].empty()) << errors[0].front();
  EXPECT_TRUE(errors[1].empty()) << errors[1].front();

  std::set<std::string> groups_seen;
  int64_t jobs_seen = 0;
  for (const auto& claimer_claims : claims) {
    for (const auto& claim : claimer_claims) {
      ASSERT_EQ(claim.size(), static_cast<size_t>(kMembers)) << "a group was split";
      const std::string& group = claim[0].job().group_key();
      for (const auto& job : claim) EXPECT_EQ(job.job().group_key(), group);
      EXPECT_TRUE(groups_seen.insert(group).second) << "group " << group << " leased twice";
      jobs_seen += static_cast<int64_t>(claim.size());
    }
  }
  EXPECT_EQ(groups_seen.size(), static_cast<size_t>(kGroups));
  EXPECT_EQ(jobs_seen, kGroups * kMembers);
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE state <> 'running' OR lease_epoch <> 1"), 0);
}

// Once a lease expired and the job was claimed again (a new epoch), the old
// epoch is refused everywhere and writes nothing, even from the same worker;
// the current epoch still works.
TEST_F(PostgresStoreTest, StaleEpochIsRefusedAndWritesNothing) {
  const std::vector<int64_t> ids = CreateSweep({Job(1)});
  ASSERT_EQ(ids.size(), 1u);
  const int64_t job_id = ids[0];

  ClaimRequest short_lease = Claim(worker_a_, 1);
  short_lease.lease_ttl_ms = 1;
  auto first = store_->ClaimJobs(short_lease);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 1u);
  v1::JobLease stale;
  stale.set_job_id(job_id);
  stale.set_epoch((*first)[0].epoch());
  ASSERT_EQ(stale.epoch(), 1);

  // Written while the lease was current: must survive the stale writes below.
  v1::ReportMetricsRequest early;
  *early.mutable_lease() = stale;
  for (int step = 1; step <= 3; ++step) {
    auto* point = early.add_points();
    point->set_key("loss");
    point->set_step(step);
    point->set_value(1.0 / step);
  }
  auto written = store_->WriteMetrics(early);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(*written, 3);
  // The same batch again (a retried call) changes nothing and counts nothing
  // twice; a changed value and a new step are written, and the summaries the
  // metrics table reads follow (mean over steps 1..4: (1 + 0.5 + 3 + 0.25) / 4).
  auto repeated = store_->WriteMetrics(early);
  ASSERT_TRUE(repeated.ok()) << repeated.status();
  EXPECT_EQ(*repeated, 0);
  v1::ReportMetricsRequest revised = early;
  revised.mutable_points(2)->set_value(3.0);
  auto* fourth = revised.add_points();
  fourth->set_key("loss");
  fourth->set_step(4);
  fourth->set_value(0.25);
  auto revised_written = store_->WriteMetrics(revised);
  ASSERT_TRUE(revised_written.ok()) << revised_written.status();
  EXPECT_EQ(*revised_written, 2);
  v1::QueryMetricsRequest mean;
  mean.add_job_ids(job_id);
  mean.set_shape(v1::METRICS_SHAPE_TABLE);
  mean.set_aggregate(v1::METRICS_AGGREGATE_MEAN);
  auto means = store_->QueryMetrics(mean);
  ASSERT_TRUE(means.ok()) << means.status();
  ASSERT_EQ(means->rows_size(), 1);
  EXPECT_DOUBLE_EQ(means->rows(0).values().at("loss"), (1 + 0.5 + 3 + 0.25) / 4);
  mean.set_aggregate(v1::METRICS_AGGREGATE_LAST);
  EXPECT_DOUBLE_EQ(store_->QueryMetrics(mean)->rows(0).values().at("loss"), 0.25);

  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto rescued = store_->RescueExpiredLeases(/*backoff_base_ms=*/0, /*backoff_max_ms=*/0,
                                             /*max_free_interruptions=*/20);
  ASSERT_TRUE(rescued.ok()) << rescued.status();
  EXPECT_EQ(rescued->requeued, 1);
  auto second = store_->ClaimJobs(Claim(worker_a_, 1));
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->size(), 1u);
  v1::JobLease current;
  current.set_job_id(job_id);
  current.set_epoch((*second)[0].epoch());
  ASSERT_EQ(current.epoch(), 2);

  const std::string job_row = absl::StrCat(
      "SELECT state, lease_epoch, worker_id, lease_expires_at::text, attempt FROM jobs WHERE id = ", job_id);
  const std::string lease_before = Query(job_row)[0][3].c_str();
  const int64_t log_lines_before = Count(absl::StrCat("SELECT count(*) FROM job_logs WHERE job_id = ", job_id));

  auto expect_stale = [&](const absl::Status& status, const char* what) {
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << what << ": " << status;
    EXPECT_NE(status.message().find("stale lease"), std::string_view::npos) << what << ": " << status;
  };
  expect_stale(store_->CheckLease(stale).status(), "CheckLease");

  v1::ReportMetricsRequest late;
  *late.mutable_lease() = stale;
  late.set_has_replace_after_step(true);
  late.set_replace_after_step(0);
  auto* point = late.add_points();
  point->set_key("stale-key");
  point->set_step(9);
  point->set_value(9);
  expect_stale(store_->WriteMetrics(late).status(), "WriteMetrics");

  expect_stale(store_->AppendLogs(stale, {"from the old attempt"}), "AppendLogs");
  expect_stale(store_->RecordArtifact(stale, "model.pt", 10, std::string(64, 'a'), "/artifacts/stale").status(),
               "RecordArtifact");
  expect_stale(store_->FailJob(worker_a_, stale, "boom", /*retryable=*/true, /*release=*/false, 0, 0).status(),
               "FailJob");

  // Renew and complete answer per lease, in one statement for many.
  auto renewed = store_->RenewLeases(worker_a_, {stale}, 60000);
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  ASSERT_EQ(renewed->size(), 1u);
  EXPECT_EQ((*renewed)[0].status(), "lost");
  EXPECT_EQ((*renewed)[0].lease_expires_at_ms(), 0);
  auto completed = store_->CompleteJobs(worker_a_, {stale});
  ASSERT_TRUE(completed.ok()) << completed.status();
  ASSERT_EQ(completed->size(), 1u);
  EXPECT_EQ((*completed)[0].status(), "stale epoch 1 (current 2)");

  // Nothing was written.
  pqxx::result after = Query(job_row);
  EXPECT_STREQ(after[0][0].c_str(), "running");
  EXPECT_EQ(after[0][1].as<int64_t>(), 2);
  EXPECT_EQ(after[0][2].c_str(), worker_a_);
  EXPECT_EQ(after[0][3].c_str(), lease_before) << "a stale renew moved the lease";
  EXPECT_EQ(after[0][4].as<int>(), 2);
  // Steps 1..4, written while the lease was current.
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM metrics WHERE job_id = ", job_id, " AND key = 'loss'")), 4)
      << "a stale replace_after_step deleted points";
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM metrics WHERE job_id = ", job_id, " AND key = 'stale-key'")), 0);
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM job_logs WHERE job_id = ", job_id)), log_lines_before);
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM artifacts WHERE job_id = ", job_id)), 0);

  // The current epoch is accepted for each of them.
  v1::ReportMetricsRequest fresh = late;
  *fresh.mutable_lease() = current;
  auto fresh_written = store_->WriteMetrics(fresh);
  ASSERT_TRUE(fresh_written.ok()) << fresh_written.status();
  EXPECT_EQ(*fresh_written, 1);
  EXPECT_TRUE(store_->AppendLogs(current, {"from the new attempt"}).ok());
  auto artifact = store_->RecordArtifact(current, "model.pt", 10, std::string(64, 'a'), "/artifacts/current");
  ASSERT_TRUE(artifact.ok()) << artifact.status();
  EXPECT_EQ(artifact->first.ref.attempt(), 2);
  auto renewed_now = store_->RenewLeases(worker_a_, {current}, 60000);
  ASSERT_TRUE(renewed_now.ok()) << renewed_now.status();
  EXPECT_EQ((*renewed_now)[0].status(), "ok");
  auto completed_now = store_->CompleteJobs(worker_a_, {current});
  ASSERT_TRUE(completed_now.ok()) << completed_now.status();
  EXPECT_EQ((*completed_now)[0].status(), "ok");
  EXPECT_STREQ(Query(job_row)[0][0].c_str(), "succeeded");
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM job_logs WHERE job_id = ", job_id, " AND attempt = 2")), 1);
}

}  // namespace
}  // namespace expsvc::storage
