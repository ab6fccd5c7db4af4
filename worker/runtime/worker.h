#pragma once
// The worker process's main loop: registers with the scheduler, leases jobs
// while it has free slots, runs each on its own thread through the job kind
// registry, keeps their leases alive with heartbeats, flushes their metrics
// and logs, and reports how each ended. Survives scheduler restarts (retries
// with backoff) and drains cleanly on RequestStop().

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <set>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "expsvc/v1/workers.pb.h"
#include "worker/runtime/capabilities.h"
#include "worker/runtime/cuda_devices.h"
#include "worker/runtime/completion_batcher.h"
#include "worker/runtime/job_kind_registry.h"
#include "worker/runtime/leased_job_context.h"
#include "worker/runtime/scheduler_client.h"
#include "worker/runtime/scratch_root.h"

namespace expsvc::worker {

struct WorkerOptions {
  std::string scheduler_address;
  std::string token;
  // Shown in ListWorkers; need not be unique.
  std::string name;
  // Jobs run at once.
  int slots = 1;
  // Capacity advertised and used to compute the free resources of a lease.
  int cpu_cores = DetectCpuCores();
  int64_t memory_mb = DetectMemoryMb();
  // The worker keeps its folders in <scratch_root>/worker-<pid>-<random>/
  // (removed at exit; a dead worker's is removed by the next worker to start
  // on that root): each attempt gets job-<id>-attempt-<n>-epoch-<e> in it,
  // removed afterwards.
  std::string scratch_root;
  // LeaseJobs long-poll wait when no job is ready.
  int lease_wait_ms = 2000;
  // TLS checked against this CA bundle; insecure channel when unset.
  std::optional<std::string> tls_ca_file;
  // Buffered metrics and logs are sent at least this often.
  int metric_flush_ms = 500;
  // After RequestStop(), how long running jobs get to finish or stop before
  // their leases are released anyway.
  int drain_timeout_ms = 30000;
  // Memory a group kind's leased group may use (JobGroup::memory_budget_mb),
  // in MiB; 0 = 90% of the group's GPU's memory, or memory_mb without a GPU.
  int64_t group_memory_budget_mb = 0;
  // CUDA device indices this worker advertises and hands out to jobs (each
  // job gets as many as it asks for, none shared); empty: every device the
  // driver shows (cuda_devices.h), unless use_gpus is false.
  std::vector<int> gpu_indices;
  bool use_gpus = true;
  // The NVIDIA driver library the GPUs are read from (tests use a fake one).
  std::string cuda_driver_library = kCudaDriverLibrary;
};

class Worker {
 public:
  // `registry` outlives the worker and is not changed while it runs.
  Worker(WorkerOptions options, const JobKindRegistry& registry);
  // Joins job threads still running (see UnfinishedJobs()).
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Runs until RequestStop() (returns OK once drained) or a fatal error such
  // as a refused token (returned after draining). Call once.
  absl::Status Run();
  // Thread-safe, not async-signal-safe: a signal handler should wake a
  // thread that calls it (main.cc uses a self-pipe).
  void RequestStop();
  // Jobs whose function had not returned when Run() gave up waiting; their
  // leases were released. Destroying the worker waits for them, so a process
  // that wants to exit now should _Exit instead.
  int UnfinishedJobs() const;

 private:
  struct RunningJob {
    std::shared_ptr<LeasedJobContext> context;
    // Set when the parameters did not validate: the job fails at once.
    absl::Status setup_error;
    absl::Time started;
    std::thread thread;
    bool finished = false;  // guarded by the worker's mu_
    // The worker could not give it the GPUs it was leased for: the lease is
    // handed back unstarted (no attempt spent) rather than failed.
    bool release_unstarted = false;
  };
  // The one thread that runs a group kind's members (their RunningJobs have
  // no thread of their own).
  struct RunningGroup {
    std::thread thread;
    bool finished = false;  // guarded by the worker's mu_
  };
  class LeasedGroup;

  // The GPUs to advertise: the driver's devices, or those --gpus names.
  absl::Status ChooseGpus();
  absl::Status Register(const std::function<bool()>& give_up);
  // Registers again unless another thread already did since `stale_worker_id`.
  absl::Status RegisterAgain(const std::string& stale_worker_id, const std::function<bool()>& give_up);
  std::string worker_id() const;

  void LeaseLoop();
  std::shared_ptr<RunningJob> PrepareJob(expsvc::v1::LeasedJob leased);
  void StartJob(expsvc::v1::LeasedJob leased);
  // Every leased member of one group of a group kind.
  void StartGroup(std::vector<expsvc::v1::LeasedJob> members, const GroupJobFunction& function);
  void RunJob(RunningJob& job);
  // Creates the job's scratch folder.
  absl::Status PrepareScratch(RunningJob& job);
  // Reports the outcome, ends the lease, removes the scratch folder and
  // marks the job finished.
  void FinishJob(RunningJob& job, const absl::Status& status);
  absl::Status InvokeJobFunction(RunningJob& job);
  void ReportOutcome(RunningJob& job, const absl::Status& status);
  // FailJob for one lease; retries transient errors until give_up().
  absl::StatusOr<expsvc::v1::JobState> SendFailJob(const expsvc::v1::JobLease& lease, std::string reason,
                                                   bool retryable, bool release, const std::function<bool()>& give_up);
  absl::StatusOr<std::vector<expsvc::v1::CompletionResult>> SendCompletions(
      const std::vector<expsvc::v1::JobLease>& leases);
  // Joins and forgets finished jobs.
  void ReapFinished();
  expsvc::v1::Resources FreeResources() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Device indices held by running jobs (a group's members share theirs).
  std::set<int> BusyGpus() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Free devices for `job`, as many as wanted.gpus() with at least
  // wanted.gpu_memory_gb each (the smallest that fit); finding fewer sets
  // the job's setup_error (unless it holds one) and release_unstarted.
  std::vector<int> TakeGpus(const expsvc::v1::Resources& wanted, RunningJob& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes the job's devices (index, name, memory) into its log.
  void LogAssignedGpus(RunningJob& job) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Drain();

  void HeartbeatLoop();
  void FlushLoop();

  const WorkerOptions options_;
  const JobKindRegistry& registry_;
  std::vector<expsvc::v1::CudaDevice> cuda_devices_;
  std::unique_ptr<SchedulerClient> client_;
  std::unique_ptr<CompletionBatcher> completions_;
  std::unique_ptr<ScratchRoot> scratch_;

  // No more leases; running jobs see shutting_down().
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> shutting_down_{false};
  // The drain timeout passed: stop retrying anything.
  std::atomic<bool> hard_stop_{false};
  // Tells the heartbeat and flush threads to end.
  std::atomic<bool> background_stop_{false};

  // Serializes (re-)registration between the lease and heartbeat threads.
  absl::Mutex register_mu_;
  mutable absl::Mutex mu_;
  // Signalled on stop requests and when a job finishes.
  absl::CondVar changed_;
  std::string worker_id_ ABSL_GUARDED_BY(mu_);
  absl::Duration heartbeat_interval_ ABSL_GUARDED_BY(mu_);
  // Keyed by start order: the same job id can appear twice when a lost
  // attempt is still winding down as a new lease of it starts.
  std::map<uint64_t, std::shared_ptr<RunningJob>> running_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<RunningGroup>> groups_ ABSL_GUARDED_BY(mu_);
  uint64_t next_run_id_ ABSL_GUARDED_BY(mu_) = 0;
  int finished_unreaped_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status fatal_error_;  // lease thread only

  std::thread heartbeat_thread_;
  std::thread flush_thread_;
};

}  // namespace expsvc::worker
