// PostgresStore: table jobs (reads, cancel, retry) and job_dependencies.
// Leasing is in leases_table.cc.

#include "absl/strings/str_cat.h"
#include "server/storage/pg_arrays.h"
#include "server/storage/postgres_store.h"
#include "server/storage/row_mapping.h"
#include "server/storage/store_transaction.h"

namespace expsvc::storage {
namespace {

using expsvc::v1::Job;

// $1 sweep (0: any), $2 states (empty: any), $3 kind ('': any), $4 params
// filter (jsonb containment), $5 after id, $6 limit.
constexpr char kListJobsSql[] = "SELECT " EXPSVC_JOB_COLUMNS R"sql( FROM jobs j
WHERE ($1::bigint = 0 OR j.sweep_id = $1) AND (cardinality($2::text[]) = 0 OR j.state = ANY($2::text[]))
  AND ($3 = '' OR j.kind = $3) AND j.params @> $4::jsonb AND j.id > $5::bigint
ORDER BY j.id LIMIT $6)sql";

constexpr char kGetJobSql[] = "SELECT " EXPSVC_JOB_COLUMNS " FROM jobs j WHERE j.id = $1";

constexpr char kLockJobStateSql[] = "SELECT state FROM jobs WHERE id = $1 FOR UPDATE";

constexpr char kCancelJobSql[] =
    "UPDATE jobs SET state = 'cancelled', error = $2, finished_at = now(), lease_expires_at = NULL WHERE id = $1";

constexpr char kCancelDescendantsSql[] = R"sql(
WITH RECURSIVE descendants AS (
  SELECT job_id FROM job_dependencies WHERE parent_id = ANY($1::bigint[])
  UNION
  SELECT d.job_id FROM job_dependencies d JOIN descendants x ON d.parent_id = x.job_id
)
UPDATE jobs SET state = 'cancelled', error = $2, finished_at = now(), lease_expires_at = NULL
WHERE id IN (SELECT job_id FROM descendants) AND state IN ('waiting', 'queued', 'running')
RETURNING id)sql";

constexpr char kLockJobForRetrySql[] = "SELECT state, sweep_id FROM jobs WHERE id = $1 FOR UPDATE";

// A group is one unit of work (its members may share children): retrying one
// member retries its group's other failed or cancelled members too.
constexpr char kLockGroupMatesSql[] = R"sql(
SELECT g.id FROM jobs j JOIN jobs g ON g.sweep_id = j.sweep_id AND g.group_key = j.group_key
WHERE j.id = $1 AND g.id <> j.id AND g.state IN ('failed', 'cancelled')
ORDER BY g.id FOR UPDATE OF g)sql";

// $1 sweep, $2 stage ('': every stage).
constexpr char kLockSweepFailuresSql[] = R"sql(
SELECT id FROM jobs WHERE sweep_id = $1 AND ($2 = '' OR stage = $2) AND state IN ('failed', 'cancelled')
ORDER BY id FOR UPDATE)sql";

constexpr char kStageExistsSql[] = "SELECT 1 FROM jobs WHERE sweep_id = $1 AND stage = $2 LIMIT 1";

// The jobs a retry resets: the roots ($1) and every descendant.
#define EXPSVC_RETRY_SUBTREE_CTE                                         \
  "WITH RECURSIVE subtree AS (\n"                                        \
  "  SELECT unnest($1::bigint[]) AS id\n"                                \
  "  UNION\n"                                                            \
  "  SELECT d.job_id FROM job_dependencies d JOIN subtree s ON d.parent_id = s.id\n" \
  ")\n"

// A job whose parent (outside what this retry resets) failed or was
// cancelled would wait forever: the retry is refused and names that parent.
constexpr char kRetryBlockedBySql[] = EXPSVC_RETRY_SUBTREE_CTE R"sql(
SELECT d.job_id, p.id, p.state FROM job_dependencies d JOIN jobs p ON p.id = d.parent_id
WHERE d.job_id IN (SELECT id FROM subtree) AND d.parent_id NOT IN (SELECT id FROM subtree)
  AND p.state IN ('failed', 'cancelled')
LIMIT 1)sql";

