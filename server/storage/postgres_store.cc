#include "server/storage/postgres_store.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/job_state_names.h"
#include "common/status_macros.h"
#include "server/storage/pg_arrays.h"

namespace expsvc::storage {
namespace {

using expsvc::v1::ArtifactRef;
using expsvc::v1::Job;
using expsvc::v1::JobLease;
using expsvc::v1::JobState;

// Milliseconds since the epoch of a timestamptz column, 0 when NULL.
#define EXPSVC_MS(column) "coalesce((extract(epoch FROM " column ") * 1000)::bigint, 0)"

// The columns RowToJob reads, in order, from a `jobs` row aliased `j`.
constexpr char kJobColumns[] =
    "j.id, j.sweep_id, j.stage, j.kind, j.params::text, j.state, j.priority, j.attempt, j.max_attempts, "
    "coalesce(j.group_key, ''), j.cpu_cores, j.memory_mb, j.gpus, coalesce(j.worker_id, ''), j.error, "
    EXPSVC_MS("j.created_at") ", " EXPSVC_MS("j.started_at") ", " EXPSVC_MS("j.finished_at") ", j.lease_epoch, "
    "ARRAY(SELECT d.parent_id FROM job_dependencies d WHERE d.job_id = j.id ORDER BY d.parent_id)::text, "
    EXPSVC_MS("j.lease_expires_at");

constexpr char kArtifactColumns[] =
    "a.id, a.job_id, a.name, a.size_bytes, a.sha256, " EXPSVC_MS("a.created_at") ", a.attempt, a.storage_path";

// Statement names prepared on every pooled connection (the hot paths).
constexpr char kClaimStatement[] = "claim_jobs";
constexpr char kRenewStatement[] = "renew_leases";
constexpr char kCompleteStatement[] = "complete_jobs";
constexpr char kCheckLeaseStatement[] = "check_lease";
constexpr char kWriteMetricsStatement[] = "write_metrics";
constexpr char kAppendLogsStatement[] = "append_logs";

// One statement: lock the best queued job that fits (the head). An ungrouped
// head brings other ungrouped jobs, up to max_jobs while their summed
// resources still fit; a grouped head brings every ready member of its group,
// whatever max_jobs says, because a group is one unit of work (its jobs share
// one pass over the data). All of them are leased under a new epoch.
// $1 worker, $2 cpu, $3 memory, $4 gpus, $5 max jobs, $6 kinds, $7 ttl ms.
const std::string kClaimSql = absl::StrCat(
    R"sql(
WITH head AS MATERIALIZED (
  SELECT id, sweep_id, group_key FROM jobs
  WHERE state = 'queued' AND run_after <= now() AND kind = ANY($6::text[])
    AND cpu_cores <= $2 AND memory_mb <= $3 AND gpus <= $4
    AND EXISTS (SELECT 1 FROM workers WHERE id = $1)
    -- Only a group's first queued member may head a claim: a second claimer
    -- that skipped it (locked) must not start on the rest of that group.
    AND (group_key IS NULL OR NOT EXISTS (
      SELECT 1 FROM jobs g WHERE g.sweep_id = jobs.sweep_id AND g.group_key = jobs.group_key
        AND g.state = 'queued' AND g.id < jobs.id))
  ORDER BY priority DESC, id
  LIMIT 1
  FOR UPDATE SKIP LOCKED
), ungrouped AS MATERIALIZED (
  SELECT j.id, j.priority, j.cpu_cores, j.memory_mb, j.gpus FROM jobs j
  WHERE EXISTS (SELECT 1 FROM head WHERE head.group_key IS NULL)
    AND j.state = 'queued' AND j.group_key IS NULL AND j.run_after <= now() AND j.kind = ANY($6::text[])
    AND j.cpu_cores <= $2 AND j.memory_mb <= $3 AND j.gpus <= $4
  ORDER BY j.priority DESC, j.id
  LIMIT $5
  FOR UPDATE OF j SKIP LOCKED
), group_members AS MATERIALIZED (
  SELECT j.id FROM jobs j, head h
  WHERE h.group_key IS NOT NULL AND j.sweep_id = h.sweep_id AND j.group_key = h.group_key
    AND j.state = 'queued' AND j.run_after <= now() AND j.kind = ANY($6::text[])
    AND j.cpu_cores <= $2 AND j.memory_mb <= $3 AND j.gpus <= $4
  ORDER BY j.id
  LIMIT 4096
  FOR UPDATE OF j SKIP LOCKED
), fitting AS (
  SELECT id FROM (
    SELECT id, row_number() OVER w AS position, sum(cpu_cores) OVER w AS cpu,
           sum(memory_mb) OVER w AS memory, sum(gpus) OVER w AS gpu
    FROM ungrouped WINDOW w AS (ORDER BY priority DESC, id)) running_totals
  WHERE position = 1 OR (cpu <= $2 AND memory <= $3 AND gpu <= $4)
  UNION ALL
  SELECT id FROM group_members
), seen AS (
  UPDATE workers SET last_seen_at = now() WHERE id = $1 AND last_seen_at < now() - interval '2 seconds'
)
UPDATE jobs j SET state = 'running', worker_id = $1, lease_epoch = j.lease_epoch + 1, attempt = j.attempt + 1,
  lease_expires_at = now() + $7 * interval '1 millisecond', started_at = now(), error = ''
FROM fitting f WHERE j.id = f.id
RETURNING )sql",
    kJobColumns);

// $1 worker, $2 job ids, $3 epochs, $4 ttl ms.
constexpr char kRenewSql[] = R"sql(
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
  coalesce(r.expires_ms, 0)
FROM leases l LEFT JOIN renewed r ON r.id = l.id AND r.lease_epoch = l.epoch LEFT JOIN jobs j ON j.id = l.id
)sql";

