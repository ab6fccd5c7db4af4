#include "worker/runtime/worker.h"

#include <unistd.h>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/kinds/job_kind_catalog.h"
#include "common/status_macros.h"
#include "worker/runtime/event_log.h"
#include "worker/runtime/heap_policy.h"
#include "worker/runtime/retry.h"

namespace expsvc::worker {
namespace {

namespace v1 = expsvc::v1;

// Used when the scheduler does not say.
constexpr absl::Duration kDefaultLeaseTtl = absl::Seconds(30);
// How long a lease release may take once the drain timeout has passed.
constexpr absl::Duration kReleaseTimeout = absl::Seconds(5);
// How long jobs still get after their leases were released at the drain timeout.
constexpr absl::Duration kAbandonGrace = absl::Seconds(5);
// Consecutive failures of a polling call are logged on the first and then
// about once a minute.
constexpr int kLogFailureEvery = 12;

std::string Hostname() {
  char buffer[256] = {};
  if (gethostname(buffer, sizeof(buffer) - 1) != 0) return "unknown";
  return buffer;
}

double Seconds(absl::Duration duration) {
  return absl::ToDoubleSeconds(duration);
}

std::string Reason(const absl::Status& status) {
  if (!status.message().empty()) return std::string(status.message());
  return absl::StatusCodeToString(status.code());
}

// Bad parameters or a missing input: running the job again cannot help.
bool IsRetryable(const absl::Status& status) {
  return !absl::IsInvalidArgument(status) && !absl::IsFailedPrecondition(status) && !absl::IsNotFound(status);
}

absl::StatusOr<nlohmann::json> ValidatedParams(const v1::Job& job) {
  const JobKindSpec* spec = FindJobKind(job.kind());
  if (spec == nullptr) return absl::InvalidArgumentError(absl::StrCat("unknown job kind '", job.kind(), "'"));
  nlohmann::json params = job.params_json().empty()
                              ? nlohmann::json::object()
                              : nlohmann::json::parse(job.params_json(), nullptr, /*allow_exceptions=*/false);
  if (params.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat("job ", job.id(), ": params_json is not valid JSON"));
  }
  return ValidateJobParams(*spec, params);
}

}  // namespace

Worker::Worker(WorkerOptions options, const JobKindRegistry& registry)
    : options_(std::move(options)), registry_(registry) {}

Worker::~Worker() {
  background_stop_.store(true);
  changed_.SignalAll();
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
  if (flush_thread_.joinable()) flush_thread_.join();
  std::map<uint64_t, std::shared_ptr<RunningJob>> jobs;
  {
    absl::MutexLock lock(&mu_);
    jobs.swap(running_);
  }
  for (auto& [run_id, job] : jobs) {
    if (job->thread.joinable()) job->thread.join();
  }
  std::vector<std::shared_ptr<RunningGroup>> groups;
  {
    absl::MutexLock lock(&mu_);
    groups.swap(groups_);
  }
  for (auto& group : groups) {
    if (group->thread.joinable()) group->thread.join();
  }
}

void Worker::RequestStop() {
  stop_requested_.store(true);
  shutting_down_.store(true);
  // Taking the lock orders the store before any waiter's predicate check.
  { absl::MutexLock lock(&mu_); }
  changed_.SignalAll();
}

int Worker::UnfinishedJobs() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(
      std::count_if(running_.begin(), running_.end(), [](const auto& entry) { return !entry.second->finished; }));
}

std::string Worker::worker_id() const {
  absl::MutexLock lock(&mu_);
  return worker_id_;
}

