#include "server/scheduler/scheduler.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/ascii.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/job_state_names.h"
#include "common/kinds/job_kind_catalog.h"
#include "common/status_macros.h"
#include "common/sweep/sweep_spec.h"
#include "nlohmann/json.hpp"

namespace expsvc::scheduler {
namespace {

using expsvc::v1::JobLease;

absl::Status ValidateParamsFilter(const std::string& filter_json) {
  if (filter_json.empty()) return absl::OkStatus();
  nlohmann::json filter = nlohmann::json::parse(filter_json, nullptr, /*allow_exceptions=*/false);
  if (filter.is_discarded() || !filter.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameter filter must be a JSON object, got: ", filter_json.substr(0, 200)));
  }
  return absl::OkStatus();
}

absl::Status RequirePositiveId(int64_t id, const char* what) {
  if (id <= 0) return absl::InvalidArgumentError(absl::StrCat(what, " id must be a positive number"));
  return absl::OkStatus();
}

absl::Status ValidateLease(const JobLease& lease) {
  if (lease.job_id() <= 0 || lease.epoch() <= 0) {
    return absl::InvalidArgumentError("a lease needs a positive job id and epoch");
  }
  return absl::OkStatus();
}

}  // namespace

Scheduler::Scheduler(storage::PostgresStore* store, ArtifactStore* artifacts, SchedulerOptions options)
    : store_(store), artifacts_(artifacts), options_(options), lease_batcher_(store, options.max_lease_batch, [this] { WakeLeaseWaiters(); }) {}

Scheduler::~Scheduler() {
  Stop();
}

void Scheduler::Start() {
  absl::MutexLock lock(&stop_mu_);
  stopping_ = false;
  if (!rescuer_.joinable()) rescuer_ = std::thread([this] { RescueLoop(); });
}

void Scheduler::Stop() {
  {
    // Unlocking wakes the rescuer, whose wait is on stopping_.
    absl::MutexLock lock(&stop_mu_);
    stopping_ = true;
  }
  if (rescuer_.joinable()) rescuer_.join();
  WakeLeaseWaiters();
}

void Scheduler::WakeLeaseWaiters() {
  absl::MutexLock lock(&wake_mu_);
  ++wake_generation_;
}

void Scheduler::RescueLoop() {
  const int64_t interval_ms =
      options_.rescue_interval_ms > 0 ? options_.rescue_interval_ms : std::max<int64_t>(50, options_.lease_ttl_ms / 4);
  const int64_t grace_ms = options_.lease_grace_ms > 0 ? options_.lease_grace_ms : options_.lease_ttl_ms;
  // Grace first: at start-up, and again after the database was unreachable.
  bool grace_due = true;
  // A pass that hung (a database host gone, no connect timeout) fails no
  // call but misses passes: a long gap since the last good pass means grace
  // too.
  absl::Time last_good_pass = absl::Now();
  absl::Time next_housekeeping = absl::Now();
  bool files_checked = false;
  while (true) {
    {
      absl::MutexLock lock(&stop_mu_);
      if (stop_mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Milliseconds(interval_ms))) return;
    }
    if (absl::Now() - last_good_pass > absl::Milliseconds(interval_ms + grace_ms / 2)) grace_due = true;
    if (grace_due) {
      auto extended = store_->ExtendRunningLeases(grace_ms);
      if (!extended.ok()) {
        std::fprintf(stderr, "expsvc-scheduler: rescuer: %s\n", extended.status().ToString().c_str());
        continue;
      }
      grace_due = false;
      last_good_pass = absl::Now();
      if (*extended > 0) {
        std::fprintf(stderr, "expsvc-scheduler: gave %lld running lease(s) %lld ms of grace to renew\n",
                     static_cast<long long>(*extended), static_cast<long long>(grace_ms));
      }
      continue;
    }
    if (absl::Now() >= next_housekeeping) {
      if (!files_checked) files_checked = RemoveUnrecordedFiles();
      next_housekeeping = absl::Now() + absl::Seconds(10);
      RunHousekeeping();
    }
    auto outcome = RescueExpiredLeases();
    if (!outcome.ok()) {
      std::fprintf(stderr, "expsvc-scheduler: rescuer: %s\n", outcome.status().ToString().c_str());
      grace_due = absl::IsUnavailable(outcome.status()) || absl::IsResourceExhausted(outcome.status());
      continue;
    }
    last_good_pass = absl::Now();
    if (outcome->requeued + outcome->failed > 0) {
      std::fprintf(stderr, "expsvc-scheduler: rescued expired leases: %lld requeued, %lld failed\n",
                   static_cast<long long>(outcome->requeued), static_cast<long long>(outcome->failed));
    }
  }
}

