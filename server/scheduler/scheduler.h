#pragma once
// The scheduler's logic, one method per RPC, free of gRPC: the adapters in
// server/grpc/ authenticate, call these and convert the Status. All durable
// state is in PostgreSQL; what lives here (the wake-up signal for long-polling
// leases, the rescuer thread) can be lost on restart without losing work.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "expsvc/v1/artifacts.pb.h"
#include "expsvc/v1/jobs.pb.h"
#include "expsvc/v1/metrics.pb.h"
#include "expsvc/v1/ratings.pb.h"
#include "expsvc/v1/sweeps.pb.h"
#include "expsvc/v1/workers.pb.h"
#include "server/scheduler/artifact_store.h"
#include "server/scheduler/lease_batcher.h"
#include "server/storage/postgres_store.h"

namespace expsvc::scheduler {

struct SchedulerOptions {
  int64_t lease_ttl_ms = 30000;
  // Retry backoff: base * 2^(attempt-1), capped.
  int64_t retry_backoff_base_ms = 1000;
  int64_t retry_backoff_max_ms = 60000;
  // How often expired leases are looked for; 0 picks lease_ttl_ms / 4.
  int64_t rescue_interval_ms = 0;
  // Leases are not rescued for this long after the scheduler starts or the
  // database comes back from an outage (workers could not renew meanwhile):
  // running leases are extended to at least now + grace. 0 picks lease_ttl_ms.
  int64_t lease_grace_ms = 0;
  // A lease lost after its attempt stored a checkpoint (a preempted or killed
  // worker) does not spend an attempt, at most this many times per job.
  int32_t max_free_interruptions = 20;
  // At start-up, files under the artifact root that no record points at are
  // removed once untouched for this long (a live upload is younger).
  int64_t unrecorded_file_age_s = 600;
  // Workers not seen for this long, and that no job refers to, are deleted.
  int64_t worker_retention_ms = int64_t{24} * 3600 * 1000;
  int64_t max_sweep_jobs = 100000;
  // Concurrent claims and completions share one transaction (one commit), up
  // to this many requests; 1 commits each alone (see LeaseBatcher).
  int32_t max_lease_batch = 32;
  int32_t max_lease_wait_ms = 30000;
  // Long-polling leases look again this often even without a wake-up (work
  // submitted through another scheduler replica, backoff ending).
  int32_t lease_poll_interval_ms = 100;
  int32_t max_metric_points_per_call = 10000;
  int32_t max_log_lines_per_call = 10000;
  int64_t max_artifact_bytes = int64_t{64} << 30;
};

class Scheduler {
 public:
  Scheduler(storage::PostgresStore* store, ArtifactStore* artifacts, SchedulerOptions options);
  ~Scheduler();

  // Starts and stops the rescuer thread.
  void Start() ABSL_LOCKS_EXCLUDED(stop_mu_);
  void Stop() ABSL_LOCKS_EXCLUDED(stop_mu_);

  absl::StatusOr<expsvc::v1::SubmitSweepResponse> SubmitSweep(const expsvc::v1::SubmitSweepRequest& request);
  absl::StatusOr<expsvc::v1::Sweep> GetSweep(int64_t sweep_id);
  absl::StatusOr<expsvc::v1::ListSweepsResponse> ListSweeps(const expsvc::v1::ListSweepsRequest& request);
  absl::StatusOr<expsvc::v1::CancelSweepResponse> CancelSweep(const expsvc::v1::CancelSweepRequest& request);

  absl::StatusOr<expsvc::v1::ListJobsResponse> ListJobs(const expsvc::v1::ListJobsRequest& request);
  absl::StatusOr<expsvc::v1::Job> GetJob(int64_t job_id);
  absl::StatusOr<expsvc::v1::CancelJobResponse> CancelJob(const expsvc::v1::CancelJobRequest& request);
  absl::StatusOr<expsvc::v1::RetryJobResponse> RetryJob(const expsvc::v1::RetryJobRequest& request);
  absl::StatusOr<expsvc::v1::GetJobLogsResponse> GetJobLogs(const expsvc::v1::GetJobLogsRequest& request);