// Marks leased jobs succeeded and moves children whose last parent this was
// to the queue. $1 worker, $2 job ids, $3 epochs.
constexpr char kCompleteSql[] = R"sql(
WITH leases AS (SELECT * FROM unnest($2::bigint[], $3::bigint[]) AS l(id, epoch)),
done AS (
  UPDATE jobs j SET state = 'succeeded', finished_at = now(), lease_expires_at = NULL
  FROM leases l WHERE j.id = l.id AND j.lease_epoch = l.epoch AND j.state = 'running' AND j.worker_id = $1
  RETURNING j.id, j.lease_epoch
), unblocked AS (
  UPDATE jobs c SET pending_parents = c.pending_parents - x.n,
    state = CASE WHEN c.pending_parents - x.n = 0 THEN 'queued' ELSE c.state END
  FROM (SELECT d.job_id, count(*)::int AS n FROM job_dependencies d JOIN done ON d.parent_id = done.id
        GROUP BY d.job_id) x
  WHERE c.id = x.job_id AND c.state = 'waiting'
  RETURNING c.id, c.state
)
SELECT l.id,
  CASE WHEN d.id IS NOT NULL THEN 'ok'
       WHEN j.id IS NULL THEN 'unknown job'
       WHEN j.lease_epoch <> l.epoch THEN 'stale epoch ' || l.epoch || ' (current ' || j.lease_epoch || ')'
       ELSE 'job is ' || j.state END,
  (SELECT count(*) FROM unblocked WHERE unblocked.state = 'queued')
FROM leases l LEFT JOIN done d ON d.id = l.id AND d.lease_epoch = l.epoch LEFT JOIN jobs j ON j.id = l.id
)sql";

// Locks the job against a concurrent completion while a write is made.
constexpr char kCheckLeaseSql[] =
    "SELECT sweep_id, attempt FROM jobs WHERE id = $1 AND lease_epoch = $2 AND state = 'running' FOR SHARE";

// Last point wins when a batch repeats a (key, step).
constexpr char kWriteMetricsSql[] = R"sql(
INSERT INTO metrics (job_id, key, step, value)
SELECT DISTINCT ON (key, step) $1::bigint, key, step, value
FROM unnest($2::text[], $3::bigint[], $4::float8[]) WITH ORDINALITY AS p(key, step, value, position)
ORDER BY key, step, position DESC
ON CONFLICT (job_id, key, step) DO UPDATE SET value = EXCLUDED.value
)sql";

constexpr char kAppendLogsSql[] = R"sql(
INSERT INTO job_logs (job_id, attempt, line)
SELECT $1::bigint, $2::int, line FROM unnest($3::text[]) WITH ORDINALITY AS l(line, position) ORDER BY position
)sql";

std::map<std::string, std::string> PreparedStatements() {
  return {{kClaimStatement, kClaimSql},
          {kRenewStatement, kRenewSql},
          {kCompleteStatement, kCompleteSql},
          {kCheckLeaseStatement, kCheckLeaseSql},
          {kWriteMetricsStatement, kWriteMetricsSql},
          {kAppendLogsStatement, kAppendLogsSql}};
}

Job RowToJob(const pqxx::row& row) {
  Job job;
  job.set_id(row[0].as<int64_t>());
  job.set_sweep_id(row[1].as<int64_t>());
  job.set_stage(row[2].c_str());
  job.set_kind(row[3].c_str());
  job.set_params_json(row[4].c_str());
  job.set_state(JobStateFromName(row[5].c_str()).value_or(expsvc::v1::JOB_STATE_UNSPECIFIED));
  job.set_priority(row[6].as<int32_t>());
  job.set_attempt(row[7].as<int32_t>());
  job.set_max_attempts(row[8].as<int32_t>());
  job.set_group_key(row[9].c_str());
  job.mutable_resources()->set_cpu_cores(row[10].as<int32_t>());
  job.mutable_resources()->set_memory_mb(row[11].as<int64_t>());
  job.mutable_resources()->set_gpus(row[12].as<int32_t>());
  job.set_worker_id(row[13].c_str());
  job.set_error(row[14].c_str());
  job.set_created_at_ms(row[15].as<int64_t>());
  job.set_started_at_ms(row[16].as<int64_t>());
  job.set_finished_at_ms(row[17].as<int64_t>());
  job.set_lease_epoch(row[18].as<int64_t>());
  for (int64_t parent : ParseIntArray(row[19].c_str())) job.add_parent_ids(parent);
  return job;
}

StoredArtifact RowToArtifact(const pqxx::row& row) {
  StoredArtifact artifact;
  artifact.ref.set_id(row[0].as<int64_t>());
  artifact.ref.set_job_id(row[1].as<int64_t>());
  artifact.ref.set_name(row[2].c_str());
  artifact.ref.set_size_bytes(row[3].as<int64_t>());
  artifact.ref.set_sha256(row[4].c_str());
  artifact.ref.set_created_at_ms(row[5].as<int64_t>());
  artifact.ref.set_attempt(row[6].as<int32_t>());
  artifact.storage_path = row[7].c_str();
  return artifact;
}

std::string RandomHex(int bytes) {
  static thread_local std::mt19937_64 generator{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (int i = 0; i < bytes; ++i) {
    const auto byte = static_cast<unsigned>(generator() & 0xFF);
    hex.push_back(kHex[byte >> 4]);
    hex.push_back(kHex[byte & 0xF]);
  }
  return hex;
}

// Why a write under `lease` is refused, for the caller's error message.
absl::Status LeaseRefusal(pqxx::work& txn, const JobLease& lease) {
  pqxx::result current = txn.exec_params("SELECT state, lease_epoch FROM jobs WHERE id = $1", lease.job_id());
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

// Cancels every unfinished descendant of `job_ids`; returns how many.
int64_t CancelDescendants(pqxx::work& txn, const std::vector<int64_t>& job_ids, const std::string& reason) {
  if (job_ids.empty()) return 0;
  pqxx::result cancelled = txn.exec_params(R"sql(
WITH RECURSIVE descendants AS (
  SELECT job_id FROM job_dependencies WHERE parent_id = ANY($1::bigint[])
  UNION
  SELECT d.job_id FROM job_dependencies d JOIN descendants x ON d.parent_id = x.job_id
)
UPDATE jobs SET state = 'cancelled', error = $2, finished_at = now(), lease_expires_at = NULL
WHERE id IN (SELECT job_id FROM descendants) AND state IN ('waiting', 'queued', 'running')
RETURNING id)sql",
                                           IntArrayLiteral(job_ids), reason);
  return static_cast<int64_t>(cancelled.size());
}

constexpr char kSweepColumns[] = R"sql(
  s.id, s.name, coalesce(s.idempotency_key, ''), s.spec_yaml,
  coalesce((extract(epoch FROM s.created_at) * 1000)::bigint, 0),
  s.cancelled_at IS NOT NULL,
  count(j.id) FILTER (WHERE j.state = 'waiting'),
  count(j.id) FILTER (WHERE j.state = 'queued'),
  count(j.id) FILTER (WHERE j.state = 'running'),
  count(j.id) FILTER (WHERE j.state = 'succeeded'),
  count(j.id) FILTER (WHERE j.state = 'failed'),
  count(j.id) FILTER (WHERE j.state = 'cancelled'),
  count(j.id),
  count(DISTINCT j.group_key),
  coalesce((extract(epoch FROM max(j.finished_at)) * 1000)::bigint, 0)
)sql";

