#pragma once
// All of the scheduler's SQL, one method per query. Records are the proto
// messages the API returns, so no layer converts them twice. Every method
// catches libpqxx exceptions and returns a Status: UNAVAILABLE when the
// database is unreachable, FAILED_PRECONDITION for a stale lease, NOT_FOUND
// for an unknown id. The methods are defined one file per table, next to
// their SQL (store_transaction.h lists them).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/sweep/sweep_spec.h"
#include "expsvc/v1/artifacts.pb.h"
#include "expsvc/v1/common.pb.h"
#include "expsvc/v1/jobs.pb.h"
#include "expsvc/v1/metrics.pb.h"
#include "expsvc/v1/ratings.pb.h"
#include "expsvc/v1/workers.pb.h"
#include "server/auth/role.h"
#include "server/auth/token_store.h"
#include "server/storage/connection_pool.h"

namespace expsvc::storage {

// The PostgreSQL notification channel on which every write that may make
// work ready (a sweep submitted, children queued, a job requeued or retried)
// announces it, in its own transaction, so it is delivered only once the
// work is committed. Scheduler replicas LISTEN on it to wake their idle
// workers' long-polls (WorkListener).
inline constexpr char kWorkReadyChannel[] = "expsvc_work_ready";

struct CreatedSweep {
  int64_t sweep_id = 0;
  bool already_existed = false;
};

struct ClaimRequest {
  std::string worker_id;
  int32_t free_cpu_cores = 0;
  int64_t free_memory_mb = 0;
  int32_t free_gpus = 0;
  int32_t free_gpu_memory_gb = 0;  // the largest free GPU's
  int32_t max_jobs = 1;
  std::vector<std::string> kinds;
  // Kinds the worker runs one function per group for: their groups are
  // leased whole; other groups at most max_jobs members at a time.
  std::vector<std::string> group_kinds;
  int64_t lease_ttl_ms = 30000;
};

// One worker's completions, as CompleteJobs takes them.
struct CompletionRequest {
  std::string worker_id;
  std::vector<expsvc::v1::JobLease> leases;
};

// What RunLeaseBatch answers, one entry per request, in request order.
struct LeaseBatchResult {
  std::vector<std::vector<expsvc::v1::CompletionResult>> completions;
  std::vector<std::vector<expsvc::v1::LeasedJob>> claims;
  // Waiting jobs the completions queued (their last parent succeeded).
  int64_t children_queued = 0;
};

struct JobFilter {
  int64_t sweep_id = 0;             // 0: any
  std::vector<std::string> states;  // empty: any
  std::string kind;                 // empty: any
  std::string params_filter_json = "{}";
  int32_t limit = 100;
  int64_t after_id = 0;
};

// A sweep's curves of one key for a chart `buckets` pixels wide (the
// dashboard's). They are read from the rollups kept on write (migration
// 0006) at the coarsest step width that still gives every bucket its own
// rows, or from the points when a bucket spans fewer than 16 steps; and
// coarser still when that would read more than `row_budget` rows.
struct SeriesRequest {
  int64_t sweep_id = 0;
  std::string key;
  int32_t buckets = 1000;
  // One curve per value of this parameter (mean, min and max over the
  // group's jobs) instead of one per job. Empty: per job, unless more than
  // `max_jobs` jobs have the key (then one group of them all).
  std::string group_param;
  int32_t max_jobs = 200;
  int64_t row_budget = 100000;
};

// Buckets b = 1..N over the sweep's step range [first_step, end_step) of the
// key: bucket b starts at first_step + (b - 1) * (end_step - first_step) / N.
// A rollup row counts in the bucket of its first step, so a bucket boundary
// is exact to within one rollup width (at most the bucket's own width).
struct BucketedSeries {
  int64_t job_id = 0;
  std::vector<int32_t> buckets;
  // Per bucket: its first step with a point, the smallest and largest value.
  std::vector<int64_t> steps;
  std::vector<double> min;
  std::vector<double> max;
  // Points before bucketing.
  int64_t points = 0;
};

struct GroupedSeries {
  // The parameter's value as text (JSON text for non-strings; "" when absent).
  std::string value;
  int64_t jobs = 0;
  std::vector<int32_t> buckets;
  std::vector<int64_t> steps;
  std::vector<double> min;
  std::vector<double> max;
  // The mean of every point of the group's jobs in the bucket.
  std::vector<double> mean;
  int64_t points = 0;
};

struct SeriesAnswer {
  int64_t first_step = 0;
  int64_t end_step = 0;
  // Steps per row read: 1 (the points) or a rollup width.
  int32_t width = 1;
  int64_t jobs_with_key = 0;
  bool grouped = false;
  std::vector<BucketedSeries> jobs;
  std::vector<GroupedSeries> groups;
};

// What the connected role may change: the dashboard refuses to run with a
// role that can write.
struct WriteAccess {
  bool superuser = false;
  // Tables of the public schema it may INSERT, UPDATE, DELETE or TRUNCATE.
  std::vector<std::string> writable_tables;
};

struct LeaseCheck {
  int64_t sweep_id = 0;
  int32_t attempt = 0;
};

struct StoredArtifact {
  expsvc::v1::ArtifactRef ref;
  std::string storage_path;
};

struct FailOutcome {
  expsvc::v1::JobState new_state = expsvc::v1::JOB_STATE_UNSPECIFIED;
  int64_t cancelled_descendants = 0;
};

struct RescueOutcome {
  int64_t requeued = 0;
  int64_t failed = 0;
};

// UNAVAILABLE, marked as "the commit's outcome is unknown": the connection
// broke while the write was committing, so it may be stored or not. Such a
// status is retryable for writes that are safe to repeat (all of the store's
// lease writes are), and is resolved by reading back, never by undoing.
absl::Status CommitOutcomeUnknownError(const std::string& message);
bool IsCommitOutcomeUnknown(const absl::Status& status);

class PostgresStore final : public auth::TokenStore {
 public:
  static absl::StatusOr<std::unique_ptr<PostgresStore>> Open(const std::string& conninfo, int pool_size);