bool Scheduler::RemoveUnrecordedFiles() {
  const std::chrono::seconds kUntouchedFor(options_.unrecorded_file_age_s);
  const int uploads = artifacts_->RemoveStaleUploads(kUntouchedFor);
  auto counts = store_->CountArtifactsUnder(artifacts_->root());
  if (!counts.ok()) {
    std::fprintf(stderr, "expsvc-scheduler: checking artifact files: %s\n", counts.status().ToString().c_str());
    return false;
  }
  if (counts->first > 0 && counts->second == 0) {
    std::fprintf(stderr,
                 "expsvc-scheduler: none of the %lld artifact records lies under --artifact_root=%s (moved or spelled "
                 "differently?); not looking for unrecorded files\n",
                 static_cast<long long>(counts->first), artifacts_->root().c_str());
    return true;
  }
  const std::vector<std::string> files = artifacts_->StoredFilesOlderThan(kUntouchedFor);
  auto recorded = store_->RecordedArtifactPaths(files);
  if (!recorded.ok()) {
    std::fprintf(stderr, "expsvc-scheduler: checking artifact files: %s\n", recorded.status().ToString().c_str());
    return false;
  }
  int unrecorded = 0;
  for (const std::string& file : files) {
    if (recorded->contains(file)) continue;
    artifacts_->Remove(file);
    ++unrecorded;
  }
  if (uploads + unrecorded > 0) {
    std::fprintf(stderr, "expsvc-scheduler: removed %d interrupted upload(s) and %d unrecorded artifact file(s)\n",
                 uploads, unrecorded);
  }
  return true;
}

void Scheduler::RunHousekeeping() {
  auto released = store_->ReleaseReadyChildren();
  if (!released.ok()) {
    std::fprintf(stderr, "expsvc-scheduler: releasing ready children: %s\n", released.status().ToString().c_str());
  } else if (*released > 0) {
    std::fprintf(stderr, "expsvc-scheduler: queued %lld waiting job(s) whose parents had all succeeded\n",
                 static_cast<long long>(*released));
    WakeLeaseWaiters();
  }
  auto pruned = store_->PruneWorkers(options_.worker_retention_ms);
  if (!pruned.ok()) {
    std::fprintf(stderr, "expsvc-scheduler: pruning workers: %s\n", pruned.status().ToString().c_str());
  } else if (*pruned > 0) {
    std::fprintf(stderr, "expsvc-scheduler: pruned %lld worker(s) unseen for %lld s\n",
                 static_cast<long long>(*pruned), static_cast<long long>(options_.worker_retention_ms / 1000));
  }
}

absl::StatusOr<storage::RescueOutcome> Scheduler::RescueExpiredLeases() {
  auto outcome = store_->RescueExpiredLeases(options_.retry_backoff_base_ms, options_.retry_backoff_max_ms,
                                             options_.max_free_interruptions);
  if (outcome.ok() && outcome->requeued > 0) WakeLeaseWaiters();
  return outcome;
}