expsvc::v1::Sweep RowToSweep(const pqxx::row& row, bool with_spec) {
  expsvc::v1::Sweep sweep;
  sweep.set_id(row[0].as<int64_t>());
  sweep.set_name(row[1].c_str());
  sweep.set_idempotency_key(row[2].c_str());
  if (with_spec) sweep.set_spec_yaml(row[3].c_str());
  sweep.set_created_at_ms(row[4].as<int64_t>());
  const bool cancelled = row[5].as<bool>();
  auto* counts = sweep.mutable_counts();
  counts->set_waiting(row[6].as<int64_t>());
  counts->set_queued(row[7].as<int64_t>());
  counts->set_running(row[8].as<int64_t>());
  counts->set_succeeded(row[9].as<int64_t>());
  counts->set_failed(row[10].as<int64_t>());
  counts->set_cancelled(row[11].as<int64_t>());
  counts->set_total(row[12].as<int64_t>());
  sweep.set_groups(row[13].as<int64_t>());
  const bool unfinished = counts->waiting() + counts->queued() + counts->running() > 0;
  if (unfinished) {
    sweep.set_state("running");
  } else {
    sweep.set_finished_at_ms(row[14].as<int64_t>());
    if (cancelled) {
      sweep.set_state("cancelled");
    } else if (counts->failed() + counts->cancelled() > 0) {
      sweep.set_state("failed");
    } else {
      sweep.set_state("succeeded");
    }
  }
  return sweep;
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kAdmin: return "admin";
    case Role::kUser: return "user";
    case Role::kWorker: return "worker";
  }
  return "?";
}

absl::StatusOr<Role> ParseRole(std::string_view name) {
  if (name == "admin") return Role::kAdmin;
  if (name == "user") return Role::kUser;
  if (name == "worker") return Role::kWorker;
  return absl::InvalidArgumentError(absl::StrCat("unknown role '", std::string(name), "' (admin, user or worker)"));
}

template <typename Txn, typename Body>
auto PostgresStore::Run(const char* what, Body&& body) -> decltype(body(std::declval<Txn&>())) {
  constexpr int kAttempts = 4;
  for (int attempt = 1;; ++attempt) {
    auto handle = pool_->Acquire();
    if (!handle.ok()) return handle.status();
    try {
      Txn txn(handle->connection());
      auto result = body(txn);
      if (result.ok()) txn.commit();
      return result;
    } catch (const pqxx::transaction_rollback& error) {
      // Serialisation failure or deadlock: the whole transaction is safe to
      // redo. When it keeps happening, say UNAVAILABLE so callers retry later.
      if (attempt == kAttempts) return absl::UnavailableError(absl::StrCat(what, ": ", error.what()));
      std::this_thread::sleep_for(std::chrono::milliseconds(5 * attempt));
    } catch (const pqxx::broken_connection& error) {
      handle->MarkBroken();
      return absl::UnavailableError(absl::StrCat(what, ": database connection lost: ", error.what()));
    } catch (const pqxx::unique_violation& error) {
      return absl::AlreadyExistsError(absl::StrCat(what, ": ", error.what()));
    } catch (const pqxx::sql_error& error) {
      return absl::InternalError(absl::StrCat(what, ": ", error.what()));
    } catch (const std::exception& error) {
      if (!handle->connection().is_open()) handle->MarkBroken();
      return absl::InternalError(absl::StrCat(what, ": ", error.what()));
    }
  }
}

absl::StatusOr<std::unique_ptr<PostgresStore>> PostgresStore::Open(const std::string& conninfo, int pool_size) {
  auto pool = ConnectionPool::Create(conninfo, pool_size, PreparedStatements());
  if (!pool.ok()) return pool.status();
  return std::unique_ptr<PostgresStore>(new PostgresStore(std::move(*pool)));
}