absl::Status Worker::Run() {
  if (options_.slots < 1) return absl::InvalidArgumentError("slots must be at least 1");
  if (registry_.Kinds().empty()) return absl::FailedPreconditionError("no job kinds are registered");
  if (options_.scratch_root.empty()) return absl::InvalidArgumentError("scratch_root is empty");
  EXPSVC_ASSIGN_OR_RETURN(scratch_, ScratchRoot::Open(options_.scratch_root));
  if (scratch_->removed_stale() > 0) {
    LogEventF("removed %d scratch folder(s) of workers that died under %s", scratch_->removed_stale(),
              options_.scratch_root);
  }
  EXPSVC_ASSIGN_OR_RETURN(client_,
                          SchedulerClient::Connect(options_.scheduler_address, options_.token, options_.tls_ca_file));
  completions_ = std::make_unique<CompletionBatcher>(
      [this](const std::vector<v1::JobLease>& leases) { return SendCompletions(leases); });
  EXPSVC_RETURN_IF_ERROR(ChooseGpus());

  absl::Status registered = Register([this] { return stop_requested_.load(); });
  if (!registered.ok()) return stop_requested_.load() ? absl::OkStatus() : registered;

  heartbeat_thread_ = std::thread([this] { HeartbeatLoop(); });
  flush_thread_ = std::thread([this] { FlushLoop(); });
  LeaseLoop();
  Drain();
  background_stop_.store(true);
  { absl::MutexLock lock(&mu_); }
  changed_.SignalAll();
  heartbeat_thread_.join();
  flush_thread_.join();
  // The worker's scratch folder goes with it, unless an abandoned job still
  // runs in it (then the next worker to start on this root removes it).
  if (UnfinishedJobs() == 0) scratch_.reset();
  LogEvent(fatal_error_.ok() ? "stopped" : absl::StrCat("stopped: ", fatal_error_.ToString()));
  return fatal_error_;
}

absl::Status Worker::Register(const std::function<bool()>& give_up) {
  v1::RegisterWorkerRequest request;
  request.set_name(options_.name);
  request.set_hostname(Hostname());
  v1::WorkerCapabilities* capabilities = request.mutable_capabilities();
  capabilities->set_cpu_cores(options_.cpu_cores);
  capabilities->set_memory_mb(options_.memory_mb);
  for (const v1::CudaDevice& device : cuda_devices_) *capabilities->add_cuda_devices() = device;
  for (const std::string& kind : registry_.Kinds()) capabilities->add_kinds(kind);
  capabilities->set_slots(options_.slots);

  v1::RegisterWorkerResponse response;
  EXPSVC_RETURN_IF_ERROR(RetryTransient(
      "RegisterWorker",
      [&]() -> absl::Status {
        EXPSVC_ASSIGN_OR_RETURN(response, client_->RegisterWorker(request));
        return absl::OkStatus();
      },
      give_up));
  const absl::Duration ttl =
      response.lease_ttl_ms() > 0 ? absl::Milliseconds(response.lease_ttl_ms()) : kDefaultLeaseTtl;
  {
    absl::MutexLock lock(&mu_);
    worker_id_ = response.worker_id();
    heartbeat_interval_ = std::max(ttl / 3, absl::Milliseconds(100));
  }
  LogEventF("registered as worker %s (name %s, %d slots, %d cores, %d MiB, %d GPUs, kinds %s, lease ttl %d ms)",
            response.worker_id(), options_.name, options_.slots, options_.cpu_cores, options_.memory_mb,
            cuda_devices_.size(), absl::StrJoin(registry_.Kinds(), ","), absl::ToInt64Milliseconds(ttl));
  return absl::OkStatus();
}

absl::Status Worker::RegisterAgain(const std::string& stale_worker_id, const std::function<bool()>& give_up) {
  absl::MutexLock registering(&register_mu_);
  if (worker_id() != stale_worker_id) return absl::OkStatus();
  LogEventF("the scheduler does not know worker %s; registering again", stale_worker_id);
  return Register(give_up);
}

v1::Resources Worker::FreeResources() const {
  int64_t cpu = options_.cpu_cores;
  int64_t memory = options_.memory_mb;
  for (const auto& [run_id, job] : running_) {
    const v1::Resources& used = job->context->leased_job().job().resources();
    cpu -= used.cpu_cores();
    memory -= used.memory_mb();
  }
  // Devices, not requests: a group's members share theirs.
  const std::set<int> busy = BusyGpus();
  int64_t gpus = 0;
  int32_t largest_gb = 0;
  for (const v1::CudaDevice& device : cuda_devices_) {
    if (busy.contains(device.index())) continue;
    ++gpus;
    largest_gb = std::max(largest_gb, DeviceMemoryGb(device));
  }
  v1::Resources free;
  free.set_cpu_cores(static_cast<int32_t>(std::max<int64_t>(cpu, 0)));
  free.set_memory_mb(std::max<int64_t>(memory, 0));
  free.set_gpus(static_cast<int32_t>(gpus));
  free.set_gpu_memory_gb(largest_gb);
  return free;
}

