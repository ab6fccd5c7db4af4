// PostgresStore: leases on jobs (claim, renew, complete, fail, rescue) and
// the epoch check every write made under a lease goes through. The epoch
// (jobs.lease_epoch) is a fencing token: bumped at every claim, so a worker
// whose lease expired and was claimed again cannot write any more.

#include <algorithm>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/storage/pg_arrays.h"
#include "server/storage/postgres_store.h"
#include "server/storage/row_mapping.h"
#include "server/storage/store_transaction.h"

namespace expsvc::storage {
namespace {

using expsvc::v1::JobLease;

// One statement: lock the best queued job that fits (the head). An ungrouped
// head brings other ungrouped jobs, up to max_jobs while their summed
// resources still fit. A grouped head of a kind the worker runs as one
// function per group ($8, e.g. train_sae: one pass over the data serves
// every member) brings every ready member of its group, whatever max_jobs
// says. A grouped head of any other kind brings members of its group like an
// ungrouped head brings jobs (up to max_jobs, summed resources fitting), so a
// worker never runs more members than its slots and a killed worker costs at
// most that many attempts; the group's next queued member heads the next
// claim. All of them are leased under a new epoch.
// $1 worker, $2 cpu, $3 memory, $4 gpus, $5 max jobs, $6 kinds, $7 ttl ms,
// $8 group kinds, $9 the memory of the worker's largest free GPU (GiB; a
// job's gpu_memory_gb is per device, so it is compared, not summed).
constexpr char kClaimJobsSql[] = R"sql(
WITH head AS MATERIALIZED (
  SELECT id, sweep_id, group_key, kind = ANY($8::text[]) AS whole_group FROM jobs
  WHERE state = 'queued' AND run_after <= now() AND kind = ANY($6::text[])
    AND cpu_cores <= $2 AND memory_mb <= $3 AND gpus <= $4 AND gpu_memory_gb <= $9
    AND EXISTS (SELECT 1 FROM workers WHERE id = $1)
    -- Only a group's first ready member may head a claim: a second claimer
    -- that skipped it (locked) must not start on the rest of that group. (A
    -- member waiting out a retry backoff does not hold the others back.)
    AND (group_key IS NULL OR NOT EXISTS (
      SELECT 1 FROM jobs g WHERE g.sweep_id = jobs.sweep_id AND g.group_key = jobs.group_key
        AND g.state = 'queued' AND g.run_after <= now() AND g.id < jobs.id))
  ORDER BY priority DESC, id
  LIMIT 1
  FOR UPDATE SKIP LOCKED
), ungrouped AS MATERIALIZED (
  SELECT j.id, j.priority, j.cpu_cores, j.memory_mb, j.gpus FROM jobs j
  WHERE EXISTS (SELECT 1 FROM head WHERE head.group_key IS NULL)
    AND j.state = 'queued' AND j.group_key IS NULL AND j.run_after <= now() AND j.kind = ANY($6::text[])
    AND j.cpu_cores <= $2 AND j.memory_mb <= $3 AND j.gpus <= $4 AND j.gpu_memory_gb <= $9
  ORDER BY j.priority DESC, j.id
  LIMIT $5
  FOR UPDATE OF j SKIP LOCKED
), group_members AS MATERIALIZED (
  SELECT j.id, j.cpu_cores, j.memory_mb, j.gpus FROM jobs j, head h
  WHERE h.group_key IS NOT NULL AND j.sweep_id = h.sweep_id AND j.group_key = h.group_key
    AND j.state = 'queued' AND j.run_after <= now() AND j.kind = ANY($6::text[])
    AND j.cpu_cores <= $2 AND j.memory_mb <= $3 AND j.gpus <= $4 AND j.gpu_memory_gb <= $9
  ORDER BY j.id
  LIMIT (SELECT CASE WHEN whole_group THEN 4096 ELSE $5 END FROM head)
  FOR UPDATE OF j SKIP LOCKED
), fitting AS (
  SELECT id FROM (
    SELECT id, row_number() OVER w AS position, sum(cpu_cores) OVER w AS cpu,
           sum(memory_mb) OVER w AS memory, sum(gpus) OVER w AS gpu
    FROM ungrouped WINDOW w AS (ORDER BY priority DESC, id)) running_totals
  WHERE position = 1 OR (cpu <= $2 AND memory <= $3 AND gpu <= $4)
  UNION ALL
  SELECT id FROM (
    SELECT id, row_number() OVER w AS position, sum(cpu_cores) OVER w AS cpu,
           sum(memory_mb) OVER w AS memory, sum(gpus) OVER w AS gpu
    FROM group_members WINDOW w AS (ORDER BY id)) member_totals
  WHERE position = 1 OR (SELECT whole_group FROM head) OR (cpu <= $2 AND memory <= $3 AND gpu <= $4)
), seen AS (
  UPDATE workers SET last_seen_at = now() WHERE id = $1 AND last_seen_at < now() - interval '2 seconds'
)
UPDATE jobs j SET state = 'running', worker_id = $1, lease_epoch = j.lease_epoch + 1, attempt = j.attempt + 1,
  lease_expires_at = now() + $7 * interval '1 millisecond', started_at = now(), error = ''
FROM fitting f WHERE j.id = f.id
RETURNING )sql" EXPSVC_JOB_COLUMNS;

// Extends the leases still held under these epochs. A job cancelled under
// its lease reports 'cancelled' so the worker stops it; anything else is
// 'lost'. $1 worker, $2 job ids, $3 epochs, $4 ttl ms.
constexpr char kRenewLeasesSql[] = R"sql(
WITH leases AS (SELECT * FROM unnest($2::bigint[], $3::bigint[]) AS l(id, epoch)),
renewed AS (
  UPDATE jobs j SET lease_expires_at = now() + $4 * interval '1 millisecond'
  FROM leases l WHERE j.id = l.id AND j.lease_epoch = l.epoch AND j.state = 'running' AND j.worker_id = $1
  RETURNING j.id, j.lease_epoch, coalesce((extract(epoch FROM j.lease_expires_at) * 1000)::bigint, 0) AS expires_ms
), seen AS (
  UPDATE workers SET last_seen_at = now() WHERE id = $1
)
SELECT l.id,
  CASE WHEN r.id IS NOT NULL THEN 'ok'
       WHEN j.state = 'cancelled' AND j.lease_epoch = l.epoch THEN 'cancelled'
       ELSE 'lost' END,
  coalesce(r.expires_ms, 0), l.epoch
FROM leases l LEFT JOIN renewed r ON r.id = l.id AND r.lease_epoch = l.epoch LEFT JOIN jobs j ON j.id = l.id
)sql";