  absl::StatusOr<expsvc::v1::RegisterWorkerResponse> RegisterWorker(const expsvc::v1::RegisterWorkerRequest& request);
  absl::StatusOr<expsvc::v1::ListWorkersResponse> ListWorkers(const expsvc::v1::ListWorkersRequest& request);
  // Long-polls up to request.wait_ms for work; `cancelled` lets the caller
  // stop waiting when its client went away.
  absl::StatusOr<expsvc::v1::LeaseJobsResponse> LeaseJobs(const expsvc::v1::LeaseJobsRequest& request,
                                                          const std::function<bool()>& cancelled)
      ABSL_LOCKS_EXCLUDED(wake_mu_);
  absl::StatusOr<expsvc::v1::HeartbeatResponse> Heartbeat(const expsvc::v1::HeartbeatRequest& request);
  absl::StatusOr<expsvc::v1::ReportMetricsResponse> ReportMetrics(const expsvc::v1::ReportMetricsRequest& request);
  absl::Status AppendLogs(const expsvc::v1::AppendLogsRequest& request);
  absl::StatusOr<expsvc::v1::CompleteJobsResponse> CompleteJobs(const expsvc::v1::CompleteJobsRequest& request);
  absl::StatusOr<expsvc::v1::FailJobResponse> FailJob(const expsvc::v1::FailJobRequest& request);

  // Uploads: BeginArtifactUpload checks the lease and the header; the
  // caller appends chunks, then FinishArtifactUpload records it.
  absl::StatusOr<std::unique_ptr<ArtifactUpload>> BeginArtifactUpload(const expsvc::v1::ArtifactHeader& header);
  absl::StatusOr<expsvc::v1::ArtifactRef> FinishArtifactUpload(const expsvc::v1::ArtifactHeader& header,
                                                               ArtifactUpload& upload);

  absl::StatusOr<expsvc::v1::QueryMetricsResponse> QueryMetrics(const expsvc::v1::QueryMetricsRequest& request);
  absl::StatusOr<expsvc::v1::ListArtifactsResponse> ListArtifacts(const expsvc::v1::ListArtifactsRequest& request);
  absl::StatusOr<storage::StoredArtifact> GetArtifact(int64_t artifact_id);

  // The listening test: scores 1..5, a rater of 1..100 characters (trimmed).
  absl::StatusOr<expsvc::v1::Rating> SubmitRating(const expsvc::v1::Rating& rating);
  absl::StatusOr<expsvc::v1::ListRatingsResponse> ListRatings(const expsvc::v1::ListRatingsRequest& request);

  // One rescuer pass (also run by the background thread).
  absl::StatusOr<storage::RescueOutcome> RescueExpiredLeases();
  // What the background thread does every 10 s: queue waiting jobs whose
  // parents all succeeded (a safety net under the completion statement) and
  // prune long-gone workers.
  void RunHousekeeping();
  // At start-up: removes stored files no artifact record points at (left by
  // a crash between moving an upload into place and recording it, or between
  // replacing a record and removing the old file), and interrupted uploads.
  // Only files untouched for unrecorded_file_age_s, so live uploads are never
  // touched; and nothing when no record lies under the root as spelled now
  // (a moved or differently spelled root would make every file look
  // unrecorded).
  // False when the database could not be asked (tried again later).
  bool RemoveUnrecordedFiles();

  const SchedulerOptions& options() const { return options_; }
  // Wakes every long-polling lease request to claim again: work may be
  // ready (called here after local writes, and by the WorkListener for
  // work another replica announced).
  void WakeLeaseWaiters() ABSL_LOCKS_EXCLUDED(wake_mu_);
  LeaseBatcher::Stats lease_batch_stats() const { return lease_batcher_.stats(); }

 private:
  void RescueLoop() ABSL_LOCKS_EXCLUDED(stop_mu_);

  storage::PostgresStore* store_;
  ArtifactStore* artifacts_;
  const SchedulerOptions options_;
  LeaseBatcher lease_batcher_;

  // Bumped whenever work may have become available; long-polling leases wait
  // for it to change (absl::Mutex wakes them on the writer's unlock).
  absl::Mutex wake_mu_;
  uint64_t wake_generation_ ABSL_GUARDED_BY(wake_mu_) = 0;

  absl::Mutex stop_mu_;
  bool stopping_ ABSL_GUARDED_BY(stop_mu_) = false;
  // Started under stop_mu_; joined by Stop (without it, so the loop can exit).
  std::thread rescuer_;
};

}  // namespace expsvc::scheduler