absl::Status PostgresStore::CreateToken(const std::string& name, Role role, const std::string& token_hash) {
  return InTransaction("creating a token", [&](pqxx::work& txn) -> absl::Status {
    txn.exec_params("INSERT INTO auth_tokens (name, role, token_hash) VALUES ($1, $2, $3)", name,
                    std::string(RoleName(role)), token_hash);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<Role>> PostgresStore::LookupToken(const std::string& token_hash) {
  return InSingleStatement(
      "looking up a token", [&](pqxx::transaction_base& txn) -> absl::StatusOr<std::optional<Role>> {
        pqxx::result row =
            txn.exec_params("SELECT role FROM auth_tokens WHERE token_hash = $1 AND revoked_at IS NULL", token_hash);
        if (row.empty()) return std::optional<Role>();
        auto role = ParseRole(row[0][0].c_str());
        if (!role.ok()) return role.status();
        return std::optional<Role>(*role);
      });
}

absl::StatusOr<std::string> PostgresStore::RegisterWorker(const expsvc::v1::RegisterWorkerRequest& request) {
  const std::string worker_id = absl::StrCat("w-", RandomHex(6));
  std::string capabilities;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(request.capabilities(), &capabilities, options).ok()) {
    capabilities = "{}";
  }
  return InTransaction("registering a worker", [&](pqxx::work& txn) -> absl::StatusOr<std::string> {
    txn.exec_params("INSERT INTO workers (id, name, hostname, capabilities) VALUES ($1, $2, $3, $4::jsonb)", worker_id,
                    request.name(), request.hostname(), capabilities);
    return worker_id;
  });
}

absl::StatusOr<bool> PostgresStore::WorkerExists(const std::string& worker_id) {
  return InSingleStatement("looking up a worker", [&](pqxx::transaction_base& txn) -> absl::StatusOr<bool> {
    return !txn.exec_params("SELECT 1 FROM workers WHERE id = $1", worker_id).empty();
  });
}

absl::StatusOr<std::vector<expsvc::v1::WorkerInfo>> PostgresStore::ListWorkers() {
  return InTransaction("listing workers", [&](pqxx::work& txn) -> absl::StatusOr<std::vector<expsvc::v1::WorkerInfo>> {
    pqxx::result rows = txn.exec(
        "SELECT w.id, w.name, w.hostname, w.capabilities::text, " EXPSVC_MS("w.registered_at") ", " EXPSVC_MS(
            "w.last_seen_at") ", (SELECT count(*) FROM jobs j WHERE j.worker_id = w.id AND j.state = 'running') "
                              "FROM workers w ORDER BY w.last_seen_at DESC LIMIT 1000");
    std::vector<expsvc::v1::WorkerInfo> workers;
    for (const auto& row : rows) {
      expsvc::v1::WorkerInfo info;
      info.set_worker_id(row[0].c_str());
      info.set_name(row[1].c_str());
      info.set_hostname(row[2].c_str());
      google::protobuf::util::JsonParseOptions options;
      options.ignore_unknown_fields = true;
      (void)google::protobuf::util::JsonStringToMessage(row[3].c_str(), info.mutable_capabilities(), options);
      info.set_registered_at_ms(row[4].as<int64_t>());
      info.set_last_seen_at_ms(row[5].as<int64_t>());
      info.set_running_jobs(row[6].as<int64_t>());
      workers.push_back(std::move(info));
    }
    return workers;
  });
}

absl::StatusOr<CreatedSweep> PostgresStore::CreateSweep(const SweepPlan& plan, const std::string& spec_yaml,
                                                        const std::string& idempotency_key) {
  auto create = [&](pqxx::work& txn) -> absl::StatusOr<CreatedSweep> {
    if (!idempotency_key.empty()) {
      pqxx::result existing = txn.exec_params("SELECT id FROM sweeps WHERE idempotency_key = $1", idempotency_key);
      if (!existing.empty()) return CreatedSweep{existing[0][0].as<int64_t>(), true};
    }
    const int64_t sweep_id =
        txn.exec_params1(
               "INSERT INTO sweeps (name, idempotency_key, spec_yaml) VALUES ($1, NULLIF($2, ''), $3) "
               "RETURNING id",
               plan.name, idempotency_key, spec_yaml)[0]
            .as<int64_t>();
    const size_t count = plan.jobs.size();
    if (count == 0) return CreatedSweep{sweep_id, false};
    // Ids are taken first so dependencies can be written in the same pass.
    std::vector<int64_t> ids;
    ids.reserve(count);
    for (const auto& row :
         txn.exec_params("SELECT nextval('jobs_id_seq') FROM generate_series(1, $1)", static_cast<int64_t>(count))) {
      ids.push_back(row[0].as<int64_t>());
    }
    std::vector<std::string> stages, kinds, params, states, group_keys;
    std::vector<int64_t> priorities, max_attempts, cpu_cores, memory_mb, gpus, pending, children, parents;
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
      pending.push_back(static_cast<int64_t>(job.parents.size()));
      for (int64_t parent : job.parents) {
        children.push_back(ids[i]);
        parents.push_back(ids[parent]);
      }
    }
    txn.exec_params(R"sql(
INSERT INTO jobs (id, sweep_id, stage, kind, params, state, group_key, priority, max_attempts,
                  cpu_cores, memory_mb, gpus, pending_parents)
SELECT id, $2, stage, kind, params, state, group_key, priority, max_attempts, cpu_cores, memory_mb, gpus, pending
FROM unnest($1::bigint[], $3::text[], $4::text[], $5::jsonb[], $6::text[], $7::text[], $8::int[], $9::int[],
            $10::int[], $11::bigint[], $12::int[], $13::int[])
  AS t(id, stage, kind, params, state, group_key, priority, max_attempts, cpu_cores, memory_mb, gpus, pending))sql",
                    IntArrayLiteral(ids), sweep_id, TextArrayLiteral(stages), TextArrayLiteral(kinds),
                    TextArrayLiteral(params), TextArrayLiteral(states), TextArrayLiteral(group_keys, true),
                    IntArrayLiteral(priorities), IntArrayLiteral(max_attempts), IntArrayLiteral(cpu_cores),
                    IntArrayLiteral(memory_mb), IntArrayLiteral(gpus), IntArrayLiteral(pending));
    if (!children.empty()) {
      txn.exec_params(
          "INSERT INTO job_dependencies (job_id, parent_id) SELECT * FROM unnest($1::bigint[], $2::bigint[])",
          IntArrayLiteral(children), IntArrayLiteral(parents));
    }
    return CreatedSweep{sweep_id, false};
  };
  auto created = InTransaction("creating a sweep", create);
  // Another submission with the same idempotency key won the race: return it.
  if (created.status().code() == absl::StatusCode::kAlreadyExists) return InTransaction("creating a sweep", create);
  return created;
}

absl::StatusOr<expsvc::v1::Sweep> PostgresStore::GetSweep(int64_t sweep_id) {
  return InTransaction("reading a sweep", [&](pqxx::work& txn) -> absl::StatusOr<expsvc::v1::Sweep> {
    pqxx::result rows =
        txn.exec_params(absl::StrCat("SELECT ", kSweepColumns,
                                     " FROM sweeps s LEFT JOIN jobs j ON j.sweep_id = s.id WHERE s.id = $1 "
                                     "GROUP BY s.id"),
                        sweep_id);
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("sweep ", sweep_id, " does not exist"));
    return RowToSweep(rows[0], true);
  });
}