// Marks leased jobs succeeded and moves children whose last parent this was
// to the queue. Each lease names its worker and the request it came in (a
// batch holds several workers' completions); each row also says how many
// children were queued. $1 request indexes, $2 workers, $3 job ids, $4 epochs.
constexpr char kCompleteJobsSql[] = R"sql(
WITH leases AS (SELECT * FROM unnest($1::int[], $2::text[], $3::bigint[], $4::bigint[]) AS l(request, worker, id, epoch)),
done AS (
  UPDATE jobs j SET state = 'succeeded', finished_at = now(), lease_expires_at = NULL
  FROM leases l WHERE j.id = l.id AND j.lease_epoch = l.epoch AND j.state = 'running' AND j.worker_id = l.worker
  RETURNING j.id, j.lease_epoch, j.worker_id
), unblocked AS (
  UPDATE jobs c SET pending_parents = c.pending_parents - x.n,
    state = CASE WHEN c.pending_parents - x.n = 0 THEN 'queued' ELSE c.state END
  FROM (SELECT d.job_id, count(*)::int AS n FROM job_dependencies d JOIN done ON d.parent_id = done.id
        GROUP BY d.job_id) x
  WHERE c.id = x.job_id AND c.state = 'waiting'
  RETURNING c.state
)
SELECT l.request, l.id,
  CASE WHEN d.id IS NOT NULL THEN 'ok'
       -- A completion repeated after an unknown commit outcome: already done.
       WHEN j.state = 'succeeded' AND j.lease_epoch = l.epoch AND j.worker_id = l.worker THEN 'ok'
       WHEN j.id IS NULL THEN 'unknown job'
       WHEN j.lease_epoch <> l.epoch THEN 'stale epoch ' || l.epoch || ' (current ' || j.lease_epoch || ')'
       WHEN j.state = 'running' AND j.worker_id IS DISTINCT FROM l.worker THEN 'leased to another worker'
       ELSE 'job is ' || j.state END,
  l.epoch, (SELECT count(*) FROM unblocked WHERE unblocked.state = 'queued')