// The roots and their descendants that did not finish well go back to waiting.
constexpr char kResetSubtreeSql[] = EXPSVC_RETRY_SUBTREE_CTE R"sql(
UPDATE jobs SET state = 'waiting', attempt = 0, interruptions = 0, error = '', finished_at = NULL, started_at = NULL,
  run_after = now(), worker_id = NULL, lease_expires_at = NULL
WHERE id IN (SELECT id FROM subtree) AND state IN ('failed', 'cancelled')
RETURNING id)sql";
#undef EXPSVC_RETRY_SUBTREE_CTE

// Then each counts its unfinished parents afresh, and those with none queue.
constexpr char kRecountPendingParentsSql[] = R"sql(
UPDATE jobs j SET pending_parents = (
  SELECT count(*) FROM job_dependencies d JOIN jobs p ON p.id = d.parent_id
  WHERE d.job_id = j.id AND p.state <> 'succeeded')
WHERE j.id = ANY($1::bigint[]))sql";

constexpr char kQueueUnblockedSql[] =
    "UPDATE jobs SET state = 'queued' WHERE id = ANY($1::bigint[]) AND pending_parents = 0";

// A cancelled sweep runs again only once none of its jobs stays cancelled:
// retrying one job of it must not turn the sweep's state into "failed".
constexpr char kUncancelSweepSql[] =
    "UPDATE sweeps SET cancelled_at = NULL WHERE id = $1 "
    "AND NOT EXISTS (SELECT 1 FROM jobs WHERE sweep_id = $1 AND state = 'cancelled')";

// Resets `roots` (locked, failed or cancelled, all of sweep `sweep_id`) and
// their descendants; returns how many jobs were requeued or set waiting.
absl::StatusOr<int64_t> RetryRoots(pqxx::work& txn, const std::vector<int64_t>& roots, int64_t sweep_id) {
  const std::string root_array = IntArrayLiteral(roots);
  pqxx::result blocked = txn.exec_params(kRetryBlockedBySql, root_array);
  if (!blocked.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job ", blocked[0][0].c_str(), " depends on job ", blocked[0][1].c_str(), ", which is ", blocked[0][2].c_str(),
        ": retry job ", blocked[0][1].c_str(), " too (expctl retry --sweep ", sweep_id, " retries every failure)"));
  }
  pqxx::result reset = txn.exec_params(kResetSubtreeSql, root_array);
  std::vector<int64_t> ids;
  for (const auto& row : reset) ids.push_back(row[0].as<int64_t>());
  const std::string id_array = IntArrayLiteral(ids);
  txn.exec_params(kRecountPendingParentsSql, id_array);
  txn.exec_params(kQueueUnblockedSql, id_array);
  txn.exec_params(kUncancelSweepSql, sweep_id);
  return static_cast<int64_t>(ids.size());
}

// Waiting jobs none of whose parents is unfinished, queued with a fresh count.
constexpr char kReleaseReadyChildrenSql[] = R"sql(
UPDATE jobs c SET state = 'queued', pending_parents = 0
WHERE c.state = 'waiting' AND NOT EXISTS (
  SELECT 1 FROM job_dependencies d JOIN jobs p ON p.id = d.parent_id
  WHERE d.job_id = c.id AND p.state <> 'succeeded'))sql";

}  // namespace

int64_t CancelDescendants(pqxx::work& txn, const std::vector<int64_t>& job_ids, const std::string& reason) {
  if (job_ids.empty()) return 0;
  pqxx::result cancelled = txn.exec_params(kCancelDescendantsSql, IntArrayLiteral(job_ids), reason);
  return static_cast<int64_t>(cancelled.size());
}

absl::StatusOr<std::vector<Job>> PostgresStore::ListJobs(const JobFilter& filter) {
  return InTransaction("listing jobs", [&](pqxx::work& txn) -> absl::StatusOr<std::vector<Job>> {
    pqxx::result rows =
        txn.exec_params(kListJobsSql, filter.sweep_id, TextArrayLiteral(filter.states), filter.kind,
                        filter.params_filter_json.empty() ? std::string("{}") : filter.params_filter_json,
                        filter.after_id, static_cast<int64_t>(filter.limit <= 0 ? 100 : filter.limit));
    std::vector<Job> jobs;
    jobs.reserve(rows.size());
    for (const auto& row : rows) jobs.push_back(RowToJob(row));
    return jobs;
  });
}