  // Tokens: only hashes are stored.
  absl::Status CreateToken(const std::string& name, auth::Role role, const std::string& token_hash) override;
  absl::StatusOr<std::optional<auth::Role>> LookupToken(const std::string& token_hash) override;
  absl::StatusOr<std::string> JobTokenKey(const std::string& candidate) override;
  // Revokes every live token created under `name`; returns how many.
  absl::StatusOr<int64_t> RevokeTokens(const std::string& name);

  // Workers.
  absl::StatusOr<std::string> RegisterWorker(const expsvc::v1::RegisterWorkerRequest& request);
  // Workers seen within `offline_after_ms` are online; the others are listed
  // only with `include_offline`.
  absl::StatusOr<std::vector<expsvc::v1::WorkerInfo>> ListWorkers(int64_t offline_after_ms, bool include_offline);
  // Deletes workers not seen for `retention_ms` that no job refers to.
  absl::StatusOr<int64_t> PruneWorkers(int64_t retention_ms);
  absl::StatusOr<bool> WorkerExists(const std::string& worker_id);

  // Sweeps. A non-empty idempotency key that already exists returns that sweep.
  absl::StatusOr<CreatedSweep> CreateSweep(const SweepPlan& plan, const std::string& spec_yaml,
                                           const std::string& idempotency_key);
  absl::StatusOr<expsvc::v1::Sweep> GetSweep(int64_t sweep_id);
  absl::StatusOr<std::vector<expsvc::v1::Sweep>> ListSweeps(int32_t limit);
  absl::StatusOr<int64_t> CancelSweep(int64_t sweep_id, const std::string& reason);

  // Jobs.
  absl::StatusOr<std::vector<expsvc::v1::Job>> ListJobs(const JobFilter& filter);
  absl::StatusOr<expsvc::v1::Job> GetJob(int64_t job_id);
  // Cancels the job (unless finished) and its unfinished descendants.
  absl::StatusOr<int64_t> CancelJob(int64_t job_id, const std::string& reason);
  // Requeues a failed/cancelled job, its group's other failed/cancelled
  // members, and the descendants cancelled with them.
  absl::StatusOr<int64_t> RetryJob(int64_t job_id);
  // The same for every failed or cancelled job of a sweep (stage "": all).
  absl::StatusOr<int64_t> RetrySweepFailures(int64_t sweep_id, const std::string& stage);

  // Leasing: one statement claims a job, or a whole group, that fits.
  absl::StatusOr<std::vector<expsvc::v1::LeasedJob>> ClaimJobs(const ClaimRequest& request);
  absl::StatusOr<std::vector<expsvc::v1::LeaseStatus>> RenewLeases(const std::string& worker_id,
                                                                   const std::vector<expsvc::v1::JobLease>& leases,
                                                                   int64_t lease_ttl_ms);
  absl::StatusOr<std::vector<expsvc::v1::CompletionResult>> CompleteJobs(
      const std::string& worker_id, const std::vector<expsvc::v1::JobLease>& leases);
  // Several workers' completions and claims in one transaction, so they
  // share one commit (one WAL flush): the completions as one statement, then
  // each claim in turn (a later claim never gets what an earlier one took).
  // Each result is what CompleteJobs / ClaimJobs would have answered alone;
  // the batch fails or commits as a whole.
  absl::StatusOr<LeaseBatchResult> RunLeaseBatch(const std::vector<CompletionRequest>& completions,
                                                 const std::vector<ClaimRequest>& claims);
  absl::StatusOr<FailOutcome> FailJob(const std::string& worker_id, const expsvc::v1::JobLease& lease,
                                      const std::string& reason, bool retryable, bool release, int64_t backoff_base_ms,
                                      int64_t backoff_max_ms);
  // A lease lost after its attempt stored a checkpoint is requeued without
  // spending an attempt, at most `max_free_interruptions` times per job.
  absl::StatusOr<RescueOutcome> RescueExpiredLeases(int64_t backoff_base_ms, int64_t backoff_max_ms,
                                                    int32_t max_free_interruptions);
  // After the scheduler was down or the database unreachable, workers could
  // not renew: every running lease gets at least `grace_ms` from now (even
  // one that expired meanwhile) before the rescuer may take it. Returns how
  // many leases were extended.
  absl::StatusOr<int64_t> ExtendRunningLeases(int64_t grace_ms);
  // Queues every waiting job whose parents have all succeeded. Completion
  // does this in its own statement; this pass catches a child that a
  // concurrent retry reset to waiting in the same instant (its recount saw
  // the parent unfinished, the completion saw the child not waiting).
  absl::StatusOr<int64_t> ReleaseReadyChildren();