FROM leases l LEFT JOIN done d ON d.id = l.id AND d.lease_epoch = l.epoch AND d.worker_id = l.worker
  LEFT JOIN jobs j ON j.id = l.id
)sql";

// Locks the job against a concurrent completion while a write is made.
constexpr char kCheckLeaseSql[] =
    "SELECT sweep_id, attempt FROM jobs WHERE id = $1 AND lease_epoch = $2 AND state = 'running' FOR SHARE";

constexpr char kLeaseStateSql[] = "SELECT state, lease_epoch FROM jobs WHERE id = $1";

// $1 job, $2 epoch, $3 worker.
constexpr char kLockLeasedJobSql[] =
    "SELECT attempt, max_attempts FROM jobs WHERE id = $1 AND lease_epoch = $2 AND state = 'running' "
    "AND worker_id = $3 FOR UPDATE";

// The worker is shutting down: the attempt does not count.
constexpr char kReleaseJobSql[] =
    "UPDATE jobs SET state = 'queued', attempt = greatest(attempt - 1, 0), worker_id = NULL, "
    "lease_expires_at = NULL, run_after = now() WHERE id = $1";

// $1 job, $2 error, $3 backoff ms.
constexpr char kRequeueJobSql[] =
    "UPDATE jobs SET state = 'queued', error = $2, worker_id = NULL, lease_expires_at = NULL, "
    "run_after = now() + $3 * interval '1 millisecond' WHERE id = $1";

constexpr char kFailJobSql[] =
    "UPDATE jobs SET state = 'failed', error = $2, finished_at = now(), lease_expires_at = NULL WHERE id = $1";

// Requeues (with backoff) or, out of attempts, fails every running job whose
// lease expired. An attempt that stored a checkpoint (any artifact) before
// its worker vanished was interrupted, not failing: it does not spend an
// attempt, like a release, so preempted workers cannot exhaust a job that
// makes progress. A job that kills its worker before any checkpoint still
// spends one each time, and free requeues stop after $3 (interruptions), so
// a job that checkpoints and then kills its worker still ends. $1 backoff
// base ms, $2 backoff max ms, $3 max free interruptions.
constexpr char kRescueExpiredSql[] = R"sql(
WITH expired AS MATERIALIZED (
  SELECT j.id, j.interruptions < $3 AND EXISTS (
    SELECT 1 FROM artifacts a WHERE a.job_id = j.id AND a.created_at >= j.started_at) AS progressed
  FROM jobs j WHERE j.state = 'running' AND j.lease_expires_at < now() FOR UPDATE OF j SKIP LOCKED
)
UPDATE jobs j SET
  state = CASE WHEN j.attempt >= j.max_attempts AND NOT e.progressed THEN 'failed' ELSE 'queued' END,
  attempt = CASE WHEN e.progressed THEN greatest(j.attempt - 1, 0) ELSE j.attempt END,
  interruptions = j.interruptions + CASE WHEN e.progressed THEN 1 ELSE 0 END,
  error = 'lease expired: worker ' || coalesce(j.worker_id, '?') || ' stopped renewing it (attempt ' ||
    j.attempt || CASE WHEN e.progressed THEN ', after a checkpoint: not counted' ELSE '' END || ')',
  finished_at = CASE WHEN j.attempt >= j.max_attempts AND NOT e.progressed THEN now() END,
  run_after = now() + least($1 * power(2, greatest(j.attempt - 1, 0)), $2) * interval '1 millisecond',
  worker_id = CASE WHEN j.attempt >= j.max_attempts AND NOT e.progressed THEN j.worker_id END,
  lease_expires_at = NULL
FROM expired e WHERE j.id = e.id
RETURNING j.id, j.state, j.attempt, e.progressed)sql";

