#include "server/storage/row_mapping.h"

#include "common/job_state_names.h"
#include "server/storage/pg_arrays.h"

namespace expsvc::storage {

expsvc::v1::Job RowToJob(const pqxx::row& row) {
  expsvc::v1::Job job;
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
  job.mutable_resources()->set_gpu_memory_gb(row[20].as<int32_t>());
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

}  // namespace expsvc::storage