void Worker::LeaseLoop() {
  const std::vector<std::string> kinds = registry_.Kinds();
  const std::vector<std::string> group_kinds = registry_.GroupKinds();
  auto stopping = [this] { return stop_requested_.load(); };
  Backoff backoff;
  int failures = 0;
  while (!stop_requested_.load()) {
    ReapFinished();
    v1::LeaseJobsRequest request;
    {
      absl::MutexLock lock(&mu_);
      while (
          !(stop_requested_.load() || finished_unreaped_ > 0 || static_cast<int>(running_.size()) < options_.slots)) {
        changed_.Wait(&mu_);
      }
      if (stop_requested_.load()) break;
      if (finished_unreaped_ > 0) continue;  // reap first, then count slots
      request.set_worker_id(worker_id_);
      *request.mutable_free() = FreeResources();
      request.set_max_jobs(options_.slots - static_cast<int>(running_.size()));
    }
    request.set_wait_ms(options_.lease_wait_ms);
    for (const std::string& kind : kinds) request.add_kinds(kind);
    for (const std::string& kind : group_kinds) request.add_group_kinds(kind);

    absl::StatusOr<v1::LeaseJobsResponse> response = client_->LeaseJobs(request);
    if (!response.ok()) {
      const absl::Status& status = response.status();
      if (absl::IsNotFound(status)) {
        absl::Status registered = RegisterAgain(request.worker_id(), stopping);
        if (registered.ok() || stop_requested_.load()) continue;
        if (absl::IsUnauthenticated(registered) || absl::IsPermissionDenied(registered)) {
          fatal_error_ = registered;
          LogEventF("the scheduler refused this worker's token: %s", registered.ToString());
          break;
        }
        LogEventF("registering again failed: %s", registered.ToString());
      } else if (absl::IsUnauthenticated(status) || absl::IsPermissionDenied(status)) {
        fatal_error_ = status;
        LogEventF("the scheduler refused this worker's token: %s", status.ToString());
        break;
      } else if (failures % kLogFailureEvery == 0) {
        LogEventF("LeaseJobs: %s; retrying with backoff", status.ToString());
      }
      ++failures;
      SleepUnless(backoff.Next(), stopping);
      continue;
    }
    if (failures > 0) LogEventF("LeaseJobs works again after %d failures", failures);
    failures = 0;
    backoff.Reset();
    // Members of a group kind's group start together, on one thread.
    std::map<std::string, std::vector<v1::LeasedJob>> grouped;
    for (const v1::LeasedJob& leased : response->jobs()) {
      if (!stop_requested_.load() && !leased.job().group_key().empty() &&
          registry_.FindGroup(leased.job().kind()) != nullptr) {
        grouped[absl::StrCat(leased.job().kind(), "\x1f", leased.job().group_key())].push_back(leased);
        continue;
      }
      if (stop_requested_.load()) {
        // Leased while we were asked to stop: hand it straight back.
        v1::JobLease lease;
        lease.set_job_id(leased.job().id());
        lease.set_epoch(leased.epoch());
        const absl::Time give_up_at = absl::Now() + absl::Milliseconds(options_.drain_timeout_ms);
        absl::StatusOr<v1::JobState> released =
            SendFailJob(lease, "worker shutting down", true, true, [give_up_at] { return absl::Now() > give_up_at; });
        LogEventF("job %d released unstarted (worker shutting down)%s", leased.job().id(),
                  released.ok() ? "" : absl::StrCat(": ", released.status().ToString()));
        continue;
      }
      StartJob(leased);
    }
    for (auto& [key, members] : grouped) {
      const std::string kind = members.front().job().kind();
      StartGroup(std::move(members), *registry_.FindGroup(kind));
    }
  }
}

std::shared_ptr<Worker::RunningJob> Worker::PrepareJob(v1::LeasedJob leased) {
  auto job = std::make_shared<RunningJob>();
  job->started = absl::Now();
  absl::StatusOr<nlohmann::json> params = ValidatedParams(leased.job());
  job->setup_error = params.status();
  const std::string scratch_dir =
      (std::filesystem::path(scratch_->path()) /
       absl::StrCat("job-", leased.job().id(), "-attempt-", leased.job().attempt(), "-epoch-", leased.epoch()))
          .string();
  LogEventF("leased job %d kind %s attempt %d (epoch %d%s)", leased.job().id(), leased.job().kind(),
            leased.job().attempt(), leased.epoch(),
            leased.job().group_key().empty() ? "" : absl::StrCat(", group ", leased.job().group_key()));
  job->context = std::make_shared<LeasedJobContext>(*client_, std::move(leased),
                                                    params.ok() ? *std::move(params) : nlohmann::json::object(),
                                                    scratch_dir, shutting_down_);
  return job;
}