  // Writes made under a lease: refused (FAILED_PRECONDITION) unless its epoch
  // is current. Each is safe to repeat: metrics upsert by (job, key, step),
  // an artifact record by (job, name), a completion repeated by the lease
  // that made it reports "ok" again.
  absl::StatusOr<LeaseCheck> CheckLease(const expsvc::v1::JobLease& lease);
  absl::StatusOr<int64_t> WriteMetrics(const expsvc::v1::ReportMetricsRequest& request);
  absl::Status AppendLogs(const expsvc::v1::JobLease& lease, const std::vector<std::string>& lines);
  // Records (or replaces) an artifact; returns it and the path it replaced.
  // When the commit's outcome is unknown it reads the record back (waiting
  // out a database restart) and answers as the record says.
  absl::StatusOr<std::pair<StoredArtifact, std::string>> RecordArtifact(const expsvc::v1::JobLease& lease,
                                                                        const std::string& name, int64_t size_bytes,
                                                                        const std::string& sha256,
                                                                        const std::string& storage_path);

  // Reads.
  absl::StatusOr<std::vector<expsvc::v1::LogLine>> GetLogs(int64_t job_id, int64_t after_seq, int32_t limit);
  absl::StatusOr<expsvc::v1::QueryMetricsResponse> QueryMetrics(const expsvc::v1::QueryMetricsRequest& request);
  absl::StatusOr<std::vector<expsvc::v1::ArtifactRef>> ListArtifacts(int64_t sweep_id, int64_t job_id);
  absl::StatusOr<StoredArtifact> GetArtifact(int64_t artifact_id);
  // The sweep's curves of one key (SeriesRequest says how they are read).
  absl::StatusOr<SeriesAnswer> SweepSeries(const SeriesRequest& request);
  // The jobs that depend on `job_id`.
  absl::StatusOr<std::vector<int64_t>> ChildJobIds(int64_t job_id);
  absl::StatusOr<WriteAccess> CurrentRoleWriteAccess();
  // How many artifact records there are, and how many of them point under
  // `prefix` (a folder path, no trailing '/').
  absl::StatusOr<std::pair<int64_t, int64_t>> CountArtifactsUnder(const std::string& prefix);
  // Which of `paths` some artifact record points at.
  absl::StatusOr<std::set<std::string>> RecordedArtifactPaths(const std::vector<std::string>& paths);

  // The listening test (ratings_table.cc). Upsert by (artifact, rater);
  // NOT_FOUND for an unknown artifact, INVALID_ARGUMENT for one that is not
  // MIDI. The scores' range is the caller's check (and the table's).
  absl::StatusOr<expsvc::v1::Rating> UpsertRating(const expsvc::v1::Rating& rating);
  // 0 for either id: any.
  absl::StatusOr<std::vector<expsvc::v1::Rating>> ListRatings(int64_t sweep_id, int64_t artifact_id);

  // Called after every successful commit with its description; a test
  // throws pqxx::in_doubt_error from it to simulate a connection lost while
  // committing (the writes are stored, the caller is not told). Set before use.
  void SetAfterCommitHookForTesting(std::function<void(const char* what)> hook) {
    after_commit_for_testing_ = std::move(hook);
  }

 private:
  explicit PostgresStore(std::unique_ptr<ConnectionPool> pool) : pool_(std::move(pool)) {}

  // Runs `body` in a transaction, committing when it returns OK, retrying
  // serialisation failures and deadlocks, mapping exceptions to Status
  // (defined in store_transaction.h).
  template <typename Body>
  auto InTransaction(const char* what, Body&& body) {
    return Run<pqxx::work>(what, std::forward<Body>(body));
  }
  // The same for a body of one statement, which is atomic on its own: no
  // BEGIN/COMMIT round trips on the hot paths (claim, renew, complete).
  template <typename Body>
  auto InSingleStatement(const char* what, Body&& body) {
    return Run<pqxx::nontransaction>(what, std::forward<Body>(body));
  }
  template <typename Txn, typename Body>
  auto Run(const char* what, Body&& body) -> decltype(body(std::declval<Txn&>()));

  absl::Status FillArtifactsForLeases(pqxx::transaction_base& txn, std::vector<expsvc::v1::LeasedJob>& leased);

  std::unique_ptr<ConnectionPool> pool_;
  std::function<void(const char*)> after_commit_for_testing_;
};

}  // namespace expsvc::storage