// Gives every running lease at least $1 ms from now (see ExtendRunningLeases).
constexpr char kExtendRunningLeasesSql[] = R"sql(
UPDATE jobs SET lease_expires_at = now() + $1 * interval '1 millisecond'
WHERE state = 'running' AND lease_expires_at < now() + $1 * interval '1 millisecond')sql";

void SplitLeases(const std::vector<JobLease>& leases, std::vector<int64_t>& ids, std::vector<int64_t>& epochs) {
  for (const auto& lease : leases) {
    ids.push_back(lease.job_id());
    epochs.push_back(lease.epoch());
  }
}

}  // namespace

std::map<std::string, std::string> LeaseStatements() {
  return {{kClaimStatement, kClaimJobsSql},
          {kRenewStatement, kRenewLeasesSql},
          {kCompleteStatement, kCompleteJobsSql},
          {kCheckLeaseStatement, kCheckLeaseSql}};
}

absl::Status LeaseRefusal(pqxx::work& txn, const JobLease& lease) {
  pqxx::result current = txn.exec_params(kLeaseStateSql, lease.job_id());
  if (current.empty()) return absl::NotFoundError(absl::StrCat("job ", lease.job_id(), " does not exist"));
  const int64_t epoch = current[0][1].as<int64_t>();
  if (epoch != lease.epoch()) {
    return absl::FailedPreconditionError(
        absl::StrCat("stale lease for job ", lease.job_id(), ": epoch ", lease.epoch(), ", current epoch ", epoch));
  }
  return absl::FailedPreconditionError(
      absl::StrCat("job ", lease.job_id(), " is ", current[0][0].c_str(), ", not running under this lease"));
}

absl::StatusOr<LeaseCheck> CheckLeaseIn(pqxx::work& txn, const JobLease& lease) {
  pqxx::result row = txn.exec_prepared(kCheckLeaseStatement, lease.job_id(), lease.epoch());
  if (row.empty()) return LeaseRefusal(txn, lease);
  return LeaseCheck{row[0][0].as<int64_t>(), row[0][1].as<int32_t>()};
}

namespace {

// Runs one claim in `txn`: the jobs it leased, by id, with their inputs.
absl::StatusOr<std::vector<expsvc::v1::LeasedJob>> ClaimIn(pqxx::transaction_base& txn, const ClaimRequest& request) {
  pqxx::result rows = txn.exec_prepared(
      kClaimStatement, request.worker_id, request.free_cpu_cores, request.free_memory_mb, request.free_gpus,
      static_cast<int64_t>(std::max(1, request.max_jobs)), TextArrayLiteral(request.kinds), request.lease_ttl_ms,
      TextArrayLiteral(request.group_kinds), request.free_gpu_memory_gb);
  std::vector<expsvc::v1::LeasedJob> leased;
  leased.reserve(rows.size());
  for (const auto& row : rows) {
    expsvc::v1::LeasedJob job;
    *job.mutable_job() = RowToJob(row);
    job.set_epoch(job.job().lease_epoch());
    job.set_lease_expires_at_ms(row[kJobLeaseExpiresColumn].as<int64_t>());
    leased.push_back(std::move(job));
  }
  std::sort(leased.begin(), leased.end(), [](const auto& a, const auto& b) { return a.job().id() < b.job().id(); });
  return leased;
}

// Runs every completion of the batch as one statement; announces the
// children it queued.
void CompleteIn(pqxx::transaction_base& txn, const std::vector<CompletionRequest>& completions, LeaseBatchResult& out) {
  std::vector<int64_t> requests, ids, epochs;
  std::vector<std::string> workers;
  for (size_t r = 0; r < completions.size(); ++r) {
    for (const auto& lease : completions[r].leases) {
      requests.push_back(static_cast<int64_t>(r));
      workers.push_back(completions[r].worker_id);
      ids.push_back(lease.job_id());
      epochs.push_back(lease.epoch());
    }
  }
  out.completions.assign(completions.size(), {});
  if (ids.empty()) return;
  pqxx::result rows = txn.exec_prepared(kCompleteStatement, IntArrayLiteral(requests), TextArrayLiteral(workers),
                                        IntArrayLiteral(ids), IntArrayLiteral(epochs));
  int64_t& children_queued = out.children_queued;
  for (const auto& row : rows) {
    expsvc::v1::CompletionResult result;
    result.set_job_id(row[1].as<int64_t>());
    result.set_status(row[2].c_str());
    result.set_epoch(row[3].as<int64_t>());
    children_queued = row[4].as<int64_t>();
    out.completions.at(row[0].as<size_t>()).push_back(std::move(result));
  }
  // Alone (no claims), the completion committed on its own already: the
  // announcement then follows it, which is all the order it needs.
  if (children_queued > 0) AnnounceWorkReady(txn);
}

}  // namespace