void Worker::StartJob(v1::LeasedJob leased) {
  std::shared_ptr<RunningJob> job = PrepareJob(std::move(leased));
  absl::MutexLock lock(&mu_);
  job->context->AssignGpus(TakeGpus(job->context->leased_job().job().resources(), *job));
  LogAssignedGpus(*job);
  running_.emplace(next_run_id_++, job);
  job->thread = std::thread([this, job] { RunJob(*job); });
}

absl::Status Worker::PrepareScratch(RunningJob& job) {
  const std::string& scratch_dir = job.context->scratch_dir();
  std::error_code error;
  std::filesystem::remove_all(scratch_dir, error);  // left over by a crashed run
  std::filesystem::create_directories(scratch_dir, error);
  if (error) {
    return absl::InternalError(absl::StrCat("cannot create scratch folder ", scratch_dir, ": ", error.message()));
  }
  return absl::OkStatus();
}

void Worker::FinishJob(RunningJob& job, const absl::Status& status) {
  ReportOutcome(job, status);
  // The lease ends with the report: no more heartbeats or flushes for it.
  job.context->MarkLeaseLost();
  std::error_code error;
  std::filesystem::remove_all(job.context->scratch_dir(), error);
  {
    absl::MutexLock lock(&mu_);
    job.finished = true;
    ++finished_unreaped_;
  }
  changed_.SignalAll();
  // The heap keeps a job's large blocks for its next step (heap_policy.h);
  // an idle worker gives them back.
  if (UnfinishedJobs() == 0) ReturnFreeHeapMemory();
}

void Worker::RunJob(RunningJob& job) {
  absl::Status status = PrepareScratch(job);
  if (status.ok()) status = InvokeJobFunction(job);
  FinishJob(job, status);
}

absl::Status Worker::InvokeJobFunction(RunningJob& job) {
  LeasedJobContext& context = *job.context;
  const std::string& kind = context.leased_job().job().kind();
  const JobFunction* function = registry_.Find(kind);
  if (function == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("this worker has no job kind '", kind,
                                                   "' (it runs: ", absl::StrJoin(registry_.Kinds(), ", "), ")"));
  }
  EXPSVC_RETURN_IF_ERROR(job.setup_error);
  // Job kinds wrap libraries (LibTorch) that throw; one job's exception must
  // not take the worker and its other jobs down.
  try {
    return (*function)(context);
  } catch (const std::exception& exception) {
    return absl::InternalError(absl::StrCat("job threw an exception: ", exception.what()));
  } catch (...) {
    return absl::InternalError("job threw a non-standard exception");
  }
}

void Worker::ReportOutcome(RunningJob& job, const absl::Status& status) {
  LeasedJobContext& context = *job.context;
  const int64_t job_id = context.job_id();
  const double seconds = Seconds(absl::Now() - job.started);
  auto lease_lost = [&] {
    LogEventF("job %d ended after %.1f s but its lease is gone; result dropped (%s)", job_id, seconds,
              status.ok() ? "OK" : status.ToString());
  };
  if (context.lease_lost()) return lease_lost();
  // Metrics and logs go out before the verdict, so a finished job's data is
  // complete when its state changes.
  absl::Status flushed = context.Flush();
  if (context.lease_lost()) return lease_lost();
  if (!flushed.ok()) LogEventF("job %d: could not send all metrics and logs: %s", job_id, flushed.ToString());
  if (context.cancelled()) {
    LogEventF("job %d cancelled by the scheduler; stopped after %.1f s", job_id, seconds);
    return;
  }

  if (status.ok()) {
    absl::StatusOr<std::string> result = completions_->Complete(context.lease());
    if (result.ok() && *result == "ok") {
      LogEventF("job %d succeeded in %.1f s (epoch %d)", job_id, seconds, context.lease().epoch());
    } else {
      LogEventF("job %d finished in %.1f s but the completion was not recorded: %s", job_id, seconds,
                result.ok() ? *result : result.status().ToString());
    }
    return;
  }

  auto give_up = [&context] { return context.lease_lost(); };
  if ((absl::IsAborted(status) || absl::IsCancelled(status)) && shutting_down_.load()) {
    absl::StatusOr<v1::JobState> released =
        SendFailJob(context.lease(), "worker shutting down", true, /*release=*/true, give_up);
    LogEventF("job %d released after %.1f s (worker shutting down)%s", job_id, seconds,
              released.ok() ? "" : absl::StrCat(": ", released.status().ToString()));
    return;
  }

  if (job.release_unstarted && !status.ok()) {
    absl::StatusOr<v1::JobState> released = SendFailJob(context.lease(), Reason(status), true, /*release=*/true, give_up);
    LogEventF("job %d released unstarted: %s%s", job_id, status.message(),
              released.ok() ? "" : absl::StrCat(" (", released.status().ToString(), ")"));
    return;
  }
  const bool retryable = IsRetryable(status);
  absl::StatusOr<v1::JobState> new_state =
      SendFailJob(context.lease(), Reason(status), retryable, /*release=*/false, give_up);
  LogEventF("job %d failed after %.1f s (%s): %s -> %s", job_id, seconds, retryable ? "retryable" : "not retryable",
            status.ToString(), new_state.ok() ? v1::JobState_Name(*new_state) : new_state.status().ToString());
}

