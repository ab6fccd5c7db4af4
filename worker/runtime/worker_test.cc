// Runs the Worker against an in-process fake of the scheduler's gRPC
// services: leasing, metrics, completion, failure, cancellation, shutdown,
// checkpoint resume and re-registration, without PostgreSQL.

#include "worker/runtime/worker.h"

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/sha256.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "worker/diagnostic/diagnostic_jobs.h"

namespace expsvc::worker {
namespace {

namespace v1 = expsvc::v1;

constexpr char kToken[] = "test-token";

// State shared by the two fake services. Every method takes mu.
struct FakeState {
  std::mutex mu;
  std::condition_variable changed;
  int registrations = 0;
  int registered_gpus = 0;
  std::string worker_id;
  std::deque<v1::LeasedJob> queue;
  std::vector<v1::LeaseJobsRequest> lease_requests;
  std::set<int64_t> cancelled_jobs;
  std::set<int64_t> lost_jobs;
  std::map<std::tuple<int64_t, std::string, int64_t>, double> metrics;
  std::vector<std::pair<int64_t, int64_t>> replaced_after;  // (job, step)
  std::map<int64_t, std::vector<std::string>> logs;
  std::map<int64_t, v1::ArtifactRef> artifacts;
  std::map<int64_t, std::string> artifact_bytes;
  std::vector<v1::JobLease> completed;
  std::vector<size_t> completion_batch_sizes;
  std::vector<v1::FailJobRequest> failures;
  int calls_without_token = 0;

  bool Authorized(const grpc::ServerContext* context) {
    auto it = context->client_metadata().find("authorization");
    bool ok = it != context->client_metadata().end() &&
              std::string(it->second.data(), it->second.size()) == absl::StrCat("Bearer ", kToken);
    if (!ok) ++calls_without_token;
    return ok;
  }
};

const grpc::Status kUnauthenticated(grpc::StatusCode::UNAUTHENTICATED, "bad token");

class FakeWorkerService final : public v1::WorkerService::Service {
 public:
  explicit FakeWorkerService(FakeState& state) : s_(state) {}

  grpc::Status RegisterWorker(grpc::ServerContext* context, const v1::RegisterWorkerRequest* request,
                              v1::RegisterWorkerResponse* response) override {
    std::lock_guard lock(s_.mu);
    if (!s_.Authorized(context)) return kUnauthenticated;
    s_.worker_id = absl::StrCat("worker-", ++s_.registrations);
    s_.registered_gpus = request->capabilities().cuda_devices_size();
    response->set_worker_id(s_.worker_id);
    response->set_lease_ttl_ms(600);
    s_.changed.notify_all();
    return grpc::Status::OK;
  }

  grpc::Status LeaseJobs(grpc::ServerContext* context, const v1::LeaseJobsRequest* request,
                         v1::LeaseJobsResponse* response) override {
    std::unique_lock lock(s_.mu);
    if (!s_.Authorized(context)) return kUnauthenticated;
    if (request->worker_id() != s_.worker_id) return {grpc::StatusCode::NOT_FOUND, "unknown worker"};
    s_.lease_requests.push_back(*request);
    s_.changed.notify_all();
    s_.changed.wait_for(lock, std::chrono::milliseconds(request->wait_ms()), [&] { return !s_.queue.empty(); });
    // As the scheduler does: a group comes whole, whatever max_jobs says.
    if (!s_.queue.empty() && !s_.queue.front().job().group_key().empty()) {
      const std::string group = s_.queue.front().job().group_key();
      while (!s_.queue.empty() && s_.queue.front().job().group_key() == group) {
        *response->add_jobs() = s_.queue.front();
        s_.queue.pop_front();
      }
      return grpc::Status::OK;
    }
    while (!s_.queue.empty() && response->jobs_size() < request->max_jobs()) {
      *response->add_jobs() = s_.queue.front();
      s_.queue.pop_front();
    }
    return grpc::Status::OK;
  }