absl::StatusOr<expsvc::v1::SubmitSweepResponse> Scheduler::SubmitSweep(const expsvc::v1::SubmitSweepRequest& request) {
  if (request.spec_yaml().empty()) return absl::InvalidArgumentError("the sweep file is empty");
  const std::string file_name = request.file_name().empty() ? "sweep.yaml" : request.file_name();
  ExpandOptions expand;
  expand.max_jobs = options_.max_sweep_jobs;
  EXPSVC_ASSIGN_OR_RETURN(SweepPlan plan, ParseSweep(request.spec_yaml(), file_name, expand));
  expsvc::v1::SubmitSweepResponse response;
  if (request.dry_run()) {
    response.mutable_sweep()->set_name(plan.name);
    response.mutable_sweep()->set_groups(plan.groups);
    response.mutable_sweep()->mutable_counts()->set_total(static_cast<int64_t>(plan.jobs.size()));
  } else {
    EXPSVC_ASSIGN_OR_RETURN(storage::CreatedSweep created,
                            store_->CreateSweep(plan, request.spec_yaml(), request.idempotency_key()));
    if (!created.already_existed) WakeLeaseWaiters();
    EXPSVC_ASSIGN_OR_RETURN(*response.mutable_sweep(), store_->GetSweep(created.sweep_id));
    response.set_already_existed(created.already_existed);
  }
  for (const StageSummary& stage : plan.stages) {
    auto* summary = response.add_stages();
    summary->set_stage(stage.name);
    summary->set_kind(stage.kind);
    summary->set_jobs(stage.jobs);
    summary->set_groups(stage.groups);
  }
  return response;
}

absl::StatusOr<expsvc::v1::Sweep> Scheduler::GetSweep(int64_t sweep_id) {
  EXPSVC_RETURN_IF_ERROR(RequirePositiveId(sweep_id, "sweep"));
  return store_->GetSweep(sweep_id);
}

absl::StatusOr<expsvc::v1::ListSweepsResponse> Scheduler::ListSweeps(const expsvc::v1::ListSweepsRequest& request) {
  EXPSVC_ASSIGN_OR_RETURN(auto sweeps, store_->ListSweeps(std::min(request.limit() <= 0 ? 50 : request.limit(), 1000)));
  expsvc::v1::ListSweepsResponse response;
  for (auto& sweep : sweeps) *response.add_sweeps() = std::move(sweep);
  return response;
}

absl::StatusOr<expsvc::v1::CancelSweepResponse> Scheduler::CancelSweep(const expsvc::v1::CancelSweepRequest& request) {
  EXPSVC_RETURN_IF_ERROR(RequirePositiveId(request.sweep_id(), "sweep"));
  const std::string reason = request.reason().empty() ? "sweep cancelled" : request.reason();
  EXPSVC_ASSIGN_OR_RETURN(int64_t cancelled, store_->CancelSweep(request.sweep_id(), reason));
  expsvc::v1::CancelSweepResponse response;
  response.set_cancelled_jobs(cancelled);
  return response;
}

absl::StatusOr<expsvc::v1::ListJobsResponse> Scheduler::ListJobs(const expsvc::v1::ListJobsRequest& request) {
  EXPSVC_RETURN_IF_ERROR(ValidateParamsFilter(request.params_filter_json()));
  storage::JobFilter filter;
  filter.sweep_id = request.sweep_id();
  for (int state : request.states()) {
    const std::string name = JobStateName(static_cast<expsvc::v1::JobState>(state));
    if (name.empty()) return absl::InvalidArgumentError(absl::StrCat("unknown job state ", state));
    filter.states.push_back(name);
  }
  filter.kind = request.kind();
  if (!request.params_filter_json().empty()) filter.params_filter_json = request.params_filter_json();
  filter.limit = std::clamp(request.limit() <= 0 ? 100 : request.limit(), 1, 10000);
  filter.after_id = request.after_id();
  EXPSVC_ASSIGN_OR_RETURN(auto jobs, store_->ListJobs(filter));
  expsvc::v1::ListJobsResponse response;
  for (auto& job : jobs) *response.add_jobs() = std::move(job);
  return response;
}

absl::StatusOr<expsvc::v1::Job> Scheduler::GetJob(int64_t job_id) {
  EXPSVC_RETURN_IF_ERROR(RequirePositiveId(job_id, "job"));
  return store_->GetJob(job_id);
}