absl::StatusOr<std::vector<expsvc::v1::Sweep>> PostgresStore::ListSweeps(int32_t limit) {
  return InTransaction("listing sweeps", [&](pqxx::work& txn) -> absl::StatusOr<std::vector<expsvc::v1::Sweep>> {
    pqxx::result rows = txn.exec_params(
        absl::StrCat("SELECT ", kSweepColumns,
                     " FROM sweeps s LEFT JOIN jobs j ON j.sweep_id = s.id GROUP BY s.id ORDER BY s.id DESC LIMIT $1"),
        static_cast<int64_t>(limit <= 0 ? 50 : limit));
    std::vector<expsvc::v1::Sweep> sweeps;
    for (const auto& row : rows) sweeps.push_back(RowToSweep(row, false));
    return sweeps;
  });
}

absl::StatusOr<int64_t> PostgresStore::CancelSweep(int64_t sweep_id, const std::string& reason) {
  return InTransaction("cancelling a sweep", [&](pqxx::work& txn) -> absl::StatusOr<int64_t> {
    if (txn.exec_params("UPDATE sweeps SET cancelled_at = coalesce(cancelled_at, now()) WHERE id = $1 RETURNING id",
                        sweep_id)
            .empty()) {
      return absl::NotFoundError(absl::StrCat("sweep ", sweep_id, " does not exist"));
    }
    pqxx::result cancelled = txn.exec_params(
        "UPDATE jobs SET state = 'cancelled', error = $2, finished_at = now(), lease_expires_at = NULL "
        "WHERE sweep_id = $1 AND state IN ('waiting', 'queued', 'running') RETURNING id",
        sweep_id, reason);
    return static_cast<int64_t>(cancelled.size());
  });
}

absl::StatusOr<std::vector<Job>> PostgresStore::ListJobs(const JobFilter& filter) {
  return InTransaction("listing jobs", [&](pqxx::work& txn) -> absl::StatusOr<std::vector<Job>> {
    pqxx::result rows =
        txn.exec_params(absl::StrCat("SELECT ", kJobColumns, R"sql( FROM jobs j
WHERE ($1 = 0 OR j.sweep_id = $1) AND (cardinality($2::text[]) = 0 OR j.state = ANY($2::text[]))
  AND ($3 = '' OR j.kind = $3) AND j.params @> $4::jsonb AND j.id > $5
ORDER BY j.id LIMIT $6)sql"),
                        filter.sweep_id, TextArrayLiteral(filter.states), filter.kind,
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
    pqxx::result rows = txn.exec_params(absl::StrCat("SELECT ", kJobColumns, " FROM jobs j WHERE j.id = $1"), job_id);
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("job ", job_id, " does not exist"));
    return RowToJob(rows[0]);
  });
}

absl::StatusOr<int64_t> PostgresStore::CancelJob(int64_t job_id, const std::string& reason) {
  return InTransaction("cancelling a job", [&](pqxx::work& txn) -> absl::StatusOr<int64_t> {
    pqxx::result rows = txn.exec_params("SELECT state FROM jobs WHERE id = $1 FOR UPDATE", job_id);
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("job ", job_id, " does not exist"));
    const std::string state = rows[0][0].c_str();
    if (state == "succeeded" || state == "failed" || state == "cancelled") {
      return absl::FailedPreconditionError(absl::StrCat("job ", job_id, " already finished (", state, ")"));
    }
    txn.exec_params(
        "UPDATE jobs SET state = 'cancelled', error = $2, finished_at = now(), lease_expires_at = NULL WHERE id = $1",
        job_id, reason);
    return 1 + CancelDescendants(txn, {job_id}, absl::StrCat("dependency ", job_id, " was cancelled"));
  });
}

absl::StatusOr<int64_t> PostgresStore::RetryJob(int64_t job_id) {
  return InTransaction("retrying a job", [&](pqxx::work& txn) -> absl::StatusOr<int64_t> {
    pqxx::result rows = txn.exec_params("SELECT state, sweep_id FROM jobs WHERE id = $1 FOR UPDATE", job_id);
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("job ", job_id, " does not exist"));
    const std::string state = rows[0][0].c_str();
    if (state != "failed" && state != "cancelled") {
      return absl::FailedPreconditionError(
          absl::StrCat("job ", job_id, " is ", state, ": only failed or cancelled jobs can be retried"));
    }
    // A job whose parent (outside what this retry resets) failed or was
    // cancelled would wait forever: retry that parent instead.
    pqxx::result blocked = txn.exec_params(R"sql(
WITH RECURSIVE subtree AS (
  SELECT $1::bigint AS id
  UNION
  SELECT d.job_id FROM job_dependencies d JOIN subtree s ON d.parent_id = s.id
)
SELECT d.job_id, p.id, p.state FROM job_dependencies d JOIN jobs p ON p.id = d.parent_id
WHERE d.job_id IN (SELECT id FROM subtree) AND d.parent_id NOT IN (SELECT id FROM subtree)
  AND p.state IN ('failed', 'cancelled')
LIMIT 1)sql",
                                           job_id);
    if (!blocked.empty()) {
      return absl::FailedPreconditionError(absl::StrCat("job ", blocked[0][0].c_str(), " depends on job ",
                                                        blocked[0][1].c_str(), ", which is ", blocked[0][2].c_str(),
                                                        ": retry job ", blocked[0][1].c_str(), " instead"));
    }
    // The job and its descendants that did not finish well go back to waiting,
    // then each counts its unfinished parents afresh.
    pqxx::result reset = txn.exec_params(R"sql(
WITH RECURSIVE subtree AS (
  SELECT $1::bigint AS id
  UNION
  SELECT d.job_id FROM job_dependencies d JOIN subtree s ON d.parent_id = s.id
)
UPDATE jobs SET state = 'waiting', attempt = 0, error = '', finished_at = NULL, started_at = NULL,
  run_after = now(), worker_id = NULL, lease_expires_at = NULL
WHERE id IN (SELECT id FROM subtree) AND state IN ('failed', 'cancelled')
RETURNING id)sql",
                                         job_id);
    std::vector<int64_t> ids;
    for (const auto& row : reset) ids.push_back(row[0].as<int64_t>());
    const std::string id_array = IntArrayLiteral(ids);
    txn.exec_params(R"sql(
UPDATE jobs j SET pending_parents = (
  SELECT count(*) FROM job_dependencies d JOIN jobs p ON p.id = d.parent_id
  WHERE d.job_id = j.id AND p.state <> 'succeeded')
WHERE j.id = ANY($1::bigint[]))sql",
                    id_array);
    txn.exec_params("UPDATE jobs SET state = 'queued' WHERE id = ANY($1::bigint[]) AND pending_parents = 0", id_array);
    txn.exec_params("UPDATE sweeps SET cancelled_at = NULL WHERE id = $1", rows[0][1].as<int64_t>());
    return static_cast<int64_t>(ids.size());
  });
}