  grpc::Status Heartbeat(grpc::ServerContext* context, const v1::HeartbeatRequest* request,
                         v1::HeartbeatResponse* response) override {
    std::lock_guard lock(s_.mu);
    if (!s_.Authorized(context)) return kUnauthenticated;
    for (const v1::JobLease& lease : request->leases()) {
      v1::LeaseStatus* status = response->add_leases();
      status->set_job_id(lease.job_id());
      status->set_epoch(lease.epoch());
      status->set_status(s_.cancelled_jobs.contains(lease.job_id()) ? "cancelled"
                         : s_.lost_jobs.contains(lease.job_id())    ? "lost"
                                                                    : "ok");
    }
    return grpc::Status::OK;
  }

  grpc::Status ReportMetrics(grpc::ServerContext* context, const v1::ReportMetricsRequest* request,
                             v1::ReportMetricsResponse* response) override {
    std::lock_guard lock(s_.mu);
    if (!s_.Authorized(context)) return kUnauthenticated;
    const int64_t job = request->lease().job_id();
    if (s_.lost_jobs.contains(job)) return {grpc::StatusCode::FAILED_PRECONDITION, "stale epoch"};
    if (request->has_replace_after_step()) {
      s_.replaced_after.emplace_back(job, request->replace_after_step());
      std::erase_if(s_.metrics, [&](const auto& entry) {
        return std::get<0>(entry.first) == job && std::get<2>(entry.first) > request->replace_after_step();
      });
    }
    for (const v1::MetricPoint& point : request->points()) {
      s_.metrics[{job, point.key(), point.step()}] = point.value();
    }
    EXPECT_LE(request->points_size(), 1000);
    response->set_written(request->points_size());
    return grpc::Status::OK;
  }

  grpc::Status AppendLogs(grpc::ServerContext* context, const v1::AppendLogsRequest* request,
                          v1::AppendLogsResponse* response) override {
    std::lock_guard lock(s_.mu);
    if (!s_.Authorized(context)) return kUnauthenticated;
    for (const std::string& line : request->lines()) s_.logs[request->lease().job_id()].push_back(line);
    return grpc::Status::OK;
  }

  grpc::Status UploadArtifact(grpc::ServerContext* context, grpc::ServerReader<v1::UploadArtifactRequest>* reader,
                              v1::UploadArtifactResponse* response) override {
    {
      std::lock_guard lock(s_.mu);
      if (!s_.Authorized(context)) return kUnauthenticated;
    }
    v1::UploadArtifactRequest message;
    if (!reader->Read(&message) || !message.has_header()) {
      return {grpc::StatusCode::INVALID_ARGUMENT, "header first"};
    }
    const v1::ArtifactHeader header = message.header();
    std::string bytes;
    while (reader->Read(&message)) {
      EXPECT_LE(message.chunk().size(), size_t{1} << 20);
      bytes += message.chunk();
    }
    if (static_cast<int64_t>(bytes.size()) != header.size_bytes() || Sha256Hex(bytes) != header.sha256()) {
      return {grpc::StatusCode::DATA_LOSS, "size or checksum mismatch"};
    }
    std::lock_guard lock(s_.mu);
    const int64_t id = static_cast<int64_t>(s_.artifacts.size()) + 1;
    v1::ArtifactRef& ref = s_.artifacts[id];
    ref.set_id(id);
    ref.set_job_id(header.lease().job_id());
    ref.set_name(header.name());
    ref.set_size_bytes(header.size_bytes());
    ref.set_sha256(header.sha256());
    s_.artifact_bytes[ref.id()] = bytes;
    *response->mutable_artifact() = ref;
    return grpc::Status::OK;
  }

  grpc::Status CompleteJobs(grpc::ServerContext* context, const v1::CompleteJobsRequest* request,
                            v1::CompleteJobsResponse* response) override {
    std::lock_guard lock(s_.mu);
    if (!s_.Authorized(context)) return kUnauthenticated;
    s_.completion_batch_sizes.push_back(request->completions_size());
    for (const v1::JobCompletion& completion : request->completions()) {
      s_.completed.push_back(completion.lease());
      v1::CompletionResult* result = response->add_results();
      result->set_job_id(completion.lease().job_id());
      result->set_status("ok");
    }
    s_.changed.notify_all();
    return grpc::Status::OK;
  }

