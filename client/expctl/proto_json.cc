#include "client/expctl/proto_json.h"

#include "client/expctl/job_state.h"
#include "client/expctl/params.h"

namespace expsvc::expctl {

nlohmann::json StateCountsToJson(const v1::StateCounts& counts) {
  return {{"waiting", counts.waiting()},     {"queued", counts.queued()}, {"running", counts.running()},
          {"succeeded", counts.succeeded()}, {"failed", counts.failed()}, {"cancelled", counts.cancelled()},
          {"total", counts.total()}};
}

nlohmann::json SweepToJson(const v1::Sweep& sweep) {
  return {{"id", sweep.id()},
          {"name", sweep.name()},
          {"state", sweep.state()},
          {"created_at_ms", sweep.created_at_ms()},
          {"finished_at_ms", sweep.finished_at_ms()},
          {"counts", StateCountsToJson(sweep.counts())},
          {"groups", sweep.groups()},
          {"idempotency_key", sweep.idempotency_key()}};
}

nlohmann::json JobToJson(const v1::Job& job) {
  return {{"id", job.id()},
          {"sweep_id", job.sweep_id()},
          {"stage", job.stage()},
          {"kind", job.kind()},
          {"params", ParseParamsJson(job.params_json())},
          {"state", JobStateName(job.state())},
          {"priority", job.priority()},
          {"attempt", job.attempt()},
          {"max_attempts", job.max_attempts()},
          {"group_key", job.group_key()},
          {"resources",
           {{"cpu_cores", job.resources().cpu_cores()},
            {"memory_mb", job.resources().memory_mb()},
            {"gpus", job.resources().gpus()},
            {"gpu_memory_gb", job.resources().gpu_memory_gb()}}},
          {"worker_id", job.worker_id()},
          {"error", job.error()},
          {"created_at_ms", job.created_at_ms()},
          {"started_at_ms", job.started_at_ms()},
          {"finished_at_ms", job.finished_at_ms()},
          {"parent_ids", std::vector<int64_t>(job.parent_ids().begin(), job.parent_ids().end())}};
}

nlohmann::json WorkerToJson(const v1::WorkerInfo& worker) {
  const v1::WorkerCapabilities& caps = worker.capabilities();
  nlohmann::json gpus = nlohmann::json::array();
  for (const v1::CudaDevice& device : caps.cuda_devices()) {
    gpus.push_back({{"index", device.index()}, {"name", device.name()}, {"memory_mb", device.memory_mb()}});
  }
  return {{"id", worker.worker_id()},
          {"name", worker.name()},
          {"hostname", worker.hostname()},
          {"cpu_cores", caps.cpu_cores()},
          {"memory_mb", caps.memory_mb()},
          {"gpus", gpus},
          {"kinds", std::vector<std::string>(caps.kinds().begin(), caps.kinds().end())},
          {"slots", caps.slots()},
          {"running_jobs", worker.running_jobs()},
          {"online", worker.online()},
          {"registered_at_ms", worker.registered_at_ms()},
          {"last_seen_at_ms", worker.last_seen_at_ms()}};
}

nlohmann::json ArtifactToJson(const v1::ArtifactRef& artifact) {
  return {{"id", artifact.id()},          {"job_id", artifact.job_id()},
          {"name", artifact.name()},      {"size_bytes", artifact.size_bytes()},
          {"sha256", artifact.sha256()},  {"created_at_ms", artifact.created_at_ms()},
          {"attempt", artifact.attempt()}};
}

std::string DumpJson(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace expsvc::expctl