absl::StatusOr<LeaseBatchResult> PostgresStore::RunLeaseBatch(const std::vector<CompletionRequest>& completions,
                                                              const std::vector<ClaimRequest>& claims) {
  auto body = [&](pqxx::transaction_base& txn) -> absl::StatusOr<LeaseBatchResult> {
    LeaseBatchResult out;
    // Completions first: a child they queue can be claimed in the same batch.
    CompleteIn(txn, completions, out);
    if (!claims.empty()) {
      // The claim must walk jobs_claimable_idx in order and stop at the first
      // unlocked job that fits. Its generic plan guesses the filters leave a
      // row or two and picks a bitmap scan of every queued entry (dead ones
      // included: a bitmap scan never learns which are dead) plus a sort:
      // ~4 ms instead of ~0.3 ms with a few thousand jobs queued.
      txn.exec0("SET LOCAL enable_bitmapscan = off");
    }
    for (const ClaimRequest& claim : claims) {
      EXPSVC_ASSIGN_OR_RETURN(auto leased, ClaimIn(txn, claim));
      EXPSVC_RETURN_IF_ERROR(FillArtifactsForLeases(txn, leased));
      out.claims.push_back(std::move(leased));
    }
    return out;
  };
  // Completions alone are one statement, atomic without BEGIN/COMMIT; claims
  // also read their jobs' inputs, in the same snapshot.
  if (claims.empty()) return InSingleStatement("completing jobs", body);
  return InTransaction(completions.empty() ? "leasing jobs" : "completing and leasing jobs",
                       [&](pqxx::work& txn) { return body(txn); });
}

absl::StatusOr<std::vector<expsvc::v1::LeasedJob>> PostgresStore::ClaimJobs(const ClaimRequest& request) {
  EXPSVC_ASSIGN_OR_RETURN(LeaseBatchResult result, RunLeaseBatch({}, {request}));
  return std::move(result.claims.at(0));
}

absl::StatusOr<std::vector<expsvc::v1::LeaseStatus>> PostgresStore::RenewLeases(const std::string& worker_id,
                                                                                const std::vector<JobLease>& leases,
                                                                                int64_t lease_ttl_ms) {
  std::vector<int64_t> ids, epochs;
  SplitLeases(leases, ids, epochs);
  return InSingleStatement(
      "renewing leases", [&](pqxx::transaction_base& txn) -> absl::StatusOr<std::vector<expsvc::v1::LeaseStatus>> {
        pqxx::result rows =
            txn.exec_prepared(kRenewStatement, worker_id, IntArrayLiteral(ids), IntArrayLiteral(epochs), lease_ttl_ms);
        std::vector<expsvc::v1::LeaseStatus> statuses;
        for (const auto& row : rows) {
          expsvc::v1::LeaseStatus status;
          status.set_job_id(row[0].as<int64_t>());
          status.set_status(row[1].c_str());
          status.set_lease_expires_at_ms(row[2].as<int64_t>());
          status.set_epoch(row[3].as<int64_t>());
          statuses.push_back(std::move(status));
        }
        return statuses;
      });
}

absl::StatusOr<std::vector<expsvc::v1::CompletionResult>> PostgresStore::CompleteJobs(
    const std::string& worker_id, const std::vector<JobLease>& leases) {
  EXPSVC_ASSIGN_OR_RETURN(LeaseBatchResult result, RunLeaseBatch({CompletionRequest{worker_id, leases}}, {}));
  return std::move(result.completions.at(0));
}