  grpc::Status FailJob(grpc::ServerContext* context, const v1::FailJobRequest* request,
                       v1::FailJobResponse* response) override {
    std::lock_guard lock(s_.mu);
    if (!s_.Authorized(context)) return kUnauthenticated;
    s_.failures.push_back(*request);
    response->set_new_state(request->retryable() || request->release() ? v1::JOB_STATE_QUEUED : v1::JOB_STATE_FAILED);
    s_.changed.notify_all();
    return grpc::Status::OK;
  }

 private:
  FakeState& s_;
};

class FakeArtifactService final : public v1::ArtifactService::Service {
 public:
  explicit FakeArtifactService(FakeState& state) : s_(state) {}

  grpc::Status DownloadArtifact(grpc::ServerContext* context, const v1::DownloadArtifactRequest* request,
                                grpc::ServerWriter<v1::DownloadArtifactResponse>* writer) override {
    v1::ArtifactRef ref;
    std::string bytes;
    {
      std::lock_guard lock(s_.mu);
      if (!s_.Authorized(context)) return kUnauthenticated;
      auto it = s_.artifacts.find(request->artifact_id());
      if (it == s_.artifacts.end()) return {grpc::StatusCode::NOT_FOUND, "no such artifact"};
      ref = it->second;
      bytes = s_.artifact_bytes[ref.id()];
    }
    v1::DownloadArtifactResponse message;
    *message.mutable_artifact() = ref;
    writer->Write(message);
    message.set_chunk(bytes);
    writer->Write(message);
    return grpc::Status::OK;
  }

 private:
  FakeState& s_;
};

class WorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(RegisterDiagnosticJobs(registry_).ok());
    StartServer(0);
    ASSERT_NE(server_, nullptr);
    options_.scheduler_address = absl::StrCat("127.0.0.1:", port_);
    options_.token = kToken;
    options_.name = "test-worker";
    options_.slots = 2;
    options_.cpu_cores = 4;
    options_.memory_mb = 1024;
    options_.scratch_root =
        (std::filesystem::temp_directory_path() /
         absl::StrCat("worker-test-", ::getpid(), "-", ::testing::UnitTest::GetInstance()->random_seed()))
            .string();
    options_.lease_wait_ms = 100;
    options_.metric_flush_ms = 50;
    options_.drain_timeout_ms = 5000;
  }

  void TearDown() override {
    StopWorker();
    StopServer();
    std::filesystem::remove_all(options_.scratch_root);
  }