absl::StatusOr<v1::JobState> Worker::SendFailJob(const v1::JobLease& lease, std::string reason, bool retryable,
                                                 bool release, const std::function<bool()>& give_up) {
  v1::FailJobRequest request;
  *request.mutable_lease() = lease;
  request.set_reason(std::move(reason));
  request.set_retryable(retryable);
  request.set_release(release);
  const absl::Duration timeout = hard_stop_.load() ? kReleaseTimeout : SchedulerClient::kCallTimeout;
  v1::FailJobResponse response;
  EXPSVC_RETURN_IF_ERROR(RetryTransient(
      absl::StrCat("job ", lease.job_id(), ": FailJob"),
      [&]() -> absl::Status {
        request.set_worker_id(worker_id());
        EXPSVC_ASSIGN_OR_RETURN(response, client_->FailJob(request, timeout));
        return absl::OkStatus();
      },
      [&] { return hard_stop_.load() || give_up(); }));
  return response.new_state();
}

absl::StatusOr<std::vector<v1::CompletionResult>> Worker::SendCompletions(const std::vector<v1::JobLease>& leases) {
  v1::CompleteJobsRequest request;
  for (const v1::JobLease& lease : leases) *request.add_completions()->mutable_lease() = lease;
  v1::CompleteJobsResponse response;
  EXPSVC_RETURN_IF_ERROR(RetryTransient(
      absl::StrCat("CompleteJobs(", leases.size(), " jobs)"),
      [&]() -> absl::Status {
        request.set_worker_id(worker_id());
        EXPSVC_ASSIGN_OR_RETURN(response, client_->CompleteJobs(request));
        return absl::OkStatus();
      },
      [this] { return hard_stop_.load(); }));
  return std::vector<v1::CompletionResult>(response.results().begin(), response.results().end());
}

void Worker::ReapFinished() {
  std::vector<std::shared_ptr<RunningJob>> finished;
  std::vector<std::shared_ptr<RunningGroup>> finished_groups;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = running_.begin(); it != running_.end();) {
      if (it->second->finished) {
        finished.push_back(std::move(it->second));
        it = running_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto it = groups_.begin(); it != groups_.end();) {
      if ((*it)->finished) {
        finished_groups.push_back(std::move(*it));
        it = groups_.erase(it);
      } else {
        ++it;
      }
    }
    finished_unreaped_ = 0;
  }
  for (auto& job : finished) {
    if (job->thread.joinable()) job->thread.join();
  }
  for (auto& group : finished_groups) group->thread.join();
}

void Worker::Drain() {
  shutting_down_.store(true);
  ReapFinished();
  int running = UnfinishedJobs();
  if (running == 0) return;
  LogEventF("stopping: waiting up to %.1f s for %d running job(s)", options_.drain_timeout_ms / 1000.0, running);

  auto wait_for_jobs = [this](absl::Time deadline) {
    while (true) {
      ReapFinished();
      absl::MutexLock lock(&mu_);
      if (running_.empty()) return true;
      while (finished_unreaped_ == 0) {
        if (changed_.WaitWithDeadline(&mu_, deadline) && finished_unreaped_ == 0) return false;
      }
    }
  };
  if (wait_for_jobs(absl::Now() + absl::Milliseconds(options_.drain_timeout_ms))) return;

  // Out of time: give the remaining leases back so the scheduler can requeue
  // the jobs now instead of waiting for the leases to expire.
  hard_stop_.store(true);
  std::vector<std::shared_ptr<LeasedJobContext>> remaining;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [run_id, job] : running_) {
      if (!job->finished) remaining.push_back(job->context);
    }
  }
  for (const auto& context : remaining) {
    if (context->lease_lost()) continue;
    // Marked first, so the job thread writes nothing after the release.
    context->MarkLeaseLost();
    absl::StatusOr<v1::JobState> released = SendFailJob(context->lease(), "worker shutting down (drain timeout)", true,
                                                        /*release=*/true, [] { return true; });
    LogEventF("job %d released after the drain timeout%s", context->job_id(),
              released.ok() ? "" : absl::StrCat(": ", released.status().ToString()));
  }
  if (!wait_for_jobs(absl::Now() + kAbandonGrace)) {
    LogEventF("%d job(s) did not stop; abandoning them", UnfinishedJobs());
  }
}