absl::Status PostgresStore::FillArtifactsForLeases(pqxx::transaction_base& txn,
                                                   std::vector<expsvc::v1::LeasedJob>& leased) {
  if (leased.empty()) return absl::OkStatus();
  std::vector<int64_t> ids;
  std::map<int64_t, expsvc::v1::LeasedJob*> by_id;
  for (auto& job : leased) {
    ids.push_back(job.job().id());
    by_id[job.job().id()] = &job;
  }
  // A job sees its own artifacts from earlier attempts (checkpoints) and its parents' outputs.
  pqxx::result rows = txn.exec_params(absl::StrCat("SELECT ", kArtifactColumns, R"sql(, owner.for_job, owner.own
FROM (SELECT id AS for_job, id AS source, true AS own FROM unnest($1::bigint[]) AS id
      UNION ALL
      SELECT d.job_id, d.parent_id, false FROM job_dependencies d WHERE d.job_id = ANY($1::bigint[])) owner
JOIN artifacts a ON a.job_id = owner.source
ORDER BY owner.for_job, a.job_id, a.name)sql"),
                                      IntArrayLiteral(ids));
  for (const auto& row : rows) {
    expsvc::v1::LeasedJob* job = by_id.at(row[8].as<int64_t>());
    *(row[9].as<bool>() ? job->add_own_artifacts() : job->add_parent_artifacts()) = RowToArtifact(row).ref;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<expsvc::v1::LeasedJob>> PostgresStore::ClaimJobs(const ClaimRequest& request) {
  // One transaction: a claim whose artifact lookup fails leaves no job
  // leased to nobody.
  return InTransaction("leasing jobs", [&](pqxx::work& txn) -> absl::StatusOr<std::vector<expsvc::v1::LeasedJob>> {
    pqxx::result rows = txn.exec_prepared(
        kClaimStatement, request.worker_id, request.free_cpu_cores, request.free_memory_mb, request.free_gpus,
        static_cast<int64_t>(std::max(1, request.max_jobs)), TextArrayLiteral(request.kinds), request.lease_ttl_ms);
    std::vector<expsvc::v1::LeasedJob> leased;
    leased.reserve(rows.size());
    for (const auto& row : rows) {
      expsvc::v1::LeasedJob job;
      *job.mutable_job() = RowToJob(row);
      job.set_epoch(job.job().lease_epoch());
      job.set_lease_expires_at_ms(row[20].as<int64_t>());
      leased.push_back(std::move(job));
    }
    std::sort(leased.begin(), leased.end(), [](const auto& a, const auto& b) { return a.job().id() < b.job().id(); });
    EXPSVC_RETURN_IF_ERROR(FillArtifactsForLeases(txn, leased));
    return leased;
  });
}

absl::StatusOr<std::vector<expsvc::v1::LeaseStatus>> PostgresStore::RenewLeases(const std::string& worker_id,
                                                                                const std::vector<JobLease>& leases,
                                                                                int64_t lease_ttl_ms) {
  std::vector<int64_t> ids, epochs;
  for (const auto& lease : leases) {
    ids.push_back(lease.job_id());
    epochs.push_back(lease.epoch());
  }
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
          statuses.push_back(std::move(status));
        }
        return statuses;
      });
}

absl::StatusOr<std::vector<expsvc::v1::CompletionResult>> PostgresStore::CompleteJobs(
    const std::string& worker_id, const std::vector<JobLease>& leases) {
  std::vector<int64_t> ids, epochs;
  for (const auto& lease : leases) {
    ids.push_back(lease.job_id());
    epochs.push_back(lease.epoch());
  }
  return InSingleStatement(
      "completing jobs", [&](pqxx::transaction_base& txn) -> absl::StatusOr<std::vector<expsvc::v1::CompletionResult>> {
        pqxx::result rows =
            txn.exec_prepared(kCompleteStatement, worker_id, IntArrayLiteral(ids), IntArrayLiteral(epochs));
        std::vector<expsvc::v1::CompletionResult> results;
        for (const auto& row : rows) {
          expsvc::v1::CompletionResult result;
          result.set_job_id(row[0].as<int64_t>());
          result.set_status(row[1].c_str());
          results.push_back(std::move(result));
        }
        return results;
      });
}