absl::StatusOr<FailOutcome> PostgresStore::FailJob(const std::string& worker_id, const JobLease& lease,
                                                   const std::string& reason, bool retryable, bool release,
                                                   int64_t backoff_base_ms, int64_t backoff_max_ms) {
  return InTransaction("failing a job", [&](pqxx::work& txn) -> absl::StatusOr<FailOutcome> {
    pqxx::result rows = txn.exec_params(kLockLeasedJobSql, lease.job_id(), lease.epoch(), worker_id);
    if (rows.empty()) return LeaseRefusal(txn, lease);
    const int attempt = rows[0][0].as<int>();
    const int max_attempts = rows[0][1].as<int>();
    FailOutcome outcome;
    if (release) {
      txn.exec_params(kReleaseJobSql, lease.job_id());
      outcome.new_state = expsvc::v1::JOB_STATE_QUEUED;
      AnnounceWorkReady(txn);
    } else if (retryable && attempt < max_attempts) {
      const int64_t backoff_ms = std::min<int64_t>(backoff_max_ms, backoff_base_ms << std::min(attempt - 1, 20));
      txn.exec_params(kRequeueJobSql, lease.job_id(), reason, backoff_ms);
      outcome.new_state = expsvc::v1::JOB_STATE_QUEUED;
      // Ready now only without a backoff; later, the replicas' polls find it.
      if (backoff_ms == 0) AnnounceWorkReady(txn);
    } else {
      txn.exec_params(kFailJobSql, lease.job_id(), reason);
      outcome.new_state = expsvc::v1::JOB_STATE_FAILED;
      outcome.cancelled_descendants =
          CancelDescendants(txn, {lease.job_id()}, absl::StrCat("dependency ", lease.job_id(), " failed"));
    }
    txn.exec_prepared(kAppendLogsStatement, lease.job_id(), attempt,
                      TextArrayLiteral({absl::StrCat(
                          release ? "[scheduler] lease released: " : "[scheduler] attempt failed: ", reason)}));
    return outcome;
  });
}

absl::StatusOr<RescueOutcome> PostgresStore::RescueExpiredLeases(int64_t backoff_base_ms, int64_t backoff_max_ms,
                                                                 int32_t max_free_interruptions) {
  return InTransaction("rescuing expired leases", [&](pqxx::work& txn) -> absl::StatusOr<RescueOutcome> {
    pqxx::result rows = txn.exec_params(kRescueExpiredSql, backoff_base_ms, backoff_max_ms, max_free_interruptions);
    RescueOutcome outcome;
    std::vector<int64_t> failed;
    for (const auto& row : rows) {
      const int64_t job_id = row[0].as<int64_t>();
      const bool is_failed = std::string_view(row[1].c_str()) == "failed";
      const bool progressed = row[3].as<bool>();
      txn.exec_prepared(kAppendLogsStatement, job_id, row[2].as<int>() + (progressed ? 1 : 0),
                        TextArrayLiteral({is_failed    ? "[scheduler] lease expired; no attempts left: failed"
                                          : progressed ? "[scheduler] lease expired after a checkpoint; requeued "
                                                         "without spending an attempt"
                                                       : "[scheduler] lease expired; requeued"}));
      if (is_failed) {
        failed.push_back(job_id);
        ++outcome.failed;
      } else {
        ++outcome.requeued;
      }
    }
    for (int64_t job_id : failed) CancelDescendants(txn, {job_id}, absl::StrCat("dependency ", job_id, " failed"));
    // Requeued jobs wait out their backoff; only without one are they ready now.
    if (outcome.requeued > 0 && backoff_base_ms == 0) AnnounceWorkReady(txn);
    return outcome;
  });
}

absl::StatusOr<LeaseCheck> PostgresStore::CheckLease(const JobLease& lease) {
  return InTransaction("checking a lease",
                       [&](pqxx::work& txn) -> absl::StatusOr<LeaseCheck> { return CheckLeaseIn(txn, lease); });
}

absl::StatusOr<int64_t> PostgresStore::ExtendRunningLeases(int64_t grace_ms) {
  return InTransaction("extending running leases", [&](pqxx::work& txn) -> absl::StatusOr<int64_t> {
    return static_cast<int64_t>(txn.exec_params(kExtendRunningLeasesSql, grace_ms).affected_rows());
  });
}

}  // namespace expsvc::storage
