#pragma once
// The fixture of the scheduler's database tests (label: db): a migrated
// throwaway PostgreSQL database, an artifact root, a Scheduler and one
// registered worker, with helpers to submit, lease, complete, fail and upload.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "gtest/gtest.h"
#include "server/scheduler/scheduler.h"
#include "server/testing/migrated_database_test.h"

namespace expsvc::scheduler::testing {

namespace v1 = expsvc::v1;

class SchedulerTest : public expsvc::testing::MigratedDatabaseTest {
 protected:
  // Scheduler options of every test; a test may change them and call
  // MakeScheduler() again.
  SchedulerOptions TestOptions() {
    SchedulerOptions options;
    options.lease_ttl_ms = 60000;
    options.retry_backoff_base_ms = 0;
    options.max_sweep_jobs = 1000;
    return options;
  }
  void MakeScheduler(const SchedulerOptions& options) {
    scheduler_.reset();
    scheduler_ = std::make_unique<Scheduler>(store_.get(), artifacts_.get(), options);
  }

  void SetUp() override {
    CreateMigratedDatabase("scheduler_test");
    if (HasFatalFailure()) return;
    auto store = storage::PostgresStore::Open(conninfo_, 4);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    artifact_root_ = absl::StrCat(::testing::TempDir(), "/artifacts-", database_name_);
    artifacts_ = std::make_unique<ArtifactStore>(artifact_root_);
    ASSERT_TRUE(artifacts_->Initialize().ok());
    MakeScheduler(TestOptions());
    worker_id_ = RegisterWorker(*scheduler_, "test-worker");
  }

  static std::string RegisterWorker(Scheduler& scheduler, const std::string& name) {
    v1::RegisterWorkerRequest registration;
    registration.set_name(name);
    return scheduler.RegisterWorker(registration)->worker_id();
  }

  // Long-polls `scheduler` as `worker` for up to `wait_ms` on another
  // thread; `act` runs once the poll is waiting. Returns what it leased and
  // how long the poll went on after `act` started, in seconds.
  static std::pair<std::vector<v1::LeasedJob>, double> LongPollWhile(Scheduler& scheduler, const std::string& worker,
                                                                     int wait_ms, const std::function<void()>& act) {
    constexpr auto kPollWaiting = std::chrono::milliseconds(300);
    std::vector<v1::LeasedJob> leased;
    double seconds = 0;
    std::thread poller([&] {
      v1::LeaseJobsRequest request;
      request.set_worker_id(worker);
      request.set_max_jobs(1);
      request.set_wait_ms(wait_ms);
      request.mutable_free()->set_cpu_cores(8);
      request.mutable_free()->set_memory_mb(1 << 20);
      const auto start = std::chrono::steady_clock::now();
      auto response = scheduler.LeaseJobs(request, nullptr);
      seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start - kPollWaiting).count();
      if (response.ok()) leased.assign(response->jobs().begin(), response->jobs().end());
    });
    std::this_thread::sleep_for(kPollWaiting);  // the poll is waiting by now
    act();
    poller.join();
    return {leased, seconds};
  }

  int64_t Submit(const std::string& yaml, const std::string& key = "") {
    v1::SubmitSweepRequest request;
    request.set_spec_yaml(yaml);
    request.set_file_name("test.yaml");
    request.set_idempotency_key(key);
    auto response = scheduler_->SubmitSweep(request);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? response->sweep().id() : 0;
  }

  // group_kinds: the kinds whose groups the worker runs as one function.
  std::vector<v1::LeasedJob> Lease(int max_jobs = 1, int cpu = 64, const std::string& worker = "",
                                   const std::vector<std::string>& group_kinds = {}) {
    v1::LeaseJobsRequest request;
    for (const std::string& kind : group_kinds) request.add_group_kinds(kind);
    request.set_worker_id(worker.empty() ? worker_id_ : worker);
    request.set_max_jobs(max_jobs);
    request.mutable_free()->set_cpu_cores(cpu);
    request.mutable_free()->set_memory_mb(1 << 20);
    request.mutable_free()->set_gpus(8);
    auto response = scheduler_->LeaseJobs(request, nullptr);
    EXPECT_TRUE(response.ok()) << response.status();
    if (!response.ok()) return {};
    return {response->jobs().begin(), response->jobs().end()};
  }

  absl::Status Complete(const v1::LeasedJob& job, const std::string& worker = "") {
    v1::CompleteJobsRequest request;
    request.set_worker_id(worker.empty() ? worker_id_ : worker);
    auto* lease = request.add_completions()->mutable_lease();
    lease->set_job_id(job.job().id());
    lease->set_epoch(job.epoch());
    return scheduler_->CompleteJobs(request).status();
  }

  absl::StatusOr<v1::FailJobResponse> Fail(const v1::LeasedJob& job, bool retryable) {
    v1::FailJobRequest request;
    request.set_worker_id(worker_id_);
    request.mutable_lease()->set_job_id(job.job().id());
    request.mutable_lease()->set_epoch(job.epoch());
    request.set_reason("boom");
    request.set_retryable(retryable);
    return scheduler_->FailJob(request);
  }

  v1::StateCounts Counts(int64_t sweep_id) { return scheduler_->GetSweep(sweep_id)->counts(); }

  // Uploads `content` as artifact `name` under the job's lease.
  absl::StatusOr<v1::ArtifactRef> Upload(const v1::LeasedJob& job, const std::string& name,
                                         const std::string& content) {
    v1::ArtifactHeader header;
    header.mutable_lease()->set_job_id(job.job().id());
    header.mutable_lease()->set_epoch(job.epoch());
    header.set_name(name);
    header.set_size_bytes(static_cast<int64_t>(content.size()));
    header.set_sha256(Sha256Hex(content));
    auto upload = scheduler_->BeginArtifactUpload(header);
    if (!upload.ok()) return upload.status();
    if (absl::Status status = (*upload)->Append(content); !status.ok()) return status;
    return scheduler_->FinishArtifactUpload(header, **upload);
  }

  std::unique_ptr<storage::PostgresStore> store_;
  std::string artifact_root_;
  std::unique_ptr<ArtifactStore> artifacts_;
  std::unique_ptr<Scheduler> scheduler_;
  std::string worker_id_;
};

}  // namespace expsvc::scheduler::testing