absl::StatusOr<expsvc::v1::CancelJobResponse> Scheduler::CancelJob(const expsvc::v1::CancelJobRequest& request) {
  EXPSVC_RETURN_IF_ERROR(RequirePositiveId(request.job_id(), "job"));
  EXPSVC_ASSIGN_OR_RETURN(
      int64_t cancelled,
      store_->CancelJob(request.job_id(), request.reason().empty() ? "job cancelled" : request.reason()));
  expsvc::v1::CancelJobResponse response;
  response.set_cancelled_jobs(cancelled);
  return response;
}

absl::StatusOr<expsvc::v1::RetryJobResponse> Scheduler::RetryJob(const expsvc::v1::RetryJobRequest& request) {
  int64_t requeued = 0;
  if (request.job_id() != 0 || request.sweep_id() == 0) {
    if (request.sweep_id() != 0 || !request.stage().empty()) {
      return absl::InvalidArgumentError("retry takes a job id or a sweep id (with an optional stage), not both");
    }
    EXPSVC_RETURN_IF_ERROR(RequirePositiveId(request.job_id(), "job"));
    EXPSVC_ASSIGN_OR_RETURN(requeued, store_->RetryJob(request.job_id()));
  } else {
    EXPSVC_RETURN_IF_ERROR(RequirePositiveId(request.sweep_id(), "sweep"));
    EXPSVC_RETURN_IF_ERROR(store_->GetSweep(request.sweep_id()).status());
    EXPSVC_ASSIGN_OR_RETURN(requeued, store_->RetrySweepFailures(request.sweep_id(), request.stage()));
  }
  WakeLeaseWaiters();
  expsvc::v1::RetryJobResponse response;
  response.set_requeued_jobs(requeued);
  return response;
}

absl::StatusOr<expsvc::v1::GetJobLogsResponse> Scheduler::GetJobLogs(const expsvc::v1::GetJobLogsRequest& request) {
  EXPSVC_RETURN_IF_ERROR(RequirePositiveId(request.job_id(), "job"));
  EXPSVC_ASSIGN_OR_RETURN(auto lines,
                          store_->GetLogs(request.job_id(), request.after_seq(),
                                          std::clamp(request.limit() <= 0 ? 1000 : request.limit(), 1, 10000)));
  expsvc::v1::GetJobLogsResponse response;
  for (auto& line : lines) *response.add_lines() = std::move(line);
  return response;
}

absl::StatusOr<expsvc::v1::RegisterWorkerResponse> Scheduler::RegisterWorker(
    const expsvc::v1::RegisterWorkerRequest& request) {
  if (request.name().empty()) return absl::InvalidArgumentError("a worker needs a name");
  if (request.capabilities().slots() < 0 || request.capabilities().cpu_cores() < 0) {
    return absl::InvalidArgumentError("worker capabilities must not be negative");
  }
  EXPSVC_ASSIGN_OR_RETURN(std::string worker_id, store_->RegisterWorker(request));
  expsvc::v1::RegisterWorkerResponse response;
  response.set_worker_id(worker_id);
  response.set_lease_ttl_ms(static_cast<int32_t>(options_.lease_ttl_ms));
  return response;
}

absl::StatusOr<expsvc::v1::ListWorkersResponse> Scheduler::ListWorkers(const expsvc::v1::ListWorkersRequest& request) {
  // A worker heartbeats every TTL/3 while it runs jobs and polls for leases
  // while idle: unseen for a whole TTL, it is offline.
  EXPSVC_ASSIGN_OR_RETURN(auto workers, store_->ListWorkers(options_.lease_ttl_ms, request.include_offline()));
  expsvc::v1::ListWorkersResponse response;
  for (auto& worker : workers) *response.add_workers() = std::move(worker);
  return response;
}