absl::StatusOr<Job> PostgresStore::GetJob(int64_t job_id) {
  return InTransaction("reading a job", [&](pqxx::work& txn) -> absl::StatusOr<Job> {
    pqxx::result rows = txn.exec_params(kGetJobSql, job_id);
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("job ", job_id, " does not exist"));
    return RowToJob(rows[0]);
  });
}

absl::StatusOr<int64_t> PostgresStore::CancelJob(int64_t job_id, const std::string& reason) {
  return InTransaction("cancelling a job", [&](pqxx::work& txn) -> absl::StatusOr<int64_t> {
    pqxx::result rows = txn.exec_params(kLockJobStateSql, job_id);
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("job ", job_id, " does not exist"));
    const std::string state = rows[0][0].c_str();
    if (state == "succeeded" || state == "failed" || state == "cancelled") {
      return absl::FailedPreconditionError(absl::StrCat("job ", job_id, " already finished (", state, ")"));
    }
    txn.exec_params(kCancelJobSql, job_id, reason);
    return 1 + CancelDescendants(txn, {job_id}, absl::StrCat("dependency ", job_id, " was cancelled"));
  });
}

absl::StatusOr<int64_t> PostgresStore::RetryJob(int64_t job_id) {
  return InTransaction("retrying a job", [&](pqxx::work& txn) -> absl::StatusOr<int64_t> {
    pqxx::result rows = txn.exec_params(kLockJobForRetrySql, job_id);
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("job ", job_id, " does not exist"));
    const std::string state = rows[0][0].c_str();
    if (state != "failed" && state != "cancelled") {
      return absl::FailedPreconditionError(
          absl::StrCat("job ", job_id, " is ", state, ": only failed or cancelled jobs can be retried"));
    }
    std::vector<int64_t> roots = {job_id};
    for (const auto& row : txn.exec_params(kLockGroupMatesSql, job_id)) roots.push_back(row[0].as<int64_t>());
    AnnounceWorkReady(txn);
    return RetryRoots(txn, roots, rows[0][1].as<int64_t>());
  });
}

absl::StatusOr<int64_t> PostgresStore::ReleaseReadyChildren() {
  return InTransaction("queueing ready children", [&](pqxx::work& txn) -> absl::StatusOr<int64_t> {
    const auto released = static_cast<int64_t>(txn.exec(kReleaseReadyChildrenSql).affected_rows());
    if (released > 0) AnnounceWorkReady(txn);
    return released;
  });
}

absl::StatusOr<int64_t> PostgresStore::RetrySweepFailures(int64_t sweep_id, const std::string& stage) {
  return InTransaction("retrying a sweep's failures", [&](pqxx::work& txn) -> absl::StatusOr<int64_t> {
    if (!stage.empty() && txn.exec_params(kStageExistsSql, sweep_id, stage).empty()) {
      return absl::NotFoundError(absl::StrCat("sweep ", sweep_id, " has no stage '", stage, "'"));
    }
    std::vector<int64_t> roots;
    for (const auto& row : txn.exec_params(kLockSweepFailuresSql, sweep_id, stage)) {
      roots.push_back(row[0].as<int64_t>());
    }
    if (roots.empty()) {
      return absl::FailedPreconditionError(absl::StrCat("sweep ", sweep_id, " has no failed or cancelled jobs",
                                                        stage.empty() ? "" : absl::StrCat(" in stage '", stage, "'")));
    }
    AnnounceWorkReady(txn);
    return RetryRoots(txn, roots, sweep_id);
  });
}

absl::StatusOr<std::vector<int64_t>> PostgresStore::ChildJobIds(int64_t job_id) {
  return InSingleStatement("listing a job's children",
                           [&](pqxx::transaction_base& txn) -> absl::StatusOr<std::vector<int64_t>> {
                             std::vector<int64_t> children;
                             for (const pqxx::row& row : txn.exec_params(
                                      "SELECT job_id FROM job_dependencies WHERE parent_id = $1 ORDER BY job_id",
                                      job_id)) {
                               children.push_back(row[0].as<int64_t>());
                             }
                             return children;
                           });
}

}  // namespace expsvc::storage
