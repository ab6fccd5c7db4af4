// End to end over loopback with a real PostgreSQL: the scheduler and worker
// binaries as processes, expctl as users run it (label: e2e).

#include <signal.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "expsvc/v1/jobs.grpc.pb.h"
#include "expsvc/v1/metrics.grpc.pb.h"
#include "expsvc/v1/sweeps.grpc.pb.h"
#include "expsvc/v1/workers.grpc.pb.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "common/net/scheduler_target.h"
#include "tests/support/local_stack.h"

namespace expsvc::testing {
namespace {

namespace v1 = expsvc::v1;

std::string WriteSweep(const LocalStack& stack, const std::string& name, const std::string& yaml) {
  const std::string path = absl::StrCat(stack.directory(), "/", name);
  std::ofstream(path) << yaml;
  return path;
}

int64_t SubmittedSweepId(const CommandResult& result) {
  std::istringstream words(result.out);
  std::string first;
  int64_t id = 0;
  words >> first >> id;
  return first == "sweep" ? id : 0;
}

class ServiceE2eTest : public ::testing::Test {
 protected:
  void StartStack(LocalStack::Options options = {}) {
    auto stack = LocalStack::Start(options);
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = std::move(*stack);
  }

  std::unique_ptr<grpc::ClientContext> Context(const std::string& token) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->AddMetadata("authorization", absl::StrCat("Bearer ", token));
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return context;
  }

  // Over every replica, failing over as workers and expctl do.
  std::shared_ptr<grpc::Channel> Channel() {
    return grpc::CreateChannel(net::SchedulerTarget(stack_->address()).value(), grpc::InsecureChannelCredentials());
  }

  std::vector<v1::Job> Jobs(int64_t sweep_id) {
    auto stub = v1::JobService::NewStub(Channel());
    std::vector<v1::Job> jobs;
    int64_t after = 0;
    while (true) {
      v1::ListJobsRequest request;
      request.set_sweep_id(sweep_id);
      request.set_limit(1000);
      request.set_after_id(after);
      v1::ListJobsResponse response;
      EXPECT_TRUE(stub->ListJobs(Context(stack_->user_token()).get(), request, &response).ok());
      if (response.jobs_size() == 0) break;
      for (const auto& job : response.jobs()) jobs.push_back(job);
      after = response.jobs(response.jobs_size() - 1).id();
    }
    return jobs;
  }

  // Twenty jobs of about a second each, through expctl; the sweep's id.
  int64_t SubmitTwentySleepers(const std::string& name) {
    const std::string path = WriteSweep(*stack_, name + ".yaml", absl::StrCat("name: ", name, R"yaml(
stages:
  - name: work
    kind: sleep
    params: {seconds: 0.3, steps: 3}
    grid: {i: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]}
)yaml"));
    CommandResult submitted = stack_->Expctl({"submit", path});
    EXPECT_EQ(submitted.exit_code, 0) << submitted.err;
    return SubmittedSweepId(submitted);
  }

  int Succeeded(int64_t sweep_id) {
    int count = 0;
    for (const auto& job : Jobs(sweep_id)) count += job.state() == v1::JOB_STATE_SUCCEEDED;
    return count;
  }

