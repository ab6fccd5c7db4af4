// PostgresStore: table sweeps, and the jobs a sweep creates.

#include "absl/strings/str_cat.h"
#include "server/storage/pg_arrays.h"
#include "server/storage/postgres_store.h"
#include "server/storage/row_mapping.h"
#include "server/storage/store_transaction.h"

namespace expsvc::storage {
namespace {

constexpr char kSweepByKeySql[] = "SELECT id FROM sweeps WHERE idempotency_key = $1";

constexpr char kInsertSweepSql[] =
    "INSERT INTO sweeps (name, idempotency_key, spec_yaml) VALUES ($1, NULLIF($2, ''), $3) "
    "RETURNING id";

// Ids are taken first so dependencies can be written in the same pass.
constexpr char kNextJobIdsSql[] = "SELECT nextval('jobs_id_seq') FROM generate_series(1, $1)";

// One row per job, each column a parallel array.
constexpr char kInsertJobsSql[] = R"sql(
INSERT INTO jobs (id, sweep_id, stage, kind, params, state, group_key, priority, max_attempts,
                  cpu_cores, memory_mb, gpus, pending_parents, gpu_memory_gb)
SELECT id, $2, stage, kind, params, state, group_key, priority, max_attempts, cpu_cores, memory_mb, gpus, pending,
       gpu_memory_gb
FROM unnest($1::bigint[], $3::text[], $4::text[], $5::jsonb[], $6::text[], $7::text[], $8::int[], $9::int[],
            $10::int[], $11::bigint[], $12::int[], $13::int[], $14::int[])
  AS t(id, stage, kind, params, state, group_key, priority, max_attempts, cpu_cores, memory_mb, gpus, pending,
       gpu_memory_gb))sql";

constexpr char kInsertDependenciesSql[] =
    "INSERT INTO job_dependencies (job_id, parent_id) SELECT * FROM unnest($1::bigint[], $2::bigint[])";

constexpr char kGetSweepSql[] = "SELECT " EXPSVC_SWEEP_COLUMNS
                                " FROM sweeps s LEFT JOIN jobs j ON j.sweep_id = s.id WHERE s.id = $1 "
                                "GROUP BY s.id";

constexpr char kListSweepsSql[] =
    "SELECT " EXPSVC_SWEEP_COLUMNS
    " FROM sweeps s LEFT JOIN jobs j ON j.sweep_id = s.id GROUP BY s.id ORDER BY s.id DESC LIMIT $1";

constexpr char kMarkSweepCancelledSql[] =
    "UPDATE sweeps SET cancelled_at = coalesce(cancelled_at, now()) WHERE id = $1 RETURNING id";

constexpr char kCancelSweepJobsSql[] =
    "UPDATE jobs SET state = 'cancelled', error = $2, finished_at = now(), lease_expires_at = NULL "
    "WHERE sweep_id = $1 AND state IN ('waiting', 'queued', 'running') RETURNING id";

}  // namespace

