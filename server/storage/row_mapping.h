#pragma once
// Rows to the proto records the API returns, next to the column lists they
// read (a column added to one is added to the other). The lists are macros
// so each table's SQL constants are assembled from literals at compile time.

#include <pqxx/pqxx>

#include "expsvc/v1/jobs.pb.h"
#include "expsvc/v1/sweeps.pb.h"
#include "server/storage/postgres_store.h"

// Milliseconds since the epoch of a timestamptz column, 0 when NULL.
#define EXPSVC_MS(column) "coalesce((extract(epoch FROM " column ") * 1000)::bigint, 0)"

// The columns RowToJob reads, in order, from a `jobs` row aliased `j`, then
// the lease's expiry, which only the claim reads (kJobLeaseExpiresColumn).
#define EXPSVC_JOB_COLUMNS \
  "j.id, j.sweep_id, j.stage, j.kind, j.params::text, j.state, j.priority, j.attempt, j.max_attempts, " \
  "coalesce(j.group_key, ''), j.cpu_cores, j.memory_mb, j.gpus, coalesce(j.worker_id, ''), j.error, "   \
  EXPSVC_MS("j.created_at") ", " EXPSVC_MS("j.started_at") ", " EXPSVC_MS("j.finished_at")              \
  ", j.lease_epoch, "                                                                                   \
  "ARRAY(SELECT d.parent_id FROM job_dependencies d WHERE d.job_id = j.id ORDER BY d.parent_id)::text, " \
  "j.gpu_memory_gb, " EXPSVC_MS("j.lease_expires_at")

// The columns RowToArtifact reads, in order, from an `artifacts` row aliased `a`.
#define EXPSVC_ARTIFACT_COLUMNS \
  "a.id, a.job_id, a.name, a.size_bytes, a.sha256, " EXPSVC_MS("a.created_at") ", a.attempt, a.storage_path"

// The columns RowToSweep reads: a `sweeps` row aliased `s` and counts over
// its jobs `j` (the query groups by s.id).
#define EXPSVC_SWEEP_COLUMNS                                            \
  "\n"                                                                  \
  "  s.id, s.name, coalesce(s.idempotency_key, ''), s.spec_yaml,\n"     \
  "  coalesce((extract(epoch FROM s.created_at) * 1000)::bigint, 0),\n" \
  "  s.cancelled_at IS NOT NULL,\n"                                     \
  "  count(j.id) FILTER (WHERE j.state = 'waiting'),\n"                 \
  "  count(j.id) FILTER (WHERE j.state = 'queued'),\n"                  \
  "  count(j.id) FILTER (WHERE j.state = 'running'),\n"                 \
  "  count(j.id) FILTER (WHERE j.state = 'succeeded'),\n"               \
  "  count(j.id) FILTER (WHERE j.state = 'failed'),\n"                  \
  "  count(j.id) FILTER (WHERE j.state = 'cancelled'),\n"               \
  "  count(j.id),\n"                                                    \
  "  count(DISTINCT j.group_key),\n"                                    \
  "  coalesce((extract(epoch FROM max(j.finished_at)) * 1000)::bigint, 0)\n"

namespace expsvc::storage {

// Where columns past RowToJob's and RowToArtifact's start.
inline constexpr int kJobLeaseExpiresColumn = 21;
inline constexpr int kArtifactColumnCount = 8;

expsvc::v1::Job RowToJob(const pqxx::row& row);
StoredArtifact RowToArtifact(const pqxx::row& row);
// The spec is left out of listings.
expsvc::v1::Sweep RowToSweep(const pqxx::row& row, bool with_spec);

}  // namespace expsvc::storage