  std::unique_ptr<LocalStack> stack_;
};

TEST_F(ServiceE2eTest, TwoHundredJobSweepWithDependenciesAndGroupsRunsEachJobOnce) {
  StartStack();
  ASSERT_TRUE(stack_->StartWorker(4, "w0").ok());
  ASSERT_TRUE(stack_->StartWorker(4, "w1").ok());
  std::string indices = "[";
  for (int i = 0; i < 50; ++i) absl::StrAppend(&indices, i == 0 ? "" : ", ", i);
  indices += "]";
  const std::string path = WriteSweep(*stack_, "two-hundred.yaml",
                                      absl::StrCat(R"yaml(
name: two-hundred
stages:
  - name: prepare
    kind: noop
    grid: {i: )yaml",
                                                   indices, R"yaml(}
  - name: train
    kind: sleep
    depends_on: prepare
    params: {seconds: 0.02, steps: 2}
    grid: {i: )yaml",
                                                   indices, R"yaml(}
  - name: analyse
    kind: noop
    depends_on: train
    group_by: [i]
    grid: {i: )yaml",
                                                   indices, R"yaml(, layer: [0, 1]}
)yaml"));
  CommandResult dry = stack_->Expctl({"submit", "--dry-run", "--output", "json", path});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  auto plan = nlohmann::json::parse(dry.out);
  EXPECT_EQ(plan["jobs"], 200);
  EXPECT_EQ(plan["groups"], 50);

  CommandResult submitted = stack_->Expctl({"submit", path});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.err;
  const int64_t sweep_id = SubmittedSweepId(submitted);
  ASSERT_GT(sweep_id, 0) << submitted.out;
  CommandResult watched = stack_->Expctl({"watch", std::to_string(sweep_id), "--interval", "200"});
  EXPECT_EQ(watched.exit_code, 0) << watched.out << watched.err;

  auto jobs = Jobs(sweep_id);
  ASSERT_EQ(jobs.size(), 200u);
  std::set<std::string> workers;
  for (const auto& job : jobs) {
    EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.id() << " " << job.error();
    EXPECT_EQ(job.attempt(), 1) << "job " << job.id() << " ran more than once";
    workers.insert(job.worker_id());
  }
  EXPECT_EQ(workers.size(), 2u) << "both workers should have taken work";
  // No worker ran more jobs at once than its 4 slots, groups included: a
  // group of a kind run job by job is leased a slot's worth at a time.
  std::map<std::string, std::vector<std::pair<int64_t, int>>> edges;  // worker -> (time, +1/-1)
  std::set<std::string> groups;
  for (const auto& job : jobs) {
    if (!job.group_key().empty()) groups.insert(job.group_key());
    edges[job.worker_id()].push_back({job.started_at_ms(), +1});
    edges[job.worker_id()].push_back({job.finished_at_ms(), -1});
  }
  EXPECT_EQ(groups.size(), 50u);
  for (auto& [worker, events] : edges) {
    std::sort(events.begin(), events.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first < b.first : a.second < b.second;  // ends before starts at a tie
    });
    int running = 0, most = 0;
    for (const auto& [time, delta] : events) most = std::max(most, running += delta);
    EXPECT_LE(most, 4) << "worker " << worker << " ran " << most << " jobs at once";
  }

  CommandResult metrics = stack_->Expctl({"metrics", std::to_string(sweep_id), "--format", "json"});
  ASSERT_EQ(metrics.exit_code, 0) << metrics.err;
  auto rows = nlohmann::json::parse(metrics.out);
  ASSERT_TRUE(rows.is_array());
  EXPECT_EQ(rows.size(), 200u);
}

TEST_F(ServiceE2eTest, KilledWorkerJobIsRescuedAndCompletesOnceWithoutDuplicatePoints) {
  StartStack();
  const std::string path = WriteSweep(*stack_, "long.yaml", R"yaml(
name: long
stages:
  - name: train
    kind: sleep
    params: {seconds: 6, steps: 12, checkpoint_every: 3}
)yaml");
  CommandResult submitted = stack_->Expctl({"submit", path});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.err;
  const int64_t sweep_id = SubmittedSweepId(submitted);
  ASSERT_TRUE(stack_->StartWorker(1, "doomed").ok());

  // Wait until the job is past its first checkpoint, then kill the worker.
  auto metrics_stub = v1::MetricsService::NewStub(Channel());
  auto progress_points = [&] {
    v1::QueryMetricsRequest query;
    query.set_sweep_id(sweep_id);
    query.add_keys("progress");
    query.set_shape(v1::METRICS_SHAPE_SERIES);
    v1::QueryMetricsResponse response;
    if (!metrics_stub->QueryMetrics(Context(stack_->user_token()).get(), query, &response).ok()) return -1;
    return response.series_size() == 0 ? 0 : response.series(0).points_size();
  };
  ASSERT_TRUE(WaitFor([&] { return progress_points() >= 5; }, 30));
  stack_->StopWorker(0, SIGKILL);

  ASSERT_TRUE(stack_->StartWorker(1, "rescuer").ok());
  CommandResult watched = stack_->Expctl({"watch", std::to_string(sweep_id), "--interval", "200"});
  EXPECT_EQ(watched.exit_code, 0) << watched.out << watched.err;
  auto jobs = Jobs(sweep_id);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].state(), v1::JOB_STATE_SUCCEEDED);
  // The killed attempt had stored a checkpoint: it was interrupted, not
  // failing, so it did not spend an attempt.
  EXPECT_EQ(jobs[0].attempt(), 1);
  CommandResult series = stack_->Expctl({"metrics", std::to_string(sweep_id), "--series", "--keys", "progress"});
  EXPECT_EQ(progress_points(), 12) << "one point per step, none duplicated\n" << series.out;

  CommandResult logs = stack_->Expctl({"logs", std::to_string(jobs[0].id())});
  EXPECT_EQ(logs.exit_code, 0);
  EXPECT_NE(logs.out.find("lease expired after a checkpoint"), std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find("resum"), std::string::npos) << "the second attempt resumes from its checkpoint\n"
                                                       << logs.out;
}