absl::StatusOr<expsvc::v1::LeaseJobsResponse> Scheduler::LeaseJobs(const expsvc::v1::LeaseJobsRequest& request,
                                                                   const std::function<bool()>& cancelled) {
  if (request.worker_id().empty()) return absl::InvalidArgumentError("lease request without a worker id");
  storage::ClaimRequest claim;
  claim.worker_id = request.worker_id();
  claim.free_cpu_cores = request.free().cpu_cores();
  claim.free_memory_mb = request.free().memory_mb();
  claim.free_gpus = request.free().gpus();
  claim.free_gpu_memory_gb = request.free().gpu_memory_gb();
  claim.max_jobs = std::clamp(request.max_jobs(), 1, 1024);
  claim.kinds.assign(request.kinds().begin(), request.kinds().end());
  if (claim.kinds.empty()) {
    for (const auto& kind : AllJobKinds()) claim.kinds.push_back(kind.name);
  }
  claim.group_kinds.assign(request.group_kinds().begin(), request.group_kinds().end());
  claim.lease_ttl_ms = options_.lease_ttl_ms;
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(std::clamp(request.wait_ms(), 0, options_.max_lease_wait_ms));
  expsvc::v1::LeaseJobsResponse response;
  bool checked_worker = false;
  while (true) {
    uint64_t generation;
    {
      absl::MutexLock lock(&wake_mu_);
      generation = wake_generation_;
    }
    EXPSVC_ASSIGN_OR_RETURN(auto leased, lease_batcher_.Claim(claim));
    if (!leased.empty()) {
      for (auto& job : leased) *response.add_jobs() = std::move(job);
      return response;
    }
    // The claim leases nothing to an unknown worker; say why, once, off the hot path.
    if (!checked_worker) {
      EXPSVC_ASSIGN_OR_RETURN(bool known, store_->WorkerExists(request.worker_id()));
      if (!known) {
        return absl::NotFoundError(absl::StrCat("worker ", request.worker_id(), " is not registered; register again"));
      }
      checked_worker = true;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline || (cancelled && cancelled())) return response;
    const auto wait = std::min<std::chrono::steady_clock::duration>(
        deadline - now, std::chrono::milliseconds(options_.lease_poll_interval_ms));
    auto woken = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(wake_mu_) { return wake_generation_ != generation; };
    const auto until = now + wait;
    absl::MutexLock lock(&wake_mu_);
    // absl times the wait on its own clock, which can end it a little before
    // steady_clock reaches `until`; wait out the rest, or a poll would claim
    // once more just before its deadline as well as at it.
    while (!woken() && std::chrono::steady_clock::now() < until) {
      wake_mu_.AwaitWithTimeout(absl::Condition(&woken), absl::FromChrono(until - std::chrono::steady_clock::now()));
    }
  }
}

absl::StatusOr<expsvc::v1::HeartbeatResponse> Scheduler::Heartbeat(const expsvc::v1::HeartbeatRequest& request) {
  if (request.worker_id().empty()) return absl::InvalidArgumentError("heartbeat without a worker id");
  std::vector<JobLease> leases(request.leases().begin(), request.leases().end());
  EXPSVC_ASSIGN_OR_RETURN(auto statuses, store_->RenewLeases(request.worker_id(), leases, options_.lease_ttl_ms));
  expsvc::v1::HeartbeatResponse response;
  for (auto& status : statuses) *response.add_leases() = std::move(status);
  return response;
}

absl::StatusOr<expsvc::v1::ReportMetricsResponse> Scheduler::ReportMetrics(
    const expsvc::v1::ReportMetricsRequest& request) {
  EXPSVC_RETURN_IF_ERROR(ValidateLease(request.lease()));
  if (request.points_size() > options_.max_metric_points_per_call) {
    return absl::InvalidArgumentError(absl::StrCat("too many metric points in one call: ", request.points_size(),
                                                   " (at most ", options_.max_metric_points_per_call, ")"));
  }
  for (const auto& point : request.points()) {
    if (point.key().empty() || point.key().size() > 200) {
      return absl::InvalidArgumentError(
          absl::StrCat("metric key must be 1 to 200 characters, got '", point.key().substr(0, 40), "'"));
    }
  }
  EXPSVC_ASSIGN_OR_RETURN(int64_t written, store_->WriteMetrics(request));
  expsvc::v1::ReportMetricsResponse response;
  response.set_written(written);
  return response;
}