void Worker::HeartbeatLoop() {
  Backoff backoff;
  int failures = 0;
  absl::Duration wait;
  {
    absl::MutexLock lock(&mu_);
    wait = heartbeat_interval_;
  }
  while (true) {
    v1::HeartbeatRequest request;
    // By (job, epoch): a job whose old lease was lost may be running here
    // again under a new one.
    std::map<std::pair<int64_t, int64_t>, std::shared_ptr<LeasedJobContext>> contexts;
    absl::Duration interval;
    {
      absl::MutexLock lock(&mu_);
      const absl::Time deadline = absl::Now() + wait;
      while (!background_stop_.load() && !changed_.WaitWithDeadline(&mu_, deadline)) {
      }
      if (background_stop_.load()) return;
      interval = heartbeat_interval_;
      request.set_worker_id(worker_id_);
      for (const auto& [run_id, job] : running_) {
        if (job->finished || job->context->lease_lost()) continue;
        *request.add_leases() = job->context->lease();
        contexts[{job->context->job_id(), job->context->lease().epoch()}] = job->context;
      }
    }
    wait = interval;
    if (contexts.empty()) continue;

    absl::StatusOr<v1::HeartbeatResponse> response = client_->Heartbeat(request);
    if (!response.ok()) {
      if (absl::IsNotFound(response.status())) {
        RegisterAgain(request.worker_id(), [this] { return background_stop_.load(); }).IgnoreError();
      } else if (failures % kLogFailureEvery == 0) {
        LogEventF("Heartbeat: %s; retrying with backoff", response.status().ToString());
      }
      ++failures;
      wait = std::min(backoff.Next(), interval);
      continue;
    }
    failures = 0;
    backoff.Reset();
    for (const v1::LeaseStatus& lease : response->leases()) {
      auto it = contexts.find({lease.job_id(), lease.epoch()});
      if (lease.epoch() == 0) {  // a scheduler that does not say the epoch: by job alone
        it = contexts.lower_bound({lease.job_id(), 0});
        if (it != contexts.end() && it->first.first != lease.job_id()) it = contexts.end();
      }
      if (it == contexts.end()) continue;
      LeasedJobContext& context = *it->second;
      if (lease.status() == "cancelled") {
        if (!context.cancelled()) LogEventF("job %d cancelled by the scheduler; stopping it", lease.job_id());
        context.MarkCancelled();
      } else if (lease.status() == "lost") {
        if (!context.lease_lost()) LogEventF("job %d: lease lost; stopping it", lease.job_id());
        context.MarkLeaseLost();
      } else if (lease.status() != "ok") {
        LogEventF("job %d: unexpected lease status '%s'", lease.job_id(), lease.status());
      }
    }
  }
}

void Worker::FlushLoop() {
  const absl::Duration interval = absl::Milliseconds(std::max(options_.metric_flush_ms, 10));
  while (true) {
    std::vector<std::shared_ptr<LeasedJobContext>> contexts;
    {
      absl::MutexLock lock(&mu_);
      const absl::Time deadline = absl::Now() + interval;
      while (!background_stop_.load() && !changed_.WaitWithDeadline(&mu_, deadline)) {
      }
      if (background_stop_.load()) return;
      for (const auto& [run_id, job] : running_) {
        if (!job->finished && !job->context->lease_lost()) contexts.push_back(job->context);
      }
    }
    for (const auto& context : contexts) {
      absl::Status flushed = context->Flush();
      if (!flushed.ok() && !context->lease_lost()) {
        LogEventF("job %d: flushing metrics and logs: %s", context->job_id(), flushed.ToString());
      }
    }
  }
}

}  // namespace expsvc::worker