  // Port 0 picks a free port; the fake's state survives a restart, like the
  // scheduler's database does.
  void StartServer(int port) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(absl::StrCat("127.0.0.1:", port), grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&workers_);
    builder.RegisterService(&artifacts_);
    server_ = builder.BuildAndStart();
  }

  void StopServer() {
    if (!server_) return;
    server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
    server_->Wait();
    server_.reset();
  }

  void StartWorker() { StartWorker(registry_); }
  void StartWorker(const JobKindRegistry& registry) {
    worker_ = std::make_unique<Worker>(options_, registry);
    runner_ = std::thread([this] { run_status_ = worker_->Run(); });
  }

  // Returns how long Run() took to return after the stop request.
  absl::Duration StopWorker() {
    if (!worker_) return absl::ZeroDuration();
    absl::Time start = absl::Now();
    worker_->RequestStop();
    runner_.join();
    absl::Duration took = absl::Now() - start;
    worker_.reset();
    return took;
  }

  void Enqueue(int64_t id, std::string kind, nlohmann::json params, int32_t attempt = 1, int64_t epoch = 1,
               std::vector<v1::ArtifactRef> own_artifacts = {}, std::string group_key = "") {
    v1::LeasedJob leased;
    leased.mutable_job()->set_group_key(std::move(group_key));
    leased.mutable_job()->set_id(id);
    leased.mutable_job()->set_kind(std::move(kind));
    leased.mutable_job()->set_params_json(params.dump());
    leased.mutable_job()->set_attempt(attempt);
    leased.mutable_job()->mutable_resources()->set_cpu_cores(1);
    leased.set_epoch(epoch);
    for (auto& artifact : own_artifacts) *leased.add_own_artifacts() = artifact;
    std::lock_guard lock(state_.mu);
    state_.queue.push_back(std::move(leased));
    state_.changed.notify_all();
  }

  // Waits (up to 10 s) until `condition` holds on the fake's state.
  bool WaitFor(const std::function<bool()>& condition) {
    std::unique_lock lock(state_.mu);
    return state_.changed.wait_for(lock, std::chrono::seconds(10), condition);
  }
  // Polls, for conditions that no notification announces.
  bool PollFor(const std::function<bool()>& condition) {
    for (int i = 0; i < 500; ++i) {
      {
        std::lock_guard lock(state_.mu);
        if (condition()) return true;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    return false;
  }

  const v1::FailJobRequest* FailureOf(int64_t job_id) {
    for (const auto& failure : state_.failures) {
      if (failure.lease().job_id() == job_id) return &failure;
    }
    return nullptr;
  }
  // The worker reads its GPUs from the fake driver (fake_cuda_driver.cc):
  // GPU 0 with 80 GiB and GPU 1 with 81 GiB.
  void UseFakeCudaDriver() {
    setenv("FAKE_CUDA_DEVICES", "2", 1);
    const char* build_dir = std::getenv("EXPSVC_BUILD_DIR");  // set by ctest
    options_.cuda_driver_library =
        std::string(build_dir != nullptr ? build_dir : "build") + "/worker/libfake_cuda_driver.so";
  }

  bool Completed(int64_t job_id) {
    for (const auto& lease : state_.completed) {
      if (lease.job_id() == job_id) return true;
    }
    return false;
  }

  FakeState state_;
  FakeWorkerService workers_{state_};
  FakeArtifactService artifacts_{state_};
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  JobKindRegistry registry_;
  WorkerOptions options_;
  std::unique_ptr<Worker> worker_;
  std::thread runner_;
  absl::Status run_status_;
};

TEST_F(WorkerTest, RunsJobsAndReportsHowTheyEnded) {
  Enqueue(1, "noop", nlohmann::json::object());
  Enqueue(2, "sleep", {{"seconds", 0.1}, {"steps", 3}});
  Enqueue(3, "sleep", {{"steps", "many"}});
  Enqueue(4, "train_transformer", nlohmann::json::object());
  Enqueue(5, "sleep", {{"seconds", 0.0}, {"fail_attempts", 1}});
  StartWorker();
  ASSERT_TRUE(WaitFor([&] { return state_.completed.size() == 2 && state_.failures.size() == 3; }));
  EXPECT_TRUE(Completed(1));
  EXPECT_TRUE(Completed(2));
  for (int64_t step = 1; step <= 3; ++step) {
    EXPECT_DOUBLE_EQ((state_.metrics[{2, "progress", step}]), step / 3.0);
  }
  ASSERT_NE(FailureOf(3), nullptr);
  EXPECT_FALSE(FailureOf(3)->retryable());
  EXPECT_NE(FailureOf(3)->reason().find("steps"), std::string::npos) << FailureOf(3)->reason();
  ASSERT_NE(FailureOf(4), nullptr);
  EXPECT_FALSE(FailureOf(4)->retryable());
  EXPECT_NE(FailureOf(4)->reason().find("no job kind 'train_transformer'"), std::string::npos);
  ASSERT_NE(FailureOf(5), nullptr);
  EXPECT_TRUE(FailureOf(5)->retryable());
  EXPECT_FALSE(FailureOf(5)->release());
  EXPECT_EQ(FailureOf(5)->reason(), "injected failure");
  EXPECT_EQ(FailureOf(5)->worker_id(), "worker-1");

  EXPECT_LT(StopWorker(), absl::Seconds(3));
  EXPECT_TRUE(run_status_.ok()) << run_status_;
  std::lock_guard lock(state_.mu);
  EXPECT_EQ(state_.calls_without_token, 0);
  for (const auto& request : state_.lease_requests) {
    EXPECT_GE(request.max_jobs(), 1);
    EXPECT_LE(request.max_jobs(), 2);
    EXPECT_EQ(request.kinds_size(), 2);
    EXPECT_EQ(request.free().cpu_cores(), 4 - (2 - request.max_jobs()));
  }
  // Scratch folders are removed after each job.
  EXPECT_TRUE(std::filesystem::is_empty(options_.scratch_root));
}

TEST_F(WorkerTest, RunsAGroupKindsMembersInOneCallEachWithItsOwnOutcome) {
  // train_sae is a group kind in the catalog; this stand-in steps every
  // member together: member 21 fails at step 2, member 22 is cancelled.
  JobKindRegistry registry;
  std::atomic<int> calls{0};
  std::atomic<int> members_seen{0};
  ASSERT_TRUE(registry
                  .RegisterGroup("train_sae",
                                 [&](JobGroup& group) {
                                   ++calls;
                                   members_seen = group.size();
                                   EXPECT_GT(group.memory_budget_mb(), 0);
                                   for (int64_t step = 1; step <= 40; ++step) {
                                     for (int i = 0; i < group.size(); ++i) {
                                       if (group.finished(i)) continue;
                                       JobContext& member = group.member(i);
                                       if (member.should_stop()) {
                                         group.Finish(i, absl::CancelledError("cancelled"));
                                         continue;
                                       }
                                       if (member.job_id() == 21 && step == 2) {
                                         group.Finish(i, absl::InternalError("loss is NaN"));
                                         continue;
                                       }
                                       member.ReportMetric("step", step, static_cast<double>(step));
                                     }
                                     absl::SleepFor(absl::Milliseconds(25));
                                   }
                                   for (int i = 0; i < group.size(); ++i) group.Finish(i, absl::OkStatus());
                                 })
                  .ok());
  for (int64_t id : {20, 21, 22}) {
    Enqueue(id, "train_sae", {{"layer", id - 19}}, 1, 1, {}, "sae|checkpoint=10");
  }
  StartWorker(registry);
  ASSERT_TRUE(PollFor([&] { return state_.metrics.contains({22, "step", 3}); }));
  {
    std::lock_guard lock(state_.mu);
    state_.cancelled_jobs.insert(22);
  }
  ASSERT_TRUE(WaitFor([&] { return Completed(20); }));
  EXPECT_LT(StopWorker(), absl::Seconds(3));
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(members_seen.load(), 3);
  std::lock_guard lock(state_.mu);
  EXPECT_TRUE((state_.metrics.contains({20, "step", 40})));
  ASSERT_NE(FailureOf(21), nullptr);
  EXPECT_EQ(FailureOf(21)->reason(), "loss is NaN");
  EXPECT_FALSE(Completed(21));
  EXPECT_TRUE((state_.metrics.contains({21, "step", 1})));
  EXPECT_FALSE((state_.metrics.contains({21, "step", 2})));
  // The cancelled member stopped alone: nothing reported for it, and it
  // wrote no more points once it had seen the cancellation.
  EXPECT_FALSE(Completed(22));
  EXPECT_EQ(FailureOf(22), nullptr);
  EXPECT_FALSE((state_.metrics.contains({22, "step", 40})));
  EXPECT_TRUE(std::filesystem::is_empty(options_.scratch_root));
}

TEST_F(WorkerTest, StopsAJobTheSchedulerCancelled) {
  Enqueue(7, "sleep", {{"seconds", 30.0}, {"steps", 300}});
  StartWorker();
  ASSERT_TRUE(PollFor([&] { return state_.metrics.contains({7, "progress", 1}); }));
  {
    std::lock_guard lock(state_.mu);
    state_.cancelled_jobs.insert(7);
  }
  // The slot frees up again once the job has stopped.
  ASSERT_TRUE(PollFor([&] { return !state_.lease_requests.empty() && state_.lease_requests.back().max_jobs() == 2; }));
  EXPECT_LT(StopWorker(), absl::Seconds(3));
  std::lock_guard lock(state_.mu);
  EXPECT_FALSE(Completed(7));
  EXPECT_EQ(FailureOf(7), nullptr);
}

TEST_F(WorkerTest, StopsWritingWhenTheLeaseIsLost) {
  Enqueue(8, "sleep", {{"seconds", 30.0}, {"steps", 300}});
  StartWorker();
  ASSERT_TRUE(PollFor([&] { return state_.metrics.contains({8, "progress", 1}); }));
  {
    std::lock_guard lock(state_.mu);
    state_.lost_jobs.insert(8);
  }
  ASSERT_TRUE(PollFor([&] { return !state_.lease_requests.empty() && state_.lease_requests.back().max_jobs() == 2; }));
  StopWorker();
  std::lock_guard lock(state_.mu);
  EXPECT_FALSE(Completed(8));
  EXPECT_EQ(FailureOf(8), nullptr);
}

TEST_F(WorkerTest, ReleasesRunningJobsOnStop) {
  Enqueue(9, "sleep", {{"seconds", 30.0}, {"steps", 300}});
  StartWorker();
  ASSERT_TRUE(PollFor([&] { return state_.metrics.contains({9, "progress", 1}); }));
  EXPECT_LT(StopWorker(), absl::Seconds(3));
  EXPECT_TRUE(run_status_.ok()) << run_status_;
  std::lock_guard lock(state_.mu);
  ASSERT_NE(FailureOf(9), nullptr);
  EXPECT_TRUE(FailureOf(9)->release());
}

TEST_F(WorkerTest, ResumesFromItsCheckpointArtifact) {
  nlohmann::json params = {
      {"seconds", 0.0}, {"steps", 4}, {"checkpoint_every", 2}, {"fail_at_step", 3}, {"fail_attempts", 1}};
  Enqueue(10, "sleep", params, /*attempt=*/1, /*epoch=*/1);
  StartWorker();
  ASSERT_TRUE(WaitFor([&] { return FailureOf(10) != nullptr; }));
  std::vector<v1::ArtifactRef> own;
  {
    std::lock_guard lock(state_.mu);
    ASSERT_EQ(state_.artifacts.size(), 1u);
    own.push_back(state_.artifacts.begin()->second);
    EXPECT_EQ(own[0].name(), "checkpoint.json");
    EXPECT_EQ(state_.artifact_bytes[own[0].id()], "{\"step\":2}\n");
    // Simulate a stale point from the failed attempt that the resume must replace.
    state_.metrics[{10, "progress", 3}] = -1;
  }
  Enqueue(10, "sleep", params, /*attempt=*/2, /*epoch=*/2, own);
  ASSERT_TRUE(WaitFor([&] { return Completed(10); }));
  StopWorker();
  std::lock_guard lock(state_.mu);
  EXPECT_EQ(state_.replaced_after, (std::vector<std::pair<int64_t, int64_t>>{{10, 2}}));
  EXPECT_EQ((state_.metrics[{10, "attempt", 2}]), 1);
  EXPECT_EQ((state_.metrics[{10, "attempt", 3}]), 2);
  EXPECT_DOUBLE_EQ((state_.metrics[{10, "progress", 3}]), 0.75);
  bool logged_resume = false;
  for (const auto& line : state_.logs[10]) logged_resume |= line.find("resuming from checkpoint at step 2") == 0;
  EXPECT_TRUE(logged_resume);
}

TEST_F(WorkerTest, RegistersAgainWhenTheSchedulerForgetsIt) {
  StartWorker();
  ASSERT_TRUE(WaitFor([&] { return !state_.lease_requests.empty(); }));
  {
    std::lock_guard lock(state_.mu);
    state_.worker_id = "forgotten";
  }
  ASSERT_TRUE(WaitFor([&] { return state_.registrations == 2; }));
  Enqueue(11, "noop", nlohmann::json::object());
  ASSERT_TRUE(WaitFor([&] { return Completed(11); }));
}

TEST_F(WorkerTest, ReleasesJobsThatOutlastTheDrainTimeout) {
  std::atomic<bool> started{false};
  JobKindRegistry stubborn;
  ASSERT_TRUE(stubborn
                  .Register("noop",
                            [&](JobContext&) {
                              started = true;
                              absl::SleepFor(absl::Milliseconds(1500));  // ignores should_stop()
                              return absl::OkStatus();
                            })
                  .ok());
  options_.drain_timeout_ms = 200;
  Enqueue(13, "noop", nlohmann::json::object());
  StartWorker(stubborn);
  ASSERT_TRUE(PollFor([&] { return started.load(); }));
  absl::Duration took = StopWorker();
  EXPECT_GE(took, absl::Milliseconds(200));
  EXPECT_LT(took, absl::Seconds(4));
  std::lock_guard lock(state_.mu);
  ASSERT_NE(FailureOf(13), nullptr);
  EXPECT_TRUE(FailureOf(13)->release());
  EXPECT_NE(FailureOf(13)->reason().find("drain timeout"), std::string::npos);
  // It returned OK after its lease was released: nothing more is sent.
  EXPECT_FALSE(Completed(13));
  EXPECT_EQ(state_.failures.size(), 1u);
}

TEST_F(WorkerTest, HandsEachJobItsOwnGpus) {
  JobKindRegistry registry;
  std::mutex mu;
  std::map<int64_t, std::vector<int>> seen;
  std::atomic<int> running{0};
  ASSERT_TRUE(registry
                  .Register("noop",
                            [&](JobContext& context) {
                              {
                                std::lock_guard lock(mu);
                                seen[context.job_id()] = context.assigned_gpus();
                              }
                              // Both run at once, so their GPUs must differ.
                              ++running;
                              for (int i = 0; i < 200 && running.load() < 2; ++i) absl::SleepFor(absl::Milliseconds(10));
                              return absl::OkStatus();
                            })
                  .ok());
  options_.gpu_indices = {3, 5, 7};
  options_.cuda_driver_library = "libexpsvc-no-driver.so";  // declared devices, on any machine
  Enqueue(31, "noop", nlohmann::json::object());
  Enqueue(32, "noop", nlohmann::json::object());
  {
    std::lock_guard lock(state_.mu);
    state_.queue[0].mutable_job()->mutable_resources()->set_gpus(2);
    state_.queue[1].mutable_job()->mutable_resources()->set_gpus(1);
  }
  StartWorker(registry);
  ASSERT_TRUE(WaitFor([&] { return Completed(31) && Completed(32); }));
  std::lock_guard lock(mu);
  EXPECT_EQ(seen[31].size(), 2u);
  EXPECT_EQ(seen[32].size(), 1u);
  std::set<int> all(seen[31].begin(), seen[31].end());
  all.insert(seen[32].begin(), seen[32].end());
  EXPECT_EQ(all, (std::set<int>{3, 5, 7}));
  std::lock_guard state_lock(state_.mu);
  EXPECT_EQ(state_.registered_gpus, 3);
}

TEST_F(WorkerTest, AGroupsMembersShareItsGpusAndEachLogNamesThem) {
  // Members of a group kind run in one call on the same device: the group
  // takes as many GPUs as its largest request, not one per member, and the
  // worker's free count (what it leases on next) stays right.
  JobKindRegistry registry;
  std::mutex mu;
  std::map<int64_t, std::vector<int>> seen;
  ASSERT_TRUE(registry
                  .RegisterGroup("train_sae",
                                 [&](JobGroup& group) {
                                   for (int i = 0; i < group.size(); ++i) {
                                     std::lock_guard lock(mu);
                                     seen[group.member(i).job_id()] = group.member(i).assigned_gpus();
                                   }
                                   for (int i = 0; i < group.size(); ++i) group.Finish(i, absl::OkStatus());
                                 })
                  .ok());
  options_.gpu_indices = {4, 6};
  options_.cuda_driver_library = "libexpsvc-no-driver.so";  // declared devices, on any machine
  for (int64_t id : {40, 41, 42}) Enqueue(id, "train_sae", {{"layer", id - 39}}, 1, 1, {}, "sae|checkpoint=20");
  {
    std::lock_guard lock(state_.mu);
    for (auto& leased : state_.queue) leased.mutable_job()->mutable_resources()->set_gpus(1);
  }
  StartWorker(registry);
  ASSERT_TRUE(WaitFor([&] { return Completed(40) && Completed(41) && Completed(42); }));
  {
    std::lock_guard lock(mu);
    for (int64_t id : {40, 41, 42}) EXPECT_EQ(seen[id], (std::vector<int>{4})) << "job " << id;
  }
  std::lock_guard lock(state_.mu);
  for (int64_t id : {40, 41, 42}) {
    bool named = false;
    for (const std::string& line : state_.logs[id]) named |= line.find("GPU(s) of worker") == 0 && line.find("4: declared by --gpus") != std::string::npos;
    EXPECT_TRUE(named) << "job " << id << "'s log does not name its GPU";
  }
}

TEST_F(WorkerTest, AdvertisesDriverGpusAndHandsOutOnlyOnesWithTheMemoryAsked) {
  UseFakeCudaDriver();
  JobKindRegistry registry;
  std::mutex mu;
  std::map<int64_t, std::vector<int>> seen;
  ASSERT_TRUE(registry
                  .Register("noop",
                            [&](JobContext& context) {
                              std::lock_guard lock(mu);
                              seen[context.job_id()] = context.assigned_gpus();
                              return absl::OkStatus();
                            })
                  .ok());
  Enqueue(51, "noop", nlohmann::json::object());
  {
    std::lock_guard lock(state_.mu);
    state_.queue[0].mutable_job()->mutable_resources()->set_gpus(1);
    state_.queue[0].mutable_job()->mutable_resources()->set_gpu_memory_gb(81);
  }
  StartWorker(registry);
  ASSERT_TRUE(WaitFor([&] { return Completed(51); }));
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(seen[51], (std::vector<int>{1}));  // not the lower, smaller device 0
  }
  std::lock_guard lock(state_.mu);
  EXPECT_EQ(state_.registered_gpus, 2);
  ASSERT_FALSE(state_.lease_requests.empty());
  EXPECT_EQ(state_.lease_requests.front().free().gpus(), 2);
  EXPECT_EQ(state_.lease_requests.front().free().gpu_memory_gb(), 81);
  bool named = false;
  for (const std::string& line : state_.logs[51]) named |= line.find("1: Fake GPU 1, 82944 MiB") != std::string::npos;
  EXPECT_TRUE(named) << "job 51's log does not name its GPU";
}