absl::Status Scheduler::AppendLogs(const expsvc::v1::AppendLogsRequest& request) {
  EXPSVC_RETURN_IF_ERROR(ValidateLease(request.lease()));
  if (request.lines_size() > options_.max_log_lines_per_call) {
    return absl::InvalidArgumentError(absl::StrCat("too many log lines in one call: ", request.lines_size()));
  }
  constexpr size_t kMaxLineBytes = 64 * 1024;
  std::vector<std::string> lines;
  lines.reserve(request.lines_size());
  for (const auto& line : request.lines()) {
    lines.push_back(line.size() > kMaxLineBytes ? absl::StrCat(line.substr(0, kMaxLineBytes), " [truncated]") : line);
  }
  if (lines.empty()) return absl::OkStatus();
  return store_->AppendLogs(request.lease(), lines);
}

absl::StatusOr<expsvc::v1::CompleteJobsResponse> Scheduler::CompleteJobs(
    const expsvc::v1::CompleteJobsRequest& request) {
  if (request.worker_id().empty()) return absl::InvalidArgumentError("completion without a worker id");
  std::vector<JobLease> leases;
  for (const auto& completion : request.completions()) {
    EXPSVC_RETURN_IF_ERROR(ValidateLease(completion.lease()));
    leases.push_back(completion.lease());
  }
  expsvc::v1::CompleteJobsResponse response;
  if (leases.empty()) return response;
  // (The batcher wakes idle long-polls when the completions queued children.)
  EXPSVC_ASSIGN_OR_RETURN(auto results, lease_batcher_.Complete(request.worker_id(), std::move(leases)));
  // A single refused completion is an error the caller cannot miss.
  if (results.size() == 1 && results[0].status() != "ok") {
    return absl::FailedPreconditionError(
        absl::StrCat("completion of job ", results[0].job_id(), " refused: ", results[0].status()));
  }
  for (auto& result : results) *response.add_results() = std::move(result);
  return response;
}

absl::StatusOr<expsvc::v1::FailJobResponse> Scheduler::FailJob(const expsvc::v1::FailJobRequest& request) {
  if (request.worker_id().empty()) return absl::InvalidArgumentError("failure report without a worker id");
  EXPSVC_RETURN_IF_ERROR(ValidateLease(request.lease()));
  const std::string reason = request.reason().empty() ? "failed without a reason" : request.reason().substr(0, 4096);
  EXPSVC_ASSIGN_OR_RETURN(
      storage::FailOutcome outcome,
      store_->FailJob(request.worker_id(), request.lease(), reason, request.retryable(), request.release(),
                      options_.retry_backoff_base_ms, options_.retry_backoff_max_ms));
  if (outcome.new_state == expsvc::v1::JOB_STATE_QUEUED) WakeLeaseWaiters();
  expsvc::v1::FailJobResponse response;
  response.set_new_state(outcome.new_state);
  return response;
}

absl::StatusOr<std::unique_ptr<ArtifactUpload>> Scheduler::BeginArtifactUpload(
    const expsvc::v1::ArtifactHeader& header) {
  EXPSVC_RETURN_IF_ERROR(ValidateLease(header.lease()));
  EXPSVC_RETURN_IF_ERROR(ValidateArtifactName(header.name()));
  if (header.size_bytes() > options_.max_artifact_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("artifact '", header.name(), "' is ", header.size_bytes(),
                                                   " bytes, over the limit of ", options_.max_artifact_bytes));
  }
  EXPSVC_ASSIGN_OR_RETURN(storage::LeaseCheck check, store_->CheckLease(header.lease()));
  return artifacts_->BeginUpload(check.sweep_id, header.lease().job_id(), header.name(), header.size_bytes(),
                                 header.sha256());
}

absl::StatusOr<expsvc::v1::ArtifactRef> Scheduler::FinishArtifactUpload(const expsvc::v1::ArtifactHeader& header,
                                                                        ArtifactUpload& upload) {
  EXPSVC_ASSIGN_OR_RETURN(std::string path, upload.Finish());
  auto recorded = store_->RecordArtifact(header.lease(), header.name(), header.size_bytes(), header.sha256(), path);
  if (!recorded.ok()) {
    // The lease went stale during the upload: the file has no record, unless
    // identical bytes were stored there before (and may be recorded). When
    // the commit's outcome is unknown the record may exist: keep the file (a
    // retried upload of the same bytes lands on it and records it).
    if (!upload.landed_on_existing_file() && !storage::IsCommitOutcomeUnknown(recorded.status())) {
      artifacts_->Remove(path);
    }
    return recorded.status();
  }
  const std::string& replaced = recorded->second;
  if (!replaced.empty() && replaced != path) artifacts_->Remove(replaced);
  return recorded->first.ref;
}