absl::StatusOr<CreatedSweep> PostgresStore::CreateSweep(const SweepPlan& plan, const std::string& spec_yaml,
                                                        const std::string& idempotency_key) {
  auto create = [&](pqxx::work& txn) -> absl::StatusOr<CreatedSweep> {
    if (!idempotency_key.empty()) {
      pqxx::result existing = txn.exec_params(kSweepByKeySql, idempotency_key);
      if (!existing.empty()) return CreatedSweep{existing[0][0].as<int64_t>(), true};
    }
    const int64_t sweep_id = txn.exec_params1(kInsertSweepSql, plan.name, idempotency_key, spec_yaml)[0].as<int64_t>();
    const size_t count = plan.jobs.size();
    if (count == 0) return CreatedSweep{sweep_id, false};
    std::vector<int64_t> ids;
    ids.reserve(count);
    for (const auto& row : txn.exec_params(kNextJobIdsSql, static_cast<int64_t>(count))) {
      ids.push_back(row[0].as<int64_t>());
    }
    std::vector<std::string> stages, kinds, params, states, group_keys;
    std::vector<int64_t> priorities, max_attempts, cpu_cores, memory_mb, gpus, gpu_memory_gb, pending, children,
        parents;
    for (size_t i = 0; i < count; ++i) {
      const PlannedJob& job = plan.jobs[i];
      stages.push_back(job.stage);
      kinds.push_back(job.kind);
      params.push_back(job.params.dump());
      states.push_back(job.parents.empty() ? "queued" : "waiting");
      group_keys.push_back(job.group_key);
      priorities.push_back(job.priority);
      max_attempts.push_back(job.max_attempts);
      cpu_cores.push_back(job.resources.cpu_cores);
      memory_mb.push_back(job.resources.memory_mb);
      gpus.push_back(job.resources.gpus);
      gpu_memory_gb.push_back(job.resources.gpu_memory_gb);
      pending.push_back(static_cast<int64_t>(job.parents.size()));
      for (int64_t parent : job.parents) {
        children.push_back(ids[i]);
        parents.push_back(ids[parent]);
      }
    }
    txn.exec_params(kInsertJobsSql, IntArrayLiteral(ids), sweep_id, TextArrayLiteral(stages), TextArrayLiteral(kinds),
                    TextArrayLiteral(params), TextArrayLiteral(states), TextArrayLiteral(group_keys, true),
                    IntArrayLiteral(priorities), IntArrayLiteral(max_attempts), IntArrayLiteral(cpu_cores),
                    IntArrayLiteral(memory_mb), IntArrayLiteral(gpus), IntArrayLiteral(pending),
                    IntArrayLiteral(gpu_memory_gb));
    if (!children.empty()) {
      txn.exec_params(kInsertDependenciesSql, IntArrayLiteral(children), IntArrayLiteral(parents));
    }
    AnnounceWorkReady(txn);
    return CreatedSweep{sweep_id, false};
  };
  auto created = InTransaction("creating a sweep", create);
  // Another submission with the same idempotency key won the race: return it.
  if (created.status().code() == absl::StatusCode::kAlreadyExists) return InTransaction("creating a sweep", create);
  return created;
}

absl::StatusOr<expsvc::v1::Sweep> PostgresStore::GetSweep(int64_t sweep_id) {
  return InTransaction("reading a sweep", [&](pqxx::work& txn) -> absl::StatusOr<expsvc::v1::Sweep> {
    pqxx::result rows = txn.exec_params(kGetSweepSql, sweep_id);
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("sweep ", sweep_id, " does not exist"));
    return RowToSweep(rows[0], true);
  });
}

absl::StatusOr<std::vector<expsvc::v1::Sweep>> PostgresStore::ListSweeps(int32_t limit) {
  return InTransaction("listing sweeps", [&](pqxx::work& txn) -> absl::StatusOr<std::vector<expsvc::v1::Sweep>> {
    pqxx::result rows = txn.exec_params(kListSweepsSql, static_cast<int64_t>(limit <= 0 ? 50 : limit));
    std::vector<expsvc::v1::Sweep> sweeps;
    for (const auto& row : rows) sweeps.push_back(RowToSweep(row, false));
    return sweeps;
  });
}

absl::StatusOr<int64_t> PostgresStore::CancelSweep(int64_t sweep_id, const std::string& reason) {
  return InTransaction("cancelling a sweep", [&](pqxx::work& txn) -> absl::StatusOr<int64_t> {
    if (txn.exec_params(kMarkSweepCancelledSql, sweep_id).empty()) {
      return absl::NotFoundError(absl::StrCat("sweep ", sweep_id, " does not exist"));
    }
    pqxx::result cancelled = txn.exec_params(kCancelSweepJobsSql, sweep_id, reason);
    return static_cast<int64_t>(cancelled.size());
  });
}

}  // namespace expsvc::storage
