// PostgresStore: table artifacts (the records; the files themselves are
// server/scheduler/artifact_store.*'s).

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "server/storage/pg_arrays.h"
#include "server/storage/postgres_store.h"
#include "server/storage/row_mapping.h"
#include "server/storage/store_transaction.h"

namespace expsvc::storage {
namespace {

using expsvc::v1::ArtifactRef;
using expsvc::v1::JobLease;

// A leased job sees its own artifacts from earlier attempts (checkpoints) and
// its parents' outputs. After the artifact columns: the job it is for, and
// whether it is that job's own. $1 leased job ids.
constexpr char kArtifactsForLeasesSql[] = "SELECT " EXPSVC_ARTIFACT_COLUMNS R"sql(, owner.for_job, owner.own
FROM (SELECT id AS for_job, id AS source, true AS own FROM unnest($1::bigint[]) AS id
      UNION ALL
      SELECT d.job_id, d.parent_id, false FROM job_dependencies d WHERE d.job_id = ANY($1::bigint[])) owner
JOIN artifacts a ON a.job_id = owner.source
ORDER BY owner.for_job, a.job_id, a.name)sql";

constexpr char kArtifactPathSql[] = "SELECT storage_path FROM artifacts WHERE job_id = $1 AND name = $2";
constexpr char kArtifactByNameSql[] =
    "SELECT " EXPSVC_ARTIFACT_COLUMNS " FROM artifacts a WHERE a.job_id = $1 AND a.name = $2";

constexpr char kLockArtifactPathSql[] = "SELECT storage_path FROM artifacts WHERE job_id = $1 AND name = $2 FOR UPDATE";

// A job writing a name again (a later attempt, a newer checkpoint) replaces it.
constexpr char kUpsertArtifactSql[] = R"sql(
INSERT INTO artifacts AS a (job_id, name, attempt, size_bytes, sha256, storage_path) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (job_id, name) DO UPDATE SET attempt = EXCLUDED.attempt, size_bytes = EXCLUDED.size_bytes,
  sha256 = EXCLUDED.sha256, storage_path = EXCLUDED.storage_path, created_at = now()
RETURNING )sql" EXPSVC_ARTIFACT_COLUMNS;

// $1 sweep (0: any), $2 job (0: any).
constexpr char kListArtifactsSql[] =
    "SELECT " EXPSVC_ARTIFACT_COLUMNS
    " FROM artifacts a JOIN jobs j ON j.id = a.job_id WHERE ($1::bigint = 0 OR j.sweep_id = $1) "
    "AND ($2::bigint = 0 OR a.job_id = $2) ORDER BY a.job_id, a.name LIMIT 10000";

// starts_with, not LIKE: the prefix may hold '%' or '_'.
constexpr char kCountArtifactsUnderSql[] =
    "SELECT count(*), count(*) FILTER (WHERE starts_with(storage_path, $1 || '/')) FROM artifacts";

constexpr char kRecordedPathsSql[] = "SELECT storage_path FROM artifacts WHERE storage_path = ANY($1::text[])";

constexpr char kGetArtifactSql[] = "SELECT " EXPSVC_ARTIFACT_COLUMNS " FROM artifacts a WHERE a.id = $1";

}  // namespace