TEST_F(ServiceE2eTest, SchedulerRestartMidSweepLosesNothing) {
  LocalStack::Options options;
  options.lease_ttl_ms = 10000;
  StartStack(options);
  ASSERT_TRUE(stack_->StartWorker(2, "w0").ok());
  const int64_t sweep_id = SubmitTwentySleepers("restart");
  ASSERT_GT(sweep_id, 0);
  ASSERT_TRUE(WaitFor([&] { return Succeeded(sweep_id) >= 4; }, 30));
  stack_->StopScheduler(SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  ASSERT_TRUE(stack_->StartScheduler().ok());
  CommandResult watched = stack_->Expctl({"watch", std::to_string(sweep_id), "--interval", "200"});
  EXPECT_EQ(watched.exit_code, 0) << watched.out << watched.err;
  auto jobs = Jobs(sweep_id);
  ASSERT_EQ(jobs.size(), 20u);
  for (const auto& job : jobs) EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.error();
}

// Two replicas on one database; the worker and expctl are given both. The
// replica they use is killed mid-sweep: they carry on through the other, and
// every job still runs to success exactly once.
TEST_F(ServiceE2eTest, WorkersAndExpctlFailOverBetweenSchedulerReplicas) {
  LocalStack::Options options;
  options.lease_ttl_ms = 10000;
  options.replicas = 2;
  StartStack(options);
  ASSERT_TRUE(stack_->StartWorker(2, "w0").ok());
  const int64_t sweep_id = SubmitTwentySleepers("replicas");
  ASSERT_GT(sweep_id, 0);
  ASSERT_TRUE(WaitFor([&] { return Succeeded(sweep_id) >= 4; }, 30));
  stack_->StopReplica(0, SIGKILL);  // the one everybody was talking to
  CommandResult watched = stack_->Expctl({"watch", std::to_string(sweep_id), "--interval", "200"});
  EXPECT_EQ(watched.exit_code, 0) << watched.out << watched.err;
  auto jobs = Jobs(sweep_id);
  ASSERT_EQ(jobs.size(), 20u);
  for (const auto& job : jobs) EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.error();
  CommandResult listed = stack_->Expctl({"ls", "jobs", "--sweep", std::to_string(sweep_id), "--state", "succeeded"});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
}

TEST_F(ServiceE2eTest, CompletionWithStaleEpochIsRefused) {
  StartStack();
  const std::string path = WriteSweep(*stack_, "one.yaml", "name: one\nstages:\n  - {name: a, kind: noop}\n");
  ASSERT_EQ(stack_->Expctl({"submit", path}).exit_code, 0);
  auto workers = v1::WorkerService::NewStub(Channel());
  auto register_worker = [&](const std::string& name) {
    v1::RegisterWorkerRequest request;
    request.set_name(name);
    v1::RegisterWorkerResponse response;
    EXPECT_TRUE(workers->RegisterWorker(Context(stack_->worker_token()).get(), request, &response).ok());
    return response.worker_id();
  };
  auto lease = [&](const std::string& worker_id) {
    v1::LeaseJobsRequest request;
    request.set_worker_id(worker_id);
    request.set_max_jobs(1);
    request.set_wait_ms(5000);
    request.mutable_free()->set_cpu_cores(4);
    request.mutable_free()->set_memory_mb(4096);
    v1::LeaseJobsResponse response;
    EXPECT_TRUE(workers->LeaseJobs(Context(stack_->worker_token()).get(), request, &response).ok());
    return response;
  };
  const std::string first = register_worker("first");
  auto first_lease = lease(first);
  ASSERT_EQ(first_lease.jobs_size(), 1);
  // No heartbeat: the 2 s lease expires and another worker takes the job.
  const std::string second = register_worker("second");
  auto second_lease = lease(second);
  ASSERT_EQ(second_lease.jobs_size(), 1);
  EXPECT_GT(second_lease.jobs(0).epoch(), first_lease.jobs(0).epoch());

  v1::CompleteJobsRequest stale;
  stale.set_worker_id(first);
  stale.add_completions()->mutable_lease()->set_job_id(first_lease.jobs(0).job().id());
  stale.mutable_completions(0)->mutable_lease()->set_epoch(first_lease.jobs(0).epoch());
  v1::CompleteJobsResponse response;
  grpc::Status refused = workers->CompleteJobs(Context(stack_->worker_token()).get(), stale, &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << refused.error_message();

  v1::CompleteJobsRequest current;
  current.set_worker_id(second);
  current.add_completions()->mutable_lease()->set_job_id(second_lease.jobs(0).job().id());
  current.mutable_completions(0)->mutable_lease()->set_epoch(second_lease.jobs(0).epoch());
  EXPECT_TRUE(workers->CompleteJobs(Context(stack_->worker_token()).get(), current, &response).ok());

  // A user token cannot lease.
  v1::LeaseJobsRequest request;
  request.set_worker_id(second);
  v1::LeaseJobsResponse leased;
  EXPECT_EQ(workers->LeaseJobs(Context(stack_->user_token()).get(), request, &leased).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(ServiceE2eTest, CancelledSweepStopsItsRunningJobs) {
  StartStack();
  ASSERT_TRUE(stack_->StartWorker(2, "w0").ok());
  const std::string slow = WriteSweep(*stack_, "slow.yaml", R"yaml(
name: slow
stages:
  - {name: a, kind: sleep, params: {seconds: 60, steps: 600}, grid: {i: [1, 2]}}
)yaml");
  const int64_t slow_id = SubmittedSweepId(stack_->Expctl({"submit", slow}));
  ASSERT_GT(slow_id, 0);
  ASSERT_TRUE(WaitFor(
      [&] {
        int running = 0;
        for (const auto& job : Jobs(slow_id)) running += job.state() == v1::JOB_STATE_RUNNING;
        return running == 2;
      },
      20));
  CommandResult cancelled = stack_->Expctl({"cancel", std::to_string(slow_id)});
  ASSERT_EQ(cancelled.exit_code, 0) << cancelled.err;
  // Both slots were busy with 60 s jobs: a quick sweep can only finish soon
  // if the worker really stopped them.
  const std::string quick = WriteSweep(*stack_, "quick.yaml", "name: quick\nstages:\n  - {name: a, kind: noop}\n");
  const int64_t quick_id = SubmittedSweepId(stack_->Expctl({"submit", quick}));
  ASSERT_TRUE(WaitFor([&] { return Jobs(quick_id).at(0).state() == v1::JOB_STATE_SUCCEEDED; }, 15));
  for (const auto& job : Jobs(slow_id)) EXPECT_EQ(job.state(), v1::JOB_STATE_CANCELLED);
  CommandResult status = stack_->Expctl({"watch", std::to_string(slow_id)});
  EXPECT_EQ(status.exit_code, 1) << "a cancelled sweep is not a success";
}

TEST_F(ServiceE2eTest, BadInputGetsClearErrorsAndChangesNothing) {
  StartStack();
  const std::string malformed = WriteSweep(*stack_, "malformed.yaml", "name: x\nstages:\n  - {name: a, kind: noop\n");
  CommandResult result = stack_->Expctl({"submit", malformed});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("malformed.yaml:"), std::string::npos) << result.err;

  const std::string unknown_kind =
      WriteSweep(*stack_, "unknown.yaml", "name: x\nstages:\n  - name: a\n    kind: trian\n");
  result = stack_->Expctl({"submit", unknown_kind});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("unknown.yaml:4:"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("trian"), std::string::npos) << result.err;

  const std::string ill_typed =
      WriteSweep(*stack_, "typed.yaml", "name: x\nstages:\n  - {name: a, kind: sleep, params: {seconds: soon}}\n");
  result = stack_->Expctl({"submit", ill_typed});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("seconds"), std::string::npos) << result.err;

  const std::string good = WriteSweep(*stack_, "good.yaml", "name: x\nstages:\n  - {name: a, kind: noop}\n");
  result = stack_->Expctl({"submit", good}, "expsvc_not_a_token");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("UNAUTHENTICATED"), std::string::npos) << result.err;
  result = stack_->Expctl({"submit", good}, stack_->worker_token());
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("PERMISSION_DENIED"), std::string::npos) << result.err;

  result = stack_->Expctl({"status", "424242"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("NOT_FOUND"), std::string::npos) << result.err;

  result = stack_->Expctl({"ls"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  auto sweeps = v1::SweepService::NewStub(Channel());
  v1::ListSweepsResponse listed;
  ASSERT_TRUE(sweeps->ListSweeps(Context(stack_->user_token()).get(), {}, &listed).ok());
  EXPECT_EQ(listed.sweeps_size(), 0) << "no sweep was stored";
}

}  // namespace
}  // namespace expsvc::testing