TEST_F(WorkerTest, AJobLeasedWithoutAFittingFreeGpuIsHandedBackUnstarted) {
  // Two jobs that each need the 81 GiB device arrive in one lease (as a
  // claim on a worker with mixed GPU sizes can give them): the second never
  // starts and its lease is released, spending no attempt.
  UseFakeCudaDriver();
  options_.slots = 2;
  JobKindRegistry registry;
  std::atomic<int> started{0};
  ASSERT_TRUE(registry
                  .Register("noop",
                            [&](JobContext&) {
                              ++started;
                              absl::SleepFor(absl::Milliseconds(300));
                              return absl::OkStatus();
                            })
                  .ok());
  Enqueue(61, "noop", nlohmann::json::object());
  Enqueue(62, "noop", nlohmann::json::object());
  {
    std::lock_guard lock(state_.mu);
    for (auto& leased : state_.queue) {
      leased.mutable_job()->mutable_resources()->set_gpus(1);
      leased.mutable_job()->mutable_resources()->set_gpu_memory_gb(81);
    }
  }
  StartWorker(registry);
  ASSERT_TRUE(WaitFor([&] { return !state_.failures.empty() && (Completed(61) || Completed(62)); }));
  EXPECT_EQ(started.load(), 1);
  std::lock_guard lock(state_.mu);
  ASSERT_EQ(state_.failures.size(), 1u);
  EXPECT_TRUE(state_.failures[0].release()) << state_.failures[0].reason();
  EXPECT_NE(state_.failures[0].reason().find("asks for 1 GPU(s) of 81 GiB"), std::string::npos)
      << state_.failures[0].reason();
}

TEST_F(WorkerTest, CarriesOnAcrossASchedulerRestart) {
  Enqueue(12, "sleep", {{"seconds", 1.5}, {"steps", 15}});
  StartWorker();
  ASSERT_TRUE(PollFor([&] { return state_.metrics.contains({12, "progress", 2}); }));
  const int port = port_;
  StopServer();
  absl::SleepFor(absl::Milliseconds(700));
  StartServer(port);
  ASSERT_NE(server_, nullptr) << "port " << port << " not reusable";
  ASSERT_TRUE(WaitFor([&] { return Completed(12); }));
  std::lock_guard lock(state_.mu);
  for (int64_t step = 1; step <= 15; ++step) {
    EXPECT_TRUE(state_.metrics.contains({12, "progress", step})) << "step " << step;
  }
  EXPECT_EQ(state_.failures.size(), 0u);
}

TEST_F(WorkerTest, ReturnsAnErrorForARefusedToken) {
  options_.token = "wrong";
  Worker worker(options_, registry_);
  absl::Status status = worker.Run();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << status;
}

}  // namespace
}  // namespace expsvc::worker