absl::StatusOr<FailOutcome> PostgresStore::FailJob(const std::string& worker_id, const JobLease& lease,
                                                   const std::string& reason, bool retryable, bool release,
                                                   int64_t backoff_base_ms, int64_t backoff_max_ms) {
  return InTransaction("failing a job", [&](pqxx::work& txn) -> absl::StatusOr<FailOutcome> {
    pqxx::result rows = txn.exec_params(
        "SELECT attempt, max_attempts FROM jobs WHERE id = $1 AND lease_epoch = $2 AND state = 'running' "
        "AND worker_id = $3 FOR UPDATE",
        lease.job_id(), lease.epoch(), worker_id);
    if (rows.empty()) return LeaseRefusal(txn, lease);
    const int attempt = rows[0][0].as<int>();
    const int max_attempts = rows[0][1].as<int>();
    FailOutcome outcome;
    if (release) {
      // The worker is shutting down: the attempt does not count.
      txn.exec_params(
          "UPDATE jobs SET state = 'queued', attempt = greatest(attempt - 1, 0), worker_id = NULL, "
          "lease_expires_at = NULL, run_after = now() WHERE id = $1",
          lease.job_id());
      outcome.new_state = expsvc::v1::JOB_STATE_QUEUED;
    } else if (retryable && attempt < max_attempts) {
      const int64_t backoff_ms = std::min<int64_t>(backoff_max_ms, backoff_base_ms << std::min(attempt - 1, 20));
      txn.exec_params(
          "UPDATE jobs SET state = 'queued', error = $2, worker_id = NULL, lease_expires_at = NULL, "
          "run_after = now() + $3 * interval '1 millisecond' WHERE id = $1",
          lease.job_id(), reason, backoff_ms);
      outcome.new_state = expsvc::v1::JOB_STATE_QUEUED;
    } else {
      txn.exec_params(
          "UPDATE jobs SET state = 'failed', error = $2, finished_at = now(), lease_expires_at = NULL WHERE id = $1",
          lease.job_id(), reason);
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

absl::StatusOr<RescueOutcome> PostgresStore::RescueExpiredLeases(int64_t backoff_base_ms, int64_t backoff_max_ms) {
  return InTransaction("rescuing expired leases", [&](pqxx::work& txn) -> absl::StatusOr<RescueOutcome> {
    pqxx::result rows = txn.exec_params(R"sql(
WITH expired AS MATERIALIZED (
  SELECT id FROM jobs WHERE state = 'running' AND lease_expires_at < now() FOR UPDATE SKIP LOCKED
)
UPDATE jobs j SET
  state = CASE WHEN j.attempt >= j.max_attempts THEN 'failed' ELSE 'queued' END,
  error = 'lease expired: worker ' || coalesce(j.worker_id, '?') || ' stopped renewing it (attempt ' || j.attempt || ')',
  finished_at = CASE WHEN j.attempt >= j.max_attempts THEN now() END,
  run_after = now() + least($1 * power(2, greatest(j.attempt - 1, 0)), $2) * interval '1 millisecond',
  worker_id = CASE WHEN j.attempt >= j.max_attempts THEN j.worker_id END,
  lease_expires_at = NULL
FROM expired e WHERE j.id = e.id
RETURNING j.id, j.state, j.attempt)sql",
                                        backoff_base_ms, backoff_max_ms);
    RescueOutcome outcome;
    std::vector<int64_t> failed;
    for (const auto& row : rows) {
      const int64_t job_id = row[0].as<int64_t>();
      const bool is_failed = std::string_view(row[1].c_str()) == "failed";
      txn.exec_prepared(kAppendLogsStatement, job_id, row[2].as<int>(),
                        TextArrayLiteral({is_failed ? "[scheduler] lease expired; no attempts left: failed"
                                                    : "[scheduler] lease expired; requeued"}));
      if (is_failed) {
        failed.push_back(job_id);
        ++outcome.failed;
      } else {
        ++outcome.requeued;
      }
    }
    for (int64_t job_id : failed) CancelDescendants(txn, {job_id}, absl::StrCat("dependency ", job_id, " failed"));
    return outcome;
  });
}

absl::StatusOr<LeaseCheck> PostgresStore::CheckLease(const JobLease& lease) {
  return InTransaction("checking a lease",
                       [&](pqxx::work& txn) -> absl::StatusOr<LeaseCheck> { return CheckLeaseIn(txn, lease); });
}

absl::StatusOr<int64_t> PostgresStore::WriteMetrics(const expsvc::v1::ReportMetricsRequest& request) {
  std::vector<std::string> keys;
  std::vector<int64_t> steps;
  std::vector<double> values;
  for (const auto& point : request.points()) {
    keys.push_back(point.key());
    steps.push_back(point.step());
    values.push_back(point.value());
  }
  return InTransaction("writing metrics", [&](pqxx::work& txn) -> absl::StatusOr<int64_t> {
    auto check = CheckLeaseIn(txn, request.lease());
    if (!check.ok()) return check.status();
    if (request.has_replace_after_step()) {
      txn.exec_params("DELETE FROM metrics WHERE job_id = $1 AND step > $2", request.lease().job_id(),
                      request.replace_after_step());
    }
    if (keys.empty()) return int64_t{0};
    pqxx::result written = txn.exec_prepared(kWriteMetricsStatement, request.lease().job_id(), TextArrayLiteral(keys),
                                             IntArrayLiteral(steps), DoubleArrayLiteral(values));
    return static_cast<int64_t>(written.affected_rows());
  });
}

absl::Status PostgresStore::AppendLogs(const JobLease& lease, const std::vector<std::string>& lines) {
  return InTransaction("appending logs", [&](pqxx::work& txn) -> absl::Status {
    auto check = CheckLeaseIn(txn, lease);
    if (!check.ok()) return check.status();
    txn.exec_prepared(kAppendLogsStatement, lease.job_id(), check->attempt, TextArrayLiteral(lines));
    return absl::OkStatus();
  });
}

absl::StatusOr<std::pair<StoredArtifact, std::string>> PostgresStore::RecordArtifact(const JobLease& lease,
                                                                                     const std::string& name,
                                                                                     int64_t size_bytes,
                                                                                     const std::string& sha256,
                                                                                     const std::string& storage_path) {
  return InTransaction(
      "recording an artifact", [&](pqxx::work& txn) -> absl::StatusOr<std::pair<StoredArtifact, std::string>> {
        auto check = CheckLeaseIn(txn, lease);
        if (!check.ok()) return check.status();
        pqxx::result previous = txn.exec_params(
            "SELECT storage_path FROM artifacts WHERE job_id = $1 AND name = $2 FOR UPDATE", lease.job_id(), name);
        pqxx::result row = txn.exec_params(absl::StrCat(R"sql(
INSERT INTO artifacts AS a (job_id, name, attempt, size_bytes, sha256, storage_path) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (job_id, name) DO UPDATE SET attempt = EXCLUDED.attempt, size_bytes = EXCLUDED.size_bytes,
  sha256 = EXCLUDED.sha256, storage_path = EXCLUDED.storage_path, created_at = now()
RETURNING )sql",
                                                        kArtifactColumns),
                                           lease.job_id(), name, check->attempt, size_bytes, sha256, storage_path);
        std::string replaced = previous.empty() ? "" : previous[0][0].c_str();
        return std::make_pair(RowToArtifact(row[0]), replaced);
      });
}

absl::StatusOr<std::vector<expsvc::v1::LogLine>> PostgresStore::GetLogs(int64_t job_id, int64_t after_seq,
                                                                        int32_t limit) {
  return InTransaction("reading logs", [&](pqxx::work& txn) -> absl::StatusOr<std::vector<expsvc::v1::LogLine>> {
    if (txn.exec_params("SELECT 1 FROM jobs WHERE id = $1", job_id).empty()) {
      return absl::NotFoundError(absl::StrCat("job ", job_id, " does not exist"));
    }
    pqxx::result rows = txn.exec_params("SELECT seq, attempt, " EXPSVC_MS(
                                            "logged_at") ", line FROM job_logs WHERE job_id = $1 AND seq > $2 "
                                                         "ORDER BY seq LIMIT $3",
                                        job_id, after_seq, static_cast<int64_t>(limit <= 0 ? 1000 : limit));
    std::vector<expsvc::v1::LogLine> lines;
    for (const auto& row : rows) {
      expsvc::v1::LogLine line;
      line.set_seq(row[0].as<int64_t>());
      line.set_attempt(row[1].as<int32_t>());
      line.set_time_ms(row[2].as<int64_t>());
      line.set_line(row[3].c_str());
      lines.push_back(std::move(line));
    }
    return lines;
  });
}

absl::StatusOr<expsvc::v1::QueryMetricsResponse> PostgresStore::QueryMetrics(
    const expsvc::v1::QueryMetricsRequest& request) {
  std::vector<std::string> keys(request.keys().begin(), request.keys().end());
  std::vector<int64_t> job_ids(request.job_ids().begin(), request.job_ids().end());
  const std::string params_filter = request.params_filter_json().empty() ? "{}" : request.params_filter_json();
  constexpr char kJobFilter[] =
      "($1 = 0 OR j.sweep_id = $1) AND (cardinality($2::bigint[]) = 0 OR j.id = ANY($2::bigint[])) "
      "AND j.params @> $4::jsonb";
  constexpr char kKeyFilter[] = "(cardinality($3::text[]) = 0 OR m.key = ANY($3::text[]))";
  return InTransaction("querying metrics", [&](pqxx::work& txn) -> absl::StatusOr<expsvc::v1::QueryMetricsResponse> {
    expsvc::v1::QueryMetricsResponse response;
    std::set<std::string> seen_keys;
    if (request.shape() == expsvc::v1::METRICS_SHAPE_SERIES) {
      pqxx::result rows = txn.exec_params(
          absl::StrCat("SELECT m.job_id, m.key, m.step, m.value FROM metrics m JOIN jobs j ON j.id = m.job_id WHERE ",
                       kJobFilter, " AND ", kKeyFilter, " ORDER BY m.job_id, m.key, m.step"),
          request.sweep_id(), IntArrayLiteral(job_ids), TextArrayLiteral(keys), params_filter);
      expsvc::v1::MetricsSeries* series = nullptr;
      for (const auto& row : rows) {
        const int64_t job_id = row[0].as<int64_t>();
        const std::string key = row[1].c_str();
        if (series == nullptr || series->job_id() != job_id || series->key() != key) {
          series = response.add_series();
          series->set_job_id(job_id);
          series->set_key(key);
          seen_keys.insert(key);
        }
        auto* point = series->add_points();
        point->set_step(row[2].as<int64_t>());
        point->set_value(row[3].as<double>());
      }
    } else {
      const char* aggregate = "(array_agg(m.value ORDER BY m.step DESC))[1]";
      switch (request.aggregate()) {
        case expsvc::v1::METRICS_AGGREGATE_MIN: aggregate = "min(m.value)"; break;
        case expsvc::v1::METRICS_AGGREGATE_MAX: aggregate = "max(m.value)"; break;
        case expsvc::v1::METRICS_AGGREGATE_MEAN: aggregate = "avg(m.value)"; break;
        default: break;
      }
      pqxx::result rows =
          txn.exec_params(absl::StrCat("SELECT j.id, j.stage, j.params::text, j.state, m.key, ", aggregate,
                                       " FROM jobs j LEFT JOIN metrics m ON m.job_id = j.id AND ", kKeyFilter,
                                       " WHERE ", kJobFilter, " GROUP BY j.id, m.key ORDER BY j.id, m.key"),
                          request.sweep_id(), IntArrayLiteral(job_ids), TextArrayLiteral(keys), params_filter);
      expsvc::v1::MetricsRow* current = nullptr;
      for (const auto& row : rows) {
        const int64_t job_id = row[0].as<int64_t>();
        if (current == nullptr || current->job_id() != job_id) {
          current = response.add_rows();
          current->set_job_id(job_id);
          current->set_stage(row[1].c_str());
          current->set_params_json(row[2].c_str());
          current->set_state(row[3].c_str());
        }
        if (!row[4].is_null() && !row[5].is_null()) {
          (*current->mutable_values())[row[4].c_str()] = row[5].as<double>();
          seen_keys.insert(row[4].c_str());
        }
      }
    }
    for (const auto& key : seen_keys) response.add_keys(key);
    return response;
  });
}

absl::StatusOr<std::vector<ArtifactRef>> PostgresStore::ListArtifacts(int64_t sweep_id, int64_t job_id) {
  return InTransaction("listing artifacts", [&](pqxx::work& txn) -> absl::StatusOr<std::vector<ArtifactRef>> {
    pqxx::result rows = txn.exec_params(
        absl::StrCat("SELECT ", kArtifactColumns,
                     " FROM artifacts a JOIN jobs j ON j.id = a.job_id WHERE ($1 = 0 OR j.sweep_id = $1) "
                     "AND ($2 = 0 OR a.job_id = $2) ORDER BY a.job_id, a.name LIMIT 10000"),
        sweep_id, job_id);
    std::vector<ArtifactRef> artifacts;
    for (const auto& row : rows) artifacts.push_back(RowToArtifact(row).ref);
    return artifacts;
  });
}

absl::StatusOr<StoredArtifact> PostgresStore::GetArtifact(int64_t artifact_id) {
  return InTransaction("reading an artifact", [&](pqxx::work& txn) -> absl::StatusOr<StoredArtifact> {
    pqxx::result rows =
        txn.exec_params(absl::StrCat("SELECT ", kArtifactColumns, " FROM artifacts a WHERE a.id = $1"), artifact_id);
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("artifact ", artifact_id, " does not exist"));
    return RowToArtifact(rows[0]);
  });
}

}  // namespace expsvc::storage