absl::StatusOr<expsvc::v1::QueryMetricsResponse> Scheduler::QueryMetrics(
    const expsvc::v1::QueryMetricsRequest& request) {
  if (request.sweep_id() <= 0 && request.job_ids_size() == 0) {
    return absl::InvalidArgumentError("a metrics query needs a sweep id or job ids");
  }
  EXPSVC_RETURN_IF_ERROR(ValidateParamsFilter(request.params_filter_json()));
  if (request.sweep_id() > 0) EXPSVC_RETURN_IF_ERROR(store_->GetSweep(request.sweep_id()).status());
  return store_->QueryMetrics(request);
}

absl::StatusOr<expsvc::v1::ListArtifactsResponse> Scheduler::ListArtifacts(
    const expsvc::v1::ListArtifactsRequest& request) {
  if (request.sweep_id() <= 0 && request.job_id() <= 0) {
    return absl::InvalidArgumentError("listing artifacts needs a sweep id or a job id");
  }
  if (request.job_id() > 0) EXPSVC_RETURN_IF_ERROR(store_->GetJob(request.job_id()).status());
  if (request.sweep_id() > 0) EXPSVC_RETURN_IF_ERROR(store_->GetSweep(request.sweep_id()).status());
  EXPSVC_ASSIGN_OR_RETURN(auto artifacts, store_->ListArtifacts(request.sweep_id(), request.job_id()));
  expsvc::v1::ListArtifactsResponse response;
  for (auto& artifact : artifacts) *response.add_artifacts() = std::move(artifact);
  return response;
}

absl::StatusOr<storage::StoredArtifact> Scheduler::GetArtifact(int64_t artifact_id) {
  EXPSVC_RETURN_IF_ERROR(RequirePositiveId(artifact_id, "artifact"));
  return store_->GetArtifact(artifact_id);
}

absl::StatusOr<expsvc::v1::Rating> Scheduler::SubmitRating(const expsvc::v1::Rating& rating) {
  EXPSVC_RETURN_IF_ERROR(RequirePositiveId(rating.artifact_id(), "artifact"));
  expsvc::v1::Rating checked = rating;
  checked.set_rater(std::string(absl::StripAsciiWhitespace(rating.rater())));
  // Characters, not bytes: a 40-character Japanese name is 120 bytes.
  const int64_t characters = std::count_if(checked.rater().begin(), checked.rater().end(),
                                           [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
  if (characters == 0 || characters > 100) {
    return absl::InvalidArgumentError("a rating needs the rater's name (1 to 100 characters)");
  }
  for (const auto& [name, score] : {std::pair{"coherence", rating.coherence()},
                                    std::pair{"musicality", rating.musicality()}, std::pair{"overall", rating.overall()}}) {
    if (score < 1 || score > 5) {
      return absl::InvalidArgumentError(absl::StrCat(name, " must be a score from 1 to 5, got ", score));
    }
  }
  return store_->UpsertRating(checked);
}

absl::StatusOr<expsvc::v1::ListRatingsResponse> Scheduler::ListRatings(const expsvc::v1::ListRatingsRequest& request) {
  if (request.sweep_id() < 0 || request.artifact_id() < 0) {
    return absl::InvalidArgumentError("sweep and artifact ids are positive (or 0 for any)");
  }
  EXPSVC_ASSIGN_OR_RETURN(auto ratings, store_->ListRatings(request.sweep_id(), request.artifact_id()));
  expsvc::v1::ListRatingsResponse response;
  for (auto& rating : ratings) *response.add_ratings() = std::move(rating);
  return response;
}

}  // namespace expsvc::scheduler