absl::Status PostgresStore::FillArtifactsForLeases(pqxx::transaction_base& txn,
                                                   std::vector<expsvc::v1::LeasedJob>& leased) {
  if (leased.empty()) return absl::OkStatus();
  std::vector<int64_t> ids;
  std::map<int64_t, expsvc::v1::LeasedJob*> by_id;
  for (auto& job : leased) {
    ids.push_back(job.job().id());
    by_id[job.job().id()] = &job;
  }
  pqxx::result rows = txn.exec_params(kArtifactsForLeasesSql, IntArrayLiteral(ids));
  for (const auto& row : rows) {
    expsvc::v1::LeasedJob* job = by_id.at(row[kArtifactColumnCount].as<int64_t>());
    const bool own = row[kArtifactColumnCount + 1].as<bool>();
    *(own ? job->add_own_artifacts() : job->add_parent_artifacts()) = RowToArtifact(row).ref;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::pair<StoredArtifact, std::string>> PostgresStore::RecordArtifact(const JobLease& lease,
                                                                                     const std::string& name,
                                                                                     int64_t size_bytes,
                                                                                     const std::string& sha256,
                                                                                     const std::string& storage_path) {
  // Read first (unlocked) so an unknown outcome can still name the file
  // the new record replaced: nothing else writes (job, name) under this lease.
  std::string previous_path;
  auto read_previous = InTransaction("reading an artifact record", [&](pqxx::work& txn) -> absl::Status {
    pqxx::result previous = txn.exec_params(kArtifactPathSql, lease.job_id(), name);
    if (!previous.empty()) previous_path = previous[0][0].c_str();
    return absl::OkStatus();
  });
  if (!read_previous.ok()) return read_previous;
  auto recorded = InTransaction(
      "recording an artifact", [&](pqxx::work& txn) -> absl::StatusOr<std::pair<StoredArtifact, std::string>> {
        auto check = CheckLeaseIn(txn, lease);
        if (!check.ok()) return check.status();
        pqxx::result previous = txn.exec_params(kLockArtifactPathSql, lease.job_id(), name);
        pqxx::result row =
            txn.exec_params(kUpsertArtifactSql, lease.job_id(), name, check->attempt, size_bytes, sha256, storage_path);
        std::string replaced = previous.empty() ? "" : previous[0][0].c_str();
        return std::make_pair(RowToArtifact(row[0]), replaced);
      });
  if (!IsCommitOutcomeUnknown(recorded.status())) return recorded;

  // The commit may have gone through: read the record back, waiting out a
  // restarting database for a while. The record decides; still unknown after
  // that, the caller is told so and must keep the file.
  constexpr int kResolveTries = 40;
  for (int attempt = 1; attempt <= kResolveTries; ++attempt) {
    auto resolved = InTransaction(
        "reading back an artifact record", [&](pqxx::work& txn) -> absl::StatusOr<std::optional<StoredArtifact>> {
          pqxx::result rows = txn.exec_params(kArtifactByNameSql, lease.job_id(), name);
          if (rows.empty()) return std::optional<StoredArtifact>();
          return std::optional<StoredArtifact>(RowToArtifact(rows[0]));
        });
    if (resolved.ok()) {
      if (resolved->has_value() && (*resolved)->storage_path == storage_path && (*resolved)->ref.sha256() == sha256) {
        return std::make_pair(**resolved, previous_path);
      }
      // Not there now; an old backend might still commit it later, so the
      // caller keeps the file (the start-up sweep removes it if it stays
      // unrecorded) and the worker retries.
      return CommitOutcomeUnknownError(absl::StrCat("recording artifact '", name, "' of job ", lease.job_id(),
                                                    ": not recorded after a lost connection; retry"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return recorded;
}

absl::StatusOr<std::vector<ArtifactRef>> PostgresStore::ListArtifacts(int64_t sweep_id, int64_t job_id) {
  return InTransaction("listing artifacts", [&](pqxx::work& txn) -> absl::StatusOr<std::vector<ArtifactRef>> {
    pqxx::result rows = txn.exec_params(kListArtifactsSql, sweep_id, job_id);
    std::vector<ArtifactRef> artifacts;
    for (const auto& row : rows) artifacts.push_back(RowToArtifact(row).ref);
    return artifacts;
  });
}

absl::StatusOr<StoredArtifact> PostgresStore::GetArtifact(int64_t artifact_id) {
  return InTransaction("reading an artifact", [&](pqxx::work& txn) -> absl::StatusOr<StoredArtifact> {
    pqxx::result rows = txn.exec_params(kGetArtifactSql, artifact_id);
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("artifact ", artifact_id, " does not exist"));
    return RowToArtifact(rows[0]);
  });
}

absl::StatusOr<std::pair<int64_t, int64_t>> PostgresStore::CountArtifactsUnder(const std::string& prefix) {
  return InTransaction("counting artifact records", [&](pqxx::work& txn) -> absl::StatusOr<std::pair<int64_t, int64_t>> {
    pqxx::row row = txn.exec_params1(kCountArtifactsUnderSql, prefix);
    return std::make_pair(row[0].as<int64_t>(), row[1].as<int64_t>());
  });
}

absl::StatusOr<std::set<std::string>> PostgresStore::RecordedArtifactPaths(const std::vector<std::string>& paths) {
  return InTransaction("looking up artifact paths", [&](pqxx::work& txn) -> absl::StatusOr<std::set<std::string>> {
    std::set<std::string> recorded;
    constexpr size_t kBatch = 1000;
    for (size_t begin = 0; begin < paths.size(); begin += kBatch) {
      const std::vector<std::string> batch(paths.begin() + static_cast<std::ptrdiff_t>(begin),
                                           paths.begin() + static_cast<std::ptrdiff_t>(std::min(paths.size(), begin + kBatch)));
      for (const auto& row : txn.exec_params(kRecordedPathsSql, TextArrayLiteral(batch))) recorded.insert(row[0].c_str());
    }
    return recorded;
  });
}

}  // namespace expsvc::storage
